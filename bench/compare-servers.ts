/**
 * The servers of `npm run bench:compare` (bench/compare.ts): each started in its own fresh data dir
 * on 127.0.0.1 with free ports, waited for with a bound, and stopped by PID (TERM, then KILL after
 * STOP_GRACE_MS). `missing*()` says in one line why a server cannot run here, so the driver skips
 * it instead of failing. Every server is started as its package installs it, with only what the
 * workload needs changed (ports, data dir, the fsync setting under test).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export type Mode = 'async' | 'sync';

export interface RunningServer {
  /** The server's processes: their CPU time and RSS are what the bench reports. */
  pids: number[];
  /** Where the client connects: the name server for RocketMQ, else the server's host:port. */
  clientAddr: string;
  stop(): Promise<void>;
}

/** Bound on a server's start (a JVM or Erlang VM on a loaded 2-core machine takes 10-30 s). */
export const START_TIMEOUT_MS = 180_000;
/** After SIGTERM, how long a server may take to exit before SIGKILL. */
const STOP_GRACE_MS = 15_000;
const POLL_MS = 200;
const HOST = '127.0.0.1';

/** Stops of every server still running, for the driver's signal handler. */
export const running = new Set<RunningServer>();

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, HOST, resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** A command on PATH (or an absolute path) that can be executed, else undefined. */
export function which(cmd: string): string | undefined {
  const dirs = cmd.includes('/') ? [''] : (process.env.PATH ?? '').split(':');
  for (const d of dirs) {
    const p = d ? path.join(d, cmd) : cmd;
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Spawn with stdout and stderr into dir/<name>.log (read when a start fails). */
function spawnLogged(dir: string, name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const log = path.join(dir, `${name}.log`);
  const fd = fs.openSync(log, 'w');
  const child = spawn(cmd, args, { cwd: dir, env, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  child.on('error', () => undefined); // reported through exited() and the log
  return child;
}

function logTail(dir: string, name: string): string {
  try {
    return fs.readFileSync(path.join(dir, `${name}.log`), 'utf8').split('\n').slice(-8).join('\n');
  } catch {
    return '';
  }
}

/** Bounded wait until host:port accepts a connection; fails early if the process exits. */
async function waitForPort(port: number, child: ChildProcess, what: string, dir: string, name: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exited(child)) throw new Error(`${what} exited before it listened (exit ${child.exitCode ?? child.signalCode}): ${logTail(dir, name)}`);
    if (await canConnect(port)) return;
    if (Date.now() > deadline) throw new Error(`${what} not listening on ${HOST}:${port} after ${START_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

/** TERM, bounded wait, KILL: the one way every process started here ends. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await gone;
  clearTimeout(timer);
}

function track(server: RunningServer): RunningServer {
  running.add(server);
  const stop = server.stop;
  server.stop = async () => {
    try {
      await stop();
    } finally {
      running.delete(server);
    }
  };
  return server;
}

// rocketctl ----------------------------------------------------------------------------------------

export function missingRocketctl(root: string): string | null {
  return fs.existsSync(path.join(root, 'dist', 'rocketctl.cjs')) ? null : 'rocketctl not built (npm run build)';
}

/** `rocketctl broker start [extraArgs]` as a user runs it (embedded name server), in its own process. */
export async function startRocketctl(root: string, dir: string, mode: Mode, extraArgs: readonly string[] = []): Promise<RunningServer> {
  const flush = mode === 'sync' ? 'SYNC_FLUSH' : 'ASYNC_FLUSH';
  const { NODE_ENV: _drop, ...env } = process.env;
  // ROCKETCTL_BENCH_CPU_PROF=DIR: the broker writes a V8 CPU profile (.cpuprofile) to DIR when stopped.
  const prof = process.env.ROCKETCTL_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.ROCKETCTL_BENCH_CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...prof, path.join(root, 'bin', 'run.js'), 'broker', 'start', '--store-dir', path.join(dir, 'store'), '--listen-port', '0', '--namesrv-port', '0', '--flush-disk-type', flush, ...extraArgs], {
    cwd: dir,
    env: { ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err = (err + d).slice(-2000)));
  const namesrv = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rocketctl broker: no ready line within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    child.stdout!.on('data', (d) => {
      if (out.length < 10_000) out += d; // after the ready line the output is only drained
      const m = /broker ready: .* namesrv=(\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`rocketctl broker exited before it was ready (exit ${code}): ${err}`));
    });
  }).catch(async (e: unknown) => {
    await stopChild(child);
    throw e;
  });
  return track({ pids: [child.pid!], clientAddr: namesrv, stop: () => stopChild(child) });
}

// Apache RocketMQ (the conformance kit) -------------------------------------------------------------

interface Kit {
  missingTools(): string | null;
  setup(o?: { log?: (m: string) => void }): void;
  start(major: string, dir: string, config: Record<string, string>, o: { bench: boolean }): Promise<{ namesrv: string; pids: number[] }>;
  stop(dir: string): Promise<void>;
  driverCommand(cls: string, args: string[], o: { heapMb: number; c1Only: boolean }): { command: string; args: string[]; env: NodeJS.ProcessEnv };
}

let kitModule: Kit | undefined;
/** test/apache/kit.mjs, loaded from the repo (it is not compiled into dist/). */
export async function kit(root: string): Promise<Kit> {
  kitModule ??= (await import(pathToFileURL(path.join(root, 'test', 'apache', 'kit.mjs')).href)) as Kit;
  return kitModule;
}

let kitReady: string | null | undefined;
/** null when the kit's Java side (Maven classpaths, compiled drivers) is ready, else why not. */
export async function missingKit(root: string): Promise<string | null> {
  if (kitReady !== undefined) return kitReady;
  const k = await kit(root);
  kitReady = k.missingTools();
  if (kitReady === null) {
    try {
      k.setup({ log: (m) => process.stderr.write(`${m}\n`) });
    } catch (e) {
      kitReady = `Apache kit setup failed: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`;
    }
  }
  return kitReady;
}

/**
 * Apache RocketMQ 4.9.7 name server + broker from the kit (4.9.8's server is not on Maven Central),
 * full JIT, 1 GiB broker heap, Apache's default 1 GiB commit-log segments.
 */
export async function startApache(root: string, dir: string, mode: Mode): Promise<RunningServer> {
  const k = await kit(root);
  const config = { flushDiskType: mode === 'sync' ? 'SYNC_FLUSH' : 'ASYNC_FLUSH', mappedFileSizeCommitLog: String(1024 * 1024 * 1024) };
  try {
    const r = await k.start('4', dir, config, { bench: true });
    return track({ pids: r.pids, clientAddr: r.namesrv, stop: () => k.stop(dir) });
  } catch (e) {
    await k.stop(dir);
    throw e;
  }
}

// Redis ---------------------------------------------------------------------------------------------

export function missingRedis(): string | null {
  return which('redis-server') ? null : 'redis-server not found (apt-get install redis-server)';
}

/** Redis with the append-only file on: `appendfsync everysec` (async) or `always` (sync); no RDB snapshots. */
export async function startRedis(dir: string, mode: Mode): Promise<RunningServer> {
  const port = await freePort();
  const child = spawnLogged(dir, 'redis', which('redis-server')!, [
    '--port', String(port), '--bind', HOST, '--dir', dir, '--save', '', '--appendonly', 'yes',
    '--appendfsync', mode === 'sync' ? 'always' : 'everysec', '--daemonize', 'no',
  ]);
  return started(child, port, 'redis-server', dir, 'redis', `${HOST}:${port}`);
}

async function started(child: ChildProcess, port: number, what: string, dir: string, name: string, clientAddr: string, extra: ChildProcess[] = []): Promise<RunningServer> {
  const stop = async () => {
    await stopChild(child);
    for (const c of extra) await stopChild(c);
  };
  try {
    await waitForPort(port, child, what, dir, name);
  } catch (e) {
    await stop();
    throw e;
  }
  return track({ pids: [child.pid!], clientAddr, stop });
}

// NATS ----------------------------------------------------------------------------------------------

export function missingNats(): string | null {
  return which('nats-server') ? null : 'nats-server not found (apt-get install nats-server)';
}

/**
 * JetStream with file storage. nats-server 2.9 (Debian 12's) writes each message to the file
 * before the ack but fsyncs on its own schedule, and has no setting to fsync before the ack
 * (`sync_interval: always` came in 2.10): so it runs in the async mode only.
 */
export async function startNats(dir: string): Promise<RunningServer> {
  const port = await freePort();
  const child = spawnLogged(dir, 'nats', which('nats-server')!, ['-a', HOST, '-p', String(port), '-js', '-sd', path.join(dir, 'jetstream')]);
  return started(child, port, 'nats-server', dir, 'nats', `${HOST}:${port}`);
}

// RabbitMQ ------------------------------------------------------------------------------------------

/** The server script itself: Debian's /usr/sbin wrapper would su to the rabbitmq user. */
const RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

export function missingRabbitmq(): string | null {
  if (!which(RABBITMQ_SERVER)) return `${RABBITMQ_SERVER} not found (apt-get install rabbitmq-server)`;
  if (!which('epmd')) return 'epmd (Erlang) not found';
  return null;
}

/**
 * A single RabbitMQ node, no plugins, everything (node, Erlang distribution, our own epmd) on
 * loopback ports of its own and state under dir, so it neither needs nor touches the system's
 * /var/lib/rabbitmq. RUNNING_UNDER_SYSTEMD makes the script exec the VM, so the PID we hold is
 * beam.smp's. Queue type and message persistence are the client's choice (compare-client.ts).
 */
export async function startRabbitmq(dir: string): Promise<RunningServer> {
  const [port, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
  const home = path.join(dir, 'home');
  fs.mkdirSync(home, { recursive: true });
  fs.writeFileSync(path.join(dir, 'rabbitmq.conf'), `listeners.tcp.default = ${HOST}:${port}\n`);
  fs.writeFileSync(path.join(dir, 'enabled_plugins'), '[].\n');
  fs.writeFileSync(path.join(dir, 'rabbitmq-env.conf'), '');
  const epmd = spawnLogged(dir, 'epmd', which('epmd')!, ['-port', String(epmdPort), '-address', HOST]);
  const env = {
    ...process.env,
    HOME: home, // the Erlang cookie
    RUNNING_UNDER_SYSTEMD: '1',
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: HOST,
    RABBITMQ_NODENAME: `bench${port}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: HOST,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_PLUGINS_EXPAND_DIR: path.join(dir, 'plugins-expand'),
    RABBITMQ_CONF_ENV_FILE: path.join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_PID_FILE: path.join(dir, 'rabbitmq.pid'),
  };
  const child = spawnLogged(dir, 'rabbitmq', RABBITMQ_SERVER, [], env);
  return started(child, port, 'rabbitmq-server', dir, 'rabbitmq', `${HOST}:${port}`, [epmd]);
}

// /proc ---------------------------------------------------------------------------------------------

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat on Linux. */
const CLK_TCK = 100;
const PAGE_BYTES = 4096;

/** CPU time (user+system, all threads) of the processes, in µs; a gone process counts 0. */
export function cpuMicros(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    // Fields 14 and 15 of stat (utime, stime), counted from the state field (3).
    if (f) total += ((Number(f[11]) + Number(f[12])) * 1_000_000) / CLK_TCK;
  }
  return total;
}

/** Resident set size of the processes together, in bytes. */
export function rssBytes(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    if (f) total += Number(f[21]) * PAGE_BYTES; // field 24: rss in pages
  }
  return total;
}

function statFields(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}
