/**
 * Store compatibility with Apache RocketMQ 4.x, both ways (issue 10, item 4). A store is written by
 * one broker (two topics, tags, keys, a consumer group part-way through), that broker stops, and the
 * other broker starts on the same store dir, on the same port (so the offsetMsgIds clients were given
 * still name it). There the Java client 4.9.8 consumes the rest: the group's remaining messages, each
 * once, and a new group everything; queryMsgByKey (the index) and queryMsgById find what the first
 * broker wrote. Ours -> Apache 4.9.7 (`startApache`), Apache 4.9.7 -> ours (`rocketctl broker start`).
 *
 * The same workload is written in both directions with every message sent to a fixed queue, so the
 * two stores as their writers left them must be alike record for record, unit for unit: the last
 * test compares them (commit log records, consume queues, index geometry, config files).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';
import { Producer, type SendResult } from '../../src/client/index.js';
import { runCli } from '../helpers/cli.js';
import { spawnBroker, startTestBroker, tempDir, type BrokerProcess, type TestBroker } from '../helpers/broker.js';
import { freeBrokerPort, rows } from './mqadmin-support.js';
import { byMsgId, deliveriesOf } from './javaclient-support.js';
import { readStore, type StoreView } from './store-layout.js';
import { describeApache, startApache, type ApacheServer } from './support.js';
import { consume, mq, mqLabels, ours, until } from './vs-apache.js';

vi.setConfig({ testTimeout: 150_000, hookTimeout: 150_000 });

/** The store geometry both brokers run with (small files; Apache must read ours with the same sizes). */
const GEOMETRY = {
  mappedFileSizeCommitLog: String(4 * 1024 * 1024),
  mappedFileSizeConsumeQueue: String(1000 * 20),
  maxHashSlotNum: '1000',
  maxIndexNum: '4000',
};
const BROKER_NAME = 'broker-sc';
const ORDERS = 'ScOrders';
const AUDIT = 'ScAudit';
/** Consumes ORDERS with tag TagA before the move and the rest after it. */
const GROUP = 'ScGroupA';
/** Never consumed before the move: reads AUDIT from the first message. */
const NEW_GROUP = 'ScGroupNew';

interface Sent {
  topic: string;
  i: number;
  tags: string;
  key: string;
  body: string;
  queueId: number;
  r: SendResult;
}

/** The first broker of a direction, as writeStore needs it. */
interface Side {
  namesrv: string;
  addr: string;
  stop(): Promise<void>;
}

/**
 * Messages i in [from, to) of `topic` (queue i % queues, TagA/TagB alternating for ORDERS, TagC
 * for AUDIT, key `<topic>-<i>`), sent one after the other so both stores get the same order.
 */
async function send(namesrv: string, topic: string, queues: number, from: number, to: number): Promise<Sent[]> {
  const p = new Producer({ namesrvAddr: namesrv, producerGroup: 'ScProducer' });
  await p.start();
  try {
    const out: Sent[] = [];
    for (let i = from; i < to; i++) {
      const m = { topic, i, tags: topic === AUDIT ? 'TagC' : i % 2 === 0 ? 'TagA' : 'TagB', key: `${topic}-${i}`, body: `${topic} body ${i}`, queueId: i % queues };
      const r = await p.send({ topic, body: m.body, tags: m.tags, keys: [m.key] }, { selector: (qs) => qs.find((q) => q.queueId === m.queueId)! });
      expect(r.status).toBe('SEND_OK');
      expect(r.messageQueue?.queueId).toBe(m.queueId);
      out.push({ ...m, r });
    }
    return out;
  } finally {
    await p.close();
  }
}

async function createTopics(side: Side): Promise<void> {
  for (const [topic, n] of [[ORDERS, '4'], [AUDIT, '2']] as const) {
    await ours(side.namesrv, ['updateTopic', '-b', side.addr, '-t', topic, '-r', n, '-w', n]);
    await routed(side.namesrv, topic);
  }
}

/** Wait until the name server has a route for `topic` (a broker registers a new topic a moment later). */
function routed(namesrv: string, topic: string): Promise<true> {
  return until(`the name server at ${namesrv} routes ${topic}`, async () => ((await runCli(['topicRoute', '-t', topic, '-n', namesrv, '--json'])).code === 0 ? true : undefined), 30_000);
}

/** Every message of `sent` delivered exactly once, as sent (msgId, offsetMsgId, tags, key, body). */
function expectEach(deliveries: any[], sent: Sent[]): void {
  const got = byMsgId(deliveries);
  expect([...got.keys()].sort(), 'the messages delivered').toEqual(sent.map((s) => s.r.msgId).sort());
  for (const s of sent) {
    const ds = got.get(s.r.msgId)!;
    expect(ds, `deliveries of ${s.key}`).toHaveLength(1);
    expect(ds[0]).toMatchObject({ topic: s.topic, offsetMsgId: s.r.offsetMsgId, tags: s.tags, keys: s.key, body: s.body, queueId: s.queueId, queueOffset: s.r.queueOffset });
  }
}

interface Written {
  /** Every message sent before the move. */
  before: Sent[];
  /** The store as the first broker left it. */
  view: StoreView;
}

/**
 * Before the move, on the first broker: topics, 8 ORDERS and 4 AUDIT messages, GROUP consumes the
 * TagA ones (Java client), then 8 + 4 more; the broker stops.
 */
async function writeStore(first: Side, storeDir: string): Promise<Written> {
  await createTopics(first);
  const phase1 = [...(await send(first.namesrv, ORDERS, 4, 0, 8)), ...(await send(first.namesrv, AUDIT, 2, 0, 4))];
  const c = await consume({ namesrv: first.namesrv, topic: ORDERS, group: GROUP, sub: 'TagA', expect: 4, graceMs: 1500 });
  expectEach(deliveriesOf(c), phase1.filter((s) => s.tags === 'TagA'));
  const phase2 = [...(await send(first.namesrv, ORDERS, 4, 8, 16)), ...(await send(first.namesrv, AUDIT, 2, 4, 8))];
  await first.stop();
  return { before: [...phase1, ...phase2], view: readStore(storeDir, { maxHashSlotNum: Number(GEOMETRY.maxHashSlotNum) }) };
}

/**
 * After the move, on the second broker: 4 more ORDERS messages, then the Java client: GROUP gets
 * exactly the TagA messages it had not consumed; NEW_GROUP gets every AUDIT message.
 */
async function consumeRest(namesrv: string, w: Written): Promise<void> {
  await routed(namesrv, ORDERS);
  const after = await send(namesrv, ORDERS, 4, 16, 20);
  const restA = [...w.before.filter((s) => s.topic === ORDERS && s.i >= 8), ...after].filter((s) => s.tags === 'TagA');
  const audit = w.before.filter((s) => s.topic === AUDIT);
  const [a, n] = await Promise.all([
    consume({ namesrv, topic: ORDERS, group: GROUP, sub: 'TagA', expect: restA.length, graceMs: 1500 }),
    consume({ namesrv, topic: AUDIT, group: NEW_GROUP, expect: audit.length, graceMs: 1500 }),
  ]);
  expectEach(deliveriesOf(a), restA);
  expectEach(deliveriesOf(n), audit);
}

/** The message of `key` as a lookup returns it: what was sent, where it was stored. */
const expectedOf = (s: Sent) => ({ msgId: s.r.msgId, queueId: s.queueId, queueOffset: s.r.queueOffset });

describeApache('store compatibility with Apache 4.9.7, both ways', () => {
  const written: Partial<Record<'ours' | 'apache', Written>> = {};
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it('a store written by our broker is started by an Apache 4.9.7 broker: the Java client consumes the rest, each message once; mqadmin queryMsgByKey / queryMsgById find the messages', async () => {
    // One port for both brokers of a direction, so the offsetMsgIds clients were given stay valid.
    const port = await freeBrokerPort();
    const tb: TestBroker = await startTestBroker({ config: { ...GEOMETRY, brokerName: BROKER_NAME, listenPort: String(port) } });
    cleanups.push(() => tb.cleanup());
    const w = await writeStore({ namesrv: tb.namesrv!, addr: tb.addr, stop: () => tb.close() }, tb.storeDir);
    written.ours = w;

    const apache: ApacheServer = await startApache(4, { ...GEOMETRY, brokerName: BROKER_NAME, listenPort: String(port), storePathRootDir: tb.storeDir });
    cleanups.push(() => apache.cleanup());
    expect(apache.broker).toBe(tb.addr);
    await consumeRest(apache.namesrv, w);

    // Written by our broker, found by Apache's: the key through our index file, the id by offset.
    const byKey = w.before.find((s) => s.key === `${ORDERS}-3`)!;
    const byId = w.before.find((s) => s.key === `${AUDIT}-6`)!;
    const [keyOut, idOut] = await Promise.all([mq(apache.namesrv, ['queryMsgByKey', '-t', ORDERS, '-k', byKey.key]), mq(apache.namesrv, ['queryMsgById', '-i', byId.r.offsetMsgId!])]);
    // "#Message ID  #QID  #Offset" rows (QueryMsgByKeySubCommand).
    const found = rows(keyOut, /^([0-9A-F]{32,})\s+(\d+)\s+(\d+)$/).map((r) => ({ msgId: r[1], queueId: Number(r[2]), queueOffset: Number(r[3]) }));
    expect(found, keyOut).toEqual([expectedOf(byKey)]);
    const shown = mqLabels(idOut);
    expect(shown).toMatchObject({ OffsetID: byId.r.offsetMsgId, Topic: AUDIT, Tags: '[TagC]', Keys: `[${byId.key}]`, 'Queue ID': String(byId.queueId), 'Queue Offset': String(byId.r.queueOffset) });
    expect(fs.readFileSync(shown['Message Body Path']!, 'utf8')).toBe(byId.body);
    await apache.stop();
  });

  it('a store written by an Apache 4.9.7 broker is started by `rocketctl broker start`: the Java client consumes the rest, each message once; queryMsgByKey / queryMsgById find the messages', async () => {
    const port = await freeBrokerPort();
    const apache: ApacheServer = await startApache(4, { ...GEOMETRY, brokerName: BROKER_NAME, listenPort: String(port) });
    cleanups.push(() => apache.cleanup());
    const w = await writeStore({ namesrv: apache.namesrv, addr: apache.broker, stop: () => apache.stop() }, apache.storeDir);
    written.apache = w;

    const confDir = tempDir('rocketctl-storecompat-');
    cleanups.push(async () => fs.rmSync(confDir, { recursive: true, force: true }));
    const conf = path.join(confDir, 'broker.conf');
    const keys = { ...GEOMETRY, brokerName: BROKER_NAME, listenPort: String(port), namesrvListenPort: '0', storePathRootDir: apache.storeDir };
    fs.writeFileSync(conf, Object.entries(keys).map(([k, v]) => `${k}=${v}\n`).join(''));
    const b: BrokerProcess = await spawnBroker(['-c', conf], { timeoutMs: 60_000 });
    cleanups.push(() => b.stop());
    expect(b.ready.broker).toBe(apache.broker);
    await consumeRest(b.ready.namesrv!, w);

    // Written by Apache's broker, found by ours: the key through Apache's index file, the id by offset.
    const byKey = w.before.find((s) => s.key === `${ORDERS}-3`)!;
    const byId = w.before.find((s) => s.key === `${AUDIT}-6`)!;
    const [keyOut, idOut] = await Promise.all([
      ours(b.ready.namesrv!, ['queryMsgByKey', '-t', ORDERS, '-k', byKey.key]),
      ours(b.ready.namesrv!, ['queryMsgById', '-i', byId.r.offsetMsgId!]),
    ]);
    expect(keyOut.messages.map((m: any) => ({ msgId: m.msgId, queueId: m.queueId, queueOffset: m.queueOffset }))).toEqual([expectedOf(byKey)]);
    const m = idOut.lookups[0].messages[0];
    expect(m).toMatchObject({ offsetMsgId: byId.r.offsetMsgId, msgId: byId.r.msgId, topic: AUDIT, tags: 'TagC', keys: [byId.key], queueId: byId.queueId, queueOffset: byId.r.queueOffset });
    expect((await b.stop()).code).toBe(0);
  });

  it('the two stores as their writers left them are alike: records, consume queues, index geometry, config files', () => {
    const a = written.ours;
    const b = written.apache;
    if (!a || !b) throw new Error('a store was not written (see the tests above)');
    compareStores(a.view, b.view);
  });
});

/** Our store (`o`) against Apache's (`j`) for the same workload; times, hosts and UNIQ_KEYs differ by nature. */
function compareStores(o: StoreView, j: StoreView): void {
  // Every record field but the store time and host (RecordView has no born time or host), with the
  // UNIQ_KEY value masked in the stored properties string: names, order and other values as stored.
  const stable = (v: StoreView) =>
    v.records.map(({ props: _props, storeTimestamp: _time, storeHost: _host, properties, ...rest }) => ({ ...rest, properties: properties.replace(/(UNIQ_KEY\u0001)[0-9A-F]+/, '$1*') }));
  expect(stable(o)).toEqual(stable(j));
  expect(o.records.length).toBe(24);
  expect(o.queues).toEqual(j.queues);
  expect(o.blanks).toEqual(j.blanks);

  // Same files and sizes, except index files (named by their creation time) and what only one
  // broker keeps in its root or config dir.
  const files = (v: StoreView) => Object.fromEntries(Object.entries(v.files).filter(([f]) => /^(commitlog|consumequeue)\//.test(f) || f === 'checkpoint'));
  expect(files(o)).toEqual(files(j));
  // Both stopped cleanly: StoreCheckpoint written, the abort marker deleted (a restart then recovers normally).
  expect({ ours: 'abort' in o.files, apache: 'abort' in j.files }).toEqual({ ours: false, apache: false });
  // Which slots fill depends on the UNIQ_KEYs' hashes, so the slot count only has to mean the same:
  // slots in use (IndexFile.putKey counts a slot when its first key arrives).
  const index = (v: StoreView) => v.index.map((x) => ({ size: x.size, indexCount: x.indexCount, beginPhyOffset: x.beginPhyOffset, endPhyOffset: x.endPhyOffset, phyOffsets: x.entries.map((e) => e.phyOffset) }));
  expect(index(o)).toEqual(index(j));
  for (const v of [o, j]) for (const x of v.index) expect(x.hashSlotCount, x.name).toBe(Object.keys(x.slots).length);

  for (const f of ['topics.json', 'consumerOffset.json', 'subscriptionGroup.json']) expect(Object.keys(o.config), `config/${f}`).toContain(f);
  const topicConfig = (v: StoreView, t: string) => (v.config['topics.json'] as any).topicConfigTable[t];
  for (const t of [ORDERS, AUDIT]) expect(topicConfig(o, t)).toEqual(topicConfig(j, t));
  const offsets = (v: StoreView) => (v.config['consumerOffset.json'] as any).offsetTable[`${ORDERS}@${GROUP}`];
  expect(offsets(o)).toBeDefined();
  expect(Object.keys(offsets(o)).sort()).toEqual(Object.keys(offsets(j)).sort());
}
