/**
 * The --watch math without brokers: rates from offset differences, the drain estimate, the
 * fixed-size rings (memory does not grow with the number of samples), and the loop's handling of
 * a failed sample and of Ctrl-C (an injected clock: no sleeps measured).
 */
import { describe, expect, it } from 'vitest';
import { drainEstimate, partsDelta, RATE_WINDOW_INTERVALS, RateTracker, Ring, runWatch, TREND_SAMPLES, windowRate, type Part, type RowInput } from '../../src/admin/watch.js';
import { formatDrain, sparkline } from '../../src/output/watch-render.js';

const part = (id: string, produced: number, consumed: number | null): Part => ({ id, produced, consumed });
const row = (backlog: number | null, parts: Part[], error: string | null = null): RowInput<null> => ({ key: 'g', backlog, parts, error, info: null });

describe('drainEstimate', () => {
  it('backlog ÷ (consume − produce), growing, stalled, drained, unknown', () => {
    expect(drainEstimate(1000, 30, 10)).toEqual({ state: 'draining', etaMs: 50_000 });
    expect(drainEstimate(1000, 10, 30)).toEqual({ state: 'growing', etaMs: null });
    expect(drainEstimate(1000, 0, 0)).toEqual({ state: 'stalled', etaMs: null });
    expect(drainEstimate(0, 0, 5)).toEqual({ state: 'drained', etaMs: 0 });
    expect(drainEstimate(10, null, null)).toEqual({ state: 'unknown', etaMs: null });
    expect(drainEstimate(null, 5, 1)).toEqual({ state: 'unknown', etaMs: null });
  });
});

describe('partsDelta', () => {
  it('sums per-part growth over the parts seen in both samples', () => {
    const prev = new Map([['a', part('a', 10, 4)], ['b', part('b', 5, 5)], ['gone', part('gone', 99, 0)]]);
    // 'new' was not in the previous sample: not counted (its offsets are not growth).
    expect(partsDelta(prev, [part('a', 15, 9), part('b', 7, 5), part('new', 1000, 1000)])).toEqual({ produced: 7, consumed: 5 });
  });
  it('a part without a committed offset counts for produce only; a counter going back makes that side unknown', () => {
    const prev = new Map([['a', part('a', 10, null)], ['b', part('b', 10, 8)]]);
    expect(partsDelta(prev, [part('a', 12, 3), part('b', 11, 9)])).toEqual({ produced: 3, consumed: 1 });
    expect(partsDelta(prev, [part('a', 12, null), part('b', 11, 2)])).toEqual({ produced: 3, consumed: null });
    expect(partsDelta(prev, [part('b', 1, 9)])).toEqual({ produced: null, consumed: 1 });
  });
});

describe('windowRate', () => {
  it('messages over the time of the intervals whose count is known', () => {
    expect(windowRate([{ ms: 1000, produced: 10, consumed: null }, { ms: 3000, produced: 30, consumed: 6 }], (i) => i.produced)).toBe(10);
    expect(windowRate([{ ms: 1000, produced: 10, consumed: null }, { ms: 3000, produced: 30, consumed: 6 }], (i) => i.consumed)).toBe(2);
    expect(windowRate([], (i) => i.produced)).toBeNull();
  });
});

describe('Ring', () => {
  it('keeps the last `capacity` items, oldest first', () => {
    const r = new Ring<number>(3);
    for (let i = 1; i <= 7; i++) r.push(i);
    expect(r.toArray()).toEqual([5, 6, 7]);
    expect(r.length).toBe(3);
    expect(() => new Ring(0)).toThrow(RangeError);
  });
});

describe('RateTracker', () => {
  it('first sample has no rate; then rates over the window, backlog change, trend, ETA', () => {
    const t = new RateTracker<null>();
    const s1 = t.next({ rows: [row(100, [part('q', 100, 0)])], failed: [] }, 0);
    expect(s1.intervalMs).toBeNull();
    expect(s1.rows[0]).toMatchObject({ produced: null, consumed: null, produceRate: null, consumeRate: null, backlogChange: null, drain: { state: 'unknown' } });
    // 2 s later: 10 produced, 50 consumed: net 20/s, backlog 60 → 3 s.
    const s2 = t.next({ rows: [row(60, [part('q', 110, 50)])], failed: [] }, 2000);
    expect(s2.intervalMs).toBe(2000);
    expect(s2.rows[0]).toMatchObject({ produced: 10, consumed: 50, produceRate: 5, consumeRate: 25, backlogChange: -40, drain: { state: 'draining', etaMs: 3000 } });
    // Producer speeds up: growing.
    const s3 = t.next({ rows: [row(100, [part('q', 170, 70)])], failed: [] }, 4000);
    expect(s3.rows[0]!.produced).toBe(60);
    expect(s3.rows[0]!.produceRate).toBe(70 / 4); // (10 + 60) over 4 s: the window
    expect(s3.rows[0]!.consumeRate).toBe(70 / 4);
    expect(s3.rows[0]!.drain.state).toBe('stalled');
    const s4 = t.next({ rows: [row(150, [part('q', 230, 80)])], failed: [] }, 5000);
    expect(s4.rows[0]!.drain.state).toBe('growing');
    expect(s4.rows[0]!.trend).toEqual([100, 60, 100, 150]);
    const s5 = t.next({ rows: [row(0, [part('q', 230, 230)])], failed: [] }, 6000);
    expect(formatDrain(s5.rows[0]!.drain)).toContain('drained');
  });

  it('a row failed in one sample keeps its state; the next delta spans both intervals', () => {
    const t = new RateTracker<null>();
    t.next({ rows: [row(10, [part('q', 10, 0)])], failed: [] }, 0);
    const bad = t.next({ rows: [row(null, [], 'broker-a (127.0.0.1:1): timed out')], failed: [{ kind: 'broker', brokerName: 'broker-a', addr: '127.0.0.1:1', code: 'E_TIMEOUT', message: 'timed out' }] }, 1000);
    expect(bad.rows[0]).toMatchObject({ error: 'broker-a (127.0.0.1:1): timed out', produced: null, drain: { state: 'unknown' } });
    expect(bad.failed).toHaveLength(1);
    const ok = t.next({ rows: [row(14, [part('q', 20, 6)])], failed: [] }, 2000);
    expect(ok.rows[0]).toMatchObject({ produced: 10, consumed: 6, produceRate: 5, consumeRate: 3, backlogChange: 4 });
    expect(ok.rows[0]!.trend).toEqual([10, null, 14]);
  });

  it('memory stays bounded: rings are fixed and rows absent from a sample are forgotten', () => {
    const t = new RateTracker<null>();
    let last;
    for (let i = 0; i < 10_000; i++) last = t.next({ rows: [row(i, [part('q', i, 0)])], failed: [] }, i * 1000);
    expect(last!.rows[0]!.trend.length).toBe(TREND_SAMPLES);
    expect(last!.rows[0]!.produceRate).toBe(1);
    // Groups coming and going (deleted groups, a changing list): only the current ones are kept.
    for (let i = 0; i < 1000; i++) t.next({ rows: [{ ...row(i, [part('q', i, 0)]), key: `g${i}` }], failed: [] }, (10_000 + i) * 1000);
    expect((t as unknown as { rows: Map<string, unknown> }).rows.size).toBe(1);
    expect(RATE_WINDOW_INTERVALS).toBeGreaterThan(0);
  });
});

describe('sparkline', () => {
  it('scales from 0 to the largest value; gaps where unknown', () => {
    expect(sparkline([0, 50, 100, null, 0])).toBe('▁▅█ ▁');
    expect(sparkline([0, 0])).toBe('▁▁');
  });
});

describe('runWatch', () => {
  it('a failed later sample is shown as failed and the watch goes on; the first one ends it; abort stops it', async () => {
    let clock = 0;
    let n = 0;
    const ac = new AbortController();
    const seen: Array<string | null> = [];
    const taken = await runWatch<null>({
      intervalMs: 0,
      now: () => (clock += 1000),
      signal: ac.signal,
      sample: async () => {
        n++;
        if (n === 2) throw new Error('name server timed out');
        return { rows: [row(5, [part('q', n, 0)])], failed: [] };
      },
      onSample: (s) => {
        seen.push(s.error);
        if (s.seq === 4) ac.abort();
      },
    });
    expect(taken).toBe(4);
    expect(seen).toEqual([null, 'name server timed out', null, null]);
    await expect(runWatch<null>({ intervalMs: 0, signal: new AbortController().signal, sample: async () => Promise.reject(new Error('unknown group')), onSample: () => {} })).rejects.toThrow('unknown group');
  });

  it('Ctrl-C during a sample that never answers ends the watch at once', async () => {
    const ac = new AbortController();
    const p = runWatch<null>({ intervalMs: 1000, signal: ac.signal, sample: () => new Promise(() => {}), onSample: () => {} });
    ac.abort();
    await expect(p).resolves.toBe(0);
  });
});
