/**
 * migrateBacklog throughput (issue 16): a broker child process (`node bin/run.js broker start`,
 * temp store, ports 0) holds a `messages`-message backlog of `bodyBytes`-byte messages on a
 * 4-queue topic (half of them with keys, so both routes are timed); the CLI, another child process,
 * migrates it to a new 16-queue topic (`migrateBacklog --execute --json`). Reported: messages per
 * second over the execution (`elapsedMs` of the JSON: target creation, copy with its checkpoints,
 * offset moves) and over the CLI's whole wall time (start-up and planning included), the machine's
 * load average around the run, and the broker's CPU per message.
 *
 * Hook into bench/run.ts with:
 *   import { benchMigrate } from './migrate.js';
 *   PARTS.push({ name: 'migrate', run: () => benchMigrate() });
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Producer } from '../src/client/producer.js';
import { RemotingClient } from '../src/remoting/client.js';
import { RequestCode } from '../src/protocol/codes.js';
import { makeRequest } from '../src/protocol/frame.js';
import { repoRoot } from './admin.js';
import { processCpuMs, startBroker } from './topics.js';

export interface MigrateBenchOptions {
  messages?: number;
  bodyBytes?: number;
}

export interface MigrateBenchResult {
  options: Required<MigrateBenchOptions>;
  /** Issue 16: at least 20,000 messages/s for 1 KiB messages. */
  aimMsgsPerSecond: number;
  copied: number;
  executionMs: number;
  cliWallMs: number;
  msgsPerSecond: number;
  msgsPerSecondWall: number;
  brokerCpuUsPerMessage: number;
  /** The CLI's CPU (user+system) per message: with the broker's, what an idle 2-core machine could reach. */
  cliCpuUsPerMessage: number;
  verified: boolean;
  /** os.loadavg() (1, 5, 15 min) before and after the migration: the machine is shared. */
  loadBefore: number[];
  loadAfter: number[];
  cpus: number;
  underAim: boolean;
}

const AIM_MSGS_PER_SECOND = 20_000;
const SOURCE_QUEUES = 4;
const TARGET_QUEUES = 16;
const REQUEST_TIMEOUT_MS = 30_000;
const CLI_TIMEOUT_MS = 600_000;
/** How often the CLI's CPU time is read from /proc (what it used in its last interval is not counted). */
const CPU_SAMPLE_MS = 50;

export async function benchMigrate(o: MigrateBenchOptions = {}): Promise<MigrateBenchResult> {
  const options = { messages: o.messages ?? Number(process.env.ROCKETCTL_BENCH_MIGRATE_MESSAGES ?? 200_000), bodyBytes: o.bodyBytes ?? 1024 };
  const root = repoRoot();
  const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rocketctl-bench-migrate-'));
  const b = await startBroker(root, storeDir);
  const client = new RemotingClient({ requestTimeoutMs: REQUEST_TIMEOUT_MS });
  const producer = new Producer({ namesrvAddr: b.namesrv, producerGroup: 'bench_migrate_producer' });
  try {
    const source = 'bench_migrate_source';
    const group = 'bench_migrate_group';
    const create = await client.invoke(b.broker, makeRequest(RequestCode.UPDATE_AND_CREATE_TOPIC, { topic: source, defaultTopic: 'TBW102', readQueueNums: SOURCE_QUEUES, writeQueueNums: SOURCE_QUEUES, perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false }));
    if (create.code !== 0) throw new Error(`creating ${source}: ${create.remark}`);
    await producer.start();
    await sendBacklog(producer, source, options.messages, options.bodyBytes);
    for (let queueId = 0; queueId < SOURCE_QUEUES; queueId++) {
      const res = await client.invoke(b.broker, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic: source, queueId, commitOffset: 0 }));
      if (res.code !== 0) throw new Error(`committing offset 0: ${res.remark}`);
    }
    const loadBefore = os.loadavg();
    const cpu0 = processCpuMs(b.child.pid);
    const t0 = performance.now();
    const out = await runCli(root, ['migrateBacklog', '-n', b.namesrv, '-g', group, '-t', source, '--to', 'bench_migrate_wide', '-r', String(TARGET_QUEUES), '--execute', '--json']);
    const cliWallMs = performance.now() - t0;
    const brokerCpuMs = processCpuMs(b.child.pid) - cpu0;
    const loadAfter = os.loadavg();
    const e = out.result.execution;
    const copied = e.totals.copied as number;
    const msgsPerSecond = Math.round((copied * 1000) / e.elapsedMs);
    return {
      options,
      aimMsgsPerSecond: AIM_MSGS_PER_SECOND,
      copied,
      executionMs: e.elapsedMs,
      cliWallMs: Math.round(cliWallMs),
      msgsPerSecond,
      msgsPerSecondWall: Math.round((copied * 1000) / cliWallMs),
      brokerCpuUsPerMessage: Math.round((brokerCpuMs * 1000) / Math.max(1, copied)),
      cliCpuUsPerMessage: Math.round((out.cpuMs * 1000) / Math.max(1, copied)),
      verified: e.verification.ok,
      loadBefore: loadBefore.map((x) => Math.round(x * 100) / 100),
      loadAfter: loadAfter.map((x) => Math.round(x * 100) / 100),
      cpus: os.cpus().length,
      underAim: msgsPerSecond < AIM_MSGS_PER_SECOND,
    };
  } finally {
    await producer.close();
    await client.close();
    await b.stop();
    fs.rmSync(storeDir, { recursive: true, force: true });
  }
}

/** The backlog: batches of 256 to the queues in turn; every other message keyed (32 keys). */
async function sendBacklog(producer: Producer, topic: string, messages: number, bodyBytes: number): Promise<void> {
  const body = Buffer.alloc(bodyBytes, 'm');
  for (let i = 0; i < messages; i += 256) {
    const batch = Array.from({ length: Math.min(256, messages - i) }, (_, j) => ({ topic, body, keys: (i + j) % 2 ? [`key-${(i + j) % 32}`] : undefined }));
    await producer.sendBatch(batch);
  }
}

/** The CLI as a child process; its --json envelope, and its CPU time (last /proc sample before it exited). */
function runCli(root: string, args: string[]): Promise<{ result: any; cpuMs: number }> {
  const { NODE_ENV: _drop, ...env } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin', 'run.js'), ...args], { cwd: root, env: { ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT_MS);
    let cpuMs = 0;
    const sampler = setInterval(() => (cpuMs = Math.max(cpuMs, processCpuMs(child.pid))), CPU_SAMPLE_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      clearInterval(sampler);
      if (code !== 0) return reject(new Error(`rocketctl ${args.join(' ')} exited ${code}: ${stderr.slice(-500)}${stdout.slice(-500)}`));
      resolve({ ...JSON.parse(stdout), cpuMs });
    });
  });
}
