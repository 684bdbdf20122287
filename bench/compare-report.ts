/**
 * The report of `npm run bench:compare` (bench/compare.ts): per-run records, median rows with
 * ratios to our broker, and the table. Pure functions, so the arithmetic is unit-tested
 * (test/bench/compare-report.test.ts) without starting any server.
 */
import type { Mode } from './compare-servers.js';
import { renderTable } from '../src/output/table.js';

export interface RunRecord {
  type: 'run';
  target: string;
  mode: Mode;
  config: string;
  server: string;
  client: string;
  run: number;
  at: string;
  loadAvg1: number;
  produce: { sent: number; failed: number; seconds: number; msgsPerSec: number; p50Ms: number; p99Ms: number; maxMs: number; warmupFailed: number; firstError: string | null };
  consume: { received: number; seconds: number; msgsPerSec: number; complete: boolean };
  serverCpuUsPerProduced: number;
  serverCpuUsPerConsumed: number;
  clientCpuUsPerProduced: number;
  serverRssMbAfterProduce: number;
  serverRssMbPeak: number;
}

export interface SummaryRow {
  type: 'summary';
  target: string;
  mode: Mode;
  config: string;
  server: string;
  client: string;
  runs: number;
  produceMsgsPerSec: number;
  ackP50Ms: number;
  ackP99Ms: number;
  consumeMsgsPerSec: number;
  serverCpuUsPerProduced: number;
  serverRssMbPeak: number;
  /** Sends refused or unanswered over all runs, warm-up included, and the first one's message. */
  failedSends: number;
  firstError: string | null;
  consumeComplete: boolean;
  /** This row over our broker's row of the same mode (absent for a mode our broker did not run). */
  vsRocketctl?: { produce: number; consume: number; serverCpu: number };
}

export interface Skip { type: 'skip'; target: string; mode?: Mode; reason: string }
export interface Failure { type: 'error'; target: string; mode: Mode; run: number; message: string }

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median rows per target and mode, each with its ratios to `reference` in the same mode. */
export function summarise(records: RunRecord[], reference: string): SummaryRow[] {
  const groups = new Map<string, RunRecord[]>();
  for (const r of records) {
    const key = `${r.target}\0${r.mode}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const rows: SummaryRow[] = [...groups.values()].map((rs) => {
    const r0 = rs[0]!;
    const med = (f: (r: RunRecord) => number, digits: number) => round(median(rs.map(f)), digits);
    return {
      type: 'summary', target: r0.target, mode: r0.mode, config: r0.config, server: r0.server, client: r0.client, runs: rs.length,
      produceMsgsPerSec: med((r) => r.produce.msgsPerSec, 0),
      ackP50Ms: med((r) => r.produce.p50Ms, 2),
      ackP99Ms: med((r) => r.produce.p99Ms, 2),
      consumeMsgsPerSec: med((r) => r.consume.msgsPerSec, 0),
      serverCpuUsPerProduced: med((r) => r.serverCpuUsPerProduced, 1),
      serverRssMbPeak: med((r) => r.serverRssMbPeak, 0),
      failedSends: rs.reduce((n, r) => n + r.produce.failed + r.produce.warmupFailed, 0),
      firstError: rs.find((r) => r.produce.firstError)?.produce.firstError ?? null,
      consumeComplete: rs.every((r) => r.consume.complete),
    };
  });
  for (const row of rows) {
    const ref = rows.find((r) => r.target === reference && r.mode === row.mode);
    if (!ref) continue;
    row.vsRocketctl = {
      produce: round(row.produceMsgsPerSec / ref.produceMsgsPerSec, 2),
      consume: round(row.consumeMsgsPerSec / ref.consumeMsgsPerSec, 2),
      serverCpu: round(row.serverCpuUsPerProduced / ref.serverCpuUsPerProduced, 2),
    };
  }
  return rows;
}

const HEAD = ['target', 'mode', 'config', 'client', 'produce msg/s', '× ours', 'ack p50 ms', 'ack p99 ms', 'consume msg/s', '× ours', 'srv CPU µs/msg', 'srv RSS MB'];

function tableCells(r: SummaryRow): string[] {
  const ratio = (x: number | undefined) => (x === undefined ? '—' : `${x.toFixed(2)}×`);
  const flags = r.failedSends > 0 ? ` (${r.failedSends} failed)` : '';
  return [
    r.target, r.mode === 'sync' ? 'fsync' : 'no fsync', r.config, r.client,
    `${r.produceMsgsPerSec.toLocaleString('en-US')}${flags}`, ratio(r.vsRocketctl?.produce), r.ackP50Ms.toFixed(1), r.ackP99Ms.toFixed(1),
    `${r.consumeMsgsPerSec.toLocaleString('en-US')}${r.consumeComplete ? '' : ' (incomplete)'}`, ratio(r.vsRocketctl?.consume),
    r.serverCpuUsPerProduced.toFixed(1), String(r.serverRssMbPeak),
  ];
}

export interface Workload {
  messages: number;
  sizeBytes: number;
  inflight: number;
  runs: number;
  markdown: boolean;
  cpus: number;
}

/** The table (no fsync rows first, targets in `targetOrder`), then skips, failed sends and failed runs. */
export function render(o: Workload, rows: SummaryRow[], skips: Skip[], failures: Failure[], load: { before: number[]; after: number[] }, targetOrder: string[]): string {
  const order = (target: string) => targetOrder.indexOf(target);
  const sorted = [...rows].sort((a, b) => a.mode.localeCompare(b.mode) || order(a.target) - order(b.target));
  const lines: string[] = [];
  lines.push(`${o.messages.toLocaleString('en-US')} × ${o.sizeBytes} B, ${o.inflight} in flight, median of ${o.runs} run(s); ${o.cpus} cores, load ${load.before.map((x) => x.toFixed(2)).join(' ')} before, ${load.after.map((x) => x.toFixed(2)).join(' ')} after`);
  if (o.markdown) {
    lines.push(`| ${HEAD.join(' | ')} |`, `| ${HEAD.map(() => '---').join(' | ')} |`);
    for (const r of sorted) lines.push(`| ${tableCells(r).join(' | ')} |`);
  } else {
    lines.push(renderTable(HEAD, sorted.map(tableCells), { align: [4, 5, 6, 7, 8, 9, 10, 11] }));
  }
  for (const s of skips) lines.push(`skipped ${s.target}${s.mode ? ` ${s.mode}` : ''}: ${s.reason}`);
  for (const r of sorted) if (r.failedSends > 0) lines.push(`${r.target} ${r.mode}: ${r.failedSends} send(s) failed, first: ${r.firstError}`);
  for (const f of failures) lines.push(`FAILED ${f.target} ${f.mode} run ${f.run}: ${f.message}`);
  lines.push('Ratios: this row over rocketctl (our client, same mode). Absolute numbers depend on the machine and its load.');
  return lines.join('\n') + '\n';
}
