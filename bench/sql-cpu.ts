/**
 * A focused A/B run of the SQL rows: smapd+mysql / smapd+postgres against their bare clients, with the CPU
 * time per lookup of each side (smapd's process from /proc, the bare client's own process.cpuUsage), in
 * paired rounds. The full bench (bench/run.js) measures one rate per row on a machine others share; CPU per
 * lookup is the steadier figure, and alternating builds (`--dist DIR` more than once) in each round makes an
 * old/new comparison fair.
 *
 *   node dist/bench/sql-cpu.js [--backend mysql|postgres]... [--dist DIR]... [--rounds N] [--seconds S]
 *                              [--pool N]... [--bare-pool N] [--conns N] [--warmup S] [--bare]
 *
 * It fills tables of its own (smapd_sqlcpu), so it does not race a full bench over its tables.
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { cpuSeconds } from './cpu.js';
import { runDirectMysql } from './direct-mysql.js';
import { runDirectPg } from './direct-pg.js';
import type { DirectSqlOptions } from './direct-loop.js';
import * as F from './fixtures.js';
import type { LoadResult } from './loadgen.js';
import { runJob, startSmapd } from './processes.js';
import { medianOf } from './report.js';

type Backend = 'mysql' | 'postgres';
const TABLE = 'smapd_sqlcpu';
const KEYS = 20_000;
const here = path.dirname(fileURLToPath(import.meta.url));
const ownDist = path.resolve(here, '..');

interface Args {
  backends: Backend[];
  dists: string[];
  rounds: number;
  seconds: number;
  /** pool-size= values to alternate in each round (undefined: the module's default). */
  pools: (number | undefined)[];
  barePool: number;
  conns: number;
  bare: boolean;
  warmup: number;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { backends: [], dists: [], rounds: 3, seconds: 3, pools: [], barePool: 4, conns: 16, bare: false, warmup: 1 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--backend': a.backends.push(v as Backend); i++; break;
      case '--dist': a.dists.push(path.resolve(v!)); i++; break;
      case '--rounds': a.rounds = Number(v); i++; break;
      case '--seconds': a.seconds = Number(v); i++; break;
      case '--pool': a.pools.push(Number(v)); i++; break;
      case '--bare-pool': a.barePool = Number(v); i++; break;
      case '--conns': a.conns = Number(v); i++; break;
      case '--bare': a.bare = true; break;
      case '--warmup': a.warmup = Number(v); i++; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (a.backends.length === 0) a.backends = ['mysql', 'postgres'];
  if (a.dists.length === 0) a.dists = [ownDist];
  if (a.pools.length === 0) a.pools = [undefined];
  return a;
}

async function fill(backend: Backend, entries: readonly F.Entry[]): Promise<void> {
  const rows = entries.map((e) => [e.key, e.value]);
  if (backend === 'mysql') {
    const m = F.MYSQL;
    const c = await mysql.createConnection({ host: m.host, port: m.port, user: m.user, database: m.database });
    await c.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await c.query(`CREATE TABLE ${TABLE} (k VARCHAR(255) NOT NULL PRIMARY KEY, v VARCHAR(255) NOT NULL) ENGINE=InnoDB`);
    for (let i = 0; i < rows.length; i += 5000) await c.query(`INSERT INTO ${TABLE} (k, v) VALUES ?`, [rows.slice(i, i + 5000)]);
    await c.end();
    return;
  }
  const p = F.POSTGRES;
  const c = new pg.Client({ host: p.host, port: p.port, user: p.user, database: p.database });
  await c.connect();
  await c.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await c.query(`CREATE TABLE ${TABLE} (k text PRIMARY KEY, v text NOT NULL)`);
  await c.query(`INSERT INTO ${TABLE} (k, v) SELECT * FROM unnest($1::text[], $2::text[])`, [entries.map((e) => e.key), entries.map((e) => e.value)]);
  await c.query(`ANALYZE ${TABLE}`);
  await c.end();
}

function databaseArgs(backend: Backend, pool: number | undefined): string {
  const size = pool === undefined ? '' : ` pool-size=${pool}`;
  if (backend === 'mysql') {
    const m = F.MYSQL;
    return `host=${m.host} port=${m.port} user=${m.user} database=${m.database}${size} query="SELECT v FROM ${TABLE} WHERE k = :key"`;
  }
  const p = F.POSTGRES;
  return `host=${p.host} port=${p.port} user=${p.user} dbname=${p.database} sslmode=disable${size} query="SELECT v FROM ${TABLE} WHERE k = $key"`;
}

interface Figures {
  readonly rps: number;
  readonly cpuUs: number;
  readonly errors: number;
}

async function smapdRun(dist: string, dir: string, backend: Backend, a: Args, pool: number | undefined, keysFile: string): Promise<Figures> {
  const conf = F.writeConfig(dir, `sqlcpu-${backend}`, backend, databaseArgs(backend, pool));
  const server = await startSmapd(dist, backend, conf);
  try {
    const cpu0 = cpuSeconds(server.pid)!;
    const r = await runJob(ownDist, {
      kind: 'load',
      opts: { host: '127.0.0.1', port: server.port, connections: a.conns, depth: 1, seconds: a.seconds, warmupSeconds: a.warmup, maxRequests: 0, map: F.MAP_NAME, keysFile, notFoundIsOk: false },
    });
    const cpu1 = cpuSeconds(server.pid)!;
    if (r.kind !== 'load') throw new Error(r.kind === 'failed' ? r.error : 'no figures');
    if (server.problems.length > 0) console.log(`    smapd logged: ${server.problems.slice(0, 3).join(' | ')}`);
    return { rps: r.result.rps, cpuUs: ((cpu1 - cpu0) * 1e6) / r.result.answered, errors: r.result.errors };
  } finally {
    await server.stop();
  }
}

/** The bare client in a process of its own (this script, forked with --child), so its CPU time is its own. */
function bareRun(backend: Backend, a: Args, keysFile: string): Promise<Figures> {
  const child = fork(fileURLToPath(import.meta.url), ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const db = backend === 'mysql' ? F.MYSQL : F.POSTGRES;
  const opts: DirectSqlOptions = {
    host: db.host, port: db.port, user: db.user, database: db.database,
    sql: backend === 'mysql' ? `SELECT v FROM ${TABLE} WHERE k = ?` : `SELECT v FROM ${TABLE} WHERE k = $1`,
    callers: a.conns, poolSize: a.barePool, seconds: a.seconds, warmupSeconds: a.warmup, keysFile,
  };
  return new Promise((resolve, reject) => {
    child.once('message', (m: Figures) => resolve(m));
    child.once('exit', (code) => reject(new Error(`bare client exited with ${code}`)));
    child.send({ backend, opts });
  });
}

async function child(): Promise<void> {
  const { backend, opts } = await new Promise<{ backend: Backend; opts: DirectSqlOptions }>((r) => process.once('message', r));
  const t0 = process.cpuUsage();
  const res: LoadResult = backend === 'mysql' ? await runDirectMysql(opts) : await runDirectPg(opts);
  const t = process.cpuUsage(t0);
  const fig: Figures = { rps: res.rps, cpuUs: (t.user + t.system) / res.answered, errors: res.errors };
  process.send!(fig, () => process.exit(0));
}

function fmt(label: string, f: Figures): string {
  return `  ${label.padEnd(34)} ${Math.round(f.rps).toString().padStart(7)} req/s  cpu ${f.cpuUs.toFixed(1).padStart(6)} µs/lookup  errors ${f.errors}`;
}

const median = (xs: readonly number[]): number => medianOf(xs) ?? NaN;

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const dir = F.makeWorkDir();
  try {
    const entries = F.makeEntries(KEYS);
    const keysFile = F.writeTextMap(dir, entries);
    for (const backend of a.backends) {
      await fill(backend, entries);
      const series = new Map<string, Figures[]>();
      const add = (label: string, f: Figures) => {
        console.log(fmt(label, f));
        series.set(label, [...(series.get(label) ?? []), f]);
      };
      for (let round = 1; round <= a.rounds; round++) {
        console.log(`${backend} round ${round} (bare pool ${a.barePool}, ${a.conns} in flight)`);
        if (a.bare) add(`bare ${backend}`, await bareRun(backend, a, keysFile));
        for (const dist of a.dists) {
          for (const pool of a.pools) add(`smapd ${dist} pool ${pool ?? 'default'}`, await smapdRun(dist, dir, backend, a, pool, keysFile));
        }
      }
      console.log(`${backend} medians over ${a.rounds} rounds:`);
      for (const [label, fs] of series) {
        console.log(fmt(label, { rps: median(fs.map((f) => f.rps)), cpuUs: median(fs.map((f) => f.cpuUs)), errors: fs.reduce((s, f) => s + f.errors, 0) }));
      }
    }
  } finally {
    F.removeWorkDir(dir);
  }
}

if (process.argv[2] === '--child') await child();
else await main();
