/**
 * JavaPropertiesMap writes properties in the order Apache's broker stores them (java.util.HashMap
 * iteration order). The expected strings were printed by Apache RocketMQ 4.9.8's own
 * MessageDecoder.string2messageProperties / messageProperties2String on JDK 17 for the same steps.
 */
import { describe, expect, it } from 'vitest';
import { javaHashCode } from '../../src/protocol/hash.js';
import { decodeProperties, JavaPropertiesMap, pickProperties } from '../../src/protocol/properties.js';

const j = (s: string): string => s.replace(/\\u0001/g, '\u0001').replace(/\\u0002/g, '\u0002');

describe('JavaPropertiesMap', () => {
  it('a send: CLUSTER put, WAIT removed, written; then WAIT put back and REAL_TOPIC / REAL_QID added (a delayed send)', () => {
    const m = JavaPropertiesMap.parse(j('TAGS\\u0001TagA\\u0002KEYS\\u0001k1 k2\\u0002UNIQ_KEY\\u0001FD000000000000000000000000000002\\u0002WAIT\\u0001true\\u0002kitIndex\\u00017'));
    m.set('CLUSTER', 'DefaultCluster');
    const wait = m.delete('WAIT')!;
    expect(m.toString()).toBe(j('KEYS\\u0001k1 k2\\u0002kitIndex\\u00017\\u0002UNIQ_KEY\\u0001FD000000000000000000000000000002\\u0002CLUSTER\\u0001DefaultCluster\\u0002TAGS\\u0001TagA'));
    m.set('WAIT', wait).set('REAL_TOPIC', 'TopicA').set('REAL_QID', '3');
    expect(m.toString()).toBe(
      j('REAL_TOPIC\\u0001TopicA\\u0002KEYS\\u0001k1 k2\\u0002kitIndex\\u00017\\u0002UNIQ_KEY\\u0001FD000000000000000000000000000002\\u0002CLUSTER\\u0001DefaultCluster\\u0002WAIT\\u0001true\\u0002TAGS\\u0001TagA\\u0002REAL_QID\\u00013'),
    );
  });

  it('more than 12 names grow the table (16 -> 32 buckets), which reorders them', () => {
    const m = JavaPropertiesMap.parse(Array.from({ length: 15 }, (_, i) => `p${i}\u0001v${i}`).join('\u0002'));
    m.set('CLUSTER', 'C');
    expect(m.toString()).toBe(
      j('p0\\u0001v0\\u0002p1\\u0001v1\\u0002p2\\u0001v2\\u0002p3\\u0001v3\\u0002p4\\u0001v4\\u0002p5\\u0001v5\\u0002p6\\u0001v6\\u0002p7\\u0001v7\\u0002p8\\u0001v8\\u0002p9\\u0001v9\\u0002p10\\u0001v10\\u0002p12\\u0001v12\\u0002p11\\u0001v11\\u0002p14\\u0001v14\\u0002p13\\u0001v13\\u0002CLUSTER\\u0001C'),
    );
  });

  it('names with equal hash codes keep their insertion order within the bucket; a long bucket grows the table', () => {
    const names: string[] = [];
    for (const a of ['Aa', 'BB']) for (const b of ['Aa', 'BB']) for (const c of ['Aa', 'BB']) for (const d of ['Aa', 'BB']) names.push(a + b + c + d);
    const m = new JavaPropertiesMap();
    names.slice(0, 10).forEach((n, i) => m.set(n, `v${i}`));
    m.set('TAGS', 't');
    expect(m.toString()).toBe(names.slice(0, 10).map((n, i) => `${n}\u0001v${i}`).join('\u0002') + '\u0002TAGS\u0001t');
  });

  it.each([
    [30, 64],
    [3000, 4096],
  ])('%i names (insertion sort below 33, Array sort above) are written in HashMap order: by bucket of a %i-bucket table, then put order', (count, table) => {
    const names = Array.from({ length: count }, (_, i) => `p${i}`);
    const m = new JavaPropertiesMap();
    for (const n of names) m.set(n, 'v');
    const bucket = (n: string) => {
      const h = javaHashCode(n);
      return (h ^ (h >>> 16)) & (table - 1);
    };
    const expected = names.map((n, i) => ({ n, b: bucket(n), i })).sort((a, b) => a.b - b.b || a.i - b.i).map((e) => `${e.n}\u0001v`);
    expect(m.toString()).toBe(expected.join('\u0002'));
  });

  it('a name removed and put again is written where its bucket puts it; a present name keeps its place', () => {
    const m = JavaPropertiesMap.parse('a\u00011\u0002b\u00012\u0002c\u00013');
    m.delete('a');
    m.set('d', '4').set('a', '5').set('b', '2');
    expect(m.toString()).toBe(j('a\\u00015\\u0002b\\u00012\\u0002c\\u00013\\u0002d\\u00014'));
    expect(m.toObject()).toEqual({ b: '2', c: '3', d: '4', a: '5' });
  });
});

describe('pickProperties', () => {
  it('reads the named properties as decodeProperties does, whatever the rest of the string holds', () => {
    const names = ['TAGS', 'KEYS', 'UNIQ_KEY', 'DELAY'] as const;
    const cases = [
      '',
      j('TAGS\\u0001TagA\\u0002KEYS\\u0001k1 k2\\u0002UNIQ_KEY\\u0001AB'),
      // Prefixes and extensions of a wanted name, empty names and values, a repeated name (the last wins), no separator.
      j('TAG\\u0001x\\u0002TAGSX\\u0001y\\u0002\\u0001z\\u0002KEYS\\u0001\\u0002DELAY\\u00013\\u0002DELAY\\u00014\\u0002UNIQ_KEY'),
      j('KEYS\\u0001a\\u0001b\\u0002\\u0002TAGS\\u0001t\\u0002'),
    ];
    for (const s of cases) {
      const all = decodeProperties(s);
      const want = Object.fromEntries(names.filter((n) => all[n] !== undefined).map((n) => [n, all[n]]));
      expect(pickProperties(s, names), JSON.stringify(s)).toEqual(want);
    }
  });
});
