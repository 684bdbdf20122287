/** Shared pieces of the DLedger elector tests: a fake clock, temp dirs, and member states. */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import type { ElectorClock } from '../../src/broker/dledger/elector.js';
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
      const timer = {
        at: this.t + ms,
        fire: () => {
          this.timers = this.timers.filter((x) => x !== timer);
          resolve();
        },
      };
      this.timers.push(timer);
      signal.addEventListener('abort', () => timer.fire(), { once: true });
    });
  }

  advance(ms: number): void {
    this.t += ms;
    for (const timer of this.timers.filter((x) => x.at <= this.t)) timer.fire();
  }
}

export async function tempStoreDir(): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'rocketctl-dledger-'));
  onTestFinished(() => fsp.rm(dir, { recursive: true, force: true }));
  return dir;
}

export const PEERS3 = 'n0-127.0.0.1:1;n1-127.0.0.1:2;n2-127.0.0.1:3';

export function memberState(storeBaseDir: string, selfId: string, peers = PEERS3, io: FileIO = new NodeFileIO()): Promise<MemberState> {
  return MemberState.open(io, { storeBaseDir, group: 'g', selfId, peers });
}
