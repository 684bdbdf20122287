/**
 * Admin benchmark: `consumerProgress` without -g over many groups (target: 1,000 groups in under
 * 2 s), and the CLI's start-up cost. An in-process broker (temp store, embedded name server) gets
 * a topic with messages and `groups` consumer groups with committed offsets — created the way
 * consumers create them: one heartbeat carrying every group (the broker auto-creates each group
 * and its %RETRY% topic, so the name server lists them), then UPDATE_CONSUMER_OFFSET per queue.
 * The heartbeating connection stays open, so every group is online and each answers a connection
 * list too (the heavier case).
 *
 * Measured: the library call (allGroupsProgress, in this process), the real CLI
 * (`node bin/run.js consumerProgress --json` against the broker's socket; wall time per run,
 * median/p95 over `runs`), and start-up: simple commands against the local broker's socket
 * (target: well under 300 ms each), `--version` (bare start-up), the same one-group command
 * without the code cache (ROCKETCTL_CODE_CACHE=off, to show what it buys) and `node -e 0`, the
 * floor no Node CLI gets under on this machine. Start-up runs are interleaved (one of each per
 * round) so that a slow spell of the machine does not land on one of them only; each is the wall
 * time from spawn to exit, as hyperfine -N measures it.
 * Needs the built CLI (npm run build; `npm run bench` builds first).
 *
 * Hook into bench/run.ts with:
 *   import { benchAdmin } from './admin.js';
 *   PARTS.push({ name: 'admin', run: () => benchAdmin({}) });
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrokerController } from '../src/broker/broker.js';
import { buildBrokerConfig } from '../src/broker/broker-config.js';
import { RemotingClient } from '../src/remoting/client.js';
import { allGroupsProgress } from '../src/admin/progress.js';
import { mapLimit } from '../src/admin/fanout.js';
import { withAdminSession } from '../src/admin/session.js';
import { getAllTopicList } from '../src/remoting/namesrv-api.js';
import { makeRequest } from '../src/protocol/frame.js';
import { RequestCode } from '../src/protocol/codes.js';

export interface AdminBenchOptions {
  /** Consumer groups to create (default 1000). */
  groups?: number;
  /** Queues of the topic every group has offsets on (default 4). */
  queues?: number;
  /** Messages per queue (default 50). */
  messagesPerQueue?: number;
  /** CLI runs per measurement (default 7). */
  runs?: number;
  /** Interleaved rounds of the start-up commands (default 21). */
  startupRounds?: number;
}

export interface Timing {
  runs: number;
  medianMs: number;
  p95Ms: number;
  minMs: number;
  maxMs: number;
}

export interface AdminBenchResult {
  options: Required<AdminBenchOptions>;
  setupMs: number;
  /** allGroupsProgress called in this process (warm connection), per run. */
  library: Timing & { groupsSeen: number; failed: number };
  /** `rocketctl consumerProgress --json` (no -g), wall time of the whole process. */
  cliAllGroups: Timing & { groupsSeen: number; exitCodes: number[]; targetMs: number; underTarget: boolean };
  /** Start-up: whole CLI processes, wall time from spawn to exit. */
  startup: StartupResult;
}

export interface StartupResult {
  /** "a command against a local broker should finish in well under 300 ms" (issue 5). */
  targetMs: number;
  /** Interleaved rounds (one run of each command per round). */
  rounds: number;
  /** `node -e 0`: Node's own start-up on this machine, the floor for any Node CLI. */
  nodeBaseline: Timing;
  /** `rocketctl --version`. */
  version: Timing;
  /** `rocketctl consumerProgress -g ONE_GROUP --json` against the local broker's socket. */
  oneGroup: Timing;
  /** `rocketctl topicStatus -t TOPIC --json` against the local broker's socket. */
  topicStatus: Timing;
  /** oneGroup with ROCKETCTL_CODE_CACHE=off: the bundle compiled from source on every run. */
  oneGroupWithoutCodeCache: Timing;
  /** oneGroup and topicStatus medians both under targetMs. */
  underTarget: boolean;
}

/** The 2 s target for consumerProgress over 1,000 groups. */
const TARGET_MS = 2000;
/** The start-up target: a command against a local broker "well under 300 ms". */
const STARTUP_TARGET_MS = 300;
/** Bound on waiting for the name server to list every %RETRY% topic. */
const REGISTER_WAIT_MS = 60_000;
/** Bound on one CLI run. */
const CLI_TIMEOUT_MS = 60_000;

function timing(samples: number[]): Timing {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
  return { runs: s.length, medianMs: round(at(50)), p95Ms: round(at(95)), minMs: round(s[0]!), maxMs: round(s[s.length - 1]!) };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** The repo root (holding bin/run.js), from bench/ under tsx or dist/bench/ when built. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (fs.existsSync(path.join(dir, 'bin', 'run.js')) && fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('bench/admin: cannot find bin/run.js above this file');
}

function runCli(root: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; ms: number; stdout: string }> {
  return runNode(root, [path.join(root, 'bin', 'run.js'), ...args], extraEnv);
}

function runNode(root: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; ms: number; stdout: string }> {
  const { NODE_ENV: _drop, ...env } = process.env;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd: root, env: { ...env, NO_COLOR: '1', ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.resume();
    const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, ms: performance.now() - t0, stdout });
    });
  });
}

export async function benchAdmin(o: AdminBenchOptions = {}): Promise<AdminBenchResult> {
  const options: Required<AdminBenchOptions> = { groups: 1000, queues: 4, messagesPerQueue: 50, runs: 7, startupRounds: 21, ...o };
  const root = repoRoot();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rocketctl-bench-admin-'));
  const broker = await BrokerController.start(buildBrokerConfig({ overrides: { storePathRootDir: dir, listenPort: '0', namesrvListenPort: '0', embeddedNamesrv: 'true' } }).config);
  const client = new RemotingClient({ requestTimeoutMs: 10_000 });
  try {
    const t0 = performance.now();
    const addr = broker.addresses.broker;
    const topic = 'BenchAdmin';
    const create = await client.invoke(addr, makeRequest(RequestCode.UPDATE_AND_CREATE_TOPIC, { topic, defaultTopic: 'TBW102', readQueueNums: options.queues, writeQueueNums: options.queues, perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false }));
    if (create.code !== 0) throw new Error(`creating ${topic}: ${create.remark}`);
    for (let q = 0; q < options.queues; q++) {
      for (let i = 0; i < options.messagesPerQueue; i++) {
        const r = await client.invoke(addr, makeRequest(RequestCode.SEND_MESSAGE_V2, { a: 'BENCH_PG', b: topic, c: 'TBW102', d: options.queues, e: q, f: 0, g: Date.now(), h: 0, i: '', j: 0, k: false }, Buffer.from(`m${i}`)));
        if (r.code !== 0) throw new Error(`send: ${r.remark}`);
      }
    }
    const groups = Array.from({ length: options.groups }, (_, i) => `BENCH_CG_${String(i).padStart(4, '0')}`);
    const heartbeat = {
      clientID: '127.0.0.1@bench-admin',
      consumerDataSet: groups.map((g) => ({
        groupName: g,
        consumeType: 'CONSUME_PASSIVELY',
        messageModel: 'CLUSTERING',
        consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
        subscriptionDataSet: [{ topic, subString: '*', classFilterMode: false, tagsSet: [], codeSet: [], subVersion: 1 }],
        unitMode: false,
      })),
      producerDataSet: [],
    };
    const hb = await client.invoke(addr, makeRequest(RequestCode.HEART_BEAT, undefined, Buffer.from(JSON.stringify(heartbeat))), 60_000);
    if (hb.code !== 0) throw new Error(`heartbeat: ${hb.remark}`);
    // Each group i consumed i mod (messagesPerQueue + 1) messages of every queue.
    await mapLimit(groups, 32, async (g, i) => {
      for (let q = 0; q < options.queues; q++) {
        const r = await client.invoke(addr, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: g, topic, queueId: q, commitOffset: i % (options.messagesPerQueue + 1) }));
        if (r.code !== 0) throw new Error(`commit: ${r.remark}`);
      }
    });
    const deadline = Date.now() + REGISTER_WAIT_MS;
    for (;;) {
      const topics = await getAllTopicList(client, broker.addresses.namesrv!, 10_000);
      if (topics.filter((t) => t.startsWith('%RETRY%BENCH_CG_')).length >= options.groups) break;
      if (Date.now() > deadline) throw new Error('the name server did not list every %RETRY% topic in time');
      await new Promise((r) => setTimeout(r, 200));
    }
    const setupMs = performance.now() - t0;
    const socket = broker.addresses.socket;

    const lib: number[] = [];
    let groupsSeen = 0;
    let failed = 0;
    await withAdminSession({ socket, timeoutMs: 10_000 }, async (s) => {
      for (let i = 0; i < options.runs; i++) {
        const t = performance.now();
        const r = await allGroupsProgress(s);
        lib.push(performance.now() - t);
        groupsSeen = r.groups.length;
        failed = r.groups.filter((g) => g.status === 'failed').length;
      }
    });

    const all: number[] = [];
    const exitCodes: number[] = [];
    let cliGroups = 0;
    for (let i = 0; i < options.runs; i++) {
      const r = await runCli(root, ['consumerProgress', '--json', '--socket', socket]);
      all.push(r.ms);
      exitCodes.push(r.code ?? -1);
      try {
        cliGroups = (JSON.parse(r.stdout) as { result: { groups: unknown[] } }).result.groups.length;
      } catch {
        cliGroups = 0;
      }
    }
    const startup = await benchStartup(root, options.startupRounds, [
      ['oneGroup', ['consumerProgress', '-g', groups[0]!, '--json', '--socket', socket]],
      ['topicStatus', ['topicStatus', '-t', topic, '--json', '--socket', socket]],
    ]);

    const allT = timing(all);
    return {
      options,
      setupMs: round(setupMs),
      library: { ...timing(lib), groupsSeen, failed },
      cliAllGroups: { ...allT, groupsSeen: cliGroups, exitCodes, targetMs: TARGET_MS, underTarget: allT.medianMs < TARGET_MS },
      startup,
    };
  } finally {
    await client.close();
    await broker.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Start-up of whole CLI processes, interleaved: each round runs `node -e 0`, `--version`, each of
 * `commands`, and the first command again without the code cache. Every run must exit 0.
 */
async function benchStartup(root: string, rounds: number, commands: Array<['oneGroup' | 'topicStatus', string[]]>): Promise<StartupResult> {
  const samples = new Map<string, number[]>();
  const add = (k: string, ms: number) => samples.set(k, [...(samples.get(k) ?? []), ms]);
  const ok = (what: string, r: { code: number | null; ms: number }) => {
    if (r.code !== 0) throw new Error(`bench/admin: ${what} exited ${r.code}`);
    return r.ms;
  };
  for (let i = 0; i < rounds; i++) {
    add('nodeBaseline', ok('node -e 0', await runNode(root, ['-e', '0'])));
    add('version', ok('--version', await runCli(root, ['--version'])));
    for (const [name, args] of commands) add(name, ok(args[0]!, await runCli(root, args)));
    add('oneGroupWithoutCodeCache', ok('without the code cache', await runCli(root, commands[0]![1], { ROCKETCTL_CODE_CACHE: 'off' })));
  }
  const t = (k: string) => timing(samples.get(k)!);
  const oneGroup = t('oneGroup');
  const topicStatus = t('topicStatus');
  return {
    targetMs: STARTUP_TARGET_MS,
    rounds,
    nodeBaseline: t('nodeBaseline'),
    version: t('version'),
    oneGroup,
    topicStatus,
    oneGroupWithoutCodeCache: t('oneGroupWithoutCodeCache'),
    underTarget: oneGroup.medianMs < STARTUP_TARGET_MS && topicStatus.medianMs < STARTUP_TARGET_MS,
  };
}
