/**
 * `npm run bench:compare` (issue 14): one workload, one run, against our broker and what users
 * would otherwise pick. Per target and mode: a fresh data dir, the server started on 127.0.0.1
 * (bench/compare-servers.ts), a client in its own process (bench/compare-client.ts, or the Java
 * 4.9.8 client test/apache/java/BenchClient.java) that sends --messages messages of --size bytes
 * with --inflight unanswered, then reads them all back; the server stopped by PID. Server CPU
 * and RSS come from /proc/<pid>/stat, read between the client's "ready" and "go" and at its
 * result, so each phase is measured alone. Modes: async (no fsync before the ack) and sync
 * (fsync before the ack). With --runs R every target runs R times, interleaved, and the table
 * shows medians; ratios to our broker (our client, same mode) are the headline.
 *
 * --scenario fan (issue 14: several producers and consumers at once): per target and mode the
 * single run above, then a fan run in a fresh server: --producers P client processes, each with
 * its share of --messages, --inflight and --warmup (so the load offered equals the single run's,
 * spread over P connections), all timed from one "go"; then --groups G consumer-group processes
 * read the whole topic at once. A process per client, as users' services run; on 2 cores they
 * compete with the server, which is why the fan table shows the clients' CPU too. Reported:
 * totals, each producer's and group's rate with Jain's fairness index, and the fan totals over
 * the single run's ("no collapse").
 *
 * Prints one table (or, with --json, one JSON document on stdout) and appends JSON lines (every
 * run, every median row, every skip) to --out (default .bench-results/compare-<time>.jsonl).
 * Progress goes to stderr. A target whose server or client is missing is skipped with a reason.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ClientSpec, ClientSystem, ConsumeResult, ProduceResult } from './compare-client.js';
import { fanTotals, render, round, share, summarise, type Failure, type GroupResult, type ProducerResult, type FanShares, type RunRecord, type Scenario, type Skip } from './compare-report.js';
import * as servers from './compare-servers.js';
import type { Mode, RunningServer } from './compare-servers.js';

interface Options {
  scenario: Scenario;
  producers: number;
  groups: number;
  messages: number;
  sizeBytes: number;
  inflight: number;
  warmup: number;
  runs: number;
  targets: string[];
  modes: Mode[];
  phaseTimeoutMs: number;
  dir: string;
  out: string | null;
  json: boolean;
  markdown: boolean;
}

interface Target {
  name: string;
  /** What the server is, as the table says it. */
  server: string;
  client: 'node' | 'java';
  system: ClientSystem;
  /** Per mode: the configuration under test, or why the mode is skipped. */
  modes: Record<Mode, { config: string } | { skip: string }>;
  /** null when it can run here, else the one-line reason. */
  missing(root: string): Promise<string | null>;
  start(root: string, dir: string, mode: Mode): Promise<RunningServer>;
  clientSpec?: Partial<ClientSpec> | ((mode: Mode) => Partial<ClientSpec>);
  /** Why the fan scenario does not run this target (absent: it does). */
  fanSkip?: string;
}

const nodeModule = async (name: string): Promise<string | null> => {
  try {
    await import(name);
    return null;
  } catch {
    return `Node client ${name} not installed (npm install)`;
  }
};

const firstMissing = async (...checks: (string | null | Promise<string | null>)[]): Promise<string | null> => {
  for (const c of checks) {
    const why = await c;
    if (why) return why;
  }
  return null;
};

/** The reference every ratio is taken against: our broker with our client, same mode. */
const REFERENCE = 'rocketctl';

const TARGETS: Target[] = [
  {
    name: 'rocketctl', server: 'rocketctl broker start', client: 'node', system: 'rocketmq',
    modes: { async: { config: 'ASYNC_FLUSH' }, sync: { config: 'SYNC_FLUSH' } },
    missing: async (root) => servers.missingRocketctl(root),
    start: servers.startRocketctl,
  },
  {
    // What broker-side tracing (brokerTraceEnable) costs, as users run it (docs/broker-trace.md).
    name: 'rocketctl-traced', server: 'rocketctl broker start --broker-trace', client: 'node', system: 'rocketmq',
    modes: { async: { config: 'ASYNC_FLUSH, brokerTraceEnable' }, sync: { config: 'SYNC_FLUSH, brokerTraceEnable' } },
    missing: async (root) => servers.missingRocketctl(root),
    start: (root, dir, mode) => servers.startRocketctl(root, dir, mode, ['--broker-trace']),
  },
  {
    name: 'rocketctl-java', server: 'rocketctl broker start', client: 'java', system: 'rocketmq',
    modes: { async: { config: 'ASYNC_FLUSH' }, sync: { config: 'SYNC_FLUSH' } },
    missing: (root) => firstMissing(servers.missingRocketctl(root), servers.missingKit(root)),
    start: servers.startRocketctl,
  },
  {
    // The third-party JavaScript client (ali-ons 3.12, JSON headers) against our broker.
    name: 'rocketctl-alions', server: 'rocketctl broker start', client: 'node', system: 'ali-ons',
    modes: { async: { config: 'ASYNC_FLUSH' }, sync: { config: 'SYNC_FLUSH' } },
    missing: (root) => firstMissing(servers.missingRocketctl(root), nodeModule('ali-ons')),
    start: servers.startRocketctl,
  },
  {
    name: 'apache', server: 'Apache RocketMQ 4.9.7', client: 'java', system: 'rocketmq',
    modes: { async: { config: 'ASYNC_FLUSH' }, sync: { config: 'SYNC_FLUSH' } },
    missing: (root) => servers.missingKit(root),
    start: servers.startApache,
  },
  {
    name: 'redis', server: 'Redis streams', client: 'node', system: 'redis',
    modes: { async: { config: 'appendfsync everysec' }, sync: { config: 'appendfsync always' } },
    missing: () => firstMissing(servers.missingRedis(), nodeModule('redis')),
    start: (_root, dir, mode) => servers.startRedis(dir, mode),
  },
  {
    name: 'nats', server: 'NATS JetStream', client: 'node', system: 'nats',
    modes: {
      async: { config: 'file storage' },
      sync: { skip: 'nats-server 2.9 cannot fsync before the ack (sync_interval: always needs 2.10)' },
    },
    missing: () => firstMissing(servers.missingNats(), nodeModule('@nats-io/transport-node'), nodeModule('@nats-io/jetstream')),
    start: (_root, dir) => servers.startNats(dir),
    fanSkip: 'fan not wired for NATS yet (a durable consumer per group; not measured)',
  },
  {
    name: 'rabbitmq-classic', server: 'RabbitMQ classic queue', client: 'node', system: 'rabbitmq',
    modes: { async: { config: 'transient messages' }, sync: { config: 'persistent messages' } },
    missing: () => firstMissing(servers.missingRabbitmq(), nodeModule('amqplib')),
    start: (_root, dir) => servers.startRabbitmq(dir),
    clientSpec: (mode) => ({ queueType: 'classic', persistent: mode === 'sync' }),
    fanSkip: 'fan not wired for RabbitMQ (groups each reading everything need a fanout exchange and a queue per group)',
  },
  {
    name: 'rabbitmq-quorum', server: 'RabbitMQ quorum queue', client: 'node', system: 'rabbitmq',
    modes: {
      async: { skip: 'quorum queues always fsync before confirming' },
      sync: { config: 'persistent messages' },
    },
    missing: () => firstMissing(servers.missingRabbitmq(), nodeModule('amqplib')),
    start: (_root, dir) => servers.startRabbitmq(dir),
    clientSpec: { queueType: 'quorum', persistent: true },
    fanSkip: 'fan not wired for RabbitMQ (groups each reading everything need a fanout exchange and a queue per group)',
  },
];

/** Bound on a client's start-up and warm-up before its first "ready". */
const CLIENT_READY_TIMEOUT_MS = 180_000;
/** How often server RSS is sampled for its peak. */
const RSS_SAMPLE_MS = 250;
/** Rocketmq topic queues (our producer's defaultTopicQueueNums; Apache's broker default is 8 too). */
const QUEUES = 8;
const MIB = 1024 * 1024;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string', default: 'single' },
      producers: { type: 'string', default: '8' },
      groups: { type: 'string', default: '4' },
      messages: { type: 'string', default: '200000' },
      size: { type: 'string', default: '1024' },
      inflight: { type: 'string', default: '256' },
      warmup: { type: 'string' },
      runs: { type: 'string', default: '1' },
      targets: { type: 'string', default: TARGETS.map((t) => t.name).join(',') },
      modes: { type: 'string', default: 'async,sync' },
      'phase-timeout-ms': { type: 'string', default: '300000' },
      dir: { type: 'string', default: os.tmpdir() },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      markdown: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`usage: npm run bench:compare -- [--scenario single|fan] [--producers P] [--groups G] [--messages N] [--size BYTES] [--inflight W] [--warmup N] [--runs R]
  [--targets ${TARGETS.map((t) => t.name).join(',')}] [--modes async,sync]
  [--phase-timeout-ms MS] [--dir DIR] [--out FILE|none] [--json] [--markdown]\n`);
    process.exit(0);
  }
  const int = (name: string, v: string, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${v}`);
    return n;
  };
  const targets = values.targets.split(',').filter(Boolean);
  const unknown = targets.filter((t) => !TARGETS.some((x) => x.name === t));
  if (unknown.length > 0) throw new Error(`unknown target(s) ${unknown.join(', ')}; known: ${TARGETS.map((t) => t.name).join(', ')}`);
  const modes = values.modes.split(',').filter(Boolean);
  if (modes.some((m) => m !== 'async' && m !== 'sync')) throw new Error(`--modes takes async and/or sync, got ${values.modes}`);
  if (values.scenario !== 'single' && values.scenario !== 'fan') throw new Error(`--scenario takes single or fan, got ${values.scenario}`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  return {
    scenario: values.scenario,
    producers: int('producers', values.producers, 1),
    groups: int('groups', values.groups, 1),
    messages: int('messages', values.messages, 1),
    sizeBytes: int('size', values.size, 1),
    inflight: int('inflight', values.inflight, 1),
    // Enough for the JIT of a JVM server and client to settle: 10 % of the messages, at least 1,000.
    warmup: values.warmup === undefined ? Math.max(1000, Math.round(int('messages', values.messages, 1) / 10)) : int('warmup', values.warmup, 0),
    runs: int('runs', values.runs, 1),
    targets,
    modes: modes as Mode[],
    phaseTimeoutMs: int('phase-timeout-ms', values['phase-timeout-ms'], 1000),
    dir: values.dir,
    out: values.out === 'none' ? null : (values.out ?? path.join(repoRoot(), '.bench-results', `compare-${stamp}.jsonl`)),
    json: values.json,
    markdown: values.markdown,
  };
}

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (fs.existsSync(path.join(dir, 'bin', 'run.js')) && fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('bench/compare: cannot find bin/run.js above this file');
}

function log(line: string): void {
  process.stderr.write(`bench:compare: ${line}\n`);
}

/** Client processes still running and data dirs not yet removed, for the signal handler. */
const clients = new Set<ClientProcess>();
const dirs = new Set<string>();

/** The client process and its JSON lines, each awaited with a bound. */
class ClientProcess {
  private readonly lines: Record<string, unknown>[] = [];
  private readonly waiters: (() => void)[] = [];
  private stderr = '';
  readonly child: ChildProcess;

  constructor(command: string, args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d) => (this.stderr = (this.stderr + d).slice(-4000)));
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return; // the Java client may log to stdout
      this.lines.push(JSON.parse(line) as Record<string, unknown>);
      this.wake();
    });
    this.child.once('exit', () => {
      clients.delete(this);
      this.wake();
    });
    clients.add(this);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The next line with this event (and phase); throws on an "error" line, an exit, or the bound. */
  async next(event: string, phase: string | undefined, timeoutMs: number): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.lines.findIndex((l) => l.event === 'error' || (l.event === event && (phase === undefined || l.phase === phase)));
      if (i >= 0) {
        const [line] = this.lines.splice(i, 1);
        if (line!.event === 'error') throw new Error(`client: ${String(line!.message)}`);
        return line!;
      }
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`client exited (${this.child.exitCode ?? this.child.signalCode}) waiting for ${event} ${phase ?? ''}: ${this.stderr.split('\n').slice(-6).join(' | ')}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`client: no ${event} ${phase ?? ''} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  go(): void {
    this.child.stdin!.write('go\n');
  }

  async stop(): Promise<void> {
    if (!this.child.stdin!.writableEnded) this.child.stdin!.end();
    await servers.stopChild(this.child);
  }
}

/** Heap of a fan scenario's Java client: up to 8 + 4 of them share the machine with the broker. */
const FAN_JAVA_HEAP_MB = 256;

async function clientFor(root: string, target: Target, spec: ClientSpec): Promise<ClientProcess> {
  if (target.client === 'java') {
    const k = await servers.kit(root);
    const args = [`namesrv=${spec.addr}`, `topic=${spec.topic}`, `count=${spec.count}`, `size=${spec.sizeBytes}`, `inflight=${spec.inflight}`,
      `warmup=${spec.warmup}`, `queues=${spec.queues}`, `phaseTimeoutMs=${spec.phaseTimeoutMs}`];
    if (spec.role === 'produce') args.push('produceOnly=true', 'latencies=true', 'group=bench_fan');
    if (spec.role === 'consume') args.push('consumeOnly=true', `expect=${spec.expect}`, `consumerGroup=${spec.consumerGroup}`);
    const cmd = k.driverCommand('BenchClient', args, { heapMb: spec.role ? FAN_JAVA_HEAP_MB : 1024, c1Only: false });
    return new ClientProcess(cmd.command, cmd.args, cmd.env);
  }
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'compare-client.js');
  // ROCKETCTL_BENCH_CPU_PROF=DIR: Node clients write a V8 CPU profile to DIR too (as the broker does).
  const prof = process.env.ROCKETCTL_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.ROCKETCTL_BENCH_CPU_PROF}`] : [];
  return new ClientProcess(process.execPath, [...prof, script, JSON.stringify(spec)], process.env);
}

/** What a run's clients need: the server's pids, a client spec for this target, the server's RSS peak so far. */
interface Bench {
  pids: number[];
  spec: ClientSpec;
  rssPeakBytes(): number;
}

/** Fresh dir, the server, its RSS sampled; `body` runs the clients (and stops them); then the server stopped and the dir removed. */
async function withServer<T>(root: string, o: Options, target: Target, mode: Mode, prefix: string, body: (b: Bench) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(o.dir, `${prefix}-${target.name}-${mode}-`));
  dirs.add(dir);
  let server: RunningServer | undefined;
  let rssTimer: NodeJS.Timeout | undefined;
  try {
    server = await startWithRetry(root, dir, target, mode);
    const pids = server.pids;
    let peak = servers.rssBytes(pids);
    const sample = () => (peak = Math.max(peak, servers.rssBytes(pids)));
    rssTimer = setInterval(sample, RSS_SAMPLE_MS);
    const extra = typeof target.clientSpec === 'function' ? target.clientSpec(mode) : target.clientSpec;
    const spec: ClientSpec = {
      system: target.system, addr: server.clientAddr, topic: 'bench_compare', count: o.messages, sizeBytes: o.sizeBytes,
      inflight: o.inflight, warmup: o.warmup, phaseTimeoutMs: o.phaseTimeoutMs, queues: QUEUES, ...extra,
    };
    return await body({ pids, spec, rssPeakBytes: sample });
  } finally {
    clearInterval(rssTimer);
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
  }
}

/** CPU µs read around the two phases: server (s) and clients (c) before/after produce and consume. */
interface CpuReadings { s0: number; s1: number; s2: number; s3: number; c0: number; c1: number; c2: number; c3: number }

function runRecord(
  target: Target, mode: Mode, config: string, run: number, scenario: Scenario,
  m: { produce: RunRecord['produce']; consume: RunRecord['consume']; cpu: CpuReadings; rssAfterProduceBytes: number; rssPeakBytes: number; fan?: FanShares },
): RunRecord {
  const { produce, consume, cpu } = m;
  return {
    type: 'run', scenario, target: target.name, mode, config, server: target.server, client: target.client === 'java' ? 'Java 4.9.8' : clientLabel(target.system),
    run, at: new Date().toISOString(), loadAvg1: round(os.loadavg()[0]!, 2),
    produce, consume,
    serverCpuUsPerProduced: round((cpu.s1 - cpu.s0) / Math.max(1, produce.sent), 1),
    serverCpuUsPerConsumed: round((cpu.s3 - cpu.s2) / Math.max(1, consume.received), 1),
    clientCpuUsPerProduced: round((cpu.c1 - cpu.c0) / Math.max(1, produce.sent), 1),
    clientCpuUsPerConsumed: round((cpu.c3 - cpu.c2) / Math.max(1, consume.received), 1),
    serverRssMbAfterProduce: round(m.rssAfterProduceBytes / MIB, 0),
    serverRssMbPeak: round(m.rssPeakBytes / MIB, 0),
    ...(m.fan ? { fan: m.fan } : {}),
  };
}

/** The rate over the second half of the messages, when the client saw the halfway mark before the end. */
function secondHalf(c: ConsumeResult): { secondHalfMsgsPerSec?: number } {
  const half = c.halfReceived ?? 0;
  const at = c.halfSeconds ?? 0;
  if (at <= 0 || c.seconds <= at || c.received <= half) return {};
  return { secondHalfMsgsPerSec: Math.round((c.received - half) / (c.seconds - at)) };
}

/** One target, one mode, one run: fresh dir, server, client, measurements, everything stopped. */
function runOnce(root: string, o: Options, target: Target, mode: Mode, config: string, run: number): Promise<RunRecord> {
  return withServer(root, o, target, mode, 'rocketctl-compare', async ({ pids, spec, rssPeakBytes }) => {
    const client = await clientFor(root, target, spec);
    try {
      const clientPid = [client.child.pid!];
      const phaseBoundMs = o.phaseTimeoutMs + 30_000; // the client bounds itself; this is the backstop

      await client.next('ready', 'produce', CLIENT_READY_TIMEOUT_MS);
      const [s0, c0] = [servers.cpuMicros(pids), servers.cpuMicros(clientPid)];
      client.go();
      const p = (await client.next('result', 'produce', phaseBoundMs)) as unknown as ProduceResult;
      const [s1, c1] = [servers.cpuMicros(pids), servers.cpuMicros(clientPid)];
      const rssAfterProduceBytes = servers.rssBytes(pids);

      await client.next('ready', 'consume', phaseBoundMs);
      const [s2, c2] = [servers.cpuMicros(pids), servers.cpuMicros(clientPid)];
      client.go();
      const c = (await client.next('result', 'consume', phaseBoundMs)) as unknown as ConsumeResult;
      const [s3, c3] = [servers.cpuMicros(pids), servers.cpuMicros(clientPid)];
      const peak = rssPeakBytes();
      await client.next('done', undefined, 30_000);

      return runRecord(target, mode, config, run, 'single', {
        produce: { sent: p.sent, failed: p.failed, seconds: p.seconds, msgsPerSec: Math.round(p.sent / p.seconds), p50Ms: round(p.p50Ms, 2), p99Ms: round(p.p99Ms, 2), maxMs: round(p.maxMs, 2), warmupFailed: p.warmupFailed, firstError: p.firstError },
        consume: { received: c.received, seconds: c.seconds, msgsPerSec: Math.round(c.received / c.seconds), complete: c.complete, ...secondHalf(c) },
        cpu: { s0, s1, s2, s3, c0, c1, c2, c3 }, rssAfterProduceBytes, rssPeakBytes: peak,
      });
    } finally {
      await client.stop();
    }
  });
}

/**
 * One target, one mode, one run of the fan scenario: P producer processes (each with its share of
 * --messages, --inflight and --warmup) get one "go" together; when all are done, G consumer-group
 * processes (one each) read the whole topic at once, again after one "go". Server CPU is read
 * around each phase as in runOnce; client CPU is the producers' sum.
 */
function runOnceFan(root: string, o: Options, target: Target, mode: Mode, config: string, run: number): Promise<RunRecord> {
  return withServer(root, o, target, mode, 'rocketctl-compare-fan', async ({ pids, spec, rssPeakBytes }) => {
    const started: ClientProcess[] = [];
    const launch = async (s: ClientSpec) => {
      const c = await clientFor(root, target, s);
      started.push(c);
      return c;
    };
    const all = <T>(cs: ClientProcess[], f: (c: ClientProcess) => Promise<T>) => Promise.all(cs.map(f));
    const phaseBoundMs = o.phaseTimeoutMs + 30_000;
    try {
      const producers = await Promise.all(Array.from({ length: o.producers }, (_, i) => launch({
        ...spec, role: 'produce', latencies: true, count: share(o.messages, o.producers, i),
        inflight: Math.max(1, share(o.inflight, o.producers, i)), warmup: share(o.warmup, o.producers, i),
      })));
      const producerPids = producers.map((c) => c.child.pid!);
      await all(producers, (c) => c.next('ready', 'produce', CLIENT_READY_TIMEOUT_MS));
      const [s0, c0] = [servers.cpuMicros(pids), servers.cpuMicros(producerPids)];
      producers.forEach((c) => c.go());
      const ps = (await all(producers, (c) => c.next('result', 'produce', phaseBoundMs))) as unknown as (ProducerResult & ProduceResult)[];
      const [s1, c1] = [servers.cpuMicros(pids), servers.cpuMicros(producerPids)];
      const rssAfterProduceBytes = servers.rssBytes(pids);
      producers.forEach((c) => c.go()); // CPU read: they may close now
      await all(producers, (c) => c.next('done', undefined, 30_000));
      await all(producers, (c) => c.stop());

      // Every group reads everything the producers had acknowledged, warm-up included.
      const expect = ps.reduce((n, p) => n + p.warmupSent + p.sent, 0);
      const groups = await Promise.all(Array.from({ length: o.groups }, (_, i) => launch({ ...spec, role: 'consume', expect, consumerGroup: `bench_fan_g${i + 1}` })));
      await all(groups, (c) => c.next('ready', 'consume', CLIENT_READY_TIMEOUT_MS));
      const groupPids = groups.map((c) => c.child.pid!);
      const [s2, c2] = [servers.cpuMicros(pids), servers.cpuMicros(groupPids)];
      groups.forEach((c) => c.go());
      const gs = (await all(groups, (c) => c.next('result', 'consume', phaseBoundMs))) as unknown as GroupResult[];
      const [s3, c3] = [servers.cpuMicros(pids), servers.cpuMicros(groupPids)];
      const peak = rssPeakBytes();
      await all(groups, (c) => c.next('done', undefined, 30_000));

      const t = fanTotals(ps, gs);
      return runRecord(target, mode, config, run, 'fan', { ...t, cpu: { s0, s1, s2, s3, c0, c1, c2, c3 }, rssAfterProduceBytes, rssPeakBytes: peak });
    } finally {
      await all(started, (c) => c.stop());
    }
  });
}

/**
 * A start that failed is tried once more in a new dir: free ports are found by binding and
 * releasing them, and on a shared machine another process can take one in between (Apache's
 * broker also binds listenPort+1 for HA and listenPort-2).
 */
async function startWithRetry(root: string, dir: string, target: Target, mode: Mode): Promise<RunningServer> {
  const fresh = (name: string) => {
    fs.mkdirSync(path.join(dir, name));
    return path.join(dir, name);
  };
  try {
    return await target.start(root, fresh('try1'), mode);
  } catch (e) {
    log(`  ${target.name} did not start (${(e instanceof Error ? e.message : String(e)).split('\n')[0]}); one more try`);
    return target.start(root, fresh('try2'), mode);
  }
}

function clientLabel(system: ClientSystem): string {
  return { rocketmq: 'rocketctl', 'ali-ons': 'ali-ons 3.12', redis: 'node-redis', nats: '@nats-io/jetstream', rabbitmq: 'amqplib' }[system];
}

function installSignalHandlers(): void {
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping ${clients.size} client(s) and ${servers.running.size} server(s)`);
    const stops = [...[...clients].map((c) => c.stop()), ...[...servers.running].map((s) => s.stop())];
    void Promise.allSettled(stops).then(() => {
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const root = repoRoot();
  installSignalHandlers();
  const skips: Skip[] = [];
  const plan: { target: Target; mode: Mode; config: string; scenario: Scenario }[] = [];
  for (const name of o.targets) {
    const target = TARGETS.find((t) => t.name === name)!;
    const why = await target.missing(root);
    if (why) {
      skips.push({ type: 'skip', target: name, reason: why });
      continue;
    }
    for (const mode of o.modes) {
      const m = target.modes[mode];
      if ('skip' in m) {
        skips.push({ type: 'skip', target: name, mode, reason: m.skip });
        continue;
      }
      // The fan scenario runs the single one first: "no collapse" is the fan total over it, same target, same run.
      plan.push({ target, mode, config: m.config, scenario: 'single' });
      if (o.scenario === 'fan' && target.fanSkip) skips.push({ type: 'skip', target: name, mode, scenario: 'fan', reason: target.fanSkip });
      else if (o.scenario === 'fan') plan.push({ target, mode, config: m.config, scenario: 'fan' });
    }
  }
  for (const s of skips) log(`skip ${s.target}${s.mode ? ` ${s.mode}` : ''}${s.scenario === 'fan' ? ' fan' : ''}: ${s.reason}`);

  const out = o.out;
  if (out) fs.mkdirSync(path.dirname(out), { recursive: true });
  const write = (rec: object) => out && fs.appendFileSync(out, JSON.stringify(rec) + '\n');
  write({ type: 'meta', at: new Date().toISOString(), node: process.version, cpus: os.cpus().length, totalMemBytes: os.totalmem(), options: o });
  skips.forEach(write);

  const records: RunRecord[] = [];
  const failures: Failure[] = [];
  const loadBefore = os.loadavg();
  // Runs interleaved (run 1 of every target, then run 2...) so drift in the machine's load
  // spreads over all targets instead of landing on one.
  for (let run = 1; run <= o.runs; run++) {
    for (const { target, mode, config, scenario } of plan) {
      log(`run ${run}/${o.runs}: ${target.name} ${mode} (${config})${scenario === 'fan' ? ` fan ${o.producers}×${o.groups}` : ''} ...`);
      try {
        const rec = await (scenario === 'fan' ? runOnceFan : runOnce)(root, o, target, mode, config, run);
        records.push(rec);
        write(rec);
        log(`  produce ${rec.produce.msgsPerSec}/s p99 ${rec.produce.p99Ms} ms, consume ${rec.consume.msgsPerSec}/s, server ${rec.serverCpuUsPerProduced} µs/msg, ${rec.serverRssMbPeak} MB`);
        if (rec.fan) log(`  per producer ${rec.fan.producerMsgsPerSec.join(' ')} (fairness ${rec.fan.produceFairness}), per group ${rec.fan.groupMsgsPerSec.join(' ')} (fairness ${rec.fan.consumeFairness})`);
      } catch (e) {
        const f: Failure = { type: 'error', target: target.name, mode, run, ...(scenario === 'fan' ? { scenario } : {}), message: e instanceof Error ? e.message : String(e) };
        failures.push(f);
        write(f);
        log(`  FAILED: ${f.message}`);
      }
    }
  }
  const load = { before: loadBefore, after: os.loadavg() };
  const rows = summarise(records, REFERENCE);
  rows.forEach(write);
  if (o.json) {
    process.stdout.write(JSON.stringify({ options: o, load, rows, skips, failures, out }, null, 2) + '\n');
  } else {
    process.stdout.write(render({ ...o, cpus: os.cpus().length }, rows, skips, failures, load, TARGETS.map((t) => t.name)));
    if (out) process.stdout.write(`JSON lines: ${out}\n`);
  }
  if (failures.length > 0) process.exitCode = 1;
}

await main();
