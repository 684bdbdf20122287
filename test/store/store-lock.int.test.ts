/**
 * The store lock against a broker process that was killed but not yet reaped (a zombie): Apache's
 * lock is a file lock, released by the kernel when the process dies, so a zombie holds nothing.
 * The zombie is made for real: the broker runs under `sh -c '... & exec sleep'`, whose sleep never
 * waits for its child.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreLock } from '../../src/broker/store/store-lock.js';
import { StoreLockedError } from '../../src/errors/index.js';
import { ROOT } from '../helpers/cli.js';
import { eventually, tempDir } from '../helpers/broker.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function procState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** A broker on `dir` whose parent never reaps it; resolves with the broker's pid once it is ready. */
async function brokerUnderNonReapingParent(dir: string): Promise<{ parent: ChildProcess; brokerPid: number }> {
  const bin = path.join(ROOT, 'bin/run.js');
  const cmd = `"${process.execPath}" "${bin}" broker start --store-dir "${dir}" --listen-port 0 --namesrv-port 0 & echo "pid=$!"; exec sleep 120`;
  const { NODE_ENV: _drop, ...env } = process.env;
  const parent = spawn('/bin/sh', ['-c', cmd], { cwd: ROOT, env: { ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => parent.kill('SIGKILL'));
  let out = '';
  parent.stdout!.on('data', (d) => (out += d));
  parent.stderr!.on('data', (d) => (out += d));
  const brokerPid = await eventually(() => {
    const m = /pid=(\d+)/.exec(out);
    return m && out.includes('broker ready:') ? Number(m[1]) : undefined;
  }, `broker ready under sh (output so far: ${out})`, 30_000);
  cleanups.push(() => {
    try {
      process.kill(brokerPid, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  return { parent, brokerPid };
}

describe('store lock', () => {
  it('a killed broker that its parent has not reaped yet (a zombie) does not hold the store', async () => {
    const dir = tempDir('rocketctl-zombie-');
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const { brokerPid } = await brokerUnderNonReapingParent(dir);
    // While it runs, the store is its.
    expect(() => StoreLock.acquire(dir).release()).toThrow(StoreLockedError);

    process.kill(brokerPid, 'SIGKILL');
    await eventually(() => (procState(brokerPid) === 'Z' ? true : undefined), `broker ${brokerPid} a zombie`);
    const lock = StoreLock.acquire(dir);
    lock.release();
    expect(procState(brokerPid)).toBe('Z');
  });
});
