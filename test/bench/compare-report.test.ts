import { describe, expect, it } from 'vitest';
import { median, render, summarise, type RunRecord } from '../../bench/compare-report.js';

function rec(target: string, mode: 'async' | 'sync', run: number, produce: number, consume: number, cpuUs: number, extra: Partial<RunRecord['produce']> = {}): RunRecord {
  return {
    type: 'run', target, mode, config: mode === 'sync' ? 'SYNC_FLUSH' : 'ASYNC_FLUSH', server: 's', client: 'c', run, at: '', loadAvg1: 0,
    produce: { sent: 100, failed: 0, seconds: 1, msgsPerSec: produce, p50Ms: run, p99Ms: 10 * run, maxMs: 0, warmupFailed: 0, firstError: null, ...extra },
    consume: { received: 100, seconds: 1, msgsPerSec: consume, complete: true },
    serverCpuUsPerProduced: cpuUs, serverCpuUsPerConsumed: 0, clientCpuUsPerProduced: 0, serverRssMbAfterProduce: 0, serverRssMbPeak: 100 + run,
  };
}

describe('bench:compare report', () => {
  it('median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('takes each metric\'s median over the runs and ratios to the reference of the same mode', () => {
    const rows = summarise([
      rec('rocketctl', 'async', 1, 10_000, 20_000, 20), rec('rocketctl', 'async', 2, 30_000, 40_000, 40), rec('rocketctl', 'async', 3, 20_000, 30_000, 30),
      rec('redis', 'async', 1, 40_000, 60_000, 10),
      rec('redis', 'sync', 1, 5_000, 60_000, 10, { failed: 2, warmupFailed: 1, firstError: 'busy' }),
    ], 'rocketctl');
    const ours = rows.find((r) => r.target === 'rocketctl')!;
    expect(ours).toMatchObject({ runs: 3, produceMsgsPerSec: 20_000, consumeMsgsPerSec: 30_000, ackP50Ms: 2, ackP99Ms: 20, serverRssMbPeak: 102, vsRocketctl: { produce: 1, consume: 1, serverCpu: 1 } });
    expect(rows.find((r) => r.target === 'redis' && r.mode === 'async')!.vsRocketctl).toEqual({ produce: 2, consume: 2, serverCpu: 0.33 });
    // No rocketctl sync row: no ratio rather than a ratio to the other mode.
    const redisSync = rows.find((r) => r.target === 'redis' && r.mode === 'sync')!;
    expect(redisSync.vsRocketctl).toBeUndefined();
    expect(redisSync).toMatchObject({ failedSends: 3, firstError: 'busy' });
  });

  it('renders no-fsync rows first, in target order, and names skips and failures', () => {
    const rows = summarise([rec('redis', 'sync', 1, 5_000, 6_000, 10), rec('redis', 'async', 1, 9_000, 6_000, 10), rec('rocketctl', 'async', 1, 3_000, 3_000, 30)], 'rocketctl');
    const text = render({ messages: 1000, sizeBytes: 1024, inflight: 8, runs: 1, markdown: true, cpus: 2 }, rows,
      [{ type: 'skip', target: 'nats', mode: 'sync', reason: 'no fsync setting' }],
      [{ type: 'error', target: 'apache', mode: 'async', run: 1, message: 'did not start' }],
      { before: [1, 1, 1], after: [2, 2, 2] }, ['rocketctl', 'redis']);
    const table = text.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| target') && !l.startsWith('| ---'));
    expect(table.map((l) => l.split(' | ').slice(0, 2).join(' '))).toEqual(['| rocketctl no fsync', '| redis no fsync', '| redis fsync']);
    expect(table[1]).toContain('3.00×');
    expect(text).toContain('skipped nats sync: no fsync setting');
    expect(text).toContain('FAILED apache async run 1: did not start');
    expect(text).toContain('load 1.00 1.00 1.00 before, 2.00 2.00 2.00 after');
  });
});
