/**
 * Config changes the broker cannot persist (a full disk, injected with FaultyFileIO's ENOSPC
 * budget) are errors to the caller, never "created": UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
 * UPDATE_AND_CREATE_TOPIC, DELETE_TOPIC_IN_BROKER, DELETE_SUBSCRIPTIONGROUP, an acknowledged
 * UPDATE_CONSUMER_OFFSET and INVOKE_BROKER_TO_RESET_OFFSET answer SYSTEM_ERROR with the reason, and
 * the broker's tables stay what is on disk: the same before and after a restart. (A topic deleted
 * on a full disk loses its consume queues first, to free space: test/store/full-disk.int.test.ts.) Closing on the
 * full disk reports that it was not clean. ROCKETCTL_FAULT_SEED replays.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultyFileIO, faultSeedFromEnv } from '../../src/broker/store/faulty-file-io.js';
import { RequestCode, ResponseCode } from '../../src/protocol/codes.js';
import { FLAG_ONEWAY, makeRequest, type RemotingCommand } from '../../src/protocol/frame.js';
import { encodeProperties } from '../../src/protocol/properties.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { createTopic, eventually, startTestBroker, tempDir, type TestBroker } from '../helpers/broker.js';

const seed = faultSeedFromEnv();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const TOPIC = 'Kept';
const GROUP = 'KeptGroup';

function ok(res: RemotingCommand, what: string): void {
  expect(res.code, `${what}: ${res.remark} (seed ${seed})`).toBe(ResponseCode.SUCCESS);
}

function diskFull(res: RemotingCommand, what: string): void {
  expect(res.code, `${what} (seed ${seed})`).toBe(ResponseCode.SYSTEM_ERROR);
  expect(res.remark, what).toMatch(/no space left on device/);
}

const updateGroup = (c: RemotingClient, addr: string, groupName: string, retryMaxTimes = 16) =>
  c.invoke(addr, makeRequest(RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, undefined, Buffer.from(JSON.stringify({ groupName, retryMaxTimes }))));

const commit = (c: RemotingClient, addr: string, queueId: number, commitOffset: number) =>
  c.invoke(addr, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: GROUP, topic: TOPIC, queueId, commitOffset }));

async function committed(c: RemotingClient, addr: string, queueId: number): Promise<string | undefined> {
  const res = await c.invoke(addr, makeRequest(RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: GROUP, topic: TOPIC, queueId }));
  return res.code === ResponseCode.SUCCESS ? res.extFields?.offset : undefined;
}

/** What the broker holds in memory of everything the test touches. */
function tables(tb: TestBroker) {
  const b = tb.broker;
  return {
    kept: b.topics.get(TOPIC),
    newTopic: b.topics.get('NewTopic') ?? null,
    keptGroup: b.groups.get(GROUP),
    newGroup: b.groups.get('NewGroup') ?? null,
    offsets: Object.fromEntries(b.offsets.offsetsOf(TOPIC, GROUP) ?? []),
  };
}

describe('a config change the broker cannot persist (full disk)', () => {
  it('is SYSTEM_ERROR with the reason, and the tables stay what is on disk, across a restart', async () => {
    const storeDir = tempDir('rocketctl-fulldisk-');
    cleanups.push(() => fs.rmSync(storeDir, { recursive: true, force: true }));
    const io = new FaultyFileIO({ seed });
    const tb = await startTestBroker({ storeDir, storeIO: io, namesrv: false });
    cleanups.push(() => tb.close());
    const c = tb.client;

    // Before the disk fills: a topic with messages in both queues, a group with offsets on both.
    ok(await createTopic(c, tb.addr, TOPIC, 2), 'create topic');
    for (let i = 0; i < 6; i++) {
      const props = encodeProperties({ WAIT: 'true' });
      const res = await c.invoke(tb.addr, makeRequest(RequestCode.SEND_MESSAGE_V2, { a: 'PG', b: TOPIC, c: 'TBW102', d: 2, e: i % 2, f: 0, g: Date.now(), h: 0, i: props, j: 0, k: false }, Buffer.from(`m${i}`)));
      ok(res, 'send');
    }
    ok(await updateGroup(c, tb.addr, GROUP), 'create group');
    ok(await commit(c, tb.addr, 0, 1), 'commit q0');
    ok(await commit(c, tb.addr, 1, 1), 'commit q1');
    // The group online (its heartbeat creates %RETRY%KeptGroup, which needs topics.json written).
    const heartbeat = {
      clientID: 'full-disk-test',
      consumerDataSet: [{ groupName: GROUP, consumeType: 'CONSUME_PASSIVELY', messageModel: 'CLUSTERING', consumeFromWhere: 'CONSUME_FROM_LAST_OFFSET', subscriptionDataSet: [{ topic: TOPIC, subString: '*', tagsSet: [], codeSet: [], subVersion: 1 }], unitMode: false }],
      producerDataSet: [],
    };
    ok(await c.invoke(tb.addr, makeRequest(RequestCode.HEART_BEAT, undefined, Buffer.from(JSON.stringify(heartbeat)))), 'heartbeat');
    await tb.broker.messageStore.flush();

    io.enospcAfterBytes = io.bytesAccepted;

    diskFull(await updateGroup(c, tb.addr, 'NewGroup'), 'new group');
    diskFull(await updateGroup(c, tb.addr, GROUP, 3), 'changed group');
    diskFull(await createTopic(c, tb.addr, 'NewTopic', 4), 'new topic');
    diskFull(await createTopic(c, tb.addr, TOPIC, 8), 'changed topic');
    // Deleting a topic is how a full disk is freed: its consume queues go first, then the table is
    // written again; here no space came back (a byte budget), so it says so and the topic stays listed.
    const del = await c.invoke(tb.addr, makeRequest(RequestCode.DELETE_TOPIC_IN_BROKER, { topic: TOPIC }));
    diskFull(del, 'delete topic');
    expect(del.remark).toMatch(/consume queues of topic Kept were deleted to free space, but topics\.json could still not be written \(the topic is still listed\)/);
    expect(fs.existsSync(path.join(storeDir, 'consumequeue', TOPIC, '0'))).toBe(false);
    diskFull(await c.invoke(tb.addr, makeRequest(RequestCode.DELETE_SUBSCRIPTIONGROUP, { groupName: GROUP, removeOffset: true })), 'delete group');
    diskFull(await commit(c, tb.addr, 0, 2), 'acknowledged commit');
    expect(await committed(c, tb.addr, 0)).toBe('1');

    // A reset of the online group: the consumer (this client) is told nothing, the offsets stay.
    diskFull(await c.invoke(tb.addr, makeRequest(RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, { topic: TOPIC, group: GROUP, timestamp: -1, isForce: true })), 'reset offset');
    expect([await committed(c, tb.addr, 0), await committed(c, tb.addr, 1)]).toEqual(['1', '1']);

    // A consumer's oneway commit is kept in memory (persisted later, as in Java), unlike the above.
    const oneway = makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: GROUP, topic: TOPIC, queueId: 1, commitOffset: 2 });
    oneway.flag = FLAG_ONEWAY;
    await c.invokeOneway(tb.addr, oneway);
    await eventually(async () => ((await committed(c, tb.addr, 1)) === '2' ? true : undefined), 'oneway commit in memory');

    const before = tables(tb);
    expect(before).toMatchObject({ kept: { readQueueNums: 2, writeQueueNums: 2 }, newTopic: null, keptGroup: { retryMaxTimes: 16 }, newGroup: null, offsets: { 0: 1, 1: 2 } });

    const shutdown = await tb.broker.close();
    expect(shutdown.clean, `seed ${seed}`).toBe(false);
    expect(shutdown.problems.join('\n')).toMatch(/persisting config: no space left on device/);

    // The disk as a fresh broker reads it: what the broker said, except the unpersisted oneway commit.
    const again = await startTestBroker({ storeDir, namesrv: false });
    cleanups.push(() => again.close());
    expect(tables(again)).toEqual({ ...before, offsets: { 0: 1, 1: 1 } });
  });
});
