/** Shared pieces of the DLedger elector tests: a fake clock, temp dirs, and member states. */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import type { ElectorClock, ElectorConfig } from '../../src/broker/dledger/elector.js';
import { DEFAULT_PUSHER_CONFIG, type PusherConfig } from '../../src/broker/dledger/entry-pusher.js';
import type { DLedgerServer } from '../../src/broker/dledger/server.js';
import { MemberState } from '../../src/broker/dledger/member-state.js';
import type { FileIO } from '../../src/broker/store/file-io.js';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';
import { mulberry32 } from '../../src/broker/store/faulty-file-io.js';

/** Time moves only when the test says so; sleeps end when their time comes or their signal aborts. */
export class FakeClock implements ElectorClock {
  t = 1_000_000;
  private timers: Array<{ at: number; fire: () => void }> = [];
  private readonly rng: () => number;

  constructor(seed = 1) {
    this.rng = mulberry32(seed);
  }

  now(): number {
    return this.t;
  }

  random(): number {
    return this.rng();
  }

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const onAbort = (): void => timer.fire();
      const timer = {
        at: this.t + ms,
        fire: () => {
          this.timers = this.timers.filter((x) => x !== timer);
          // Long-lived signals (a server's stop signal) see many sleeps: leave no listener behind.
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.timers.push(timer);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  advance(ms: number): void {
    this.t += ms;
    for (const timer of this.timers.filter((x) => x.at <= this.t)) timer.fire();
  }
}

export async function tempStoreDir(): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'rocketctl-dledger-'));
  // A vote or term still being written when the test ends (electors on a fake clock are not
  // stopped) can add a file while the dir is removed: ENOTEMPTY, so retry (bounded).
  onTestFinished(() => fsp.rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 }));
  return dir;
}

export const PEERS3 = 'n0-127.0.0.1:1;n1-127.0.0.1:2;n2-127.0.0.1:3';

export function memberState(storeBaseDir: string, selfId: string, peers = PEERS3, io: FileIO = new NodeFileIO()): Promise<MemberState> {
  return MemberState.open(io, { storeBaseDir, group: 'g', selfId, peers });
}

/** A settled-or-not view of a promise, for checking what has been answered so far. */
export function track<T>(p: Promise<T>): { value?: T; error?: unknown; done: boolean } {
  const t: { value?: T; error?: unknown; done: boolean } = { done: false };
  p.then(
    (v) => Object.assign(t, { value: v, done: true }),
    (e: unknown) => Object.assign(t, { error: e, done: true }),
  );
  return t;
}

/** The bodies of entries 0..upTo of a server's log, as strings. */
export async function bodiesOf(s: DLedgerServer, upTo: number): Promise<string[]> {
  const out = [];
  for (let i = 0; i <= upTo; i++) out.push((await s.getEntry(i)).body.toString());
  return out;
}

/** Shortened intervals for the tests over real remoting on 127.0.0.1. */
export const INT_ELECTOR: ElectorConfig = { heartBeatTimeIntervalMs: 200, maxHeartBeatLeak: 3, minVoteIntervalMs: 50, maxVoteIntervalMs: 150 };
export const INT_PUSHER: PusherConfig = { ...DEFAULT_PUSHER_CONFIG, maxWaitAckTimeMs: 3000, pushRetryMs: 50, commitPushIntervalMs: 200, maxOutOfOrderWaitMs: 300, idleCheckMs: 20 };
const INT_WAIT_MS = 20_000;

/** A bounded poll (real time, 20 ms steps, at most 20 s): the first truthy value of `check`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false): Promise<T> {
  for (let waited = 0; waited < INT_WAIT_MS; waited += 20) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}
