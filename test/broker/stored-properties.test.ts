import { describe, expect, it } from 'vitest';
import { storedProperties } from '../../src/broker/handlers/send-common.js';
import type { BrokerContext } from '../../src/broker/handlers/context.js';
import { mulberry32 } from '../../src/broker/store/faulty-file-io.js';
import { JavaPropertiesMap, Prop } from '../../src/protocol/properties.js';

const ctx = { config: { brokerClusterName: 'DefaultCluster' } } as unknown as BrokerContext;

/** SendMessageProcessor.asyncSendMessage's handling, straight through the Java map (the reference). */
function reference(raw: string): { text: string; map: string; wait: string | undefined } {
  const map = JavaPropertiesMap.parse(raw);
  map.set(Prop.CLUSTER, 'DefaultCluster');
  const wait = map.delete(Prop.WAIT);
  const text = map.toString();
  if (wait !== undefined) map.set(Prop.WAIT, wait);
  return { text, map: map.toString(), wait };
}

const NAMES = ['UNIQ_KEY', 'WAIT', 'TAGS', 'KEYS', 'a', 'b', 'color', '10', '2', 'x y', 'ümlaut', 'TRACE_ON', 'MSG_REGION', 'CLUSTER', 'DELAY', 'TRAN_MSG'];

function randomRaw(rng: () => number): string {
  const n = Math.floor(rng() * (rng() < 0.1 ? 60 : 8));
  const items: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = rng() < 0.8 ? NAMES[Math.floor(rng() * NAMES.length)]! : `p${Math.floor(rng() * 100)}`;
    const value = rng() < 0.05 ? '' : rng() < 0.1 ? 'v\u0001w' : `v${Math.floor(rng() * 1000)}`;
    items.push(rng() < 0.03 ? name : `${name}\u0001${value}`);
  }
  return items.join('\u0002');
}

describe('stored properties (SendMessageProcessor order, cached per name sequence)', () => {
  it('stores exactly what the Java map would, for random name sequences, repeats and odd items', () => {
    const rng = mulberry32(20261207);
    for (let round = 0; round < 3000; round++) {
      const raw = randomRaw(rng);
      const want = reference(raw);
      // Twice: the first call fills the order cache, the second uses it.
      for (const pass of [1, 2]) {
        const got = storedProperties(ctx, raw);
        expect(got.text, `raw ${JSON.stringify(raw)} pass ${pass}`).toBe(want.text);
        expect(got.map.toString(), `map of ${JSON.stringify(raw)}`).toBe(want.map);
        expect(got.get(Prop.WAIT)).toBe(want.wait);
        expect(got.get(Prop.TRAN_MSG)).toBe(JavaPropertiesMap.parse(raw).get(Prop.TRAN_MSG));
        expect(got.get(Prop.DELAY)).toBe(JavaPropertiesMap.parse(raw).get(Prop.DELAY));
      }
    }
  });

  it('hundreds of names (not cached) store what the Java map would too', () => {
    const raw = Array.from({ length: 300 }, (_, i) => `name${i}\u0001v${i}`).join('\u0002') + '\u0002WAIT\u0001true';
    const got = storedProperties(ctx, raw);
    expect(got.text).toBe(reference(raw).text);
    expect(got.map.toString()).toBe(reference(raw).map);
  });

  it('the same names with other values reuse the order and keep each message values', () => {
    const a = storedProperties(ctx, 'UNIQ_KEY\u0001A1\u0002WAIT\u0001true\u0002KEYS\u0001k1');
    const b = storedProperties(ctx, 'UNIQ_KEY\u0001B2\u0002WAIT\u0001false\u0002KEYS\u0001k2');
    expect(a.text).toBe(reference('UNIQ_KEY\u0001A1\u0002WAIT\u0001true\u0002KEYS\u0001k1').text);
    expect(b.text).toBe(reference('UNIQ_KEY\u0001B2\u0002WAIT\u0001false\u0002KEYS\u0001k2').text);
    expect(b.text).toContain('B2');
    expect(b.text).not.toContain('A1');
    expect(b.get(Prop.WAIT)).toBe('false');
  });
});
