/**
 * The load generator's own process (forked by bench/run.js): it takes one job over IPC, runs it, sends the
 * figures back and exits. Running apart from both the orchestrator and the server gives the client its own
 * event loop and, where there are enough cores, its own core.
 */
import { runChurn, type ChurnOptions, type ChurnResult } from './churn.js';
import { runDirectMysql, type DirectMysqlOptions } from './direct-mysql.js';
import { runDirectPg, type DirectPgOptions } from './direct-pg.js';
import { runLoad, type LoadOptions, type LoadResult } from './loadgen.js';
import { runRedisLoad, type RedisLoadOptions } from './redis-load.js';
import { runLdapLoad, type LdapLoadOptions } from './ldap-load.js';

export type Job =
  | { readonly kind: 'load'; readonly opts: LoadOptions }
  | { readonly kind: 'churn'; readonly opts: ChurnOptions }
  /** Bare `pg` lookups, no smapd: the reference the postgres row is compared with. */
  | { readonly kind: 'pg-direct'; readonly opts: DirectPgOptions }
  /** Bare `mysql2` lookups, no smapd: the reference the mysql row is compared with. */
  | { readonly kind: 'mysql-direct'; readonly opts: DirectMysqlOptions }
  | { readonly kind: 'redis'; readonly opts: RedisLoadOptions }
  | { readonly kind: 'ldap'; readonly opts: LdapLoadOptions };

export type JobResult =
  | { readonly kind: 'load'; readonly result: LoadResult }
  | { readonly kind: 'churn'; readonly result: ChurnResult }
  | { readonly kind: 'failed'; readonly error: string };

if (process.send === undefined) {
  process.stderr.write('loadgen-worker: run me with child_process.fork (bench/run.js does)\n');
  process.exit(2);
}

process.once('message', (job: Job) => {
  const work: Promise<JobResult> =
    job.kind === 'load'
      ? runLoad(job.opts).then((result) => ({ kind: 'load', result }))
      : job.kind === 'pg-direct'
        ? runDirectPg(job.opts).then((result) => ({ kind: 'load', result }))
        : job.kind === 'mysql-direct'
          ? runDirectMysql(job.opts).then((result) => ({ kind: 'load', result }))
        : job.kind === 'redis'
          ? runRedisLoad(job.opts).then((result) => ({ kind: 'load', result }))
          : job.kind === 'ldap'
            ? runLdapLoad(job.opts).then((result) => ({ kind: 'load', result }))
            : runChurn(job.opts).then((result) => ({ kind: 'churn', result }));
  work
    .catch((err: unknown): JobResult => ({ kind: 'failed', error: err instanceof Error ? (err.stack ?? err.message) : String(err) }))
    .then((msg) => process.send!(msg, () => process.exit(0)));
});
