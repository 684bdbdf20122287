import { describe, expect, it } from 'vitest';
import { fanTotals, jain, median, render, share, summarise, type FanShares, type RunRecord } from '../../bench/compare-report.js';

function rec(target: string, mode: 'async' | 'sync', run: number, produce: number, consume: number, cpuUs: number, extra: Partial<RunRecord['produce']> = {}): RunRecord {
  return {
    type: 'run', target, mode, config: mode === 'sync' ? 'SYNC_FLUSH' : 'ASYNC_FLUSH', server: 's', client: 'c', run, at: '', loadAvg1: 0,
    produce: { sent: 100, failed: 0, seconds: 1, msgsPerSec: produce, p50Ms: run, p99Ms: 10 * run, maxMs: 0, warmupFailed: 0, firstError: null, ...extra },
    consume: { received: 100, seconds: 1, msgsPerSec: consume, complete: true, ...(consume > 50_000 ? { secondHalfMsgsPerSec: 2 * consume } : {}) },
    serverCpuUsPerProduced: cpuUs, serverCpuUsPerConsumed: cpuUs / 4, clientCpuUsPerProduced: 0, clientCpuUsPerConsumed: cpuUs / 2, serverRssMbAfterProduce: 0, serverRssMbPeak: 100 + run,
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
    expect(ours).toMatchObject({ runs: 3, produceMsgsPerSec: 20_000, consumeMsgsPerSec: 30_000, ackP50Ms: 2, ackP99Ms: 20, serverRssMbPeak: 102, serverCpuUsPerConsumed: 7.5, clientCpuUsPerConsumed: 15, vsRocketctl: { produce: 1, consume: 1, serverCpu: 1 } });
    expect(rows.find((r) => r.target === 'redis' && r.mode === 'async')!.vsRocketctl).toEqual({ produce: 2, consume: 2, serverCpu: 0.33 });
    // Second-half rates: medians over the runs that had one; a ratio only where both rows have them.
    expect(ours.consumeSecondHalfMsgsPerSec).toBeUndefined();
    const halves = summarise([rec('rocketctl', 'async', 1, 10_000, 60_000, 20), rec('rocketctl', 'async', 2, 10_000, 80_000, 20), rec('rocketctl', 'async', 3, 10_000, 40_000, 20), rec('redis', 'async', 1, 10_000, 90_000, 20)], 'rocketctl');
    expect(halves.find((r) => r.target === 'rocketctl')!.consumeSecondHalfMsgsPerSec).toBe(140_000);
    expect(halves.find((r) => r.target === 'redis')!.vsRocketctl).toMatchObject({ consume: 1.5, consumeSecondHalf: 1.29 });
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

  it('Jain\'s index: 1 for equal shares, 1/n when one takes all, in between otherwise', () => {
    expect(jain([900, 900, 900, 900])).toBe(1);
    expect(jain([1000, 0, 0, 0])).toBe(0.25);
    expect(jain([3, 1])).toBe(0.8); // 16 / (2 · 10)
    expect(jain([])).toBe(0);
    expect(jain([0, 0])).toBe(0);
  });

  it('splits messages and the window over the clients, remainder to the first, nothing lost', () => {
    expect([0, 1, 2].map((i) => share(10, 3, i))).toEqual([4, 3, 3]);
    expect(Array.from({ length: 8 }, (_, i) => share(256, 8, i))).toEqual(Array(8).fill(32));
    expect(Array.from({ length: 8 }, (_, i) => share(40_003, 8, i)).reduce((a, b) => a + b, 0)).toBe(40_003);
  });

  it('fan totals: rates over the slowest client, shares per client, p99 over all latencies merged', () => {
    // Producer 1: 100 sends in 1 s, latencies 1..100 ms; producer 2: 50 sends in 2 s, all 200 ms.
    const t = fanTotals([
      { sent: 100, failed: 0, seconds: 1, warmupFailed: 0, firstError: null, latenciesMs: Array.from({ length: 100 }, (_, i) => i + 1) },
      { sent: 50, failed: 2, seconds: 2, warmupFailed: 1, firstError: 'busy', latenciesMs: Array(50).fill(200) },
    ], [{ received: 150, seconds: 1.5, complete: true }, { received: 140, seconds: 2, complete: false }]);
    expect(t.produce).toMatchObject({ sent: 150, failed: 2, warmupFailed: 1, firstError: 'busy', seconds: 2, msgsPerSec: 75, p50Ms: 76, p99Ms: 200, maxMs: 200 });
    expect(t.consume).toEqual({ received: 290, seconds: 2, msgsPerSec: 145, complete: false });
    // 125² / (2 · (100² + 25²)) = 0.735; 170² / (2 · (100² + 70²)) = 0.970
    expect(t.fan).toEqual({ producers: 2, groups: 2, producerMsgsPerSec: [100, 25], groupMsgsPerSec: [100, 70], produceFairness: 0.735, consumeFairness: 0.97 });
  });

  const fanRec = (target: string, run: number, produce: number, consume: number, fan: Partial<FanShares>): RunRecord => ({
    ...rec(target, 'async', run, produce, consume, 40), scenario: 'fan', clientCpuUsPerProduced: 95.5,
    fan: { producers: 8, groups: 4, producerMsgsPerSec: [], groupMsgsPerSec: [], produceFairness: 1, consumeFairness: 1, ...fan },
  });

  it('fan rows: ratio to the same target\'s single run, to our fan row, and median min/max/fairness over runs', () => {
    const rows = summarise([
      rec('rocketctl', 'async', 1, 10_000, 14_000, 60), rec('apache', 'async', 1, 20_000, 40_000, 30),
      fanRec('rocketctl', 1, 8_000, 15_400, { producerMsgsPerSec: [894, 962, 918, 918, 954, 934, 907, 917], groupMsgsPerSec: [3752, 3753, 3775, 3799], produceFairness: 0.999 }),
      fanRec('apache', 1, 4_000, 30_000, { producerMsgsPerSec: [100, 900], groupMsgsPerSec: [7000, 8000], produceFairness: 0.61, consumeFairness: 0.99 }),
      fanRec('apache', 2, 6_000, 50_000, { producerMsgsPerSec: [300, 700], groupMsgsPerSec: [9000, 9000], produceFairness: 0.85, consumeFairness: 1 }),
    ], 'rocketctl');
    const ours = rows.find((r) => r.scenario === 'fan' && r.target === 'rocketctl')!;
    expect(ours.vsSingle).toEqual({ produce: 0.8, consume: 1.1 });
    expect(ours.fan).toMatchObject({ producerMinMsgsPerSec: 894, producerMaxMsgsPerSec: 962, groupMinMsgsPerSec: 3752, groupMaxMsgsPerSec: 3799 });
    const apache = rows.find((r) => r.scenario === 'fan' && r.target === 'apache')!;
    expect(apache).toMatchObject({ runs: 2, produceMsgsPerSec: 5_000, vsSingle: { produce: 0.25, consume: 1 }, vsRocketctl: { produce: 0.63, consume: 2.6 } });
    expect(apache.fan).toMatchObject({ producerMinMsgsPerSec: 200, producerMaxMsgsPerSec: 800, produceFairness: 0.73, consumeFairness: 0.995 });
    // Single rows keep their ratios among single rows only.
    const apacheSingle = rows.find((r) => r.scenario === 'single' && r.target === 'apache')!;
    expect(apacheSingle.vsRocketctl).toMatchObject({ produce: 2 });
    expect(apacheSingle.vsSingle).toBeUndefined();
  });

  it('renders single rows in the first table and fan rows in a second one with shares and fairness', () => {
    const rows = summarise([
      rec('rocketctl', 'async', 1, 10_000, 14_000, 60),
      fanRec('rocketctl', 1, 8_000, 15_400, { producerMsgsPerSec: [894, 962], groupMsgsPerSec: [3752, 3799], produceFairness: 0.999, consumeFairness: 1 }),
    ], 'rocketctl');
    const text = render({ messages: 40_000, sizeBytes: 1024, inflight: 256, runs: 1, markdown: true, cpus: 2, producers: 8, groups: 4 }, rows,
      [{ type: 'skip', target: 'nats', mode: 'async', scenario: 'fan', reason: 'not wired' }],
      [{ type: 'error', target: 'apache', mode: 'sync', scenario: 'fan', run: 1, message: 'no ready' }],
      { before: [1, 1, 1], after: [2, 2, 2] }, ['rocketctl']);
    const tables = text.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| ---'));
    expect(tables).toEqual([
      '| target | mode | config | client | produce msg/s | × ours | ack p50 ms | ack p99 ms | consume msg/s | × ours | 2nd half msg/s | × ours | srv CPU µs/msg | srv RSS MB |',
      '| rocketctl | no fsync | ASYNC_FLUSH | c | 10,000 | 1.00× | 1.0 | 10.0 | 14,000 | 1.00× | — | — | 60.0 | 101 |',
      '| target | mode | P×G | produce msg/s | × single | per producer min–max | fairness | ack p99 ms | consume msg/s | × single | per group min–max | fairness | srv CPU µs/msg | client CPU µs/msg | srv RSS MB |',
      '| rocketctl | no fsync | 8×4 | 8,000 | 0.80× | 894–962 | 0.999 | 10.0 | 15,400 | 1.10× | 3,752–3,799 | 1.000 | 40.0 | 95.5 | 101 |',
    ]);
    expect(text).toContain('8 producer processes share the messages and the 256 in flight');
    expect(text).toContain('skipped nats async fan: not wired');
    expect(text).toContain('FAILED apache sync fan run 1: no ready');
  });
});
