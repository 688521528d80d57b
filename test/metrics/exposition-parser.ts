/**
 * A strict reader of the Prometheus text format for tests: every sample must follow the HELP and TYPE lines
 * of its family, label values are unescaped, and anything else that is not a sample is an error.
 */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly help: string;
  readonly type: string;
  readonly samples: Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;

export function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const families = new Map<string, Family>();
  let current: { name: string; help?: string; type?: string } | null = null;
  for (const line of text.slice(0, -1).split('\n')) {
    const help = /^# HELP (\S+) (.*)$/.exec(line);
    if (help) {
      current = { name: help[1]!, help: help[2]! };
      continue;
    }
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      if (current === null || current.name !== type[1]) throw new Error(`TYPE without HELP: ${line}`);
      if (families.has(type[1]!)) throw new Error(`family ${type[1]} appears twice`);
      current.type = type[2]!;
      families.set(type[1]!, { help: current.help!, type: current.type, samples: [] });
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    // A histogram's samples are NAME_bucket (with an `le` label), NAME_sum and NAME_count.
    const own = current !== null && (m[1] === current.name || (current.type === 'histogram' && [`${current.name}_bucket`, `${current.name}_sum`, `${current.name}_count`].includes(m[1]!)));
    if (current === null || !own || current.type === undefined) throw new Error(`sample outside its family: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2] !== undefined) {
      LABEL.lastIndex = 0;
      while (LABEL.lastIndex < m[2].length) {
        const l = LABEL.exec(m[2]);
        if (!l) throw new Error(`bad labels: ${m[2]}`);
        labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    if (Number.isNaN(value) && m[3] !== 'NaN') throw new Error(`bad value: ${line}`);
    if (m[1]!.endsWith('_bucket') && current.type === 'histogram' && labels['le'] === undefined) throw new Error(`bucket without le: ${line}`);
    families.get(current.name)!.samples.push({ name: m[1]!, labels, value });
  }
  return families;
}

/** The value of the one sample of `name` whose labels include `labels`. */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const f = families.get(name);
  if (!f) return undefined;
  const hits = f.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length > 1) throw new Error(`${name}${JSON.stringify(labels)} matches ${hits.length} samples`);
  return hits[0]?.value;
}
