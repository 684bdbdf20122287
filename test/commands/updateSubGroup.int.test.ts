/**
 * Group and connection commands through the real CLI against a real broker in this process:
 * updateSubGroup / deleteSubGroup change what the broker stores; consumerConnection and
 * producerConnection list real clients (the client library's PushConsumer and Producer), and an
 * offline or unknown group is one clear line, exit 1.
 */
import { describe, expect, it } from 'vitest';
import { Producer } from '../../src/client/producer.js';
import { PushConsumer } from '../../src/client/push-consumer.js';
import { eventually, useCliBroker } from '../helpers/broker.js';
import { expectErrorEnvelope, expectOneLineError, expectSuccessEnvelope, runCli } from '../helpers/cli.js';

const cb = useCliBroker();
const { local, remote } = cb;

describe('updateSubGroup / deleteSubGroup', () => {
  it('creates with mqadmin\'s defaults, updates only the fields given, deletes with offsets', async () => {
    const g = 'CG_life';
    const created = await remote(['updateSubGroup', '-c', 'DefaultCluster', '-g', g, '-r', '5', '-q', '2', '--json']);
    expect(created.code).toBe(0);
    expectSuccessEnvelope('updateSubGroup', created.json);
    expect(created.json.result.brokers).toEqual([
      expect.objectContaining({
        addr: cb.tb.addr,
        brokerName: 'broker-a',
        existed: false,
        config: {
          groupName: g,
          consumeEnable: true,
          consumeFromMinEnable: false,
          consumeBroadcastEnable: false,
          retryQueueNums: 2,
          retryMaxTimes: 5,
          brokerId: 0,
          whichBrokerWhenConsumeSlowly: 1,
          notifyConsumerIdsChangedEnable: true,
        },
      }),
    ]);
    expect(cb.tb.broker.subscriptionGroup(g)).toMatchObject({ retryMaxTimes: 5, retryQueueNums: 2 });

    // Every mqadmin letter, on the local broker without -b/-c.
    const updated = await local(['updateSubGroup', '-g', g, '-s', 'false', '-m', 'true', '-d', 'true', '-i', '1', '-w', '0', '-a', 'false']);
    expect(updated.code).toBe(0);
    expect(updated.stdout).toMatch(/^broker-a \(127\.0\.0\.1:\d+\)\s+updated\s+false\s+true\s+true\s+2\s+5\s+1\s+0\s+false/m);
    expect(cb.tb.broker.subscriptionGroup(g)).toEqual({
      groupName: g,
      consumeEnable: false,
      consumeFromMinEnable: true,
      consumeBroadcastEnable: true,
      retryQueueNums: 2,
      retryMaxTimes: 5,
      brokerId: 1,
      whichBrokerWhenConsumeSlowly: 0,
      notifyConsumerIdsChangedEnable: false,
    });

    cb.tb.broker.commitOffset('test', g, 'SomeTopic', 0, 42);
    const deleted = await remote(['deleteSubGroup', '-b', cb.tb.addr, '-g', g, '-r', 'true', '--json']);
    expect(deleted.code).toBe(0);
    expectSuccessEnvelope('deleteSubGroup', deleted.json);
    expect(deleted.json.result).toMatchObject({ group: g, removeOffset: true, failed: [] });
    expect(deleted.json.result.brokers).toEqual([expect.objectContaining({ addr: cb.tb.addr, existed: true })]);
    expect(cb.tb.broker.subscriptionGroup(g)).toBeUndefined();
    expect(cb.tb.broker.queryOffset(g, 'SomeTopic', 0)).toBe(-1);

    const again = await local(['deleteSubGroup', '-g', g]);
    expect(again.code).toBe(1);
    expectOneLineError(again.stderr);
    expect(again.stderr).toContain(`consumer group ${g} does not exist`);
  });

  it('deleteSubGroup without --removeOffset keeps the offsets; bad values are usage errors', async () => {
    const g = 'CG_keep';
    expect((await local(['updateSubGroup', '-g', g])).code).toBe(0);
    cb.tb.broker.commitOffset('test', g, 'SomeTopic', 0, 9);
    const r = await local(['deleteSubGroup', '-g', g]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`delete subscription group ${g} from broker broker-a (${cb.tb.addr}) success.`);
    expect(cb.tb.broker.queryOffset(g, 'SomeTopic', 0)).toBe(9);
    for (const args of [['updateSubGroup', '-g', g, '-s', 'yes'], ['updateSubGroup', '-g', g, '-r', 'x'], ['deleteSubGroup', '-g', g, '-r', 'maybe']]) {
      const bad = await local(args);
      expect(bad.code, args.join(' ')).toBe(2);
      expectOneLineError(bad.stderr);
    }
  });
});

describe('consumerConnection / producerConnection', () => {
  it('an online consumer group and producer group are listed; offline is CONSUMER_NOT_ONLINE, exit 1', async () => {
    const t = 'TopicConn';
    const g = 'CG_conn';
    const pg = 'PG_conn';
    expect((await local(['updateTopic', '-t', t, '-r', '2', '-w', '2'])).code).toBe(0);

    const c = new PushConsumer({ namesrvAddr: cb.tb.namesrv!, consumerGroup: g, instanceName: 'conn-consumer' });
    c.subscribe(t, 'TagA || TagB');
    await c.start(async () => undefined);
    const p = new Producer({ namesrvAddr: cb.tb.namesrv!, producerGroup: pg, instanceName: 'conn-producer' });
    await p.start();
    try {
      await p.send({ topic: t, body: 'hello' });
      const online = await eventually(async () => {
        const r = await local(['consumerConnection', '-g', g, '--json']);
        return r.code === 0 && r.json.result.subscriptions.length > 0 ? r : undefined;
      }, 'consumer connection listed');
      expectSuccessEnvelope('consumerConnection', online.json);
      expect(online.json.result).toMatchObject({
        group: g,
        // Clustering consumers also subscribe to their group's retry topic, as Java's do.
        subscriptions: [
          { topic: `%RETRY%${g}`, subExpression: '*' },
          { topic: t, subExpression: 'TagA || TagB' },
        ],
        consumeType: 'CONSUME_PASSIVELY',
        messageModel: 'CLUSTERING',
        consumeFromWhere: 'CONSUME_FROM_LAST_OFFSET',
        brokers: [cb.tb.addr],
        failed: [],
      });
      expect(online.json.result.connections).toEqual([expect.objectContaining({ language: 'JAVA', version: 409, versionDesc: 'V4_9_8' })]);

      const table = await remote(['consumerConnection', '-g', g]);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^#ClientId\s+#ClientAddr\s+#Language\s+#Version/m);
      expect(table.stdout).toMatch(/JAVA\s+V4_9_8/);
      expect(table.stdout).toContain('Below is subscription:');
      expect(table.stdout).toMatch(/^ConsumeType:\s+CONSUME_PASSIVELY$/m);

      const producers = await remote(['producerConnection', '-g', pg, '-t', t, '--json']);
      expect(producers.code).toBe(0);
      expectSuccessEnvelope('producerConnection', producers.json);
      expect(producers.json.result.connections).toEqual([expect.objectContaining({ language: 'JAVA', versionDesc: 'V4_9_8' })]);
    } finally {
      await p.close();
      await c.close();
    }

    // The retry topic exists now (the heartbeat created it), but nobody is connected.
    const offline = await local(['consumerConnection', '-g', g]);
    expect(offline.code).toBe(1);
    expectOneLineError(offline.stderr);
    expect(offline.stderr).toContain(`consumer group ${g} is not online (CONSUMER_NOT_ONLINE from ${cb.tb.addr})`);
    const offlineJson = await remote(['consumerConnection', '-g', g, '-b', cb.tb.addr, '--json']);
    expect(offlineJson.code).toBe(1);
    expectErrorEnvelope(offlineJson.json, 1);
    expect(offlineJson.json.code).toBe('E_CONSUMER_NOT_ONLINE');

    const noProducer = await local(['producerConnection', '-g', pg, '-t', t]);
    expect(noProducer.code).toBe(1);
    expectOneLineError(noProducer.stderr);
    expect(noProducer.stderr).toContain(`no producer of group ${pg} is connected`);
  });

  it('a group never seen (no retry topic) is "does not exist", exit 1', async () => {
    const r = await local(['consumerConnection', '-g', 'CG_never_seen']);
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr);
    expect(r.stderr).toContain('consumer group CG_never_seen does not exist');
  });

  it('a group created with updateSubGroup that never had a consumer is "not online", not "does not exist"', async () => {
    expect((await local(['updateSubGroup', '-g', 'CG_created_only'])).code).toBe(0);
    const r = await local(['consumerConnection', '-g', 'CG_created_only', '--json']);
    expect(r.code).toBe(1);
    expectErrorEnvelope(r.json, 1);
    expect(r.json.code).toBe('E_CONSUMER_NOT_ONLINE');
    expect(r.json.message).toMatch(/exists but has never had a consumer/);
  });
});
