import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lex, LexState } from '../../src/config/lexer.js';

const FILE = '/etc/smapd.conf';

/** The words of every statement, as text. */
function texts(source: string, state?: LexState): string[][] {
  const { statements, errors } = lex(source, FILE, state);
  assert.deepEqual(errors.map((e) => e.message), []);
  return statements.map((s) => s.words.map((w) => w.text));
}

function errors(source: string): string[] {
  return lex(source, FILE).errors.map((e) => e.message);
}

describe('lexer: words and comments', () => {
  it('splits on blanks and drops empty lines and comments', () => {
    assert.deepEqual(texts('\n  # only a comment\npidfile\t /run/x.pid   # trailing\n\n'), [['pidfile', '/run/x.pid']]);
  });

  it('ends a word at an unquoted # and keeps a quoted one', () => {
    assert.deepEqual(texts('a b#c d\nx "#y" \'#z\''), [['a', 'b'], ['x', '#y', '#z']]);
  });

  it('records the line each statement and word starts on', () => {
    const { statements } = lex('\n\nfirst a\n# c\nsecond b \\\n  c\n', FILE);
    assert.deepEqual(statements.map((s) => s.loc), [{ file: FILE, line: 3 }, { file: FILE, line: 5 }]);
    assert.deepEqual(statements[1]!.words.map((w) => w.line), [5, 5, 6]);
  });
});

describe('lexer: quoting and escapes', () => {
  it('removes quotes and joins adjacent quoted and unquoted parts into one word', () => {
    assert.deepEqual(texts(`echo "a b" 'c d' pre"mid"'post' ""`), [['echo', 'a b', 'c d', 'premidpost', '']]);
  });

  it('marks words that had quotes', () => {
    const { statements } = lex(`x 'begin' begin`, FILE);
    assert.deepEqual(statements[0]!.words.map((w) => w.quoted), [false, true, false]);
  });

  it('applies C escapes unquoted and in double quotes, and \\c gives c', () => {
    assert.deepEqual(texts(String.raw`x \t "\a\b\f\n\r\t\v" \q "\"" a\ b \\`), [
      ['x', '\t', '\x07\b\f\n\r\t\v', 'q', '"', 'a b', '\\'],
    ]);
  });

  it('keeps backslashes literal inside single quotes (sed needs \\1)', () => {
    assert.deepEqual(texts(String.raw`database d sed 's/<(.*)>/\1/g'`), [['database', 'd', 'sed', String.raw`s/<(.*)>/\1/g`]]);
  });

  it('reports an unterminated quote with the line it opens on, and goes on with the next line', () => {
    const { statements, errors } = lex(`ok 1\nbad "never closed\nok 2\nbad 'x\n`, FILE);
    assert.deepEqual(errors.map((e) => e.message), [
      `${FILE}:2: missing closing " (the quote opens here)`,
      `${FILE}:4: missing closing ' (the quote opens here)`,
    ]);
    assert.deepEqual(statements.map((s) => s.words.map((w) => w.text)), [['ok', '1'], ['ok', '2']]);
  });
});

describe('lexer: continuation lines', () => {
  it('joins a line ending in a backslash to the next, inserting nothing', () => {
    assert.deepEqual(texts('a b\\\nc\nd \\\n  e\n'), [['a', 'bc'], ['d', 'e']]);
  });

  it('continues a quoted string across lines', () => {
    assert.deepEqual(texts('x "one \\\ntwo"'), [['x', 'one two']]);
  });

  it('continues a comment, as GNU Smap does', () => {
    assert.deepEqual(texts('# comment \\\nstill comment\nreal 1'), [['real', '1']]);
  });

  it('accepts CRLF line ends', () => {
    assert.deepEqual(texts('a 1\r\nb \\\r\n2\r\n'), [['a', '1'], ['b', '2']]);
  });

  it('keeps a backslash that ends the file', () => {
    assert.deepEqual(texts('a b\\'), [['a', 'b\\']]);
  });
});

describe('lexer: variables', () => {
  it('does not expand anything before the first assignment', () => {
    assert.deepEqual(texts('x $HOME ${HOME} $1'), [['x', '$HOME', '${HOME}', '$1']]);
  });

  it('expands $NAME and ${NAME} after an assignment, in unquoted and double-quoted text', () => {
    assert.deepEqual(texts('DIR=/etc/smap\nx $DIR/a ${DIR}b "$DIR c"'), [['x', '/etc/smap/a', '/etc/smapb', '/etc/smap c']]);
  });

  it('does not expand in single quotes', () => {
    assert.deepEqual(texts(`R=val\nx '$R' '\${R}'`), [['x', '$R', '${R}']]);
  });

  it('keeps undefined variables verbatim, so module templates survive', () => {
    assert.deepEqual(texts(`A=1\ndatabase d mysql query="SELECT v FROM t WHERE k='$key'" reply="OK \${value}" $A`), [
      ['database', 'd', 'mysql', "query=SELECT v FROM t WHERE k='$key'", 'reply=OK ${value}', '1'],
    ]);
  });

  it('reproduces GNU Smap\'s checked example', () => {
    assert.deepEqual(texts(`REPLY="OK var"\ndatabase d echo $REPLY and '$REPLY' and $UNDEFINED`), [
      ['database', 'd', 'echo', 'OK', 'var', 'and', '$REPLY', 'and', '$UNDEFINED'],
    ]);
  });

  it('splits an unquoted value into words but not a double-quoted one', () => {
    assert.deepEqual(texts('L="a b"\nx pre$L "$L"'), [['x', 'prea', 'b', 'a b']]);
  });

  it('drops a word that is only an empty variable, but keeps ""', () => {
    assert.deepEqual(texts('E=\nx $E "$E" y'), [['x', '', 'y']]);
  });

  it('lets later assignments use and redefine variables', () => {
    assert.deepEqual(texts('A=1\nB=$A-2\nA=3\nx $A $B'), [['x', '3', '1-2']]);
  });

  it('leaves a $ that starts no name alone, and an escaped $ unexpanded', () => {
    assert.deepEqual(texts('A=1\nx $ $1 cost$ \\$A "\\$A"'), [['x', '$', '$1', 'cost$', '$A', '$A']]);
  });

  it('keeps variables in a shared state across lex calls (includes)', () => {
    const state = new LexState();
    texts('ROOT=/srv', state);
    assert.deepEqual(texts('x $ROOT', state), [['x', '/srv']]);
  });

  it('rejects an assignment followed by more words, and an unclosed ${', () => {
    assert.deepEqual(errors('A=1\nB=two words\nx ${A'), [
      `${FILE}:2: too many words in assignment to B (quote the value: B="...")`,
      `${FILE}:3: unbalanced curly brace: '\${' without '}'`,
    ]);
  });

  it('treats NAME=value as an assignment only when it is the first word', () => {
    assert.deepEqual(texts('database d sql query=x'), [['database', 'd', 'sql', 'query=x']]);
  });
});
