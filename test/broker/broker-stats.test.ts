/**
 * BrokerStats: consume TPS as Java's tpsGroupGetNums (messages pulled by a group from a topic per
 * second over the last minute, in 10 s steps) and the broker-wide get count, on a fake clock.
 */
import { describe, expect, it } from 'vitest';
import { BrokerStats } from '../../src/broker/stats/broker-stats.js';

function clock(startMs: number) {
  const c = { now: startMs, fn: () => c.now };
  return c;
}

describe('BrokerStats', () => {
  it('rate over the last minute, per topic@group, in 10 s buckets', () => {
    const c = clock(1_000_000_000_000); // a multiple of 10 s
    const s = new BrokerStats(c.fn);
    // 100 messages per 10 s for two minutes.
    for (let i = 0; i < 12; i++) {
      s.onMessagesPulled('G', 'T', 100);
      c.now += 10_000;
    }
    // The window is the current (empty, just begun) bucket and the 5 before it: 500 messages in 50 s.
    expect(s.groupGetTps('G', 'T')).toBeCloseTo(10, 5);
    c.now += 5_000; // half-way through the current bucket: 500 messages in 55 s
    expect(s.groupGetTps('G', 'T')).toBeCloseTo(500 / 55, 5);
    expect(s.groupGetTps('G', 'OTHER')).toBe(0);
    expect(s.groupGetTps('OTHER', 'T')).toBe(0);
    expect(s.groupGetTotal('G', 'T')).toBe(1200);
    expect(s.getTotal).toBe(1200);
    // Idle for a minute: nothing left in the window.
    c.now += 60_000;
    expect(s.groupGetTps('G', 'T')).toBe(0);
    expect(s.groupGetTotal('G', 'T')).toBe(1200);
  });

  it('a group younger than a minute is averaged over its own age (at least a second)', () => {
    const c = clock(1_000_000_005_000);
    const s = new BrokerStats(c.fn);
    s.onMessagesPulled('G', 'T', 30);
    expect(s.groupGetTps('G', 'T')).toBe(30); // 30 messages within the first second: 30/s, not 30,000/s
    c.now += 3_000;
    expect(s.groupGetTps('G', 'T')).toBe(10);
  });

  it('the tools group (consumeMessage) and empty pulls are not counted', () => {
    const s = new BrokerStats(() => 1_000_000_000_000);
    s.onMessagesPulled('TOOLS_CONSUMER', 'T', 50);
    s.onMessagesPulled('G', 'T', 0);
    expect(s.getTotal).toBe(0);
    expect(s.groupGetTps('TOOLS_CONSUMER', 'T')).toBe(0);
  });
});
