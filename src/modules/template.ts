/**
 * Reply templates: `OK ${alias} map=$map`. Compiled once at config time into literal and variable parts,
 * so rendering per request is a join. `$$` is a literal `$`; an unknown variable renders as ''.
 */

export type TemplateVars = (name: string) => string | number | null | undefined;

export interface Template {
  /** The template text as written. */
  readonly source: string;
  /** The variable names it uses, in order of first use. */
  readonly variables: readonly string[];
  render(vars: TemplateVars): string;
}

const VAR = /\$(?:\{([A-Za-z_][A-Za-z0-9_.-]*)\}|([A-Za-z_][A-Za-z0-9_]*)|(\$))/g;

export function compileTemplate(source: string): Template {
  const literals: string[] = [];
  const names: string[] = [];
  let last = 0;
  let pending = '';
  for (const m of source.matchAll(VAR)) {
    pending += source.slice(last, m.index);
    last = m.index! + m[0].length;
    if (m[3] !== undefined) {
      pending += '$';
      continue;
    }
    literals.push(pending);
    names.push((m[1] ?? m[2])!);
    pending = '';
  }
  literals.push(pending + source.slice(last));
  const variables = [...new Set(names)];
  if (names.length === 0) {
    const text = literals[0]!;
    return { source, variables, render: () => text };
  }
  return {
    source,
    variables,
    render(vars: TemplateVars): string {
      let out = literals[0]!;
      for (let i = 0; i < names.length; i++) {
        const v = vars(names[i]!);
        out += (v === null || v === undefined ? '' : String(v)) + literals[i + 1]!;
      }
      return out;
    },
  };
}
