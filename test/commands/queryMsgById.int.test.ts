/**
 * queryMsgById, queryMsgByUniqueKey and queryMsgByKey through the real CLI against a real
 * in-process broker: each finds what was sent (by offsetMsgId, by UNIQ_KEY with and without -t,
 * by key), prints mqadmin's fields, tells per group whether it consumed the message, writes the
 * body on request, drops index hash collisions, and answers "not found" with exit 1 and
 * E_MESSAGE_NOT_FOUND plus the reason.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { PushConsumer } from '../../src/client/push-consumer.js';
import { Producer, type SendResult } from '../../src/client/producer.js';
import { createOffsetMsgId, parseSocketAddr } from '../../src/protocol/message.js';
import { createTopic, eventually, startTestBroker, type TestBroker } from '../helpers/broker.js';
import { expectErrorEnvelope, expectOneLineError, expectSuccessEnvelope, runCli } from '../helpers/cli.js';

let b: TestBroker;
let t: string;
let group: string;
const consumed: SendResult[] = [];
const pending: SendResult[] = [];
let collisionSent: SendResult;
const FAST = { rebalanceIntervalMs: 1000, persistConsumerOffsetIntervalMs: 300, pullTimeDelayMsWhenException: 300 };

function cli(args: string[]) {
  return runCli([...args, '--socket', b.broker.addresses.socket]);
}

beforeAll(async () => {
  b = await startTestBroker();
  const ns = b.namesrv!;
  t = `QM_${process.pid}_${Date.now().toString(36)}`;
  group = `CG_${t}`;
  expect((await createTopic(b.client, b.addr, t, 2)).code).toBe(0);
  const p = new Producer({ namesrvAddr: ns, producerGroup: `PG_${t}` });
  await p.start();
  try {
    for (let i = 0; i < 6; i++) consumed.push(await p.send({ topic: t, body: `body-${i}`, tags: i % 2 ? 'TagA' : 'TagB', keys: [`k-${i}`, 'common'] }));
    const c = new PushConsumer({ namesrvAddr: ns, consumerGroup: group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', ...FAST });
    c.subscribe(t, '*');
    let n = 0;
    await c.start(() => void n++);
    await eventually(() => (n >= 6 ? true : undefined), 'first batch consumed');
    await c.close();
    for (let i = 0; i < 2; i++) pending.push(await p.send({ topic: t, body: `later-${i}`, keys: ['common'] }));
    // "Aa" and "BB" have the same Java hashCode, so T#Aa and T#BB share an index hash.
    collisionSent = await p.send({ topic: t, body: 'collide', keys: 'Aa' });
  } finally {
    await p.close();
  }
});

afterAll(async () => {
  await b?.cleanup();
});

describe('queryMsgById (real CLI, real broker)', () => {
  it('an offsetMsgId: mqadmin fields, consumed by the group, body written on request', async () => {
    const m = consumed[3]!;
    const bodyFile = path.join(b.storeDir, 'body.bin');
    const r = await cli(['queryMsgById', '-i', m.offsetMsgId!, '-f', bodyFile, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expectSuccessEnvelope('queryMsgById', r.json);
    const l = r.json.result.lookups[0];
    expect(l.idKind).toBe('offsetMsgId');
    expect(l.messages).toHaveLength(1);
    const v = l.messages[0];
    expect(v).toMatchObject({ msgId: m.msgId, offsetMsgId: m.offsetMsgId, uniqKey: m.msgId, topic: t, tags: 'TagA', keys: ['k-3', 'common'], queueId: m.messageQueue!.queueId, queueOffset: m.queueOffset, bodySize: 6 });
    expect(v.bodyFile).toBe(bodyFile);
    expect(fs.readFileSync(bodyFile, 'utf8')).toBe('body-3');
    // A path under a regular file cannot be written: one line naming it, exit 1 (was E_BUG, exit 10).
    const under = await cli(['queryMsgById', '-i', m.offsetMsgId!, '-f', path.join(bodyFile, 'x'), '--json']);
    expectErrorEnvelope(under.json, 1);
    expect(under.json.code).toBe('E_BODY_FILE');
    const underText = await cli(['queryMsgById', '-i', m.offsetMsgId!, '-f', path.join(bodyFile, 'x')]);
    expect(underText.code).toBe(1);
    expectOneLineError(underText.stderr);
    expect(underText.stderr).toContain(`cannot write the message body to ${path.join(bodyFile, 'x')}`);
    expect(createOffsetMsgId({ ip: Buffer.from([127, 0, 0, 1]), port: Number(v.storeHost.split(':')[1]) }, v.commitLogOffset)).toBe(m.offsetMsgId);
    expect(v.tracks).toEqual([{ consumerGroup: group, trackType: 'CONSUMED', online: false, consumerOffset: expect.any(Number) }]);

    const text = await cli(['queryMsgById', '-i', m.offsetMsgId!]);
    expect(text.code).toBe(0);
    for (const label of ['OffsetID:', 'Topic:', 'Tags:', 'Keys:', 'Queue ID:', 'Queue Offset:', 'CommitLog Offset:', 'Reconsume Times:', 'Born Timestamp:', 'Store Timestamp:', 'Born Host:', 'Store Host:', 'System Flag:', 'Properties:', 'Message Body Path:']) {
      expect(text.stdout).toContain(label);
    }
    expect(text.stdout).toMatch(/Tags:\s+\[TagA\]/);
  });

  it('a UNIQ_KEY (what producers return): found with -t and without it; not consumed yet by the offline group', async () => {
    const m = pending[0]!;
    const withTopic = await cli(['queryMsgById', '-i', m.msgId, '-t', t, '--json']);
    expect(withTopic.code, withTopic.stderr).toBe(0);
    expectSuccessEnvelope('queryMsgById', withTopic.json);
    const l = withTopic.json.result.lookups[0];
    expect(l).toMatchObject({ idKind: 'uniqKey', searchedTopics: 1 });
    expect(l.messages.map((x: { offsetMsgId: string }) => x.offsetMsgId)).toEqual([m.offsetMsgId]);
    expect(l.messages[0].tracks).toEqual([{ consumerGroup: group, trackType: 'NOT_CONSUME_YET', online: false, consumerOffset: expect.any(Number) }]);

    const everywhere = await cli(['queryMsgById', '-i', m.msgId, '--json']);
    expect(everywhere.code, everywhere.stderr).toBe(0);
    expect(everywhere.json.result.lookups[0].searchedTopics).toBeGreaterThan(1);
    expect(everywhere.json.result.lookups[0].messages[0].offsetMsgId).toBe(m.offsetMsgId);
  });

  it('several ids: all found exit 0; one missing exit 3; none found exit 1 with E_MESSAGE_NOT_FOUND and the reason', async () => {
    const both = await cli(['queryMsgById', '-i', `${consumed[0]!.offsetMsgId},${consumed[1]!.msgId}`, '-t', t, '--no-track', '--json']);
    expect(both.code, both.stderr).toBe(0);
    expect(both.json.result.lookups.map((l: { idKind: string }) => l.idKind)).toEqual(['offsetMsgId', 'uniqKey']);

    const missing = 'C0A8000100002A9F00000000DEADBEEF'; // decodes to 192.168.0.1:10911, not a broker here
    const some = await cli(['queryMsgById', '-i', `${consumed[0]!.offsetMsgId},${missing}`, '-t', t, '--json']);
    expect(some.code).toBe(3);
    expectSuccessEnvelope('queryMsgById', some.json);
    expect(some.json.warnings.join(' ')).toContain(missing);

    const none = await cli(['queryMsgById', '-i', missing, '-t', t]);
    expect(none.code).toBe(1);
    expectOneLineError(none.stderr);
    expect(none.stderr).toMatch(/192\.168\.0\.1:10911, which is not a broker of this cluster/);
    const nj = await cli(['queryMsgById', '-i', missing, '-t', t, '--json']);
    expectErrorEnvelope(nj.json, 1);
    expect(nj.json.code).toBe('E_MESSAGE_NOT_FOUND');
    expect(nj.json.data.lookups[0].idKind).toBe('uniqKey');
  });

  it('queryMsgByUniqueKey: found in its topic; unknown topic and unknown key are distinct errors', async () => {
    const m = consumed[2]!;
    const r = await cli(['queryMsgByUniqueKey', '-i', m.msgId, '-t', t, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expectSuccessEnvelope('queryMsgByUniqueKey', r.json);
    expect(r.json.result.messages[0]).toMatchObject({ offsetMsgId: m.offsetMsgId, queueOffset: m.queueOffset });

    const noTopic = await cli(['queryMsgByUniqueKey', '-i', m.msgId, '-t', `${t}_NOPE`, '--json']);
    expectErrorEnvelope(noTopic.json, 1);
    expect(noTopic.json.code).toBe('E_TOPIC_NOT_FOUND');
    const noKey = await cli(['queryMsgByUniqueKey', '-i', '0123456789ABCDEF0123456789ABCDEF', '-t', t]);
    expect(noKey.code).toBe(1);
    expectOneLineError(noKey.stderr);
    expect(noKey.stderr).toMatch(/no message with UNIQ_KEY/);
  });

  it('queryMsgByKey: every message with the key, re-checked (hash collisions dropped), time range, not found', async () => {
    const all = await cli(['queryMsgByKey', '-t', t, '-k', 'common', '--json']);
    expect(all.code, all.stderr).toBe(0);
    expectSuccessEnvelope('queryMsgByKey', all.json);
    expect(all.json.result.messages.map((x: { msgId: string }) => x.msgId).sort()).toEqual([...consumed, ...pending].map((s) => s.msgId).sort());

    const one = await cli(['queryMsgByKey', '-t', t, '-k', 'k-4', '--json']);
    expect(one.json.result.messages.map((x: { msgId: string }) => x.msgId)).toEqual([consumed[4]!.msgId]);

    const real = await cli(['queryMsgByKey', '-t', t, '-k', 'Aa', '--json']);
    expect(real.json.result.messages.map((x: { msgId: string }) => x.msgId)).toEqual([collisionSent.msgId]);
    const collide = await cli(['queryMsgByKey', '-t', t, '-k', 'BB', '--json']);
    expectErrorEnvelope(collide.json, 1);
    expect(collide.json.code).toBe('E_MESSAGE_NOT_FOUND');
    expect(collide.json.data.collisions).toBe(1);
    expect(collide.json.message).toMatch(/hash collision/);

    const later = await cli(['queryMsgByKey', '-t', t, '-k', 'common', '--begin', String(Date.now() + 60_000)]);
    expect(later.code).toBe(1);
    expectOneLineError(later.stderr);
    expect(later.stderr).toMatch(/stored between/);

    const table = await cli(['queryMsgByKey', '-t', t, '-k', 'k-1']);
    expect(table.stdout).toMatch(/#Message ID\s+#QID\s+#Offset/);
    expect(table.stdout).toContain(consumed[1]!.msgId);
  });

  it('queryMsgById: an id that cannot be a message id is a usage error (exit 2, one line), before anything is asked', async () => {
    for (const bad of ['xyz', '0123456789ABCDEF0123456789ABCDE', '0123456789ABCDEF0123456789ABCDEG', `${consumed[0]!.msgId},nope`]) {
      const r = await cli(['queryMsgById', '-i', bad]);
      expect(r.code, bad).toBe(2);
      expectOneLineError(r.stderr);
      expect(r.stderr).toMatch(/is not a message id: an offsetMsgId or UNIQ_KEY is 32 hex characters/);
      expect(r.stdout).toBe('');
      const j = await cli(['queryMsgById', '-i', bad, '--json']);
      expectErrorEnvelope(j.json, 2);
      expect(j.json.code).toBe('E_USAGE');
    }
  });

  it('bad flags and unreachable targets: one line, exit 2 / exit 1', async () => {
    for (const args of [['queryMsgByKey', '-t', t], ['queryMsgById'], ['queryMsgByUniqueKey', '-i', 'X'], ['queryMsgByKey', '-t', t, '-k', 'x', '--begin', 'soon']]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expectOneLineError(r.stderr);
    }
    const v4 = '0123456789ABCDEF0123456789ABCDEF';
    const grpc = `01${'AB'.repeat(16)}`; // a RocketMQ 5 gRPC client's message id: 34 hex
    const v6 = 'ab'.repeat(28); // IPv6 address: 56 hex, either case
    for (const args of [['queryMsgById', '-i', v4], ['queryMsgById', '-i', `${grpc},${v6}`], ['queryMsgByKey', '-t', 'T', '-k', 'x'], ['queryMsgByUniqueKey', '-i', 'X', '-t', 'T']]) {
      const r = await runCli([...args, '--socket', '/nonexistent/broker.sock']);
      expect(r.code, args.join(' ')).toBe(1);
      expectOneLineError(r.stderr);
      expect(r.stderr).toMatch(/rocketctl broker start/);
    }
  });

  // Last: it restarts the shared broker on new ports.
  it('a store moved to a broker on another port: the offsetMsgIds consumers saw (naming the old address) are still found', async () => {
    const m = consumed[4]!;
    const oldAddr = b.addr;
    await b.restart();
    expect(b.addr).not.toBe(oldAddr);
    // The record keeps the STOREHOST it was written with, so the id still names the old address.
    const r = await cli(['queryMsgById', '-i', m.offsetMsgId!, '--no-track', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lookup = r.json.result.lookups[0];
    expect(lookup.idKind).toBe('offsetMsgId');
    expect(lookup.reason).toContain(`offsetMsgId of ${oldAddr}, which is no broker of this cluster now`);
    expect(lookup.messages.map((x: { offsetMsgId: string; storeHost: string; msgId: string }) => [x.offsetMsgId, x.storeHost, x.msgId])).toEqual([[m.offsetMsgId, oldAddr, m.msgId]]);
    // The same offset under the new address is the same message (VIEW_MESSAGE_BY_ID reads by offset).
    const offset = Number.parseInt(m.offsetMsgId!.slice(16), 16);
    const fresh = await cli(['queryMsgById', '-i', createOffsetMsgId(parseSocketAddr(b.addr), offset), '--no-track', '--json']);
    expect(fresh.code, fresh.stdout + fresh.stderr).toBe(0);
    expect(fresh.json.result.lookups[0].messages[0].msgId).toBe(m.msgId);
  });
});
