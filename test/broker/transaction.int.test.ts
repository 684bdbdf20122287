/**
 * Transactional messages on a real broker (127.0.0.1 port 0, temp store, no mocks), driven by raw
 * remoting requests as a Java TransactionMQProducer sends them: half messages (TRAN_MSG), END_TRANSACTION
 * commit/rollback/unknown, CHECK_TRANSACTION_STATE to a live producer of the PGROUP group, the
 * transactionCheckMax limit (TRANS_CHECK_MAX_TIME_TOPIC), wrong and repeated END_TRANSACTIONs, and
 * restarts with the CID_RMQ_SYS_TRANS offsets in consumerOffset.json.
 *
 * Check passes are run by the test (transactionCheck.run()) unless the timer itself is under test;
 * waits are bounded polls, never timing assertions.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RemotingClient } from '../../src/remoting/client.js';
import { bodyBuffer, makeRequest, type RemotingCommand } from '../../src/protocol/frame.js';
import { RequestCode, ResponseCode } from '../../src/protocol/codes.js';
import { decodeOffsetMsgId, decodeRecord, decodeRecords, SysFlag, type MessageRecord } from '../../src/protocol/message.js';
import { decodeProperties, encodeProperties, type Properties } from '../../src/protocol/properties.js';
import { parseFastjson } from '../../src/protocol/fastjson.js';
import { createTopic, eventually, startTestBroker, type TestBroker } from '../helpers/broker.js';

const HALF_TOPIC = 'RMQ_SYS_TRANS_HALF_TOPIC';
const OP_TOPIC = 'RMQ_SYS_TRANS_OP_HALF_TOPIC';
const CHECK_MAX_TOPIC = 'TRANS_CHECK_MAX_TIME_TOPIC';
const COMMIT = 8;
const ROLLBACK = 12;
const UNKNOWN = 0;

const brokers: TestBroker[] = [];
const clients: RemotingClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const b of brokers.splice(0)) await b.cleanup();
});

/** A broker whose check timer never fires within a test: the test runs the passes. */
async function start(config: Record<string, string> = {}): Promise<TestBroker> {
  const b = await startTestBroker({ namesrv: false, config: { transactionCheckInterval: '3600000', transactionTimeOut: '100', ...config } });
  brokers.push(b);
  return b;
}

function newClient(onCheck?: (cmd: RemotingCommand, address: string) => void): RemotingClient {
  const c = new RemotingClient({
    requestTimeoutMs: 10_000,
    onServerRequest: (cmd, address) => {
      if (cmd.code === RequestCode.CHECK_TRANSACTION_STATE) onCheck?.(cmd, address);
      return undefined;
    },
  });
  clients.push(c);
  return c;
}

async function topic(b: TestBroker, name: string): Promise<string> {
  const res = await createTopic(b.client, b.addr, name, 1);
  expect(res.code).toBe(ResponseCode.SUCCESS);
  return name;
}

let seq = 0;
function uniq(prefix: string): string {
  return `${prefix}_${process.pid}_${++seq}`;
}

interface Half {
  offsetMsgId: string;
  queueId: number;
  queueOffset: number;
  commitLogOffset: number;
  uniqKey: string;
  /** The properties the producer sent. */
  props: Properties;
}

/** A TransactionMQProducer's half message: SEND_MESSAGE_V2 with TRAN_MSG/PGROUP and sysFlag PREPARED. */
async function sendHalf(client: RemotingClient, addr: string, t: string, body: string, group: string, extra: Properties = {}): Promise<Half> {
  const uniqKey = `7F000001${String(process.pid).padStart(8, '0')}${String(++seq).padStart(16, '0')}`;
  const props: Properties = { TAGS: 'tx', KEYS: 'k1 k2', UNIQ_KEY: uniqKey, TRAN_MSG: 'true', PGROUP: group, WAIT: 'true', ...extra };
  const res = await client.invoke(
    addr,
    makeRequest(
      RequestCode.SEND_MESSAGE_V2,
      { a: group, b: t, c: 'TBW102', d: 4, e: 0, f: SysFlag.TRANSACTION_PREPARED_TYPE, g: Date.now(), h: 7, i: encodeProperties(props), j: 0, k: false },
      Buffer.from(body),
    ),
  );
  expect(res.code, res.remark).toBe(ResponseCode.SUCCESS);
  const f = res.extFields!;
  return {
    offsetMsgId: f.msgId!,
    queueId: Number(f.queueId),
    queueOffset: Number(f.queueOffset),
    commitLogOffset: decodeOffsetMsgId(f.msgId!)!.commitLogOffset,
    uniqKey,
    props,
  };
}

interface EndOpts {
  group: string;
  tranStateTableOffset: number;
  commitLogOffset: number;
  type: number;
  fromCheck?: boolean;
  msgId?: string;
}

function endRequest(o: EndOpts): RemotingCommand {
  return makeRequest(RequestCode.END_TRANSACTION, {
    producerGroup: o.group,
    tranStateTableOffset: o.tranStateTableOffset,
    commitLogOffset: o.commitLogOffset,
    commitOrRollback: o.type,
    fromTransactionCheck: o.fromCheck ?? false,
    msgId: o.msgId ?? 'X',
    transactionId: o.msgId ?? 'X',
  });
}

/** END_TRANSACTION with a reply expected (the producer sends it oneway; the broker answers either way). */
function end(client: RemotingClient, addr: string, h: Half, type: number, group = h.props.PGROUP!): Promise<RemotingCommand> {
  return client.invoke(addr, endRequest({ group, tranStateTableOffset: h.queueOffset, commitLogOffset: h.commitLogOffset, type, msgId: h.uniqKey }));
}

async function heartbeatAsProducer(client: RemotingClient, addr: string, group: string): Promise<void> {
  const body = { clientID: uniq('client'), consumerDataSet: [], producerDataSet: [{ groupName: group }] };
  const res = await client.invoke(addr, makeRequest(RequestCode.HEART_BEAT, undefined, Buffer.from(JSON.stringify(body))));
  expect(res.code).toBe(ResponseCode.SUCCESS);
}

/** Everything in a queue, from offset 0, through PULL_MESSAGE. */
async function pullAll(client: RemotingClient, addr: string, t: string, queueId = 0): Promise<MessageRecord[]> {
  const out: MessageRecord[] = [];
  let offset = 0;
  for (let i = 0; i < 100; i++) {
    const res = await client.invoke(
      addr,
      makeRequest(RequestCode.PULL_MESSAGE, {
        consumerGroup: 'TX_TEST_READER',
        topic: t,
        queueId,
        queueOffset: offset,
        maxMsgNums: 32,
        sysFlag: 4,
        commitOffset: 0,
        suspendTimeoutMillis: 0,
        subscription: '*',
        subVersion: 0,
      }),
    );
    if (res.code !== ResponseCode.SUCCESS) break;
    const recs = decodeRecords(bodyBuffer(res), { copyBody: true });
    if (recs.length === 0) break;
    out.push(...recs);
    offset = Number(res.extFields!.nextBeginOffset);
  }
  return out;
}

async function maxOffset(client: RemotingClient, addr: string, t: string): Promise<number> {
  const res = await client.invoke(addr, makeRequest(RequestCode.GET_MAX_OFFSET, { topic: t, queueId: 0 }));
  return Number(res.extFields!.offset);
}

async function viewMessage(client: RemotingClient, addr: string, commitLogOffset: number): Promise<MessageRecord> {
  const res = await client.invoke(addr, makeRequest(RequestCode.VIEW_MESSAGE_BY_ID, { offset: commitLogOffset }));
  expect(res.code).toBe(ResponseCode.SUCCESS);
  return decodeRecord(bodyBuffer(res), 0, { copyBody: true });
}

/** Run check passes until `cond` holds (bounded). */
function passUntil<T>(b: TestBroker, cond: () => T | undefined | Promise<T | undefined>, what: string): Promise<T> {
  return eventually(async () => {
    await b.broker.transactionCheck!.run();
    return cond();
  }, what, 20_000, 20);
}

interface Check {
  header: Record<string, string>;
  msg: MessageRecord;
  address: string;
}

/** A producer of `group` that records checks and answers each with `answer` (undefined = silence). */
async function checker(b: TestBroker, group: string, answer: (c: Check) => number | undefined): Promise<{ client: RemotingClient; checks: Check[] }> {
  const checks: Check[] = [];
  const client: RemotingClient = newClient((cmd, address) => {
    const c: Check = { header: cmd.extFields ?? {}, msg: decodeRecord(bodyBuffer(cmd), 0, { copyBody: true }), address };
    checks.push(c);
    const type = answer(c);
    if (type === undefined) return;
    // As TransactionMQProducer: END_TRANSACTION oneway, echoing the check's offsets.
    const req = endRequest({
      group,
      tranStateTableOffset: Number(c.header.tranStateTableOffset),
      commitLogOffset: Number(c.header.commitLogOffset),
      type,
      fromCheck: true,
      msgId: c.header.msgId,
    });
    void client.invokeOneway(address, req).catch(() => undefined);
  });
  await heartbeatAsProducer(client, b.addr, group);
  return { client, checks };
}

describe('transactional messages', () => {
  it('commit: the half message is invisible until END_TRANSACTION commit, then exactly one real message appears', async () => {
    const b = await start();
    const t = await topic(b, uniq('TxCommit'));
    const group = uniq('TPG');
    const p = newClient();
    const h = await sendHalf(p, b.addr, t, 'payload-1', group);
    expect(h.queueId).toBe(0);

    // The half message: half topic queue 0, real topic/queue in properties, transaction bits reset.
    const stored = await viewMessage(p, b.addr, h.commitLogOffset);
    expect(stored.topic).toBe(HALF_TOPIC);
    expect(stored.queueId).toBe(0);
    expect(stored.queueOffset).toBe(h.queueOffset);
    expect(stored.sysFlag & SysFlag.TRANSACTION_ROLLBACK_TYPE).toBe(SysFlag.TRANSACTION_NOT_TYPE);
    const halfProps = decodeProperties(stored.properties);
    expect(halfProps.REAL_TOPIC).toBe(t);
    expect(halfProps.REAL_QID).toBe('0');
    expect(await maxOffset(p, b.addr, t)).toBe(0);
    expect(await pullAll(p, b.addr, t)).toEqual([]);

    const res = await end(p, b.addr, h, COMMIT);
    expect(res.code, res.remark).toBe(ResponseCode.SUCCESS);

    const real = await pullAll(p, b.addr, t);
    expect(real).toHaveLength(1);
    const m = real[0]!;
    expect(m.sysFlag & SysFlag.TRANSACTION_ROLLBACK_TYPE).toBe(SysFlag.TRANSACTION_COMMIT_TYPE);
    expect(m.preparedTransactionOffset).toBe(h.commitLogOffset);
    expect(m.body.toString()).toBe('payload-1');
    expect(m.flag).toBe(7);
    expect(m.queueId).toBe(0);
    // The half message's properties string as stored (EndTransactionProcessor writes it before it
    // clears REAL_TOPIC, REAL_QID and TRAN_MSG from its map; Apache 4.9.7's committed records have them).
    expect(m.properties).toBe(stored.properties);
    expect(decodeProperties(m.properties)).toEqual({ ...h.props, CLUSTER: 'DefaultCluster', REAL_TOPIC: t, REAL_QID: '0' });

    // The op marker: tag d, body = the half queue offset.
    const ops = await pullAll(p, b.addr, OP_TOPIC);
    expect(ops).toHaveLength(1);
    expect(decodeProperties(ops[0]!.properties).TAGS).toBe('d');
    expect(ops[0]!.body.toString()).toBe(String(h.queueOffset));

    // A resolved half message is never checked.
    const report = await b.broker.transactionCheck!.run();
    expect(report.checked).toBe(0);
  });

  it('duplicate commit (oneway and answered) writes one message; a rollback after it is refused', async () => {
    const b = await start();
    const t = await topic(b, uniq('TxDup'));
    const p = newClient();
    const h = await sendHalf(p, b.addr, t, 'once', uniq('TPG'));
    const req = endRequest({ group: h.props.PGROUP!, tranStateTableOffset: h.queueOffset, commitLogOffset: h.commitLogOffset, type: COMMIT, msgId: h.uniqKey });
    // Several at once (as a retrying producer might), then one more with an answer.
    await Promise.all([p.invokeOneway(b.addr, req), p.invokeOneway(b.addr, req), p.invokeOneway(b.addr, req)]);
    const again = await end(p, b.addr, h, COMMIT);
    expect(again.code, again.remark).toBe(ResponseCode.SUCCESS);
    const rollback = await end(p, b.addr, h, ROLLBACK);
    expect(rollback.code).toBe(ResponseCode.SYSTEM_ERROR);
    expect(rollback.remark).toMatch(/already committed/);
    const real = await pullAll(p, b.addr, t);
    expect(real.map((m) => m.body.toString())).toEqual(['once']);
  });

  it('rollback: nothing ever appears in the real topic, and the half message is not checked', async () => {
    const b = await start({ transactionTimeOut: '0' });
    const t = await topic(b, uniq('TxRollback'));
    const group = uniq('TPG');
    const { client: p, checks } = await checker(b, group, () => COMMIT);
    const h = await sendHalf(p, b.addr, t, 'never', group);
    const res = await end(p, b.addr, h, ROLLBACK);
    expect(res.code, res.remark).toBe(ResponseCode.SUCCESS);
    const ops = await pullAll(p, b.addr, OP_TOPIC);
    expect(ops.map((o) => o.body.toString())).toEqual([String(h.queueOffset)]);
    // Passes until the half queue offset is past the rolled-back message.
    await passUntil(b, () => (b.broker.queryOffset('CID_RMQ_SYS_TRANS', HALF_TOPIC, 0) > h.queueOffset ? true : undefined), 'half offset past the rollback');
    await b.broker.transactionCheck!.run();
    expect(b.broker.transactionCheck!.totals.checked).toBe(0);
    expect(checks).toHaveLength(0);
    expect(await pullAll(p, b.addr, t)).toEqual([]);
    expect(await maxOffset(p, b.addr, t)).toBe(0);
  });

  it('wrong producer group or offsets: SYSTEM_ERROR and nothing committed; the right END_TRANSACTION still works', async () => {
    const b = await start();
    const t = await topic(b, uniq('TxWrong'));
    const p = newClient();
    const h = await sendHalf(p, b.addr, t, 'checked', uniq('TPG'));
    const normal = await p.invoke(
      b.addr,
      makeRequest(RequestCode.SEND_MESSAGE_V2, { a: 'PG', b: t, c: 'TBW102', d: 4, e: 0, f: 0, g: Date.now(), h: 0, i: encodeProperties({ PGROUP: h.props.PGROUP! }), j: 0, k: false }, Buffer.from('plain')),
    );
    expect(normal.code).toBe(ResponseCode.SUCCESS);
    const normalOffset = decodeOffsetMsgId(normal.extFields!.msgId!)!.commitLogOffset;

    const cases: Array<[string, EndOpts, RegExp]> = [
      ['group', { group: 'SOME_OTHER_GROUP', tranStateTableOffset: h.queueOffset, commitLogOffset: h.commitLogOffset, type: COMMIT }, /producer group wrong/],
      ['queue offset', { group: h.props.PGROUP!, tranStateTableOffset: h.queueOffset + 1, commitLogOffset: h.commitLogOffset, type: COMMIT }, /state table offset wrong/],
      ['commit log offset', { group: h.props.PGROUP!, tranStateTableOffset: h.queueOffset, commitLogOffset: h.commitLogOffset + 1, type: COMMIT }, /Find prepared transaction message failed/],
      ['not a half message', { group: h.props.PGROUP!, tranStateTableOffset: 0, commitLogOffset: normalOffset, type: COMMIT }, /not a half message/],
      ['rollback, wrong group', { group: 'SOME_OTHER_GROUP', tranStateTableOffset: h.queueOffset, commitLogOffset: h.commitLogOffset, type: ROLLBACK }, /producer group wrong/],
    ];
    for (const [what, o, remark] of cases) {
      const res = await p.invoke(b.addr, endRequest(o));
      expect(res.code, what).toBe(ResponseCode.SYSTEM_ERROR);
      expect(res.remark, what).toMatch(remark);
    }
    expect((await pullAll(p, b.addr, t)).map((m) => m.body.toString())).toEqual(['plain']);
    expect(await pullAll(p, b.addr, OP_TOPIC)).toEqual([]);
    // A missing header field is a SYSTEM_ERROR too (answered, since a reply was asked for).
    const bad = await p.invoke(b.addr, makeRequest(RequestCode.END_TRANSACTION, { producerGroup: h.props.PGROUP!, commitOrRollback: COMMIT }));
    expect(bad.code).toBe(ResponseCode.SYSTEM_ERROR);

    const ok = await end(p, b.addr, h, COMMIT);
    expect(ok.code, ok.remark).toBe(ResponseCode.SUCCESS);
    expect((await pullAll(p, b.addr, t)).map((m) => m.body.toString())).toEqual(['plain', 'checked']);
  });

  it('UNKNOWN: after transactionTimeOut the broker checks the PGROUP producer with the re-appended copy; commit delivers once', async () => {
    const b = await start();
    const t = await topic(b, uniq('TxUnknown'));
    const group = uniq('TPG');
    const { client: p, checks } = await checker(b, group, () => COMMIT);
    const h = await sendHalf(p, b.addr, t, 'decided-later', group);
    // Unknown: no action, and no reply even though one was asked for (EndTransactionProcessor returns null).
    await p.invokeOneway(b.addr, endRequest({ group, tranStateTableOffset: h.queueOffset, commitLogOffset: h.commitLogOffset, type: UNKNOWN, msgId: h.uniqKey }));

    // Passes stop right after the first check; the answer arrives on its own.
    await passUntil(b, () => (b.broker.transactionCheck!.totals.checked > 0 ? true : undefined), 'a check sent');
    const real = await eventually(async () => {
      const r = await pullAll(p, b.addr, t);
      return r.length > 0 ? r : undefined;
    }, 'committed by the check answer');
    expect(checks).toHaveLength(1);
    const c = checks[0]!;
    // The check names the copy: new offsets, the real topic/queue restored, check count 1.
    expect(Number(c.header.tranStateTableOffset)).toBeGreaterThan(h.queueOffset);
    expect(Number(c.header.commitLogOffset)).toBeGreaterThan(h.commitLogOffset);
    expect(c.header.msgId).toBe(h.uniqKey);
    expect(c.header.transactionId).toBe(h.uniqKey);
    expect(decodeOffsetMsgId(c.header.offsetMsgId!)!.commitLogOffset).toBe(Number(c.header.commitLogOffset));
    expect(c.msg.topic).toBe(t);
    expect(c.msg.queueId).toBe(0);
    expect(c.msg.body.toString()).toBe('decided-later');
    expect(c.msg.queueOffset).toBe(Number(c.header.tranStateTableOffset));
    expect(c.msg.commitLogOffset).toBe(Number(c.header.commitLogOffset));
    const checkProps = decodeProperties(c.msg.properties);
    expect(checkProps.TRANSACTION_CHECK_TIMES).toBe('1');
    expect(checkProps.PGROUP).toBe(group);
    expect(checkProps.UNIQ_KEY).toBe(h.uniqKey);

    expect(real).toHaveLength(1);
    expect(real[0]!.preparedTransactionOffset).toBe(Number(c.header.commitLogOffset));
    expect(decodeProperties(real[0]!.properties)).toEqual({ ...h.props, CLUSTER: 'DefaultCluster', TRANSACTION_CHECK_TIMES: '1', REAL_TOPIC: t, REAL_QID: '0' });

    // Settled: later passes ask nothing more and deliver nothing more.
    const before = b.broker.transactionCheck!.passes;
    await passUntil(b, () => (b.broker.transactionCheck!.passes >= before + 3 ? true : undefined), 'three more passes');
    expect(b.broker.transactionCheck!.totals.checked).toBe(1);
    expect(await pullAll(p, b.addr, t)).toHaveLength(1);
  });

  it('a producer that crashed after the half message: the timer checks a live producer of the group, which commits', async () => {
    const b = await start({ transactionCheckInterval: '200', transactionTimeOut: '300' });
    const t = await topic(b, uniq('TxCrash'));
    const group = uniq('TPG');
    const crashed = newClient();
    await heartbeatAsProducer(crashed, b.addr, group);
    const h = await sendHalf(crashed, b.addr, t, 'survives-the-crash', group);
    await crashed.close(); // no END_TRANSACTION ever

    const { checks } = await checker(b, group, (c) => (c.header.msgId === h.uniqKey ? COMMIT : ROLLBACK));
    const reader = newClient();
    const real = await eventually(async () => {
      const r = await pullAll(reader, b.addr, t);
      return r.length > 0 ? r : undefined;
    }, 'committed through the check', 30_000, 50);
    expect(real.map((m) => m.body.toString())).toEqual(['survives-the-crash']);
    // A timer pass may ask again before the first answer lands; every check is for this message.
    expect(checks.length).toBeGreaterThan(0);
    expect(new Set(checks.map((c) => c.header.msgId))).toEqual(new Set([h.uniqKey]));
    await eventually(() => (checks.length === b.broker.transactionCheck!.totals.checked ? true : undefined), 'every check received');
    const checked = b.broker.transactionCheck!.totals.checked;
    const before = b.broker.transactionCheck!.passes;
    await eventually(() => (b.broker.transactionCheck!.passes >= before + 2 ? true : undefined), 'two more timer passes', 30_000, 50);
    expect(await pullAll(reader, b.addr, t)).toHaveLength(1);
    expect(b.broker.transactionCheck!.totals.checked).toBe(checked);
  });

  it('UNKNOWN forever: after transactionCheckMax checks the half message is parked in TRANS_CHECK_MAX_TIME_TOPIC and checks stop', async () => {
    const b = await start({ transactionCheckMax: '3' });
    const t = await topic(b, uniq('TxForever'));
    const group = uniq('TPG');
    const { client: p, checks } = await checker(b, group, () => UNKNOWN);
    const h = await sendHalf(p, b.addr, t, 'undecided', group);

    const parked = await passUntil(b, async () => {
      const r = await pullAll(p, b.addr, CHECK_MAX_TOPIC);
      return r.length > 0 ? r : undefined;
    }, 'parked after 3 checks');
    expect(b.broker.transactionCheck!.totals.checked).toBe(3);
    await eventually(() => (checks.length === 3 ? true : undefined), 'three checks received');
    expect(checks.map((c) => decodeProperties(c.msg.properties).TRANSACTION_CHECK_TIMES)).toEqual(['1', '2', '3']);
    // Every check names a newer copy.
    const offsets = checks.map((c) => Number(c.header.tranStateTableOffset));
    expect([...offsets].sort((x, y) => x - y)).toEqual(offsets);
    expect(offsets[0]).toBeGreaterThan(h.queueOffset);

    expect(parked).toHaveLength(1);
    const pm = parked[0]!;
    expect(pm.body.toString()).toBe('undecided');
    expect(decodeProperties(pm.properties).REAL_TOPIC).toBe(t);
    expect(decodeProperties(pm.properties).TRANSACTION_CHECK_TIMES).toBe('3');

    const before = b.broker.transactionCheck!.passes;
    await passUntil(b, () => (b.broker.transactionCheck!.passes >= before + 3 ? true : undefined), 'three more passes');
    expect(b.broker.transactionCheck!.totals.checked).toBe(3);
    expect(b.broker.transactionCheck!.totals.discarded).toBe(1);
    expect(await pullAll(p, b.addr, t)).toEqual([]);
    expect(await pullAll(p, b.addr, CHECK_MAX_TOPIC)).toHaveLength(1);
  });

  it("a check answered after the producer's own commit (offsets of the copy) does not commit twice", async () => {
    const b = await start();
    const t = await topic(b, uniq('TxRace'));
    const group = uniq('TPG');
    const { client: p, checks } = await checker(b, group, () => undefined); // answers later, by hand
    const h = await sendHalf(p, b.addr, t, 'raced', group);
    await passUntil(b, () => (b.broker.transactionCheck!.totals.checked > 0 ? true : undefined), 'a check sent');
    await eventually(() => (checks.length > 0 ? true : undefined), 'the check received');
    // The producer's END_TRANSACTION (original offsets) arrives after the check went out ...
    expect((await end(p, b.addr, h, COMMIT)).code).toBe(ResponseCode.SUCCESS);
    // ... and then the checker answers commit for the copy.
    const c = checks[0]!;
    const late = await p.invoke(
      b.addr,
      endRequest({ group, tranStateTableOffset: Number(c.header.tranStateTableOffset), commitLogOffset: Number(c.header.commitLogOffset), type: COMMIT, fromCheck: true, msgId: h.uniqKey }),
    );
    expect(late.code, late.remark).toBe(ResponseCode.SUCCESS);
    expect(late.remark).toMatch(/already committed/);
    expect((await pullAll(p, b.addr, t)).map((m) => m.body.toString())).toEqual(['raced']);
    const before = b.broker.transactionCheck!.passes;
    await passUntil(b, () => (b.broker.transactionCheck!.passes >= before + 3 ? true : undefined), 'three more passes');
    expect(b.broker.transactionCheck!.totals.checked).toBe(1);
    expect(await pullAll(p, b.addr, t)).toHaveLength(1);
  });

  it('CHECK_IMMUNITY_TIME_IN_SECONDS: no check before it; the copy remembers the original offset; a commit settles every copy', async () => {
    const b = await start({ transactionTimeOut: '0' });
    const t = await topic(b, uniq('TxImmune'));
    const group = uniq('TPG');
    const { client: p, checks } = await checker(b, group, () => COMMIT);
    const h = await sendHalf(p, b.addr, t, 'immune', group, { CHECK_IMMUNITY_TIME_IN_SECONDS: '3600' });
    // Within the immunity time a pass re-appends the message with TRAN_PREPARED_QUEUE_OFFSET instead of checking.
    await passUntil(b, async () => ((await maxOffset(p, b.addr, HALF_TOPIC)) > h.queueOffset + 1 ? true : undefined), 'an immunity copy');
    const copies = (await pullAll(p, b.addr, HALF_TOPIC)).filter((m) => decodeProperties(m.properties).UNIQ_KEY === h.uniqKey);
    expect(copies.length).toBeGreaterThan(1);
    for (const copy of copies.slice(1)) {
      expect(decodeProperties(copy.properties).TRAN_PREPARED_QUEUE_OFFSET).toBe(String(h.queueOffset));
      // Not a check: the copy does not use up transactionCheckMax (Apache's would).
      expect(decodeProperties(copy.properties).TRANSACTION_CHECK_TIMES).toBeUndefined();
    }
    expect(b.broker.transactionCheck!.totals.checked).toBe(0);

    // The producer commits with the original offsets: later passes neither check nor copy it again.
    expect((await end(p, b.addr, h, COMMIT)).code).toBe(ResponseCode.SUCCESS);
    const before = b.broker.transactionCheck!.passes;
    await passUntil(b, () => (b.broker.transactionCheck!.passes >= before + 2 ? true : undefined), 'two passes');
    const settled = await maxOffset(p, b.addr, HALF_TOPIC);
    const before2 = b.broker.transactionCheck!.passes;
    await passUntil(b, () => (b.broker.transactionCheck!.passes >= before2 + 3 ? true : undefined), 'three more passes');
    expect(await maxOffset(p, b.addr, HALF_TOPIC)).toBe(settled);
    expect(checks).toHaveLength(0);
    expect((await pullAll(p, b.addr, t)).map((m) => m.body.toString())).toEqual(['immune']);
  });

  it('rejectTransactionMessage=true refuses half messages with NO_PERMISSION', async () => {
    const b = await start({ rejectTransactionMessage: 'true' });
    const t = await topic(b, uniq('TxReject'));
    const p = newClient();
    const res = await p.invoke(
      b.addr,
      makeRequest(RequestCode.SEND_MESSAGE_V2, { a: 'PG', b: t, c: 'TBW102', d: 4, e: 0, f: 4, g: Date.now(), h: 0, i: encodeProperties({ TRAN_MSG: 'true', PGROUP: 'PG' }), j: 0, k: false }, Buffer.from('x')),
    );
    expect(res.code).toBe(ResponseCode.NO_PERMISSION);
    expect(res.remark).toMatch(/sending transaction message is forbidden/);
  });
});

describe('transactional messages across a restart', () => {
  it('a half message stored before a restart can be committed after it', async () => {
    const b = await start();
    const t = await topic(b, uniq('TxRestartCommit'));
    const h = await sendHalf(b.client, b.addr, t, 'before-restart', uniq('TPG'));
    await b.restart();
    const p = newClient();
    const res = await end(p, b.addr, h, COMMIT);
    expect(res.code, res.remark).toBe(ResponseCode.SUCCESS);
    expect((await pullAll(p, b.addr, t)).map((m) => m.body.toString())).toEqual(['before-restart']);
    // Resolved before the restart stays resolved after the next one (rebuilt from the op marker).
    await b.restart();
    const p2 = newClient();
    const again = await end(p2, b.addr, h, COMMIT);
    expect(again.code, again.remark).toBe(ResponseCode.SUCCESS);
    expect(again.remark).toMatch(/already/);
    expect(await pullAll(p2, b.addr, t)).toHaveLength(1);
  });

  it('check offsets (CID_RMQ_SYS_TRANS) survive in consumerOffset.json; checks resume after the restart', async () => {
    const b = await start();
    const t = await topic(b, uniq('TxRestartCheck'));
    const group = uniq('TPG');
    const p = newClient();
    const committed = await sendHalf(p, b.addr, t, 'committed-early', group);
    expect((await end(p, b.addr, committed, COMMIT)).code).toBe(ResponseCode.SUCCESS);
    const pending = await sendHalf(p, b.addr, t, 'pending', group);
    // A pass with no producer online: the pending one is re-appended (check count 1), nobody asked.
    await passUntil(b, () => (b.broker.transactionCheck!.totals.noProducer > 0 ? true : undefined), 'a check without a producer');
    const halfOffset = b.broker.queryOffset('CID_RMQ_SYS_TRANS', HALF_TOPIC, 0);
    const opOffset = b.broker.queryOffset('CID_RMQ_SYS_TRANS', OP_TOPIC, 0);
    expect(halfOffset).toBe(pending.queueOffset + 1);
    expect(opOffset).toBe(1);

    await b.restart();
    const text = fs.readFileSync(path.join(b.storeDir, 'config', 'consumerOffset.json'), 'utf8');
    const table = (parseFastjson(text) as { offsetTable: Record<string, Record<string, number>> }).offsetTable;
    expect(Number(table[`${HALF_TOPIC}@CID_RMQ_SYS_TRANS`]!['0'])).toBe(halfOffset);
    expect(Number(table[`${OP_TOPIC}@CID_RMQ_SYS_TRANS`]!['0'])).toBe(opOffset);

    const { client: c, checks } = await checker(b, group, () => COMMIT);
    await passUntil(b, () => (b.broker.transactionCheck!.totals.checked > 0 ? true : undefined), 'a check after the restart');
    const real = await eventually(async () => {
      const r = await pullAll(c, b.addr, t);
      return r.length === 2 ? r : undefined;
    }, 'pending committed after the restart');
    expect(real.map((m) => m.body.toString())).toEqual(['committed-early', 'pending']);
    // Only the pending one was asked about, and it had been checked once before the restart.
    expect(checks).toHaveLength(1);
    expect(checks[0]!.header.msgId).toBe(pending.uniqKey);
    expect(decodeProperties(checks[0]!.msg.properties).TRANSACTION_CHECK_TIMES).toBe('2');
  });
});
