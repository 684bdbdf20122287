/**
 * Helpers of the rocketctl-vs-Apache suites (test/apache/*-vs-apache.apache.test.ts): read Apache
 * mqadmin 4.9.8's printed tables and "Label: value" blocks back into values, run our CLI and
 * mqadmin for the same state, and compare numbers that move with time only when ours did not move
 * while mqadmin ran.
 */
import { expect } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { javaDriver, mqadmin, type JavaRun } from './support.js';

export type Row = Record<string, string>;

/**
 * The rows of the mqadmin table whose header line starts with `firstHeader` (e.g. '#Broker Name'),
 * up to the first blank line. mqadmin prints left-aligned printf columns ("%-32s  %-4d ..."), so
 * each cell sits where its '#Header' starts; right-aligned tables (clusterList, queryMsgByKey) have
 * no blank inside a value and are split on blanks instead (`split: true`).
 */
export function mqTable(stdout: string, firstHeader: string, opts: { split?: boolean } = {}): Row[] {
  const lines = stdout.split('\n');
  const at = lines.findIndex((l) => l.startsWith(firstHeader));
  if (at < 0) throw new Error(`mqadmin output has no table headed ${firstHeader}:\n${stdout}`);
  const header = lines[at]!;
  const names: string[] = [];
  const starts: number[] = [];
  for (let i = header.indexOf('#'); i >= 0; i = header.indexOf('#', i + 1)) starts.push(i);
  starts.forEach((s, i) => names.push(header.slice(s + 1, starts[i + 1] ?? header.length).trim()));
  const rows: Row[] = [];
  for (const line of lines.slice(at + 1)) {
    if (line.trim() === '' || line.startsWith('#')) break;
    const cells = opts.split ? line.trim().split(/\s+/) : starts.map((s, i) => line.slice(s, starts[i + 1] ?? line.length).trim());
    rows.push(Object.fromEntries(names.map((n, i) => [n, cells[i] ?? ''])));
  }
  return rows;
}

/** "Label:  value" lines (queryMsgById, brokerStatus -b) as a map; the first of a label wins. */
export function mqLabels(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^([A-Za-z][^:]*?)\s*:\s*(.*)$/.exec(line);
    if (m && !(m[1]! in out)) out[m[1]!.trim()] = m[2]!;
  }
  return out;
}

/** A value printed after "Label:" (e.g. "Consume TPS: 0.67"). */
export function mqValue(stdout: string, label: string): string {
  const m = new RegExp(`^${label}:\\s*(.*)$`, 'm').exec(stdout);
  if (!m) throw new Error(`mqadmin output has no "${label}:" line:\n${stdout}`);
  return m[1]!.trim();
}

/** mqadmin's local times "yyyy-MM-dd HH:mm:ss[,SSS]" as epoch millis; null for N/A or empty. */
export function mqTime(text: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:,(\d{3}))?$/.exec(text.trim());
  if (!m) return null;
  const [y, mo, d, h, mi, s, ms] = m.slice(1).map((x) => Number(x ?? 0));
  return new Date(y!, mo! - 1, d!, h!, mi!, s!, ms!).getTime();
}

/** Epoch millis cut to what mqadmin prints (whole seconds for "yyyy-MM-dd HH:mm:ss"). */
export const toSecond = (ms: number | null): number | null => (ms === null ? null : Math.floor(ms / 1000) * 1000);

/** Apache mqadmin 4.9.8 with -n; fails the test when it exits non-zero. */
export async function mq(namesrv: string, args: string[]): Promise<string> {
  // mqadmin prints a failed request's exception on stderr and exits 0 (its admin timeout is 5 s,
  // which a loaded 2-core machine can exceed): a run that printed nothing is tried again (bounded).
  for (let attempt = 1; ; attempt++) {
    const r = await mqadmin([args[0]!, '-n', namesrv, ...args.slice(1)], { timeoutMs: 90_000 });
    expect(r.code, `mqadmin ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`).toBe(0);
    if (r.stdout.trim() === '' && attempt < 4) await sleep(2000);
    else {
      expect(r.stdout.trim(), `mqadmin ${args.join(' ')} printed nothing:\n${r.stderr.slice(-3000)}`).not.toBe('');
      return r.stdout;
    }
  }
}

/** Our CLI with -n and --json; returns the envelope's result and fails unless the exit code is `code`. */
export async function ours(namesrv: string, args: string[], code = 0): Promise<any> {
  const r: CliResult = await runCli([...args, '-n', namesrv, '--json', '--timeout', '10000'], { timeoutMs: 90_000 });
  expect(r.code, `rocketctl ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`).toBe(code);
  return r.json?.result ?? r.json;
}

/**
 * Values that move with time (TPS, totals, 5.x timer gauges) read at "the same moment": ours before
 * and after one mqadmin run; where ours did not change over that span, mqadmin's reading must equal
 * it. A gauge can move and come back while mqadmin runs (0 -> 1 -> 0), so a try with a mismatch is
 * tried again (bounded): a wrong value differs on every try, a moving one does not. Returns the
 * fields that were compared (at least `minCompared`).
 */
export async function sameMoment<T extends Record<string, number | string | null>>(
  readOurs: () => Promise<T>,
  readTheirs: () => Promise<Partial<T>>,
  minCompared = 1,
  tries = 4,
): Promise<string[]> {
  let last: string[] = [];
  let mismatches: string[] = [];
  for (let i = 0; i < tries; i++) {
    const before = await readOurs();
    const theirs = await readTheirs();
    const after = await readOurs();
    const stable = Object.keys(theirs).filter((k) => before[k] === after[k]);
    // A number that moved one way while mqadmin ran (a TPS decaying over its minute) is compared too:
    // mqadmin's reading, taken between our two, must lie between them.
    const num = (v: unknown): number | undefined => (v !== null && v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined);
    const drifting = Object.keys(theirs).filter((k) => before[k] !== after[k] && num(before[k]) !== undefined && num(after[k]) !== undefined && num(theirs[k]) !== undefined);
    mismatches = [
      ...stable.filter((k) => theirs[k] !== before[k]).map((k) => `${k}: ours ${before[k]} before and after, mqadmin ${theirs[k]}`),
      ...drifting
        .filter((k) => num(theirs[k])! < Math.min(num(before[k])!, num(after[k])!) || num(theirs[k])! > Math.max(num(before[k])!, num(after[k])!))
        .map((k) => `${k}: ours ${before[k]} before and ${after[k]} after, mqadmin ${theirs[k]} outside`),
    ];
    last = [...stable, ...drifting];
    if (mismatches.length === 0 && last.length >= minCompared) return last;
  }
  expect(mismatches, 'values that differ from mqadmin on the last try').toEqual([]);
  throw new Error(`values kept moving: only ${last.join(', ') || 'nothing'} could be compared`);
}

/** Java Produce driver; fails the test unless every send is SEND_OK. Returns the send lines. */
export async function produce(args: Record<string, string | number | boolean>): Promise<any[]> {
  // sendMsgTimeout 15 s (Java's default 3 s, the driver's 5 s): a loaded 2-core machine.
  args = { timeoutMs: 15_000, ...args };
  let r = await javaDriver('Produce', args);
  // A loaded machine can time out the Java client's first route lookup (3 s): when nothing was
  // sent, sending again cannot duplicate anything.
  if (r.code !== 0 && !r.lines.some((l) => 'status' in l)) r = await javaDriver('Produce', args);
  const sends = r.lines.filter((l) => 'status' in l);
  expect(r.code, r.stderr.slice(-2000)).toBe(0);
  expect(sends.every((s) => s.status === 'SEND_OK'), JSON.stringify(sends)).toBe(true);
  return sends;
}

/** Java Consume driver (push consumer); fails the test on a timeout. */
export async function consume(args: Record<string, string | number | boolean>): Promise<JavaRun> {
  const r = await javaDriver('Consume', { timeoutMs: 60_000, ...args }, { timeoutMs: 120_000 });
  expect(r.code, r.stderr.slice(-2000)).toBe(0);
  expect(r.lines.at(-1)?.timedOut, JSON.stringify(r.lines.at(-1))).not.toBe(true);
  return r;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` until it returns a value that is not undefined; bounded by timeoutMs. */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(everyMs);
  }
}
