/**
 * Real brokers for tests: in-process (BrokerController on 127.0.0.1, port 0, a temp store and its
 * socket) and as a child process (`node bin/run.js broker start` with port 0, ready line parsed).
 * Every broker a test starts is closed by the returned close()/stop(); temp dirs are removed.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BrokerController } from '../../src/broker/broker.js';
import type { Logger } from '../../src/remoting/server.js';
import type { FileIO } from '../../src/broker/store/file-io.js';
import { buildBrokerConfig } from '../../src/broker/broker-config.js';
import { parseProperties } from '../../src/protocol/java-properties.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { collectOwnBrokerMetrics } from '../../src/admin/metrics.js';
import { makeRequest, type RemotingCommand } from '../../src/protocol/frame.js';
import { RequestCode } from '../../src/protocol/codes.js';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { ROOT, runCli, type CliResult } from './cli.js';

export function tempDir(prefix = 'rocketctl-broker-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A maker of temp dirs removed after each test of the calling file (call it at the top level). */
export function tempDirPerTest(prefix: string): () => string {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = tempDir(prefix);
    dirs.push(d);
    return d;
  };
}

export interface TestBroker {
  broker: BrokerController;
  /** host:port of the broker. */
  addr: string;
  /** host:port of the embedded name server (when started with one). */
  namesrv: string | undefined;
  storeDir: string;
  client: RemotingClient;
  /** Close and start again on the same store (new ports). */
  restart(overrides?: Record<string, string>): Promise<void>;
  /** Close the broker (the store dir stays until cleanup()). */
  close(): Promise<void>;
  /** close() and remove the store dir. */
  cleanup(): Promise<void>;
}

export interface TestBrokerOptions {
  /** broker.conf keys (strings), e.g. { autoCreateTopicEnable: 'false' }. */
  config?: Record<string, string>;
  /** Run the embedded name server (default true). */
  namesrv?: boolean;
  storeDir?: string;
  /** The store's file layer (e.g. a FaultyFileIO simulating a small disk). */
  storeIO?: FileIO;
  /** Where the broker logs (default: nowhere). */
  logger?: Logger;
  /** A broker.conf to read (as `broker start -c`); UPDATE_BROKER_CONFIG saves changes there. */
  configFile?: string;
  /** How often plain_acl.yml is checked for changes (with aclEnable=true). */
  aclCheckIntervalMs?: number;
}

export async function startTestBroker(opts: TestBrokerOptions = {}): Promise<TestBroker> {
  const storeDir = opts.storeDir ?? tempDir();
  const base = (extra: Record<string, string> = {}) => ({
    storePathRootDir: storeDir,
    listenPort: '0',
    namesrvListenPort: '0',
    embeddedNamesrv: String(opts.namesrv ?? true),
    // Small files: tests write little, and a 1 GiB sparse segment per store is pointless here.
    mappedFileSizeCommitLog: String(4 * 1024 * 1024),
    mappedFileSizeConsumeQueue: String(1000 * 20),
    maxHashSlotNum: '1000',
    maxIndexNum: '4000',
    ...opts.config,
    ...extra,
  });
  const file = () => (opts.configFile ? { path: opts.configFile, entries: parseProperties(fs.readFileSync(opts.configFile, 'utf8')) } : undefined);
  const start = async (extra?: Record<string, string>) =>
    BrokerController.start(buildBrokerConfig({ file: file(), overrides: base(extra) }).config, { storeIO: opts.storeIO, logger: opts.logger, configFile: opts.configFile, aclCheckIntervalMs: opts.aclCheckIntervalMs, clusterMetrics: collectOwnBrokerMetrics });
  const client = new RemotingClient({ requestTimeoutMs: 10_000 });
  const t: TestBroker = {
    broker: await start(),
    addr: '',
    namesrv: undefined,
    storeDir,
    client,
    async restart(extra) {
      await t.broker.close();
      t.broker = await start(extra);
      t.addr = t.broker.addresses.broker;
      t.namesrv = t.broker.addresses.namesrv;
    },
    async close() {
      await client.close();
      await t.broker.close();
    },
    async cleanup() {
      await t.close();
      fs.rmSync(storeDir, { recursive: true, force: true });
    },
  };
  t.addr = t.broker.addresses.broker;
  t.namesrv = t.broker.addresses.namesrv;
  return t;
}

/** Create (or update) a topic through UPDATE_AND_CREATE_TOPIC, as mqadmin updateTopic does. */
export async function createTopic(client: RemotingClient, addr: string, topic: string, queueNums = 4, perm = 6): Promise<RemotingCommand> {
  return client.invoke(
    addr,
    makeRequest(RequestCode.UPDATE_AND_CREATE_TOPIC, {
      topic,
      defaultTopic: 'TBW102',
      readQueueNums: queueNums,
      writeQueueNums: queueNums,
      perm,
      topicFilterType: 'SINGLE_TAG',
      topicSysFlag: 0,
      order: false,
    }),
  );
}

/** Poll until `check` returns a value (not undefined), at most `timeoutMs` (shared with the bench parts). */
export { eventually } from '../../bench/spawn.js';

// ---- child process ----------------------------------------------------------------------------

export interface ReadyLine {
  broker: string;
  fast: string;
  namesrv?: string;
  socket: string;
  store: string;
  /** http://host:port/metrics, with --metrics-port. */
  metrics?: string;
}

/** Parse `broker ready: broker=h:p fast=h:p namesrv=h:p socket=PATH store=PATH` (values with spaces JSON-quoted). */
export function parseReadyLine(line: string): ReadyLine | undefined {
  if (!line.startsWith('broker ready:')) return undefined;
  const out: Record<string, string> = {};
  for (const m of line.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)) out[m[1]!] = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
  if (!out.broker || !out.socket || !out.store) return undefined;
  return out as unknown as ReadyLine;
}

export interface BrokerProcess {
  child: ChildProcessWithoutNullStreams;
  ready: ReadyLine;
  stdout(): string;
  stderr(): string;
  /** Send a signal and wait for the exit (SIGKILL after `timeoutMs`). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface ExitedProcess {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Start `rocketctl broker start ARGS` and wait for its ready line; if it exits first, reject with
 * an ExitedProcess-carrying error (see runBrokerExpectingExit for the failure cases).
 */
export function spawnBroker(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; readyOn?: 'stdout' | 'stderr' } = {}): Promise<BrokerProcess> {
  return spawnServer(['broker', 'start', ...args], parseReadyLine, opts);
}

export interface NamesrvProcess extends Omit<BrokerProcess, 'ready'> {
  /** host:port it listens on. */
  addr: string;
}

/** Start `rocketctl namesrv start ARGS` (a free port unless ARGS say otherwise) and wait for its ready line. */
export async function spawnNamesrv(args: string[] = ['--listen-port', '0'], opts: { timeoutMs?: number } = {}): Promise<NamesrvProcess> {
  const parse = (line: string) => /^namesrv ready: namesrv=(\S+)/.exec(line)?.[1];
  const p = await spawnServer(['namesrv', 'start', ...args], parse, opts);
  return { ...p, addr: p.ready };
}

/** Start `rocketctl broker start --dledger-group N ARGS` and wait for its "dledger group ready" line. */
export async function spawnDLedgerGroup(size: number, args: string[], opts: { timeoutMs?: number } = {}): Promise<Omit<BrokerProcess, 'ready'> & { namesrv: string; members: Array<{ selfId: string; addr: string }> }> {
  const parse = (line: string) => /^dledger group ready: namesrv=(\S+) members=(\S+)/.exec(line) ?? undefined;
  const p = await spawnServer(['broker', 'start', '--dledger-group', String(size), ...args], parse, opts);
  const members = p.ready[2]!.split(',').map((m) => ({ selfId: m.slice(0, m.indexOf('@')), addr: m.slice(m.indexOf('@') + 1) }));
  return { ...p, namesrv: p.ready[1]!, members };
}

/**
 * Start `rocketctl ARGV` and wait until `parse` accepts a line of its output (the ready line); if it
 * exits first, reject with an ExitedProcess-carrying error.
 */
function spawnServer<R>(argv: string[], parse: (line: string) => R | undefined, opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; readyOn?: 'stdout' | 'stderr' }): Promise<{ ready: R } & Omit<BrokerProcess, 'ready'>> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/run.js'), ...argv], {
    cwd: ROOT,
    // Without vitest's NODE_ENV=test, which makes oclif print development-only warnings.
    env: { ...withoutNodeEnv(process.env), NO_COLOR: '1', ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const readyStream = opts.readyOn ?? 'stdout';
  const what = argv.slice(0, 2).join(' ');
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} did not print its ready line within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`));
    }, timeoutMs);
    const onData = (stream: 'stdout' | 'stderr') => (d: Buffer) => {
      if (stream === 'stdout') out += d;
      else err += d;
      if (stream !== readyStream) return;
      let ready: R | undefined;
      for (const l of (stream === 'stdout' ? out : err).split('\n')) if ((ready = parse(l)) !== undefined) break;
      if (ready !== undefined) {
        clearTimeout(timer);
        resolve({
          child,
          ready,
          stdout: () => out,
          stderr: () => err,
          async stop(signal = 'SIGTERM', stopTimeoutMs = 20_000) {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            const t = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
            try {
              return await exited;
            } finally {
              clearTimeout(t);
            }
          },
        });
      }
    };
    child.stdout.on('data', onData('stdout'));
    child.stderr.on('data', onData('stderr'));
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`${what} exited with ${code} before it was ready\nstdout: ${out}\nstderr: ${err}`), { exited: { code, stdout: out, stderr: err } }));
    });
  });
}

/** Run `broker start ARGS` expecting it to fail before it is ready; returns its exit code and output. */
export async function runBrokerExpectingExit(args: string[], opts: { timeoutMs?: number } = {}): Promise<ExitedProcess> {
  try {
    const p = await spawnBroker(args, opts);
    await p.stop('SIGKILL');
    throw new Error(`broker start ${args.join(' ')} became ready but was expected to fail`);
  } catch (e) {
    const exited = (e as { exited?: ExitedProcess }).exited;
    if (!exited) throw e;
    return exited;
  }
}

function withoutNodeEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_ENV: _drop, ...rest } = env;
  return rest;
}

export interface CliBroker {
  /** The broker (started in beforeAll). */
  readonly tb: TestBroker;
  /** The CLI against the broker's local socket (NAMESRV_ADDR cleared). */
  local(args: string[]): Promise<CliResult>;
  /** The CLI through the broker's embedded name server (-n). */
  remote(args: string[]): Promise<CliResult>;
}

/**
 * One in-process broker for a test file (started in beforeAll, `setup` run on it, removed in
 * afterAll) and the real CLI aimed at it. Call at the top level of a test file.
 */
export function useCliBroker(setup?: (tb: TestBroker) => Promise<void>): CliBroker {
  let current: TestBroker | undefined;
  const tb = (): TestBroker => {
    if (!current) throw new Error('useCliBroker: the broker starts in beforeAll');
    return current;
  };
  beforeAll(async () => {
    current = await startTestBroker();
    await setup?.(current);
  });
  afterAll(async () => current?.cleanup());
  return {
    get tb() {
      return tb();
    },
    local: (args) => runCli([...args, '--socket', tb().broker.addresses.socket], { env: { NAMESRV_ADDR: '' } }),
    remote: (args) => runCli([...args, '-n', tb().namesrv!]),
  };
}

