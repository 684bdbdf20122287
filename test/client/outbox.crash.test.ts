/**
 * The outbox survives a kill -9 of the producing process: with the broker stopped, a child
 * process sends 1,000 messages (all land in its outbox) and is killed with SIGKILL; a new child
 * starts on the same outbox while the broker is still down; the broker comes back; every one of
 * the 1,000 messages arrives exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { broker, defer, freeBrokerPort, freePort, namesrvOf, readAll, tempDir, topic, uniq } from './support.js';

const SCRIPT = path.join(ROOT, 'test/client/fixtures/outbox-producer.ts');

interface Child {
  proc: ChildProcess;
  /** Resolves with the first JSON line the child prints. */
  line: Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

function runChild(args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', SCRIPT, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const line = new Promise<Record<string, unknown>>((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)) as Record<string, unknown>);
    });
    void exited.then((code) => reject(new Error(`child exited (${code}) before answering\nstdout: ${out}\nstderr: ${err}`)));
  });
  line.catch(() => undefined);
  defer(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  return { proc, line, exited };
}

describe('outbox across kill -9', () => {
  it('1,000 messages sent while the broker is down arrive exactly once after producer crash + restart', async () => {
    const ports = { listenPort: String(await freeBrokerPort()), namesrvListenPort: String(await freePort()) };
    const b = await broker({ config: ports });
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 4);
    await b.broker.close(); // the broker only: the store and the test client stay
    const outbox = tempDir();

    const first = runChild(['send', ns, outbox, t, '1000']);
    const sent = (await first.line) as { statuses: string[]; ids: string[]; outboxSize: number };
    expect(sent.statuses).toEqual(['OUTBOXED']);
    expect(sent.ids).toHaveLength(1000);
    expect(sent.outboxSize).toBe(1000);
    first.proc.kill('SIGKILL');
    expect(await first.exited).toBeNull();

    // The producer comes back first, while the broker is still down...
    const second = runChild(['drain', ns, outbox, '90000']);
    // ...then the broker, on the same ports and store.
    await b.restart(ports);
    const drained = (await second.line) as { drained: boolean; left: number; recovered: { pending: number } };
    expect(drained.recovered.pending).toBe(1000);
    expect(drained).toMatchObject({ drained: true, left: 0 });
    expect(await second.exited).toBe(0);

    const stored = await readAll(ns, t);
    const counts = new Map<string, number>();
    for (const m of stored) counts.set(m.msgId, (counts.get(m.msgId) ?? 0) + 1);
    expect(stored).toHaveLength(1000);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(sent.ids)).toEqual(new Set(counts.keys()));
  }, 180_000);
});
