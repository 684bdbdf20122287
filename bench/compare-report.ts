/**
 * The report of `npm run bench:compare` (bench/compare.ts): per-run records, median rows with
 * ratios to our broker, and the table. Pure functions, so the arithmetic is unit-tested
 * (test/bench/compare-report.test.ts) without starting any server.
 */
import type { Mode } from './compare-servers.js';
import { renderTable } from '../src/output/table.js';

export type Scenario = 'single' | 'fan';

export interface RunRecord {
  type: 'run';
  /** Absent in records written before the fan scenario: 'single'. */
  scenario?: Scenario;
  target: string;
  mode: Mode;
  config: string;
  server: string;
  client: string;
  run: number;
  at: string;
  loadAvg1: number;
  produce: { sent: number; failed: number; seconds: number; msgsPerSec: number; p50Ms: number; p99Ms: number; maxMs: number; warmupFailed: number; firstError: string | null };
  /** secondHalfMsgsPerSec: the rate after half the messages had arrived (start-up left out); single scenario only. */
  consume: { received: number; seconds: number; msgsPerSec: number; complete: boolean; secondHalfMsgsPerSec?: number };
  serverCpuUsPerProduced: number;
  serverCpuUsPerConsumed: number;
  clientCpuUsPerProduced: number;
  /** The consumer processes' CPU (the fan scenario's G groups together) per message delivered. */
  clientCpuUsPerConsumed: number;
  serverRssMbAfterProduce: number;
  serverRssMbPeak: number;
  /** Fan scenario: produce and consume above are totals over all producers and groups; these are the shares. */
  fan?: FanShares;
}

/** How the fan scenario's work was shared out: each producer's and each group's own rate. */
export interface FanShares {
  producers: number;
  groups: number;
  producerMsgsPerSec: number[];
  groupMsgsPerSec: number[];
  produceFairness: number;
  consumeFairness: number;
}

/**
 * Jain's fairness index, (Σx)² / (n·Σx²): 1 when every share is equal, 1/n when one takes all
 * (R. Jain, D. Chiu, W. Hawe, DEC-TR-301, 1984). 0 for no shares or all-zero shares (nothing to share).
 */
export function jain(xs: number[]): number {
  const sum = xs.reduce((a, x) => a + x, 0);
  const squares = xs.reduce((a, x) => a + x * x, 0);
  return squares === 0 ? 0 : (sum * sum) / (xs.length * squares);
}

/** Messages, window or warm-up split over n clients: the first `total % n` take one more. */
export function share(total: number, n: number, i: number): number {
  return Math.floor(total / n) + (i < total % n ? 1 : 0);
}

/** One fan producer's result, as bench/compare-client.ts and BenchClient.java print it. */
export interface ProducerResult {
  sent: number;
  failed: number;
  seconds: number;
  warmupFailed: number;
  firstError: string | null;
  latenciesMs?: number[];
}

/** One fan consumer group's result. */
export interface GroupResult {
  received: number;
  seconds: number;
  complete: boolean;
}

function percentileOf(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * The fan scenario's totals and shares. All producers start at one "go", so the phase lasts as
 * long as the slowest: total rate = Σsent / max(seconds), the same for the groups (each group
 * reads the whole topic, so Σreceived counts every delivery). Each producer's or group's share is
 * its own count over its own seconds; ack percentiles are over every producer's latencies merged.
 */
export function fanTotals(producers: ProducerResult[], groups: GroupResult[]): { produce: RunRecord['produce']; consume: RunRecord['consume']; fan: FanShares } {
  const rate = (n: number, seconds: number) => (seconds > 0 ? n / seconds : 0);
  const latencies = producers.flatMap((p) => p.latenciesMs ?? []).sort((a, b) => a - b);
  const sent = producers.reduce((n, p) => n + p.sent, 0);
  const produceSeconds = Math.max(0, ...producers.map((p) => p.seconds));
  const received = groups.reduce((n, g) => n + g.received, 0);
  const consumeSeconds = Math.max(0, ...groups.map((g) => g.seconds));
  const producerMsgsPerSec = producers.map((p) => Math.round(rate(p.sent, p.seconds)));
  const groupMsgsPerSec = groups.map((g) => Math.round(rate(g.received, g.seconds)));
  return {
    produce: {
      sent, failed: producers.reduce((n, p) => n + p.failed, 0), seconds: round(produceSeconds, 3), msgsPerSec: Math.round(rate(sent, produceSeconds)),
      p50Ms: round(percentileOf(latencies, 50), 2), p99Ms: round(percentileOf(latencies, 99), 2), maxMs: round(latencies.at(-1) ?? 0, 2),
      warmupFailed: producers.reduce((n, p) => n + p.warmupFailed, 0), firstError: producers.find((p) => p.firstError)?.firstError ?? null,
    },
    consume: { received, seconds: round(consumeSeconds, 3), msgsPerSec: Math.round(rate(received, consumeSeconds)), complete: groups.every((g) => g.complete) },
    fan: {
      producers: producers.length, groups: groups.length, producerMsgsPerSec, groupMsgsPerSec,
      produceFairness: round(jain(producerMsgsPerSec), 3), consumeFairness: round(jain(groupMsgsPerSec), 3),
    },
  };
}

export interface SummaryRow {
  type: 'summary';
  scenario: Scenario;
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
  /** Median of the runs' second-half consume rates (absent when no run had one). */
  consumeSecondHalfMsgsPerSec?: number;
  serverCpuUsPerProduced: number;
  /** The client processes' CPU (the fan scenario's P producers together) per message sent: on a small machine they compete with the server. */
  clientCpuUsPerProduced: number;
  /** Server and client CPU per message delivered to a consumer group (absent in runs recorded before they were). */
  serverCpuUsPerConsumed?: number;
  clientCpuUsPerConsumed?: number;
  serverRssMbPeak: number;
  /** Sends refused or unanswered over all runs, warm-up included, and the first one's message. */
  failedSends: number;
  firstError: string | null;
  consumeComplete: boolean;
  /** This row over our broker's row of the same mode (absent for a mode our broker did not run). */
  vsRocketctl?: { produce: number; consume: number; consumeSecondHalf?: number; serverCpu: number };
  /** Fan rows: medians over the runs of each run's slowest and fastest share and its fairness. */
  fan?: {
    producers: number; groups: number;
    producerMinMsgsPerSec: number; producerMaxMsgsPerSec: number; produceFairness: number;
    groupMinMsgsPerSec: number; groupMaxMsgsPerSec: number; consumeFairness: number;
  };
  /** Fan rows: total rates over the single scenario's of the same target and mode ("no collapse" is near 1 or above). */
  vsSingle?: { produce: number; consume: number };
}

export interface Skip { type: 'skip'; target: string; mode?: Mode; scenario?: Scenario; reason: string }
export interface Failure { type: 'error'; target: string; mode: Mode; scenario?: Scenario; run: number; message: string }

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
    const key = `${r.scenario ?? 'single'}\0${r.target}\0${r.mode}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const rows: SummaryRow[] = [...groups.values()].map((rs) => {
    const r0 = rs[0]!;
    const med = (f: (r: RunRecord) => number, digits: number) => round(median(rs.map(f)), digits);
    const row: SummaryRow = {
      type: 'summary', scenario: r0.scenario ?? 'single', target: r0.target, mode: r0.mode, config: r0.config, server: r0.server, client: r0.client, runs: rs.length,
      produceMsgsPerSec: med((r) => r.produce.msgsPerSec, 0),
      ackP50Ms: med((r) => r.produce.p50Ms, 2),
      ackP99Ms: med((r) => r.produce.p99Ms, 2),
      consumeMsgsPerSec: med((r) => r.consume.msgsPerSec, 0),
      serverCpuUsPerProduced: med((r) => r.serverCpuUsPerProduced, 1),
      clientCpuUsPerProduced: med((r) => r.clientCpuUsPerProduced, 1),
      serverCpuUsPerConsumed: med((r) => r.serverCpuUsPerConsumed, 1),
      clientCpuUsPerConsumed: med((r) => r.clientCpuUsPerConsumed, 1),
      serverRssMbPeak: med((r) => r.serverRssMbPeak, 0),
      failedSends: rs.reduce((n, r) => n + r.produce.failed + r.produce.warmupFailed, 0),
      firstError: rs.find((r) => r.produce.firstError)?.produce.firstError ?? null,
      consumeComplete: rs.every((r) => r.consume.complete),
    };
    const halves = rs.flatMap((r) => (r.consume.secondHalfMsgsPerSec !== undefined ? [r.consume.secondHalfMsgsPerSec] : []));
    if (halves.length > 0) row.consumeSecondHalfMsgsPerSec = round(median(halves), 0);
    const fans = rs.flatMap((r) => (r.fan ? [r.fan] : []));
    if (fans.length > 0) {
      const medFan = (f: (x: FanShares) => number, digits: number) => round(median(fans.map(f)), digits);
      row.fan = {
        producers: fans[0]!.producers, groups: fans[0]!.groups,
        producerMinMsgsPerSec: medFan((x) => Math.min(...x.producerMsgsPerSec), 0), producerMaxMsgsPerSec: medFan((x) => Math.max(...x.producerMsgsPerSec), 0),
        produceFairness: medFan((x) => x.produceFairness, 3),
        groupMinMsgsPerSec: medFan((x) => Math.min(...x.groupMsgsPerSec), 0), groupMaxMsgsPerSec: medFan((x) => Math.max(...x.groupMsgsPerSec), 0),
        consumeFairness: medFan((x) => x.consumeFairness, 3),
      };
    }
    return row;
  });
  const ratio = (a: number, b: number) => round(a / b, 2);
  for (const row of rows) {
    const ref = rows.find((r) => r.target === reference && r.mode === row.mode && r.scenario === row.scenario);
    if (ref) {
      row.vsRocketctl = {
        produce: ratio(row.produceMsgsPerSec, ref.produceMsgsPerSec),
        consume: ratio(row.consumeMsgsPerSec, ref.consumeMsgsPerSec),
        ...(row.consumeSecondHalfMsgsPerSec !== undefined && ref.consumeSecondHalfMsgsPerSec !== undefined
          ? { consumeSecondHalf: ratio(row.consumeSecondHalfMsgsPerSec, ref.consumeSecondHalfMsgsPerSec) }
          : {}),
        serverCpu: ratio(row.serverCpuUsPerProduced, ref.serverCpuUsPerProduced),
      };
    }
    const single = row.scenario === 'fan' ? rows.find((r) => r.scenario === 'single' && r.target === row.target && r.mode === row.mode) : undefined;
    if (single) row.vsSingle = { produce: ratio(row.produceMsgsPerSec, single.produceMsgsPerSec), consume: ratio(row.consumeMsgsPerSec, single.consumeMsgsPerSec) };
  }
  return rows;
}

const HEAD = ['target', 'mode', 'config', 'client', 'produce msg/s', '× ours', 'ack p50 ms', 'ack p99 ms', 'consume msg/s', '× ours', '2nd half msg/s', '× ours', 'srv CPU µs/msg', 'srv RSS MB'];

function tableCells(r: SummaryRow): string[] {
  const ratio = (x: number | undefined) => (x === undefined ? '—' : `${x.toFixed(2)}×`);
  const flags = r.failedSends > 0 ? ` (${r.failedSends} failed)` : '';
  return [
    r.target, r.mode === 'sync' ? 'fsync' : 'no fsync', r.config, r.client,
    `${r.produceMsgsPerSec.toLocaleString('en-US')}${flags}`, ratio(r.vsRocketctl?.produce), r.ackP50Ms.toFixed(1), r.ackP99Ms.toFixed(1),
    `${r.consumeMsgsPerSec.toLocaleString('en-US')}${r.consumeComplete ? '' : ' (incomplete)'}`, ratio(r.vsRocketctl?.consume),
    r.consumeSecondHalfMsgsPerSec === undefined ? '—' : r.consumeSecondHalfMsgsPerSec.toLocaleString('en-US'), ratio(r.vsRocketctl?.consumeSecondHalf),
    r.serverCpuUsPerProduced.toFixed(1), String(r.serverRssMbPeak),
  ];
}

const FAN_HEAD = ['target', 'mode', 'P×G', 'produce msg/s', '× single', 'per producer min–max', 'fairness', 'ack p99 ms',
  'consume msg/s', '× single', 'per group min–max', 'fairness', 'srv CPU µs/msg', 'client CPU µs/msg', 'srv RSS MB'];

function fanCells(r: SummaryRow): string[] {
  const n = (x: number) => x.toLocaleString('en-US');
  const ratio = (x: number | undefined) => (x === undefined ? '—' : `${x.toFixed(2)}×`);
  const f = r.fan!;
  const flags = r.failedSends > 0 ? ` (${r.failedSends} failed)` : '';
  return [
    r.target, r.mode === 'sync' ? 'fsync' : 'no fsync', `${f.producers}×${f.groups}`,
    `${n(r.produceMsgsPerSec)}${flags}`, ratio(r.vsSingle?.produce), `${n(f.producerMinMsgsPerSec)}–${n(f.producerMaxMsgsPerSec)}`, f.produceFairness.toFixed(3), r.ackP99Ms.toFixed(1),
    `${n(r.consumeMsgsPerSec)}${r.consumeComplete ? '' : ' (incomplete)'}`, ratio(r.vsSingle?.consume), `${n(f.groupMinMsgsPerSec)}–${n(f.groupMaxMsgsPerSec)}`, f.consumeFairness.toFixed(3),
    r.serverCpuUsPerProduced.toFixed(1), r.clientCpuUsPerProduced.toFixed(1), String(r.serverRssMbPeak),
  ];
}

export interface Workload {
  messages: number;
  sizeBytes: number;
  inflight: number;
  runs: number;
  markdown: boolean;
  cpus: number;
  /** Fan scenario: P producers and G consumer groups (absent: single only). */
  producers?: number;
  groups?: number;
}

function table(o: Workload, head: string[], cells: string[][], align: number[]): string[] {
  if (!o.markdown) return [renderTable(head, cells, { align })];
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...cells.map((c) => `| ${c.join(' | ')} |`)];
}

/** The table (no fsync rows first, targets in `targetOrder`), then skips, failed sends and failed runs. */
export function render(o: Workload, rows: SummaryRow[], skips: Skip[], failures: Failure[], load: { before: number[]; after: number[] }, targetOrder: string[]): string {
  const order = (target: string) => targetOrder.indexOf(target);
  const sorted = [...rows].sort((a, b) => a.mode.localeCompare(b.mode) || order(a.target) - order(b.target));
  const lines: string[] = [];
  lines.push(`${o.messages.toLocaleString('en-US')} × ${o.sizeBytes} B, ${o.inflight} in flight, median of ${o.runs} run(s); ${o.cpus} cores, load ${load.before.map((x) => x.toFixed(2)).join(' ')} before, ${load.after.map((x) => x.toFixed(2)).join(' ')} after`);
  const single = sorted.filter((r) => r.scenario === 'single');
  const fan = sorted.filter((r) => r.scenario === 'fan');
  lines.push(...table(o, HEAD, single.map(tableCells), [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]));
  if (fan.length > 0) {
    lines.push(`Fan: ${o.producers ?? fan[0]!.fan!.producers} producer processes share the messages and the ${o.inflight} in flight, all started by one "go"; then ${o.groups ?? fan[0]!.fan!.groups} consumer groups (one process each) read the whole topic at once.`);
    lines.push(...table(o, FAN_HEAD, fan.map(fanCells), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]));
  }
  for (const s of skips) lines.push(`skipped ${s.target}${s.mode ? ` ${s.mode}` : ''}${s.scenario === 'fan' ? ' fan' : ''}: ${s.reason}`);
  for (const r of sorted) if (r.failedSends > 0) lines.push(`${r.target} ${r.mode}${r.scenario === 'fan' ? ' fan' : ''}: ${r.failedSends} send(s) failed, first: ${r.firstError}`);
  for (const f of failures) lines.push(`FAILED ${f.target} ${f.mode}${f.scenario === 'fan' ? ' fan' : ''} run ${f.run}: ${f.message}`);
  lines.push('Ratios: this row over rocketctl (our client, same mode). Absolute numbers depend on the machine and its load.');
  if (fan.length > 0) lines.push('Fan: × single = fan total over the same target\'s single run (consume counts every group\'s deliveries); fairness = Jain\'s index of the per-producer / per-group rates (1 = equal shares, 1/n = one takes all).');
  return lines.join('\n') + '\n';
}
