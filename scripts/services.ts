// Local services for development and tests: FerretDB (MongoDB wire protocol, SQLite backend)
// and an S3 server (versitygw, posix backend). Built from their Go modules at pinned versions into
// a version-keyed cache outside the repository, started on free loopback ports, stopped cleanly.
//
//   node dist/scripts/services.js provision          build both (if not cached) and exit
//   node dist/scripts/services.js start [--data DIR] start both, print their env, stop on Ctrl-C
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const FERRETDB_VERSION = 'v1.24.2';
export const VERSITYGW_VERSION = 'v1.8.0';

type Log = (line: string) => void;

interface Tool {
  name: string;
  version: string;
  binary: string;
  /** Writes a build module into dir and returns the go install arguments. */
  prepare(dir: string, go: GoRunner): Promise<string[]>;
}

type GoRunner = (args: string[], cwd: string) => Promise<void>;

const TOOLS: Record<'ferretdb' | 'versitygw', Tool> = {
  ferretdb: {
    name: 'FerretDB',
    version: FERRETDB_VERSION,
    binary: 'ferretdb',
    // FerretDB embeds build/version/version.txt, which the module zip leaves empty, and the module
    // proxy refuses its version list, which `go install pkg@version` asks for. So: a throwaway
    // module that requires it, vendored, with version.txt filled in.
    async prepare(dir, go) {
      await writeFile(
        join(dir, 'go.mod'),
        `module cmsservices/ferretdb\n\ngo 1.22\n\nrequire github.com/FerretDB/FerretDB ${FERRETDB_VERSION}\n`,
      );
      await writeFile(
        join(dir, 'tools.go'),
        '//go:build tools\n\npackage tools\n\nimport _ "github.com/FerretDB/FerretDB/cmd/ferretdb"\n',
      );
      await go(['mod', 'tidy'], dir);
      await go(['mod', 'vendor'], dir);
      await writeFile(join(dir, 'vendor/github.com/FerretDB/FerretDB/build/version/version.txt'), `${FERRETDB_VERSION}\n`);
      return ['install', '-mod=vendor', 'github.com/FerretDB/FerretDB/cmd/ferretdb'];
    },
  },
  versitygw: {
    name: 'versitygw',
    version: VERSITYGW_VERSION,
    binary: 'versitygw',
    async prepare() {
      return ['install', `github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}`];
    },
  },
};

export function cacheDir(): string {
  if (process.env.CMS_SERVICES_CACHE) return resolve(process.env.CMS_SERVICES_CACHE);
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'cms-services');
}

function binaryPath(tool: Tool): string {
  return join(cacheDir(), `${tool.binary}-${tool.version}`, tool.binary);
}

export class ServicesError extends Error {}

/** The oldest Go that builds both pinned tools (versitygw v1.8.0 declares go 1.25.0). */
export const MIN_GO = [1, 25] as const;

const missingGo = (why: string) =>
  new ServicesError(
    [
      `Cannot start the embedded services: ${why}.`,
      `Either install Go ${MIN_GO.join('.')} or newer (https://go.dev/dl/) and put \`go\` on PATH (or set GO=/path/to/go),`,
      'or point the CMS at running services by setting MONGODB_URI and',
      'S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY.',
    ].join('\n'),
  );

async function findGo(): Promise<string> {
  // an explicit GO is the only candidate, so a wrong one is reported rather than worked around
  const candidates = process.env.GO
    ? [process.env.GO]
    : [...(process.env.PATH ?? '').split(':').filter(Boolean).map((p) => join(p, 'go')), '/usr/local/go/bin/go'];
  const go = candidates.find((c) => existsSync(c));
  if (!go) throw missingGo(process.env.GO ? `GO=${process.env.GO} does not exist` : 'the Go toolchain was not found');
  const version = await new Promise<string>((res) => {
    const child = spawn(go, ['env', 'GOVERSION'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', () => res(''));
    child.on('close', () => res(out.trim()));
  });
  const m = /^go(\d+)\.(\d+)/.exec(version);
  if (!m) throw missingGo(`${go} did not report a Go version`);
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major < MIN_GO[0] || (major === MIN_GO[0] && minor < MIN_GO[1])) {
    throw missingGo(`${go} is ${version}, older than go${MIN_GO.join('.')}`);
  }
  return go;
}

function runGo(goBin: string, env: NodeJS.ProcessEnv, log: Log, label: string): GoRunner {
  return (args, cwd) =>
    new Promise((resolvePromise, reject) => {
      const child = spawn(goBin, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let tail = '';
      let downloads = 0;
      const onData = (chunk: Buffer) => {
        const text = chunk.toString();
        tail = (tail + text).slice(-4000);
        for (const line of text.split('\n')) if (line.startsWith('go: downloading')) downloads++;
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      const started = Date.now();
      const timer = setInterval(() => {
        log(`  ${label}: go ${args[0]} … ${Math.round((Date.now() - started) / 1000)}s, ${downloads} modules downloaded`);
      }, 15_000);
      child.on('error', (err) => {
        clearInterval(timer);
        reject(err);
      });
      child.on('close', (code) => {
        clearInterval(timer);
        if (code === 0) resolvePromise();
        else reject(new ServicesError(`go ${args.join(' ')} failed (exit ${code}) while building ${label}:\n${tail}`));
      });
    });
}

async function build(tool: Tool, log: Log): Promise<string> {
  const target = binaryPath(tool);
  if (existsSync(target)) return target;
  const goBin = await findGo();
  log(`Building ${tool.name} ${tool.version} with Go (first run only; this takes a few minutes)…`);
  const work = await mkdtemp(join(tmpdir(), `cms-build-${tool.binary}-`));
  const outDir = join(work, 'bin');
  const env = { ...process.env, GOBIN: outDir, GOFLAGS: '-buildvcs=false', CGO_ENABLED: '0' };
  const go = runGo(goBin, env, log, tool.name);
  const started = Date.now();
  try {
    const args = await tool.prepare(work, go);
    await go(args, work);
    await mkdir(join(cacheDir(), `${tool.binary}-${tool.version}`), { recursive: true });
    // rename is atomic, so a concurrent run sees either nothing or the whole binary
    await rename(join(outDir, tool.binary), target);
    log(`Built ${tool.name} ${tool.version} in ${Math.round((Date.now() - started) / 1000)}s → ${target}`);
    return target;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export type ServiceName = 'ferretdb' | 'versitygw';

/** Builds the named tools (both by default) unless cached; returns their binaries. */
export async function provision(log: Log = console.error, which: ServiceName[] = ['ferretdb', 'versitygw']): Promise<Partial<Record<ServiceName, string>>> {
  const out: Partial<Record<ServiceName, string>> = {};
  for (const name of which) out[name] = await build(TOOLS[name], log);
  return out;
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePromise(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, name: string, output: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new ServicesError(`${name} exited with code ${child.exitCode}:\n${output()}`);
    const ok = await new Promise<boolean>((res) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        res(true);
      });
      socket.once('error', () => res(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new ServicesError(`${name} did not accept connections on 127.0.0.1:${port} within ${timeoutMs / 1000}s:\n${output()}`);
}

/** On Linux a service gets SIGTERM when the process that started it dies, even by SIGKILL. */
const SETPRIV = '/usr/bin/setpriv';

function launch(bin: string, args: string[]): { child: ChildProcess; output: () => string } {
  const [command, argv] = process.platform === 'linux' && existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'SIGTERM', '--', bin, ...args]] : [bin, args];
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => tail };
}

async function stopChild(child: ChildProcess, timeoutMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

export interface RunningServices {
  /** Set when FerretDB was started. */
  mongoUri?: string;
  /** Set when the S3 server was started. */
  s3?: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
  /** The environment variables the CMS reads, pointing at what was started. */
  env: Record<string, string>;
  /** The process (a running server) whose services on this data directory are used, if any. */
  sharedWith?: number;
  stop(): Promise<void>;
}

/** Credentials for the local S3 server, kept beside its data so a restart reuses them. */
async function localCredentials(dataDir: string): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  const file = join(dataDir, 's3-credentials.json');
  try {
    return JSON.parse(await readFile(file, 'utf8')) as { accessKeyId: string; secretAccessKey: string };
  } catch {
    const creds = { accessKeyId: `cms${randomBytes(8).toString('hex')}`, secretAccessKey: randomBytes(24).toString('hex') };
    await writeFile(file, JSON.stringify(creds), { mode: 0o600 });
    return creds;
  }
}

function s3Env(s3: NonNullable<RunningServices['s3']>): Record<string, string> {
  return {
    S3_ENDPOINT: s3.endpoint,
    S3_REGION: s3.region,
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    S3_FORCE_PATH_STYLE: 'true',
  };
}

export interface StartOptions {
  dataDir: string;
  log?: Log;
  /** Start FerretDB (default true). */
  mongo?: boolean;
  /** Start the S3 server (default true). */
  s3?: boolean;
  /** Let other processes on this data directory share what is started (the server; not short-lived commands). */
  announce?: boolean;
}

/** What a process that started services on a data directory leaves there, so others share them. */
interface ServicesFile {
  pid: number;
  mongoUri?: string;
  s3?: NonNullable<RunningServices['s3']>;
}

const servicesFile = (dataDir: string) => join(dataDir, 'services.json');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The services another live process runs on this data directory, if any answer. */
async function runningOn(dataDir: string): Promise<ServicesFile | undefined> {
  let found: ServicesFile;
  try {
    found = JSON.parse(await readFile(servicesFile(dataDir), 'utf8')) as ServicesFile;
  } catch {
    return undefined;
  }
  if (typeof found.pid !== 'number' || found.pid === process.pid || !alive(found.pid)) return undefined;
  const ports = [found.mongoUri, found.s3?.endpoint].filter((u): u is string => Boolean(u)).map((u) => Number(new URL(u).port));
  const answers = await Promise.all(
    ports.map(
      (port) =>
        new Promise<boolean>((done) => {
          const socket = connect({ host: '127.0.0.1', port }, () => {
            socket.end();
            done(true);
          });
          socket.on('error', () => done(false));
        }),
    ),
  );
  return answers.every(Boolean) ? found : undefined;
}

/**
 * Starts the services on a data directory. When another live process (a running server) already
 * runs them there, they are shared instead of started twice on the same files: its addresses are
 * returned, and `stop` leaves them running. Only what it does not run is started here.
 */
export async function startServices(options: StartOptions): Promise<RunningServices> {
  const log = options.log ?? console.error;
  const dataDir = resolve(options.dataDir);
  const shared = await runningOn(dataDir);
  let wantMongo = options.mongo ?? true;
  let wantS3 = options.s3 ?? true;
  const result: RunningServices = { env: {}, stop: async () => undefined };
  if (shared && wantMongo && shared.mongoUri) {
    result.mongoUri = shared.mongoUri;
    result.env.MONGODB_URI = shared.mongoUri;
    wantMongo = false;
  }
  if (shared && wantS3 && shared.s3) {
    result.s3 = shared.s3;
    Object.assign(result.env, s3Env(shared.s3));
    wantS3 = false;
  }
  if (shared && (result.mongoUri || result.s3)) {
    result.sharedWith = shared.pid;
    log(`Using the services of the process ${shared.pid} on ${dataDir}`);
  }
  if (!wantMongo && !wantS3) return result;
  const bins = await provision(log, [...(wantMongo ? ['ferretdb' as const] : []), ...(wantS3 ? ['versitygw' as const] : [])]);
  const launched: Array<{ child: ChildProcess; ready: Promise<void> }> = [];
  let ownFile = false;
  const stop = async () => {
    if (ownFile) await rm(servicesFile(dataDir), { force: true });
    await Promise.all(launched.map((l) => stopChild(l.child)));
  };
  result.stop = stop;
  try {
    if (bins.ferretdb) {
      const dbDir = join(dataDir, 'ferretdb');
      await mkdir(dbDir, { recursive: true });
      const [port, debugPort] = [await freePort(), await freePort()];
      const db = launch(bins.ferretdb, [
        '--handler=sqlite',
        `--sqlite-url=file:${dbDir}/`,
        `--state-dir=${dbDir}`,
        `--listen-addr=127.0.0.1:${port}`,
        `--debug-addr=127.0.0.1:${debugPort}`,
        '--telemetry=disable',
        '--log-level=ERROR',
      ]);
      launched.push({ child: db.child, ready: waitForPort(port, db.child, 'FerretDB', db.output) });
      result.mongoUri = `mongodb://127.0.0.1:${port}/`;
      result.env.MONGODB_URI = result.mongoUri;
    }
    if (bins.versitygw) {
      const s3Dir = join(dataDir, 's3');
      await mkdir(s3Dir, { recursive: true });
      const creds = await localCredentials(dataDir);
      const port = await freePort();
      const gw = launch(bins.versitygw, ['--port', `127.0.0.1:${port}`, '--access', creds.accessKeyId, '--secret', creds.secretAccessKey, '--quiet', 'posix', s3Dir]);
      launched.push({ child: gw.child, ready: waitForPort(port, gw.child, 'versitygw', gw.output) });
      result.s3 = { endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', ...creds };
      Object.assign(result.env, s3Env(result.s3));
    }
    await Promise.all(launched.map((l) => l.ready));
    // a long-lived process (the server) announces what it runs there, for commands run meanwhile
    if (options.announce && !shared) {
      const own: ServicesFile = { pid: process.pid, ...(result.mongoUri ? { mongoUri: result.mongoUri } : {}), ...(result.s3 ? { s3: result.s3 } : {}) };
      await writeFile(servicesFile(dataDir), JSON.stringify(own), { mode: 0o600 });
      ownFile = true;
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return result;
}

/**
 * For the test runner and the benchmark: starts, on fresh temporary data, whichever service the
 * environment does not point at (MONGODB_URI, S3_ENDPOINT). `env` is the environment to run with;
 * `stop` stops what was started and removes its data.
 */
export async function startMissingServices(
  prefix: string,
  log?: Log,
  source: NodeJS.ProcessEnv = process.env,
): Promise<{ env: NodeJS.ProcessEnv; started: RunningServices | undefined; stop(): Promise<void> }> {
  const mongo = !source.MONGODB_URI;
  const s3 = !source.S3_ENDPOINT;
  if (!mongo && !s3) return { env: { ...source }, started: undefined, stop: async () => undefined };
  const dataDir = await mkdtemp(join(tmpdir(), `${prefix}-`));
  try {
    const started = await startServices({ dataDir, mongo, s3, ...(log ? { log } : {}) });
    let stopped = false;
    return {
      env: { ...source, ...started.env },
      started,
      async stop() {
        if (stopped) return;
        stopped = true;
        await started.stop();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'provision') {
    const bins = await provision();
    console.log(JSON.stringify(bins));
    return;
  }
  if (command === 'start') {
    const i = rest.indexOf('--data');
    const dataDir = i >= 0 && rest[i + 1] ? rest[i + 1]! : '.data';
    const services = await startServices({ dataDir, announce: true });
    for (const [k, v] of Object.entries(services.env)) console.log(`${k}=${v}`);
    console.error('Services are running; press Ctrl-C to stop them.');
    const shutdown = () => void services.stop().then(() => process.exit(0));
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
    return;
  }
  console.error('usage: services.js provision | start [--data DIR]');
  process.exitCode = 2;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof ServicesError ? err.message : err);
    process.exit(1);
  });
}
