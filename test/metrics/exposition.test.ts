import { describe, expect, it } from 'vitest';
import { parseExposition, renderExposition } from '../../src/metrics/exposition.js';
import { Histogram } from '../../src/metrics/histogram.js';
import { CachedCollector } from '../../src/metrics/collector.js';

describe('exposition format', () => {
  it('writes HELP and TYPE once per name, escapes label values, and reads back', () => {
    const text = renderExposition([
      { name: 'm', help: 'a\\b\nc', type: 'gauge', samples: [{ labels: { t: 'x"y\\z\nw' }, value: 1.5 }] },
      { name: 'm', help: 'ignored', type: 'gauge', samples: [{ labels: { t: 'b' }, value: 2 }] },
      { name: 'empty', help: 'h', type: 'counter', samples: [] },
    ]);
    expect(text).toBe(['# HELP m a\\\\b\\nc', '# TYPE m gauge', 'm{t="x\\"y\\\\z\\nw"} 1.5', 'm{t="b"} 2', '# HELP empty h', '# TYPE empty counter', ''].join('\n'));
    expect(parseExposition(text)).toEqual([
      { name: 'm', labels: { t: 'x"y\\z\nw' }, value: 1.5 },
      { name: 'm', labels: { t: 'b' }, value: 2 },
    ]);
  });

  it('refuses one name with two types', () => {
    expect(() => renderExposition([
      { name: 'm', help: '', type: 'gauge', samples: [] },
      { name: 'm', help: '', type: 'counter', samples: [] },
    ])).toThrow(/gauge and counter/);
  });

  it('histogram buckets are cumulative and end with +Inf = count', () => {
    const h = new Histogram([0.001, 0.01]);
    for (const s of [0.0005, 0.005, 0.005, 3]) h.observe(s);
    expect(h.cumulative()).toEqual([[0.001, 1], [0.01, 3], [Infinity, 4]]);
    expect(h.sumS).toBeCloseTo(3.0105);
  });

  it('CachedCollector collects once per cacheMs and shares a collection under way', async () => {
    let now = 0;
    let calls = 0;
    const c = new CachedCollector(async () => ++calls, 1000, () => now);
    expect(await Promise.all([c.get(), c.get()])).toEqual([1, 1]);
    now = 999;
    expect(await c.get()).toBe(1);
    now = 1000;
    expect(await c.get()).toBe(2);
  });
});
