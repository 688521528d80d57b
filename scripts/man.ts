/**
 * Man pages from the Markdown docs, made at build time: smapd(8), smapd.conf(5), smapc(1), smapd-makemap(8).
 * The docs stay the one source; this turns marked's token tree into man(7) roff. Tables become tagged
 * paragraphs (`.TP`): a boxed tbl table of long prose cells does not fit an 80-column terminal, and groff
 * warns about every line it cannot adjust in one.
 *
 *   node dist/scripts/man.js [OUTDIR]     (default: dist/man)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Lexer, type Token, type Tokens } from 'marked';
import { VERSION } from '../src/version.js';

export interface ManPage {
  readonly name: string;
  readonly section: number;
  readonly source: string;
}

export const MAN_PAGES: readonly ManPage[] = [
  { name: 'smapd', section: 8, source: 'docs/smapd.md' },
  { name: 'smapd.conf', section: 5, source: 'docs/smapd.conf.md' },
  { name: 'smapc', section: 1, source: 'docs/smapc.md' },
  { name: 'smapd-makemap', section: 8, source: 'docs/smapd-makemap.md' },
];

/** Escape text for roff: backslashes, and a leading dot or quote that would read as a request. */
function esc(text: string): string {
  return text.replace(/\\/g, '\\e').replace(/-/g, '\\-');
}

function lineSafe(line: string): string {
  return /^[.']/.test(line) ? '\\&' + line : line;
}

function decodeEntities(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!);
}

function inline(tokens: readonly Token[] | undefined): string {
  let out = '';
  for (const t of tokens ?? []) {
    switch (t.type) {
      case 'text':
      case 'escape':
        out += 'tokens' in t && t.tokens !== undefined && t.tokens.length > 0 ? inline(t.tokens) : esc(decodeEntities(t.text));
        break;
      case 'codespan':
        out += '\\fB' + esc(decodeEntities((t as Tokens.Codespan).text)) + '\\fR';
        break;
      case 'strong':
        out += '\\fB' + inline((t as Tokens.Strong).tokens) + '\\fR';
        break;
      case 'em':
        out += '\\fI' + inline((t as Tokens.Em).tokens) + '\\fR';
        break;
      case 'del':
        out += inline((t as Tokens.Del).tokens);
        break;
      case 'link': {
        const l = t as Tokens.Link;
        out += inline(l.tokens);
        if (/^https?:/.test(l.href) && l.text !== l.href) out += ' <' + esc(l.href) + '>';
        break;
      }
      case 'br':
        out += '\n.br\n';
        break;
      default:
        out += esc(decodeEntities('text' in t ? String(t.text) : t.raw));
    }
  }
  return out;
}

/** Paragraph text on lines of its own: newlines become spaces, so no line can start with a dot. */
function textLines(s: string): string {
  return s
    .split('\n')
    .map((l) => (l === '.br' ? l : lineSafe(l.replace(/\s+/g, ' ').trim())))
    .filter((l) => l !== '')
    .join('\n');
}

function code(text: string): string {
  const body = text
    .split('\n')
    .map((l) => lineSafe(esc(l)))
    .join('\n');
  return `.PP\n.RS 4\n.nf\n${body}\n.fi\n.RE`;
}

function list(l: Tokens.List): string {
  const out: string[] = [];
  l.items.forEach((item, i) => {
    out.push(l.ordered ? `.IP ${Number(l.start || 1) + i}. 4` : '.IP \\(bu 2');
    out.push(blocks(item.tokens, true));
  });
  return out.join('\n') + '\n.PP';
}

function table(t: Tokens.Table): string {
  const out: string[] = [];
  const heads = t.header.map((h) => inline(h.tokens));
  for (const row of t.rows) {
    const cells = row.map((c) => inline(c.tokens));
    out.push('.TP', textLines(cells[0] ?? ''));
    if (cells.length === 2) {
      out.push(textLines(cells[1]!));
    } else {
      cells.slice(1).forEach((c, i) => {
        if (i > 0) out.push('.br');
        out.push(textLines(`\\fI${heads[i + 1] ?? ''}:\\fR ${c}`));
      });
    }
  }
  return out.join('\n') + '\n.PP';
}

/** Block tokens to roff. `tight` is for list items, whose text comes as bare `text` tokens. */
function blocks(tokens: readonly Token[], tight = false): string {
  const out: string[] = [];
  for (const t of tokens) {
    switch (t.type) {
      case 'heading': {
        const h = t as Tokens.Heading;
        const title = textLines(inline(h.tokens));
        out.push(h.depth <= 2 ? `.SH "${title.toUpperCase().replace(/"/g, '')}"` : `.SS "${title.replace(/"/g, '')}"`);
        break;
      }
      case 'paragraph':
        out.push((tight ? '' : '.PP\n') + textLines(inline((t as Tokens.Paragraph).tokens)));
        break;
      case 'text':
        out.push(textLines(inline((t as Tokens.Text).tokens ?? [t])));
        break;
      case 'code':
        out.push(code((t as Tokens.Code).text));
        break;
      case 'list':
        out.push(list(t as Tokens.List));
        break;
      case 'table':
        out.push(table(t as Tokens.Table));
        break;
      case 'blockquote':
        out.push('.RS 4\n' + blocks((t as Tokens.Blockquote).tokens) + '\n.RE');
        break;
      default:
        break; // space, hr, html: nothing to show
    }
  }
  return out.filter((s) => s !== '').join('\n');
}

/** The roff text of one page. */
export function renderManPage(page: ManPage, markdown: string, date: string): string {
  const tokens = new Lexer({ gfm: true }).lex(markdown);
  const h1 = tokens.findIndex((t) => t.type === 'heading' && (t as Tokens.Heading).depth === 1);
  if (h1 < 0) throw new Error(`${page.source}: no "# name: summary" title`);
  const title = (tokens[h1] as Tokens.Heading).text;
  const summary = title.includes(':') ? title.slice(title.indexOf(':') + 1).trim() : title;
  let rest = tokens.slice(h1 + 1);
  // The first plain code block before the first section is the synopsis.
  const firstSection = rest.findIndex((t) => t.type === 'heading');
  const intro = firstSection < 0 ? rest : rest.slice(0, firstSection);
  const synIdx = intro.findIndex((t) => t.type === 'code' && !(t as Tokens.Code).lang);
  let synopsis = '';
  if (synIdx >= 0) {
    synopsis = '.SH SYNOPSIS\n' + code((intro[synIdx] as Tokens.Code).text).replace(/^\.PP\n/, '');
    rest = rest.filter((t) => t !== intro[synIdx]);
  }
  const others = MAN_PAGES.filter((p) => p !== page).map((p) => `.BR ${p.name} (${p.section})`);
  return [
    `.\\" Generated from ${page.source} by scripts/man.ts; edit the Markdown, not this file.`,
    `.TH "${page.name.toUpperCase()}" "${page.section}" "${date}" "smapd ${VERSION}" "smapd manual"`,
    '.SH NAME',
    `${esc(page.name)} \\- ${esc(summary)}`,
    synopsis,
    '.SH DESCRIPTION',
    blocks(rest),
    '.SH "SEE ALSO"',
    others.join(',\n') + ',',
    '.BR postfix (1),',
    '.BR sendmail (8).',
    '.PP',
    'The full documentation, with the module pages, is in the docs/ directory of the smapd package.',
    '',
  ]
    .filter((s) => s !== '')
    .join('\n')
    .replace(/\n(\.PP\n)+(\.(SH|SS|TP|IP|PP))/g, '\n$2')
    .replace(/\n\.PP\n\.PP\n/g, '\n.PP\n');
}

function main(): void {
  const root = path.resolve(import.meta.dirname, '..', '..');
  const outDir = path.resolve(process.argv[2] ?? path.join(root, 'dist', 'man'));
  mkdirSync(outDir, { recursive: true });
  // SOURCE_DATE_EPOCH (reproducible builds) fixes the date; otherwise today.
  const date = new Date(Number(process.env.SOURCE_DATE_EPOCH ?? 0) * 1000 || Date.now()).toISOString().slice(0, 10);
  for (const page of MAN_PAGES) {
    const text = renderManPage(page, readFileSync(path.join(root, page.source), 'utf8'), date);
    writeFileSync(path.join(outDir, `${page.name}.${page.section}`), text);
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) main();
