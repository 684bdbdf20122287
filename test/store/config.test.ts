import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConsumerOffsetManager,
  DelayOffsetManager,
  SubscriptionGroupManager,
  TopicConfigManager,
  defaultSubscriptionGroupConfig,
  defaultTopicConfig,
  nextVersion,
  systemTopicConfigs,
} from '../../src/broker/store/config/index.js';
import { DEFAULT_SUBSCRIPTION_GROUPS, isSystemGroup, isSystemTopic } from '../../src/protocol/names.js';
import type { FileIO } from '../../src/broker/store/file-io.js';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';
import { ConfigError, DiskFullError } from '../../src/errors/index.js';
import { parseFastjson } from '../../src/protocol/fastjson.js';

const io = new NodeFileIO();
let root: string;
let configDir: string;

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'rocketctl-config-'));
  configDir = path.join(root, 'config');
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** Golden files are files as Apache 4.9.x writes them, typed by hand (tabs, no trailing newline). */
function golden(name: string): string {
  return readFileSync(path.join('fixtures', 'golden', name), 'utf8');
}

async function place(name: string, content: string): Promise<void> {
  await fs.mkdir(configDir, { recursive: true });
  await fs.writeFile(path.join(configDir, name), content);
}

const read = (name: string): Promise<string> => fs.readFile(path.join(configDir, name), 'utf8');

describe('config files in fastjson format', () => {
  it('topics.json: the writer reproduces the golden file byte for byte', async () => {
    const text = golden('config-topics.json');
    await place('topics.json', text);
    const m = new TopicConfigManager(root, io);
    expect(await m.load()).toMatchObject({ source: 'file' });
    expect(m.dataVersion).toEqual({ counter: 5, timestamp: 1700000000000 });
    expect(m.get('TopicTest')).toEqual({ ...defaultTopicConfig('TopicTest', 4) });
    expect(m.encode()).toBe(text);
    expect(await m.persist({ force: true })).toBe(true);
    expect(await read('topics.json')).toBe(text);
  });

  it('consumerOffset.json: bare integer keys read; the writer keeps the fastjson shape', async () => {
    const text = golden('config-consumerOffset.json');
    await place('consumerOffset.json', text);
    const m = new ConsumerOffsetManager(root, io);
    await m.load();
    expect(m.query('CG', 'TopicTest', 1)).toBe(249);
    expect(m.query('CG', '%RETRY%CG', 0)).toBe(3);
    expect(m.query('CG', 'TopicTest', 9)).toBeUndefined();
    expect(m.offsetsOf('TopicTest', 'CG')).toEqual(new Map([[0, 250], [1, 249], [2, 251], [3, 250]]));
    // Keys sorted, so the golden (typed in that order) round-trips exactly.
    expect(m.encode()).toBe(text);
    m.commit('CG', 'TopicTest', 4, 7);
    await m.persist();
    const written = await read('consumerOffset.json');
    expect(written).toContain('"TopicTest@CG":{0:250,1:249,2:251,3:250,4:7\n\t\t}');
    expect(parseFastjson(written)).toEqual({
      offsetTable: { '%RETRY%CG@CG': { '0': 3 }, 'TopicTest@CG': { '0': 250, '1': 249, '2': 251, '3': 250, '4': 7 } },
    });
    expect(m.encodeBody()).toBe('{"offsetTable":{"%RETRY%CG@CG":{0:3},"TopicTest@CG":{0:250,1:249,2:251,3:250,4:7}}}');
  });

  it('delayOffset.json: the golden file round-trips', async () => {
    const text = golden('config-delayOffset.json');
    await place('delayOffset.json', text);
    const m = new DelayOffsetManager(root, io);
    await m.load();
    expect(m.all()).toEqual([[1, 12], [2, 0], [3, 7]]);
    expect(m.encode()).toBe(text);
    m.set(18, 5);
    expect(m.encode()).toBe('{\n\t"offsetTable":{1:12,2:0,3:7,18:5\n\t}\n}');
    expect(new DelayOffsetManager(root, io).encode()).toBe('{\n\t"offsetTable":{}\n}');
  });

  it('GET_ALL_DELAY_OFFSET body: compact, bare Integer keys by level (ScheduleMessageService#encode() is encode(false))', async () => {
    const m = new DelayOffsetManager(root, io);
    expect(m.encodeBody()).toBe('{"offsetTable":{}}');
    m.set(3, 7);
    m.set(1, 12);
    expect(m.encodeBody()).toBe('{"offsetTable":{1:12,3:7}}');
    // A slave takes the body as its own table (SlaveSynchronize#syncDelayOffset writes it as delayOffset.json).
    const slave = new DelayOffsetManager(path.join(root, 'slave'), io);
    await slave.replaceWith(m.encodeBody());
    expect(slave.all()).toEqual([[1, 12], [3, 7]]);
  });

  it('subscriptionGroup.json: the golden file loads, default groups are always present', async () => {
    await place('subscriptionGroup.json', golden('config-subscriptionGroup.json'));
    const m = new SubscriptionGroupManager(root, io);
    await m.load();
    expect(m.dataVersion).toEqual({ counter: 2, timestamp: 1700000000000 });
    expect(m.get('CG')).toEqual(defaultSubscriptionGroupConfig('CG'));
    for (const g of DEFAULT_SUBSCRIPTION_GROUPS) expect(m.has(g)).toBe(true);
    // The defaults were missing from the file: the next persist adds them.
    expect(await m.persist()).toBe(true);
    const written = parseFastjson(await read('subscriptionGroup.json')) as { subscriptionGroupTable: Record<string, unknown> };
    expect(Object.keys(written.subscriptionGroupTable).sort()).toEqual(['CG', ...DEFAULT_SUBSCRIPTION_GROUPS].sort());
    expect(written.subscriptionGroupTable['CG']).toEqual({ ...defaultSubscriptionGroupConfig('CG') });
    const text = await read('subscriptionGroup.json');
    expect(text).toContain('\t\t"CG":{\n\t\t\t"brokerId":0,\n\t\t\t"consumeBroadcastEnable":true,');
  });

  it('tolerates unknown fields (5.x files) and fills missing ones with Java defaults', async () => {
    await place(
      'topics.json',
      '{"dataVersion":{"counter":1,"stateVersion":0,"timestamp":5},"topicConfigTable":{"T":{"attributes":{"+message.type":"NORMAL"},"perm":4,"readQueueNums":2,"topicName":"T","writeQueueNums":2}},"future":[1,2]}',
    );
    await place(
      'subscriptionGroup.json',
      '{"dataVersion":{"counter":1,"timestamp":5},"forbiddenTable":{},"subscriptionGroupTable":{"G":{"consumeMessageOrderly":false,"consumeTimeoutMinute":15,"groupRetryPolicy":{"type":"CUSTOMIZED"},"groupSysFlag":0,"groupName":"G","retryMaxTimes":3}}}',
    );
    await place('consumerOffset.json', '{"dataVersion":{"counter":0},"offsetTable":{"T@G":{"0":5,1:6}},"pullOffsetTable":{}}');
    const topics = new TopicConfigManager(root, io);
    await topics.load();
    expect(topics.get('T')).toEqual({ ...defaultTopicConfig('T', 2), perm: 4 });
    const groups = new SubscriptionGroupManager(root, io);
    await groups.load();
    expect(groups.get('G')).toEqual({ ...defaultSubscriptionGroupConfig('G'), retryMaxTimes: 3 });
    const offsets = new ConsumerOffsetManager(root, io);
    await offsets.load();
    expect(offsets.offsetsOf('T', 'G')).toEqual(new Map([[0, 5], [1, 6]]));
  });
});

describe('load falls back to <file>.bak (ConfigManager.load/loadBak)', () => {
  async function twoVersions(): Promise<void> {
    const m = new TopicConfigManager(root, io);
    await m.load();
    m.upsert(defaultTopicConfig('V1', 1));
    await m.persist();
    m.upsert(defaultTopicConfig('V2', 2));
    await m.persist();
    // topics.json = {V1, V2}, topics.json.bak = {V1}
  }

  it('a torn main file loads the .bak; the next persist replaces it and keeps the good .bak', async () => {
    await twoVersions();
    const full = await read('topics.json');
    await fs.writeFile(path.join(configDir, 'topics.json'), full.slice(0, full.length / 2));
    const m = new TopicConfigManager(root, io);
    const report = await m.load();
    expect(report.source).toBe('bak');
    expect(report.problem).toMatch(/fastjson/);
    expect(m.all().map((t) => t.topicName)).toEqual(['V1']);
    expect(m.dirty).toBe(true);
    expect(await m.persist()).toBe(true);
    expect(parseFastjson(await read('topics.json'))).toMatchObject({ topicConfigTable: { V1: {} } });
    // The garbage was not copied over the .bak.
    expect(parseFastjson(await read('topics.json.bak'))).toMatchObject({ topicConfigTable: { V1: {} } });
  });

  it('missing, empty, or wrongly typed main files use the .bak too', async () => {
    await twoVersions();
    for (const main of [undefined, '', '  \n', '{"topicConfigTable":{"X":{"perm":"rw"}}}', '[1]']) {
      if (main === undefined) await fs.rm(path.join(configDir, 'topics.json'), { force: true });
      else await fs.writeFile(path.join(configDir, 'topics.json'), main);
      const m = new TopicConfigManager(root, io);
      expect((await m.load()).source).toBe('bak');
      expect(m.all().map((t) => t.topicName)).toEqual(['V1']);
    }
  });

  it('no file and no .bak: empty; unreadable with no usable .bak: a ConfigError, nothing dropped silently', async () => {
    const fresh = new ConsumerOffsetManager(root, io);
    expect(await fresh.load()).toMatchObject({ source: 'none' });
    expect(fresh.keys()).toEqual([]);
    expect(await fresh.persist()).toBe(false); // nothing to write

    await place('consumerOffset.json', '{"offsetTable":{"T@G":{0:5');
    await expect(new ConsumerOffsetManager(root, io).load()).rejects.toThrow(ConfigError);
    await place('consumerOffset.json.bak', 'garbage');
    await expect(new ConsumerOffsetManager(root, io).load()).rejects.toThrow(/consumerOffset\.json\.bak/);
    await place('consumerOffset.json.bak', '{"offsetTable":{"T@G":{0:4}}}');
    const m = new ConsumerOffsetManager(root, io);
    expect((await m.load()).source).toBe('bak');
    expect(m.query('G', 'T', 0)).toBe(4);
  });
});

describe('writes: atomic, serialized, only when changed', () => {
  it('every crash point of the write protocol leaves the old or the new content', async () => {
    const m = new ConsumerOffsetManager(root, io);
    await m.load();
    m.commit('G', 'T', 0, 1);
    await m.persist();
    const oldText = await read('consumerOffset.json');
    m.commit('G', 'T', 0, 2);
    const newText = m.encode();
    const p = path.join(configDir, 'consumerOffset.json');

    // The on-disk states NodeFileIO.writeFileAtomic passes through (tmp, .bak copy, rename):
    const states: Array<() => Promise<void>> = [
      async () => fs.writeFile(p + '.tmp', newText.slice(0, 10)), // tmp torn
      async () => fs.writeFile(p + '.tmp', newText), // tmp complete
      async () => fs.copyFile(p, p + '.bak'), // previous kept as .bak
      async () => fs.rename(p + '.tmp', p), // replaced
    ];
    for (let crashAfter = 0; crashAfter <= states.length; crashAfter++) {
      await fs.writeFile(p, oldText);
      await fs.rm(p + '.tmp', { force: true });
      await fs.rm(p + '.bak', { force: true });
      for (const step of states.slice(0, crashAfter)) await step();
      const after = new ConsumerOffsetManager(root, io);
      await after.load();
      expect([1, 2], `crash after step ${crashAfter}`).toContain(after.query('G', 'T', 0));
      expect(after.query('G', 'T', 0)).toBe(crashAfter === states.length ? 2 : 1);
    }
  });

  it('a failed write leaves the old file and the manager dirty; ENOSPC becomes DiskFullError', async () => {
    const m = new TopicConfigManager(root, io);
    await m.load();
    m.upsert(defaultTopicConfig('A', 1));
    await m.persist();
    const before = await read('topics.json');

    let failWith: string | undefined = 'ENOSPC';
    const flaky: FileIO = Object.assign(Object.create(io) as FileIO, {
      writeFileAtomic: async (p: string, d: Buffer | string) => {
        if (failWith) throw Object.assign(new Error('no space'), { code: failWith });
        return io.writeFileAtomic(p, d);
      },
    });
    const m2 = new TopicConfigManager(root, flaky);
    await m2.load();
    m2.upsert(defaultTopicConfig('B', 1));
    await expect(m2.persist()).rejects.toThrow(DiskFullError);
    expect(m2.dirty).toBe(true);
    expect(await read('topics.json')).toBe(before);
    failWith = undefined;
    expect(await m2.persist()).toBe(true);
    expect(m2.dirty).toBe(false);
    expect(Object.keys((parseFastjson(await read('topics.json')) as { topicConfigTable: object }).topicConfigTable)).toEqual(['A', 'B']);
  });

  it('concurrent persists never overlap and the last state wins', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let writes = 0;
    const slow: FileIO = Object.assign(Object.create(io) as FileIO, {
      writeFileAtomic: async (p: string, d: Buffer | string) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        writes++;
        await new Promise((r) => setImmediate(r));
        await io.writeFileAtomic(p, d);
        inFlight--;
      },
    });
    const m = new ConsumerOffsetManager(root, slow);
    await m.load();
    const runs: Array<Promise<boolean>> = [];
    for (let i = 1; i <= 5; i++) {
      m.commit('G', 'T', 0, i);
      runs.push(m.persist());
    }
    await Promise.all(runs);
    expect(maxInFlight).toBe(1);
    expect(writes).toBeLessThanOrEqual(5);
    const after = new ConsumerOffsetManager(root, io);
    await after.load();
    expect(after.query('G', 'T', 0)).toBe(5);
    expect(await m.persist()).toBe(false);
  });
});

describe('durable changes (acknowledged only once on disk)', () => {
  /** A FileIO whose writeFileAtomic fails with ENOSPC while `full`, counting the writes tried. */
  function fullDisk() {
    const state = { full: false, writes: 0, onWrite: undefined as (() => void) | undefined };
    const fio: FileIO = Object.assign(Object.create(io) as FileIO, {
      writeFileAtomic: async (p: string, d: Buffer | string) => {
        state.writes++;
        state.onWrite?.();
        await new Promise((r) => setImmediate(r));
        if (state.full) throw Object.assign(new Error('no space'), { code: 'ENOSPC' });
        return io.writeFileAtomic(p, d);
      },
    });
    return { fio, state };
  }

  it('a change that cannot be written is undone and rejected; so is a later change to the same entry', async () => {
    const { fio, state } = fullDisk();
    const m = new SubscriptionGroupManager(root, fio);
    await m.load();
    await m.upsertDurably({ ...defaultSubscriptionGroupConfig('G'), retryMaxTimes: 1 });
    state.full = true;
    const results = await Promise.allSettled([
      m.upsertDurably({ ...defaultSubscriptionGroupConfig('G'), retryMaxTimes: 2 }),
      m.upsertDurably({ ...defaultSubscriptionGroupConfig('G'), retryMaxTimes: 3 }),
      m.upsertDurably(defaultSubscriptionGroupConfig('New')),
      m.deleteDurably('TOOLS_CONSUMER'),
    ]);
    for (const r of results) expect(r.status === 'rejected' && r.reason instanceof DiskFullError, String(r.status)).toBe(true);
    expect(m.get('G')?.retryMaxTimes).toBe(1);
    expect(m.has('New')).toBe(false);
    expect(m.has('TOOLS_CONSUMER')).toBe(true);
    state.full = false;
    const again = new SubscriptionGroupManager(root, io);
    await again.load();
    expect(again.all()).toEqual(m.all());
  });

  it('offsets: a failed durable commit restores the queue, but not over a consumer commit made meanwhile', async () => {
    const { fio, state } = fullDisk();
    const m = new ConsumerOffsetManager(root, fio);
    await m.load();
    await m.commitDurably('G', 'T', [[0, 5], [1, 5]]);
    state.full = true;
    const reset = m.commitDurably('G', 'T', [[0, 1], [1, 1]]);
    await expect(reset).rejects.toThrow(DiskFullError);
    expect([m.query('G', 'T', 0), m.query('G', 'T', 1)]).toEqual([5, 5]);
    await expect(m.removeTopicDurably('T')).rejects.toThrow(DiskFullError);
    expect(m.offsetsOf('T', 'G')?.size).toBe(2);

    // A oneway commit of queue 0 while the removal is being written: it stands, queue 1 comes back.
    state.onWrite = () => m.commit('G', 'T', 0, 9);
    await expect(m.removeGroupDurably('G')).rejects.toThrow(DiskFullError);
    expect(Object.fromEntries(m.offsetsOf('T', 'G') ?? [])).toEqual({ 0: 9, 1: 5 });
  });

  it('changes that arrive together share one write (group commit)', async () => {
    const { fio, state } = fullDisk();
    const m = new ConsumerOffsetManager(root, fio);
    await m.load();
    await Promise.all(Array.from({ length: 16 }, (_, q) => m.commitDurably('G', 'T', [[q, q + 1]])));
    expect(state.writes).toBe(1);
    const after = new ConsumerOffsetManager(root, io);
    await after.load();
    expect(after.offsetsOf('T', 'G')?.get(15)).toBe(16);
  });
});

describe('managers', () => {
  it('TopicConfigManager: upsert/delete bump dataVersion; invalid configs are refused', async () => {
    const m = new TopicConfigManager(root, io);
    await m.load();
    const v0 = m.dataVersion;
    m.upsert(defaultTopicConfig('T', 8));
    expect(m.dataVersion.counter).toBe(v0.counter + 1);
    expect(m.putIfAbsent(defaultTopicConfig('T', 1))).toBe(false);
    expect(m.get('T')!.readQueueNums).toBe(8);
    expect(() => m.upsert({ ...defaultTopicConfig('X'), perm: 99 })).toThrow(/perm/);
    expect(() => m.upsert({ ...defaultTopicConfig('X'), readQueueNums: -1 })).toThrow(/readQueueNums/);
    expect(m.delete('T')).toBe(true);
    expect(m.delete('T')).toBe(false);
    expect(m.dataVersion.counter).toBe(v0.counter + 2);
    expect(nextVersion({ counter: 4, timestamp: 1 }, 99)).toEqual({ counter: 5, timestamp: 99 });
  });

  it('ConsumerOffsetManager: topics/groups, removal, clone', async () => {
    const m = new ConsumerOffsetManager(root, io);
    await m.load();
    m.commit('G1', 'T1', 0, 10);
    m.commit('G1', 'T2', 1, 20);
    m.commit('G2', 'T1', 0, 30);
    expect(m.groupsOfTopic('T1')).toEqual(['G1', 'G2']);
    expect(m.topicsOfGroup('G1')).toEqual(['T1', 'T2']);
    expect(m.cloneOffsets('G1', 'G3', 'T1')).toBe(true);
    expect(m.query('G3', 'T1', 0)).toBe(10);
    expect(m.removeTopic('T2')).toBe(1);
    expect(m.removeGroup('G1')).toBe(1);
    expect(m.keys()).toEqual(['T1@G2', 'T1@G3']);
    expect(() => m.commit('G', 'T', -1, 0)).toThrow(/queueId/);
  });

  it('SubscriptionGroupManager: defaults without a file; upsert and delete', async () => {
    const m = new SubscriptionGroupManager(root, io);
    expect((await m.load()).source).toBe('none');
    expect(m.all().map((g) => g.groupName)).toEqual([...DEFAULT_SUBSCRIPTION_GROUPS].sort());
    expect(m.putIfAbsent(defaultSubscriptionGroupConfig('CG'))).toBe(true);
    m.upsert({ ...defaultSubscriptionGroupConfig('CG'), retryQueueNums: 0 });
    expect(m.get('CG')!.retryQueueNums).toBe(0);
    expect(m.dataVersion.counter).toBe(2);
    expect(m.delete('CG')).toBe(true);
    await m.persist();
    const again = new SubscriptionGroupManager(root, io);
    await again.load();
    expect(again.has('CG')).toBe(false);
    expect(again.dataVersion.counter).toBe(3);
  });

  it('system topics follow the constructor of TopicConfigManager', () => {
    const topics = systemTopicConfigs('DefaultCluster', 'broker-a');
    const byName = new Map(topics.map((t) => [t.topicName, t]));
    expect([...byName.keys()]).toEqual([
      'SELF_TEST_TOPIC',
      'TBW102',
      'BenchmarkTest',
      'DefaultCluster',
      'broker-a',
      'OFFSET_MOVED_EVENT',
      'SCHEDULE_TOPIC_XXXX',
      'DefaultCluster_REPLY_TOPIC',
    ]);
    expect(byName.get('TBW102')).toMatchObject({ readQueueNums: 8, writeQueueNums: 8, perm: 7 });
    expect(byName.get('BenchmarkTest')).toMatchObject({ readQueueNums: 1024, perm: 6 });
    expect(byName.get('DefaultCluster')).toMatchObject({ readQueueNums: 16, perm: 7 });
    expect(byName.get('broker-a')).toMatchObject({ readQueueNums: 1, perm: 7 });
    expect(byName.get('SCHEDULE_TOPIC_XXXX')).toMatchObject({ readQueueNums: 18, writeQueueNums: 18, perm: 6 });
    for (const t of topics) expect(t).toMatchObject({ topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false });

    const off = systemTopicConfigs('C', 'b', { autoCreateTopicEnable: false, clusterTopicEnable: false, brokerTopicEnable: false, traceTopicEnable: true });
    const offByName = new Map(off.map((t) => [t.topicName, t]));
    expect(offByName.has('TBW102')).toBe(false);
    expect(offByName.get('C')!.perm).toBe(1);
    expect(offByName.get('b')!.perm).toBe(1);
    expect(offByName.get('RMQ_SYS_TRACE_TOPIC')).toMatchObject({ readQueueNums: 1, perm: 6 });

    expect(isSystemTopic('RMQ_SYS_TRANS_HALF_TOPIC')).toBe(true);
    expect(isSystemTopic('rmq_sys_anything')).toBe(true);
    expect(isSystemTopic('broker-a', { brokerName: 'broker-a' })).toBe(true);
    expect(isSystemTopic('TopicTest', { clusterName: 'DefaultCluster', brokerName: 'broker-a' })).toBe(false);
    expect(isSystemGroup('CID_RMQ_SYS_TRANS')).toBe(true);
    expect(isSystemGroup('CG')).toBe(false);
  });
});
