import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreLockedError } from '../../src/errors/index.js';
import { decodeRecord } from '../../src/protocol/message.js';
import { mulberry32, faultSeedFromEnv } from '../../src/broker/store/faulty-file-io.js';
import { MessageStore } from '../../src/broker/store/message-store.js';
import { defaultStoreConfig } from '../../src/broker/store/store-config.js';
import { removeDir, tempDir } from './message-store.helpers.js';

/**
 * kill -9 under SYNC_FLUSH with a real child process (test/helpers/store-child.ts): the child
 * appends with many concurrent appenders and prints every acknowledged append; we SIGKILL it at a
 * random moment, restart it, and check that every acknowledged message survived byte-identical,
 * that the consume queues agree with the commit log, and that recovery reports sensibly.
 * ROCKETCTL_CRASH_CYCLES sets the number of kills (default 20); ROCKETCTL_FAULT_SEED replays timing.
 */

const CHILD = fileURLToPath(new URL('../helpers/store-child.ts', import.meta.url));
const CYCLES = Number(process.env.ROCKETCTL_CRASH_CYCLES ?? '20');
const SEGMENT_BYTES = 256 * 1024;
const OPEN_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 10_000;
const QUEUES = 4;

interface Ack {
  offset: number;
  size: number;
  queueId: number;
  queueOffset: number;
  hash: string;
}

interface Child {
  proc: ChildProcess;
  /** Resolves with the child's "open" (or "error") line. */
  opened: Promise<Record<string, unknown>>;
  acks: Ack[];
  ackLines: string[];
  exited: Promise<void>;
}

function startChild(env: Record<string, string>): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const acks: Ack[] = [];
  const ackLines: string[] = [];
  let stderr = '';
  let resolveOpen!: (v: Record<string, unknown>) => void;
  let rejectOpen!: (e: Error) => void;
  const opened = new Promise<Record<string, unknown>>((res, rej) => {
    resolveOpen = res;
    rejectOpen = rej;
  });
  let pending = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.startsWith('a ')) {
        const [, off, size, q, qo, hash] = line.split(' ');
        acks.push({ offset: Number(off), size: Number(size), queueId: Number(q), queueOffset: Number(qo), hash: hash! });
        ackLines.push(line);
      } else if (line.startsWith('{')) {
        resolveOpen(JSON.parse(line) as Record<string, unknown>);
      }
    }
    // A partial last line (the kill cut it) is simply never completed: not an ack.
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (c: string) => {
    stderr += c;
  });
  const exited = new Promise<void>((res) => proc.on('exit', () => res()));
  void exited.then(() => rejectOpen(new Error(`child exited before opening the store: ${stderr.slice(-2000)}`)));
  return { proc, opened, acks, ackLines, exited };
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`${what} did not happen within ${ms} ms`)), ms);
    }),
  ]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;
let live: ChildProcess | undefined;

beforeEach(async () => {
  dir = await tempDir('rocketctl-crash-');
});

afterEach(async () => {
  if (live && live.exitCode === null) live.kill('SIGKILL');
  live = undefined;
  await removeDir(dir);
});

describe('SYNC_FLUSH survives kill -9', () => {
  it(`keeps every acknowledged message over ${CYCLES} kill/restart cycles`, { timeout: 60_000 + CYCLES * 15_000 }, async () => {
    const seed = faultSeedFromEnv();
    const rng = mulberry32(seed);
    const storeDir = path.join(dir, 'store');
    const ackFile = path.join(dir, 'acks-previous');
    const all = new Map<number, Ack>();
    let minEnd = 0;
    let truncations = 0;
    for (let cycle = 0; cycle <= CYCLES; cycle++) {
      const ctx = `seed=${seed} cycle=${cycle}`;
      const child = startChild({
        CHILD_STORE_DIR: storeDir,
        CHILD_SEGMENT_BYTES: String(SEGMENT_BYTES),
        CHILD_APPENDERS: '48',
        CHILD_SEED: String(seed + cycle),
        CHILD_VERIFY_FILE: ackFile,
        CHILD_MIN_END: String(minEnd),
      });
      live = child.proc;
      const open = await within(child.opened, OPEN_TIMEOUT_MS, `${ctx}: child open`);
      expect(open.type, `${ctx}: ${JSON.stringify(open)}`).toBe('open');
      const report = open.report as Record<string, unknown>;
      expect(open.problems, ctx).toEqual([]);
      expect(report.mode, ctx).toBe(cycle === 0 ? 'clean' : 'abnormal');
      expect(report.queueGaps, ctx).toEqual([]);
      expect((open.stats as { dispatchErrors: number }).dispatchErrors, ctx).toBe(0);
      if (report.truncatedFromOffset !== null) {
        truncations++;
        expect(report.truncatedFromOffset, ctx).toBe(report.commitLogMaxOffset);
        expect(report.truncatedFromOffset as number, `${ctx}: recovery cut acknowledged data`).toBeGreaterThanOrEqual(minEnd);
      }
      if (cycle === CYCLES) {
        // Last round: no kill; let it run briefly, then the parent checks everything itself.
        child.proc.kill('SIGKILL');
        await within(child.exited, EXIT_TIMEOUT_MS, `${ctx}: child exit`);
        break;
      }
      if (cycle === 1) {
        // While the child holds the store, another process is refused (not made to wait).
        await expect(within(MessageStore.open(config(storeDir)), OPEN_TIMEOUT_MS, `${ctx}: locked open`)).rejects.toBeInstanceOf(StoreLockedError);
      }
      // Let it ack for a random while, then pull the plug.
      for (let i = 0; i < 500 && child.acks.length === 0; i++) await sleep(10);
      await sleep(50 + Math.floor(rng() * 500));
      child.proc.kill('SIGKILL');
      await within(child.exited, EXIT_TIMEOUT_MS, `${ctx}: child exit`);
      expect(child.acks.length, `${ctx}: the child acknowledged nothing`).toBeGreaterThan(0);
      for (const a of child.acks) {
        all.set(a.offset, a);
        minEnd = Math.max(minEnd, a.offset + a.size);
      }
      await fs.writeFile(ackFile, child.ackLines.join('\n') + '\n');
    }
    live = undefined;

    // Final check in this process: every ack present and identical; queues agree with the log.
    const store = await MessageStore.open(config(storeDir));
    try {
      const ctx = `seed=${seed} final`;
      expect(store.report.mode, ctx).toBe('abnormal');
      expect(store.commitLogMaxOffset(), ctx).toBeGreaterThanOrEqual(minEnd);
      const byQueue = new Map<string, Ack>();
      for (const a of all.values()) byQueue.set(`${a.queueId}:${a.queueOffset}`, a);
      let seen = 0;
      for (let q = 0; q < QUEUES; q++) {
        const max = store.getMaxOffsetInQueue('CrashTopic', q);
        let o = Math.max(0, store.getMinOffsetInQueue('CrashTopic', q));
        for (let round = 0; round < 1_000_000 && o < max; round++) {
          const got = await store.getMessage('CrashTopic', q, o, 32);
          expect(got.status, `${ctx} queue ${q}@${o}`).toBe('FOUND');
          for (const raw of got.records) {
            const m = decodeRecord(raw, 0, { checkCrc: true });
            expect([m.topic, m.queueId, m.queueOffset], `${ctx} queue ${q}`).toEqual(['CrashTopic', q, o]);
            const ack = byQueue.get(`${q}:${o}`);
            if (ack) {
              expect(m.commitLogOffset, `${ctx} ${q}@${o}`).toBe(ack.offset);
              expect(createHash('sha1').update(m.body).digest('hex'), `${ctx} ${q}@${o}`).toBe(ack.hash);
              seen++;
            }
            o++;
          }
          o = got.nextBeginOffset;
        }
      }
      expect(seen, `${ctx}: acknowledged messages found through the queues`).toBe(all.size);
      expect((await fs.readdir(path.join(storeDir, 'commitlog'))).length, `${ctx}: rollover happened`).toBeGreaterThan(2);
      if (process.env.DEBUG_CRASH) console.log(`${ctx}: ${all.size} acks over ${CYCLES} kills, ${truncations} truncating recoveries`);
    } finally {
      await store.close();
    }
  });
});

function config(storeDir: string) {
  return defaultStoreConfig({
    storePathRootDir: storeDir,
    flushDiskType: 'SYNC_FLUSH',
    mappedFileSizeCommitLog: SEGMENT_BYTES,
    mappedFileSizeConsumeQueue: 20 * 1024,
    messageIndexEnable: true,
    maxHashSlotNum: 1024,
    maxIndexNum: 4096,
  });
}
