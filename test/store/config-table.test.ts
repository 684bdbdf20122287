/**
 * topics.json / subscriptionGroup.json written from cached entry text: the bytes must stay exactly
 * what the generic fastjson writer gives for the same table (Apache's pretty format), through any
 * mix of creates, updates and deletes, for any names; and concurrent persists share writes while
 * each caller is answered only after a write that holds its change.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHUNK_NAMES, ChunkedNames } from '../../src/broker/store/config/chunked-names.js';
import { SubscriptionGroupManager, TopicConfigManager, defaultSubscriptionGroupConfig, defaultTopicConfig } from '../../src/broker/store/config/index.js';
import { mulberry32 as prng } from '../../src/broker/store/faulty-file-io.js';
import type { FileData } from '../../src/broker/store/file-io.js';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';
import { parseFastjson, parseFastjsonLarge, toFastjson } from '../../src/protocol/fastjson.js';

let root: string;
beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'rocketctl-config-table-'));
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** Names that sort and escape in every way: case, digits, %RETRY%, quotes, control chars, non-ASCII, surrogates. */
const PIECES = ['a', 'B', 'z', '0', '9', '_', '-', '%RETRY%', '%DLQ%', '"', '\\', '\u0001', '\n', 'é', '集群', '😀', ' '];
function randomName(rnd: () => number): string {
  let s = '';
  const n = 1 + Math.floor(rnd() * 6);
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(rnd() * PIECES.length)];
  return s;
}

describe('versioned config tables written from cached entries', () => {
  it('topics.json equals the generic pretty writer through random creates, updates and deletes', () => {
    const seed = 20261204;
    const rnd = prng(seed);
    const m = new TopicConfigManager(root, new NodeFileIO());
    const names: string[] = [];
    for (let step = 0; step < 600; step++) {
      const r = rnd();
      if (r < 0.6 || names.length === 0) {
        const name = randomName(rnd);
        names.push(name);
        m.upsert({ ...defaultTopicConfig(name, 1 + Math.floor(rnd() * 16)), perm: Math.floor(rnd() * 8), order: rnd() < 0.3, topicFilterType: rnd() < 0.5 ? 'SINGLE_TAG' : 'MULTI_TAG', topicSysFlag: Math.floor(rnd() * 4) });
      } else if (r < 0.8) {
        const name = names[Math.floor(rnd() * names.length)]!;
        if (m.has(name)) m.upsert({ ...m.get(name)!, writeQueueNums: Math.floor(rnd() * 32) });
      } else {
        m.delete(names[Math.floor(rnd() * names.length)]!);
      }
      if (step % 50 === 0 || step === 599) {
        expect(m.encode(), `seed ${seed}, step ${step}`).toBe(toFastjson(m.wrapper(), { pretty: true }));
        expect(m.compactJson(), `seed ${seed}, step ${step}`).toBe(toFastjson(m.wrapper()));
      }
    }
    expect(m.size).toBeGreaterThan(100);
  });

  it('a table of many chunks stays equal to the writer while chunks split, empty and change', () => {
    const m = new TopicConfigManager(root, new NodeFileIO());
    const rnd = prng(99);
    const n = CHUNK_NAMES * 8;
    for (let i = 0; i < n; i++) m.upsert(defaultTopicConfig(`T${Math.floor(rnd() * 1e9)}`, 1));
    expect(m.encode()).toBe(toFastjson(m.wrapper(), { pretty: true }));
    // Empty the first chunk entirely, change entries in others, add at both ends.
    for (const tc of m.all().slice(0, CHUNK_NAMES + 10)) m.delete(tc.topicName);
    for (const tc of m.all().filter((_, i) => i % 97 === 0)) m.upsert({ ...tc, perm: 2 });
    m.upsert(defaultTopicConfig('A-first', 1));
    m.upsert(defaultTopicConfig('z-last', 1));
    expect(m.encode()).toBe(toFastjson(m.wrapper(), { pretty: true }));
    expect(m.compactJson()).toBe(toFastjson(m.wrapper()));
  });

  it('ChunkedNames keeps the order of a sorted array through random inserts and removes', () => {
    const rnd = prng(5);
    const c = new ChunkedNames<string>();
    const ref = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const name = `n${Math.floor(rnd() * 5000)}`;
      if (ref.has(name)) {
        if (rnd() < 0.5) {
          expect(c.remove(name)).toBe(true);
          ref.delete(name);
        }
      } else {
        c.insert(name);
        ref.add(name);
      }
    }
    expect(c.remove('absent')).toBe(false);
    expect([...c]).toEqual([...ref].sort());
    expect(c.size).toBe(ref.size);
    for (const chunk of c.all()) expect(chunk.names.length).toBeLessThanOrEqual(2 * CHUNK_NAMES);
  });

  it('compactJson of some topics with a given version equals the writer on that subset', () => {
    const m = new TopicConfigManager(root, new NodeFileIO());
    for (const n of ['b', 'a', 'é', 'Z']) m.upsert(defaultTopicConfig(n, 2));
    const version = { counter: 7, timestamp: 1700000000000 };
    const expected = toFastjson({ dataVersion: version, topicConfigTable: { Z: m.get('Z'), a: m.get('a') } });
    expect(m.compactJson(['a', 'missing', 'Z', 'a'], version)).toBe(expected);
    expect(m.compactJson([])).toBe(toFastjson({ dataVersion: m.dataVersion, topicConfigTable: {} }));
  });

  it('subscriptionGroup.json likewise, with its default groups', () => {
    const rnd = prng(7);
    const m = new SubscriptionGroupManager(root, new NodeFileIO());
    expect(m.encode()).toBe(toFastjson(m.wrapper(), { pretty: true }));
    for (let i = 0; i < 200; i++) {
      const name = randomName(rnd);
      if (rnd() < 0.2) m.delete(name);
      else m.upsert({ ...defaultSubscriptionGroupConfig(name), retryMaxTimes: Math.floor(rnd() * 20), consumeEnable: rnd() < 0.5 });
    }
    expect(m.encode()).toBe(toFastjson(m.wrapper(), { pretty: true }));
  });

  it('an empty table is written as fastjson writes it', () => {
    const m = new TopicConfigManager(root, new NodeFileIO());
    expect(m.encode()).toBe(toFastjson(m.wrapper(), { pretty: true }));
  });

  it('what was written loads back to the same table and text', async () => {
    const m = new TopicConfigManager(root, new NodeFileIO());
    for (const n of ['x"y', '集群', 'a\\b', 'T1']) m.upsert(defaultTopicConfig(n, 3));
    await m.persist();
    const again = new TopicConfigManager(root, new NodeFileIO());
    expect((await again.load()).source).toBe('file');
    expect(again.all()).toEqual(m.all());
    expect(again.encode()).toBe(m.encode());
  });

  it('concurrent persists share one write, and each resolves with its change on disk', async () => {
    let writes = 0;
    class CountingIO extends NodeFileIO {
      override async writeFileAtomic(p: string, data: FileData): Promise<void> {
        writes++;
        await super.writeFileAtomic(p, data);
      }
    }
    const m = new TopicConfigManager(root, new CountingIO());
    await m.persist({ force: true });
    writes = 0;
    const file = path.join(root, 'config', 'topics.json');
    const acked = Array.from({ length: 50 }, async (_, i) => {
      m.upsert(defaultTopicConfig(`C${i}`, 1));
      await m.persist();
      // Acked = persisted: the file on disk already holds this caller's topic.
      return (await fs.readFile(file, 'utf8')).includes(`"C${i}":{`);
    });
    expect(await Promise.all(acked)).toEqual(Array(50).fill(true));
    expect(writes).toBe(1);

    // One more change after that write: one more write, not one per waiting caller.
    const later = await Promise.all([0, 1, 2].map(async (i) => (m.upsert(defaultTopicConfig(`D${i}`, 1)), m.persist())));
    expect(later.filter(Boolean).length).toBe(1);
    expect(writes).toBe(2);
  });

  it('parseFastjsonLarge reads standard JSON and falls back to fastjson for the rest', () => {
    for (const text of ['{"a":{"b":[1,2,{"c":"\\u0001"}]},"__proto__":1}', '{0:250,1:249\n\t\t}', "{'a':1}", '{"offsetTable":{"T@G":{0:1}}}']) {
      expect(parseFastjsonLarge(text)).toEqual(parseFastjson(text));
    }
  });
});
