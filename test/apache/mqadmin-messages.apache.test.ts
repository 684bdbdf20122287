/**
 * Apache mqadmin 4.9.8 against our broker, part 2: groups, connections, messages, traces and
 * offsets (issue 10 item 2). Each mqadmin command must exit 0, print no exception, and print the
 * values rocketctl's own command prints (--json) for the same state. State: the Java client sends
 * (with traces) and one Java push consumer consumes and exits (an offline group); a rocketctl push
 * consumer and producer stay online. Part 1: mqadmin.apache.test.ts. Results: docs/conformance/mqadmin.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Producer, PushConsumer } from '../../src/client/index.js';
import { eventually, startTestBroker, tempDir, type TestBroker } from '../helpers/broker.js';
import { runCli } from '../helpers/cli.js';
import { describeApache, javaDriver } from './support.js';
import { freeBrokerPort, javaMap, javaTime, keyValues, mqadminOk, ours, rows } from './mqadmin-support.js';

const TOPIC = 'MqmTopic';
const OTHER = 'MqmOther';
const DONE = 'CG_mqm_done';
const LIVE = 'CG_mqm_live';
const PRODUCER = 'PG_mqm';
const TRACED_PRODUCER = 'PG_mqm_traced';
const LIVE_PRODUCER = 'PG_mqm_live';
const COUNT = 6;

interface Sent {
  msgId: string;
  offsetMsgId: string;
  queueId: number;
  queueOffset: number;
}

describeApache('Apache mqadmin 4.9.8 against our broker: groups, connections, messages, traces, offsets', () => {
  let t: TestBroker;
  let n: string;
  let dir: string;
  let sent: Sent[];
  let consumer: PushConsumer;
  let producer: Producer;
  let liveDeliveries = 0;
  let tracedMsgId: string;

  beforeAll(async () => {
    dir = tempDir('rocketctl-mqadmin-msgs-');
    t = await startTestBroker({ config: { traceTopicEnable: 'true', listenPort: String(await freeBrokerPort()) } });
    n = t.namesrv!;
    const p = await javaDriver('Produce', { namesrv: n, topic: TOPIC, count: COUNT - 1, tags: 'TagA', keys: 'mk-', group: PRODUCER });
    sent = p.lines.filter((l) => l.status === 'SEND_OK');
    expect(sent, p.stderr).toHaveLength(COUNT - 1);
    // The Java producer exits right after its sends, racing its own trace dispatcher: the traced
    // message comes from rocketctl's client (Apache's trace format; close() sends what is queued).
    const traced = new Producer({ namesrvAddr: n, producerGroup: TRACED_PRODUCER, enableMsgTrace: true, instanceName: 'mqm-traced' });
    await traced.start();
    tracedMsgId = (await traced.send({ topic: TOPIC, body: 'traced', tags: 'TagA', keys: 'mk-traced' })).msgId;
    await traced.close();
    // stay: the consumer's trace dispatcher sends its Sub records while the JVM lives.
    const c = await javaDriver('Consume', { namesrv: n, group: DONE, topic: TOPIC, expect: COUNT, trace: true, stay: true, timeoutMs: 20_000 });
    expect(c.lines.at(-1), c.stderr).toMatchObject({ done: true, distinct: COUNT });

    consumer = new PushConsumer({ namesrvAddr: n, consumerGroup: LIVE, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', instanceName: 'mqm-live' });
    consumer.subscribe(TOPIC, '*');
    await consumer.start(async () => {
      liveDeliveries++;
    });
    producer = new Producer({ namesrvAddr: n, producerGroup: LIVE_PRODUCER, instanceName: 'mqm-live-producer' });
    await producer.start();
    // A producer heartbeats to the brokers of the topics it sends to.
    await producer.send({ topic: OTHER, body: 'other' });
    await eventually(async () => ((await progress(LIVE)).totals.diff === 0 && liveDeliveries >= COUNT ? true : undefined), 'the live group consumed everything', 60_000, 200);
  }, 480_000);
  afterAll(async () => {
    await consumer?.close();
    await producer?.close();
    await t?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const progress = async (group: string) => (await ours(['consumerProgress', '-n', n, '-g', group])).progress;

  it('consumerProgress, consumerConnection and producerConnection print what rocketctl prints', async () => {
    const [byGroup, all, conn, pconn] = await Promise.all([
      mqadminOk(['consumerProgress', '-n', n, '-g', DONE]),
      mqadminOk(['consumerProgress', '-n', n]),
      mqadminOk(['consumerConnection', '-n', n, '-g', LIVE]),
      mqadminOk(['producerConnection', '-n', n, '-g', LIVE_PRODUCER, '-t', OTHER]),
    ]);
    const [oGroup, oAll, oConn, oPconn] = await Promise.all([
      progress(DONE),
      ours(['consumerProgress', '-n', n]),
      ours(['consumerConnection', '-n', n, '-g', LIVE]),
      ours(['producerConnection', '-n', n, '-g', LIVE_PRODUCER, '-t', OTHER]),
    ]);

    const qRows = rows(byGroup, /^(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(N\/A|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)$/);
    expect(qRows.map((m) => [m[1], m[2], Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), m[7]])).toEqual(
      oGroup.queues.map((q: any) => [q.topic, q.brokerName, q.queueId, q.brokerOffset, q.consumerOffset, q.diff, q.lastTimestamp ? javaTime(q.lastTimestamp, false) : 'N/A']),
    );
    expect(byGroup).toContain(`Diff Total: ${oGroup.totals.diff}`);
    expect(qRows.filter((m) => m[1] === TOPIC).reduce((s, m) => s + Number(m[5]), 0)).toBe(COUNT);

    // Without -g: "%-64s  %-6d  %-24s %-5s  %-14s  %-7d  %d" per group with a %RETRY% topic.
    const groupRows = all.split('\n').filter((l) => l.length > 120 && !l.startsWith('#'));
    const printed = groupRows.map((l) => ({ group: l.slice(0, 64).trim(), count: Number(l.slice(66, 72)), version: l.slice(74, 98).trim(), type: l.slice(99, 104).trim(), model: l.slice(106, 120).trim(), diff: Number(l.slice(131)) }));
    expect(printed.map((g) => g.group).sort()).toEqual([DONE, LIVE]);
    for (const g of printed) {
      const o = oAll.groups.find((x: any) => x.group === g.group);
      expect(o, g.group).toBeDefined();
      expect(g).toEqual({ group: o.group, count: o.count, version: o.count > 0 ? o.version : 'OFFLINE', type: o.type, model: o.count > 0 ? o.model : '', diff: o.diffTotal });
    }
    expect(printed.find((g) => g.group === LIVE)).toMatchObject({ count: 1, type: 'PUSH', model: 'CLUSTERING' });

    const [client] = rows(conn, /^(\S+@\S+)\s+(\S+)\s+(\S+)\s+(V\S+)$/);
    const oc = oConn.connections[0];
    expect(client!.slice(1)).toEqual([oc.clientId, oc.clientAddr, oc.language, oc.versionDesc]);
    const subs = rows(conn.slice(conn.indexOf('#Topic')), /^(\S+)\s+(\S.*)$/).filter((m) => !m[1]!.startsWith('#') && !m[1]!.endsWith(':'));
    expect(subs.map((m) => [m[1], m[2]]).sort()).toEqual(oConn.subscriptions.map((s: any) => [s.topic, s.subExpression]).sort());
    expect(conn).toContain(`ConsumeType: ${oConn.consumeType}`);
    expect(conn).toContain(`MessageModel: ${oConn.messageModel}`);
    expect(conn).toContain(`ConsumeFromWhere: ${oConn.consumeFromWhere}`);

    const pRows = rows(pconn, /^(\d{4})\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)$/);
    expect(pRows.map((m) => m.slice(2))).toEqual(oPconn.connections.map((c: any) => [c.clientId, c.clientAddr, c.language, c.versionDesc]));
    expect(pRows).toHaveLength(1);
  }, 480_000);

  it('queryMsgById, queryMsgByKey and queryMsgByUniqueKey print the message rocketctl finds', async () => {
    const m = sent[1]!;
    const [byId, byKey, byUniq] = await Promise.all([
      mqadminOk(['queryMsgById', '-n', n, '-i', m.offsetMsgId]),
      mqadminOk(['queryMsgByKey', '-n', n, '-t', TOPIC, '-k', 'mk-1']),
      mqadminOk(['queryMsgByUniqueKey', '-n', n, '-i', m.msgId, '-t', TOPIC]),
    ]);
    const bodyFile = path.join(dir, 'body');
    const [oId, oKey, oUniq] = await Promise.all([
      ours(['queryMsgById', '-n', n, '-i', m.offsetMsgId, '-f', bodyFile]),
      ours(['queryMsgByKey', '-n', n, '-t', TOPIC, '-k', 'mk-1']),
      ours(['queryMsgByUniqueKey', '-n', n, '-i', m.msgId, '-t', TOPIC]),
    ]);
    const msg = oId.lookups[0].messages[0];
    expect(oUniq.messages[0]).toMatchObject({ offsetMsgId: msg.offsetMsgId, commitLogOffset: msg.commitLogOffset });
    const expectedFields = {
      'Topic': msg.topic,
      'Tags': `[${msg.tags}]`,
      'Keys': `[${msg.keys.join(' ')}]`,
      'Queue ID': String(msg.queueId),
      'Queue Offset': String(msg.queueOffset),
      'CommitLog Offset': String(msg.commitLogOffset),
      'Reconsume Times': String(msg.reconsumeTimes),
      'Born Timestamp': javaTime(msg.bornTimestamp),
      'Store Timestamp': javaTime(msg.storeTimestamp),
      'Born Host': msg.bornHost,
      'Store Host': msg.storeHost,
      'System Flag': String(msg.sysFlag),
    };
    for (const out of [byId, byUniq]) {
      const f = keyValues(out, /^([A-Z][A-Za-z ]+):\s+(.*)$/);
      expect(f).toMatchObject(expectedFields);
      expect(javaMap(f.Properties!)).toEqual(msg.properties);
      expect(fs.readFileSync(f['Message Body Path']!, 'utf8')).toBe('body-1');
    }
    expect(keyValues(byId, /^([A-Z][A-Za-z ]+):\s+(.*)$/).OffsetID).toBe(m.offsetMsgId);
    expect([msg.msgId, msg.queueId, msg.queueOffset]).toEqual([m.msgId, m.queueId, m.queueOffset]);
    expect(fs.readFileSync(bodyFile, 'utf8')).toBe('body-1');

    // Which groups consumed it: the same for the online group; for an offline one mqadmin says
    // NOT_ONLINE, rocketctl judges by its committed offset (a deliberate difference, README).
    const tracks = Object.fromEntries([...byId.matchAll(/MessageTrack \[consumerGroup=(\S+), trackType=(\w+)/g)].map((x) => [x[1], x[2]]));
    const oTracks = Object.fromEntries(msg.tracks.map((x: any) => [x.consumerGroup, x.trackType]));
    expect(tracks).toEqual({ [LIVE]: 'CONSUMED', [DONE]: 'NOT_ONLINE' });
    expect(oTracks).toEqual({ [LIVE]: 'CONSUMED', [DONE]: 'CONSUMED' });

    const keyRows = rows(byKey, /^([0-9A-F]{32,})\s+(\d+)\s+(\d+)$/);
    expect(keyRows.map((r) => [r[1], Number(r[2]), Number(r[3])])).toEqual(oKey.messages.map((x: any) => [x.msgId, x.queueId, x.queueOffset]));
    expect(keyRows).toHaveLength(1);
  }, 480_000);

  it('queryMsgTraceById prints the trace rocketctl reads', async () => {
    const m = { msgId: tracedMsgId };
    // Clients send trace records in the background: wait until rocketctl sees both sides.
    let last: unknown;
    const trace = await eventually(async () => {
      const r = await runCli(['queryMsgTrace', '-n', n, '-i', m.msgId, '--json']);
      last = r.json;
      const rs = r.json?.result?.rows ?? [];
      return rs.some((x: any) => x.type === 'Pub') && rs.some((x: any) => x.type === 'Sub' && x.records.length === 2) ? r.json.result : undefined;
    }, 'the trace of the first message', 60_000, 500).catch((err) => {
      throw new Error(`${(err as Error).message}; last: ${JSON.stringify(last)}`);
    });
    const out = await mqadminOk(['queryMsgTraceById', '-n', n, '-i', m.msgId]);
    const printed = rows(out, /^(Pub|Sub)\s+(\S+)\s+(\S+)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s+(-?\d+)ms\s+(\S+)$/).map((x) => x.slice(1, 7).join(' '));
    const expected = trace.rows.map((row: any) => {
      // mqadmin prints Pub and SubAfter (time and cost of that record); rocketctl pairs SubBefore with SubAfter.
      const rec = row.type === 'Pub' ? row.records[0] : row.records.find((r: any) => r.type === 'SubAfter');
      const ok = rec.success;
      // mqadmin prints the trace message's born host without its port (getBornHostString), as rocketctl does.
      return [row.type, row.group, row.clientHost, javaTime(rec.timeStamp, false), String(rec.costTime), ok ? 'success' : 'failed'].join(' ');
    });
    expect(printed.sort()).toEqual(expected.sort());
    expect(printed.some((p) => p.startsWith(`Pub ${TRACED_PRODUCER} `))).toBe(true);
    expect(printed.some((p) => p.startsWith(`Sub ${DONE} `))).toBe(true);
  }, 480_000);

  it('resetOffsetByTime and skipAccumulatedMessage set the offsets rocketctl plans, for offline and online groups', async () => {
    const undo = ['--undo-file', path.join(dir, 'undo.json')];
    const targets = (plan: any) => plan.queues.map((q: any) => [q.brokerName, q.queueId, q.targetOffset]).sort();
    const offsets = async (group: string) => (await progress(group)).queues.filter((q: any) => q.topic === TOPIC).map((q: any) => [q.brokerName, q.queueId, q.consumerOffset]).sort();
    // The old method's table (offline group, after CONSUMER_NOT_ONLINE) and the broker's (online group).
    const oldRows = (out: string) => rows(out, /^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(-?\d+)\s+(\d+)$/).map((x) => [x[1], Number(x[2]), Number(x[6])]).sort();
    const newRows = (out: string) => rows(out, /^(\S+)\s+(\d+)\s+(\d+)$/).map((x) => [x[1], Number(x[2]), Number(x[3])]).sort();

    // Offline group: to the first message, then past the last.
    const planFirst = (await ours(['resetOffset', '-n', n, '-g', DONE, '-t', TOPIC, '-s', '0'])).plan;
    const reset = await mqadminOk(['resetOffsetByTime', '-n', n, '-g', DONE, '-t', TOPIC, '-s', '0']);
    expect(reset).toContain(`rollback consumer offset by specified consumerGroup[${DONE}], topic[${TOPIC}]`);
    expect(oldRows(reset)).toEqual(targets(planFirst));
    expect(await offsets(DONE)).toEqual(targets(planFirst));
    expect(planFirst.totals.replay).toBe(COUNT);
    const planLast = (await ours(['resetOffset', '-n', n, '-g', DONE, '-t', TOPIC, '--latest'])).plan;
    const skip = await mqadminOk(['skipAccumulatedMessage', '-n', n, '-g', DONE, '-t', TOPIC]);
    expect(oldRows(skip)).toEqual(targets(planLast));
    expect(await offsets(DONE)).toEqual(targets(planLast));

    // Online group: the broker resets it and tells the consumer, which consumes everything again.
    const onlineFirst = (await ours(['resetOffset', '-n', n, '-g', LIVE, '-t', TOPIC, '-s', '0'])).plan;
    expect(onlineFirst.online).toBe(true);
    const before = liveDeliveries;
    const resetLive = await mqadminOk(['resetOffsetByTime', '-n', n, '-g', LIVE, '-t', TOPIC, '-s', '0']);
    expect(resetLive).toContain(`rollback consumer offset by specified group[${LIVE}], topic[${TOPIC}]`);
    expect(newRows(resetLive)).toEqual(targets(onlineFirst));
    await eventually(() => (liveDeliveries >= before + COUNT ? true : undefined), 'the live consumer consumed again from the first message', 60_000, 200);
    const onlineLast = (await ours(['resetOffset', '-n', n, '-g', LIVE, '-t', TOPIC, '--latest', ...undo])).plan;
    const skipLive = await mqadminOk(['skipAccumulatedMessage', '-n', n, '-g', LIVE, '-t', TOPIC]);
    expect(newRows(skipLive)).toEqual(targets(onlineLast));
    await eventually(async () => (JSON.stringify(await offsets(LIVE)) === JSON.stringify(targets(onlineLast)) ? true : undefined), 'the live group at the end', 30_000, 200);
  }, 480_000);
});
