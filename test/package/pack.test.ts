/**
 * The package as a user gets it: `npm pack` in a fresh copy of the repository (which builds first), the
 * tarball installed into an empty directory, the documented example module type-checked under `strict`
 * against the installed package and compiled into a plain directory outside any `node_modules` tree, and
 * the installed smapd loading it from there and answering through the installed smapc.
 *
 * It works on copies in a temp directory: `prepack` empties `dist/`, which the running tests live in. The
 * dependencies come from the repository's lock file (`npm ci --prefer-offline`), so no registry is asked
 * when npm's cache has them; install scripts are skipped, as nothing here needs the native addons.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from '../helpers/paths.js';

const STEP_TIMEOUT_MS = 8 * 60_000;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(cmd: string, args: readonly string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, timeout: STEP_TIMEOUT_MS, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') {
        reject(err);
        return;
      }
      resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr });
    });
  });
}

function must(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what} failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}

interface PackResult {
  readonly filename: string;
  readonly integrity: string;
  readonly files: readonly { readonly path: string }[];
}

interface LockFile {
  readonly packages: Record<string, { readonly dev?: boolean }>;
}

interface PackageJson {
  readonly version: string;
  readonly license: string;
  readonly dependencies: Record<string, string>;
  readonly bin: Record<string, string>;
  readonly engines: Record<string, string>;
}

/** The repository as a fresh clone has it (tests, bench and CI included, to prove they are not shipped). */
function copyRepository(to: string): void {
  const entries = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'LICENSE', 'CHANGELOG.md'];
  for (const f of entries) cpSync(path.join(repoRoot, f), path.join(to, f));
  for (const d of ['src', 'modules', 'scripts', 'docs', 'etc', 'test', 'bench', '.ci']) {
    if (existsSync(path.join(repoRoot, d))) cpSync(path.join(repoRoot, d), path.join(to, d), { recursive: true });
  }
  // The dev dependencies `npm ci` would install (tsc for prepack).
  symlinkSync(path.join(repoRoot, 'node_modules'), path.join(to, 'node_modules'), 'dir');
}

/**
 * An application that depends on the tarball, with a lock file holding smapd's own dependencies exactly as
 * the repository's lock has them, so `npm ci` can take them from npm's cache.
 */
function writeApp(app: string, tarball: string, pack: PackResult): void {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as PackageJson;
  const lock = JSON.parse(readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as LockFile;
  const spec = `file:${path.relative(app, tarball)}`;
  const packages: Record<string, unknown> = {
    '': { name: 'app', dependencies: { smapd: spec } },
    'node_modules/smapd': {
      version: pkg.version,
      resolved: spec,
      integrity: pack.integrity,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  for (const [where, entry] of Object.entries(lock.packages)) {
    if (where !== '' && entry.dev !== true) packages[where] = entry;
  }
  mkdirSync(app, { recursive: true });
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { smapd: spec } }));
  writeFileSync(path.join(app, 'package-lock.json'), JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }));
}

/** Resolve when `child` writes `pattern` to stderr; reject when it exits first or takes too long. */
function waitForStderr(child: ChildProcess, pattern: RegExp, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => finish(new Error(`no ${pattern} within ${ms} ms:\n${text}`)), ms);
    const onData = (d: Buffer): void => {
      text += d.toString();
      if (pattern.test(text)) finish(null);
    };
    const onExit = (code: number | null): void => finish(new Error(`smapd exited (${code}) before ${pattern}:\n${text}`));
    function finish(err: Error | null): void {
      clearTimeout(timer);
      child.stderr!.off('data', onData);
      child.off('exit', onExit);
      if (err === null) resolve(text);
      else reject(err);
    }
    child.stderr!.on('data', onData);
    child.once('exit', onExit);
  });
}

describe('the npm package', { timeout: 4 * STEP_TIMEOUT_MS }, () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'smapd-pack-'));
  const clone = path.join(tmp, 'clone');
  const app = path.join(tmp, 'app');
  const plain = path.join(tmp, 'plain');
  let pack: PackResult;
  let daemon: ChildProcess | undefined;

  before(async () => {
    mkdirSync(clone);
    copyRepository(clone);
    const packed = must(await run('npm', ['pack', '--json', '--pack-destination', tmp], clone), 'npm pack');
    pack = (JSON.parse(packed.stdout) as PackResult[])[0]!;
    writeApp(app, path.join(tmp, pack.filename), pack);
    must(await run('npm', ['ci', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], app), 'npm ci of the tarball');
  });

  after(async () => {
    if (daemon !== undefined && daemon.exitCode === null && daemon.signalCode === null) {
      const exited = new Promise((resolve) => daemon!.once('exit', resolve));
      daemon.kill('SIGTERM');
      await exited;
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  it('ships the commands, built-in modules, API types, docs, etc/, README, LICENSE and CHANGELOG, and nothing else', () => {
    const files = new Set(pack.files.map((f) => f.path));
    const wanted = [
      'package.json',
      'README.md',
      'LICENSE',
      'CHANGELOG.md',
      'dist/src/cli/smapd.js',
      'dist/src/cli/smapc.js',
      'dist/src/cli/makemap.js',
      'dist/src/modules/api.js',
      'dist/src/modules/api.d.ts',
      'dist/src/modules/api-resolve-hook.js',
      'dist/modules/echo.js',
      'dist/modules/mysql/index.js',
      'docs/modules.md',
      'docs/examples/json-map.ts',
      'etc/smapd.conf',
      'dist/man/smapd.8',
      'dist/man/smapd.conf.5',
      'dist/man/smapc.1',
      'dist/man/smapd-makemap.8',
    ];
    for (const f of wanted) assert.ok(files.has(f), `${f} is in the package`);
    const unwanted = [...files].filter((f) => /^(dist\/)?(test|bench|scripts|\.ci)\/|\.map$|^src\/|^modules\/|^tsconfig/.test(f));
    assert.deepEqual(unwanted, []);
    assert.match(readFileSync(path.join(app, 'node_modules', 'smapd', 'LICENSE'), 'utf8'), /GNU GENERAL PUBLIC LICENSE\s+Version 3/);
  });

  it('type-checks a TypeScript module against the installed package under strict, and rejects a wrong one', async () => {
    const sources = path.join(app, 'ts');
    mkdirSync(sources);
    cpSync(path.join(repoRoot, 'docs', 'examples', 'json-map.ts'), path.join(sources, 'json-map.ts'));
    // A plain string is not a Reply: the shipped types must say so.
    writeFileSync(
      path.join(sources, 'wrong.ts'),
      "import { defineModule } from 'smapd/module';\n" +
        "export default defineModule({ apiVersion: 1, capabilities: ['query'], initDb: () => ({}), query: () => 'OK x' });\n",
    );
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          rootDir: sources,
          outDir: plain,
          // The application has no @types/node of its own; the shipped declarations need Node's types.
          typeRoots: [path.join(repoRoot, 'node_modules', '@types')],
          types: ['node'],
        },
        include: ['ts/*.ts'],
      }),
    );
    const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = await run(process.execPath, [tsc, '-p', 'tsconfig.json', '--pretty', 'false'], app);
    const errors = r.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
    assert.ok(errors.length > 0, `the wrong module was rejected:\n${r.stdout}`);
    assert.deepEqual(errors.filter((l) => !l.startsWith('ts/wrong.ts(')), [], 'the example has no type errors');
    assert.ok(errors.some((l) => /error TS2322/.test(l)), errors.join('\n'));
    assert.match(readFileSync(path.join(plain, 'json-map.js'), 'utf8'), /from 'smapd\/module'/);
  });

  it('loads that module from a plain directory with the installed smapd and answers through the installed smapc', async () => {
    const sock = path.join(tmp, 'smapd.sock');
    writeFileSync(path.join(plain, 'routes.json'), JSON.stringify({ aliases: { postmaster: 'root@example.com' } }));
    const conf = path.join(plain, 'smapd.conf');
    writeFileSync(
      conf,
      `server u unix://${sock}\n` +
        `module json ${path.join(plain, 'json-map.js')}\n` +
        'module echo echo\n' +
        'database routes json file=routes.json positive-reply="OK alias ${value}"\n' +
        'database builtin echo OK built-in ${key}\n' +
        'dispatch map eq echo database builtin\n' +
        'dispatch default database routes\n',
    );
    const installed = path.join(app, 'node_modules', 'smapd', 'dist', 'src', 'cli');
    const check = await run(process.execPath, [path.join(installed, 'smapd.js'), '-t', '-c', conf], plain);
    assert.equal(check.code, 0, `smapd -t:\n${check.stdout}\n${check.stderr}`);

    daemon = spawn(process.execPath, [path.join(installed, 'smapd.js'), '-f', '-c', conf], { cwd: plain, stdio: ['ignore', 'ignore', 'pipe'] });
    await waitForStderr(daemon, /smapd started/, 60_000);
    const smapc = path.join(installed, 'smapc.js');
    const hit = must(await run(process.execPath, [smapc, `unix://${sock}`, 'aliases', 'postmaster'], plain), 'smapc');
    assert.equal(hit.stdout.trim(), 'OK alias root@example.com');
    const miss = await run(process.execPath, [smapc, `unix://${sock}`, 'aliases', 'nobody'], plain);
    assert.match(miss.stdout, /^NOTFOUND/);
    const builtin = must(await run(process.execPath, [smapc, `unix://${sock}`, 'echo', 'x'], plain), 'smapc');
    assert.equal(builtin.stdout.trim(), 'OK built-in x');
  });
});
