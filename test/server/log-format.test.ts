/** log-format: text (one human line per event) or JSON; auto picks text for a terminal or the journal. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { logFormatOf, type LogSettings } from '../../src/log.js';

const SMAPD = path.resolve(import.meta.dirname, '../../src/cli/smapd.js');
const BASE = 'server main inet://127.0.0.1:0\nmodule e echo\ndatabase d e OK x\ndispatch default database d\n';

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'smapd-logfmt-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Start smapd, wait for its "smapd started" line on stderr (or in `logFile`), stop it; returns stderr. */
function firstLines(configText: string, args: string[] = [], env: NodeJS.ProcessEnv = {}, logFile?: string): Promise<string> {
  const file = path.join(dir, `c${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(file, configText);
  return new Promise((resolve, reject) => {
    const clean = { ...process.env, ...env };
    if (env.JOURNAL_STREAM === undefined) delete clean.JOURNAL_STREAM;
    const p = spawn(process.execPath, [SMAPD, '-f', '-c', file, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: clean });
    let err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), 15000);
    const poll =
      logFile === undefined
        ? undefined
        : setInterval(() => {
            let text = '';
            try {
              text = readFileSync(logFile, 'utf8');
            } catch {
              /* not there yet */
            }
            if (text.includes('smapd started')) p.kill('SIGTERM');
          }, 20);
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('smapd started')) p.kill('SIGTERM');
    });
    p.on('error', reject);
    p.on('close', () => {
      clearTimeout(timer);
      clearInterval(poll);
      resolve(err);
    });
  });
}

const TEXT_LINE = /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: listening \{"server":"main","address":"inet:\/\/127\.0\.0\.1:\d+"\}$/m;

describe('log format', () => {
  it('--log-format text writes one human line per event: time, level, message, fields', async () => {
    const err = await firstLines(BASE, ['--log-format', 'text']);
    assert.match(err, TEXT_LINE);
    assert.doesNotMatch(err, /"level":/);
  });

  it('the log-format statement does the same, and the command line wins over it', async () => {
    assert.match(await firstLines('log-format text\n' + BASE), TEXT_LINE);
    const json = await firstLines('log-format text\n' + BASE, ['--log-format', 'json']);
    assert.match(json, /^\{"level":30,.*"msg":"listening"\}$/m);
  });

  it('auto: JSON into a pipe, text into the journal (JOURNAL_STREAM)', async () => {
    assert.match(await firstLines(BASE), /^\{"level":30,.*"msg":"listening"\}$/m);
    assert.match(await firstLines(BASE, [], { JOURNAL_STREAM: '8:12345' }), TEXT_LINE);
  });

  it('auto: JSON into a log file; text into a file when asked', async () => {
    const s = (format: LogSettings['format'], destination: LogSettings['destination']): LogSettings => ({
      level: 'info', destination, file: '/x', tag: 'smapd', facility: 'daemon', format, debug: {},
    });
    assert.equal(logFormatOf(s('auto', 'file'), { JOURNAL_STREAM: '1:2' }, true), 'json');
    assert.equal(logFormatOf(s('auto', 'stderr'), {}, true), 'text');
    assert.equal(logFormatOf(s('auto', 'stderr'), {}, false), 'json');
    assert.equal(logFormatOf(s('text', 'file'), {}, false), 'text');
    const log = path.join(dir, 'smapd.log');
    await firstLines(`log-file ${log}\nlog-format text\n` + BASE, [], {}, log);
    assert.match(readFileSync(log, 'utf8'), TEXT_LINE);
  });

  it('refuses an unknown format with file and line', async () => {
    const file = path.join(dir, 'bad.conf');
    writeFileSync(file, 'log-format pretty\n' + BASE);
    const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const p = spawn(process.execPath, [SMAPD, '-t', '-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      p.on('close', (code) => resolve({ code, err }));
    });
    assert.equal(r.code, 78);
    assert.match(r.err, new RegExp(`${file}:1: unknown log format 'pretty'.*text, json, auto`));
  });
});
