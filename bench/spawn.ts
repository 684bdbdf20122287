/**
 * rocketctl servers as child processes for the bench parts: `node bin/run.js ARGV` (NODE_ENV
 * dropped, NO_COLOR), waited for until its ready line (`broker ready: ...`, `namesrv ready: ...`,
 * see src/commands/broker/start.ts and src/commands/namesrv/start.ts) with a bound, and stopped
 * with a signal and a bounded wait (SIGKILL after it); `eventually` polls for a state with a bound
 * (the tests use it too, through test/helpers/broker.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export interface ServerChild<R> {
  child: ChildProcess;
  /** What `parse` made of the output once it recognised the ready line. */
  ready: R;
  /** Spawn to ready line. */
  startMs: number;
  /** Send `signal` (default SIGTERM) and wait for the exit; SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/** Output kept for error messages. */
const TAIL_CHARS = 2000;

/**
 * Start `rocketctl ARGV` and wait until `parse` recognises the stdout seen so far; reject when it
 * exits first or prints nothing recognisable within `timeoutMs` (the child is killed then).
 */
export function spawnReady<R>(root: string, argv: string[], parse: (stdout: string) => R | undefined, timeoutMs: number): Promise<ServerChild<R>> {
  const { NODE_ENV: _drop, ...env } = process.env;
  const t0 = performance.now();
  const what = argv.slice(0, 2).join(' ');
  const child = spawn(process.execPath, [path.join(root, 'bin', 'run.js'), ...argv], {
    cwd: root,
    env: { ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let out = '';
  let err = '';
  let isReady = false;
  child.stderr!.on('data', (d) => (err = (err + d).slice(-TAIL_CHARS)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what}: no ready line within ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    child.stdout!.on('data', (d) => {
      if (isReady) return; // drained
      out += d;
      const ready = parse(out);
      if (ready === undefined) return;
      isReady = true;
      clearTimeout(timer);
      resolve({
        child,
        ready,
        startMs: performance.now() - t0,
        async stop(signal = 'SIGTERM', graceMs = timeoutMs) {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
          await exited;
          clearTimeout(t);
        },
      });
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before it was ready: ${err || out.slice(-TAIL_CHARS)}`));
    });
  });
}

/** Poll until `check` returns a value (not undefined), at most `timeoutMs`. No timing assertions. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 20_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
