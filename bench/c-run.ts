/**
 * `node dist/bench/c-run.js`: the C reference section alone (see bench/c-reference.ts), for profiling and
 * quick comparisons without the whole bench. The same variables as `npm run bench`:
 *
 *   BENCH_C_DIR=DIR  where `sockbench` and `refsmapd` were built (required)
 *   BENCH_SECONDS=N  measured seconds per run (default 5), after a 1 s warm-up
 *   BENCH_ROUNDS=N   rounds, median kept (default 5)
 *   BENCH_KEYS=N     entries in the map (default 100000)
 */
import path from 'node:path';
import { cReferenceRuns, cTargets } from './c-reference.js';
import { findCTools } from './c-tools.js';
import * as F from './fixtures.js';
import { startBaseline, startSmapd } from './processes.js';
import * as Rp from './report.js';

const dist = path.resolve(import.meta.dirname, '..');
const num = (v: string | undefined, d: number) => (v !== undefined && Number(v) > 0 ? Number(v) : d);
const say = (line = '') => process.stdout.write(line + '\n');

async function main(): Promise<number> {
  const dir = process.env.BENCH_C_DIR;
  if (dir === undefined || dir === '') {
    say('c-run: set BENCH_C_DIR to the directory where sockbench and refsmapd were built (make -C ../shared/tools/sockbench OUT=DIR)');
    return 2;
  }
  const tools = findCTools(dir);
  if (typeof tools === 'string') {
    say(`c-run: ${tools}`);
    return 2;
  }
  const workDir = F.makeWorkDir();
  try {
    const entries = F.makeEntries(Math.round(num(process.env.BENCH_KEYS, 100_000)));
    const mapFile = F.writeTextMap(workDir, entries);
    const res = await cReferenceRuns({
      tools,
      workDir,
      entries,
      mapFile,
      seconds: num(process.env.BENCH_SECONDS, 5),
      warmup: 1,
      rounds: Math.round(num(process.env.BENCH_ROUNDS, 5)),
      say,
      startSmapd: () => startSmapd(dist, 'c-ref', F.writeConfig(workDir, 'c-ref', 'file', `file=${mapFile}`)),
      startBaseline: () => startBaseline(dist, mapFile),
    });
    say(Rp.targetLines(cTargets(res)));
    return res.rows.length > 0 ? 0 : 1;
  } finally {
    F.removeWorkDir(workDir);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`c-run: crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(70);
  },
);
