/**
 * Three brokers in one process as a DLedger group (enableDLegerCommitLog=true, one brokerName),
 * with a name server of their own, on 127.0.0.1: the elected leader registers as master (brokerId
 * 0) and the others as slaves (brokerId = id + 1); a SYNC_FLUSH send is answered once a majority
 * holds it, and every member's consume queues get it; a follower refuses sends; with the leader
 * gone, the other two elect a new one, which registers as master, and the producer goes on; every
 * acknowledged message is read back from the new leader, once. Election timing is shortened;
 * every wait is a bounded poll; nothing is asserted about durations.
 */
import { describe, expect, it } from 'vitest';
import { BrokerController } from '../../src/broker/broker.js';
import { buildBrokerConfig } from '../../src/broker/broker-config.js';
import { Producer } from '../../src/client/producer.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { RequestCode, ResponseCode } from '../../src/protocol/codes.js';
import { createTopic, eventually } from '../helpers/broker.js';
import { BROKER_NAME, cleanups, masterOf, QUEUES, readAllFrom, startGroup, storedCount } from '../helpers/dledger-group.js';
import { expectSuccessEnvelope, runCli } from '../helpers/cli.js';
import { uniq } from '../client/support.js';

describe('a DLedger group of three brokers in one process', () => {
  it('elects a master, replicates every acknowledged send to all, refuses sends on a slave, and fails over with nothing acknowledged lost', async () => {
    const g = await startGroup();
    let leader = await masterOf(g.members, g.ns);
    const followers = g.members.filter((m) => m !== leader);
    for (const f of followers) {
      await eventually(() => (f.broker!.dledger!.brokerId() === Number(f.id.slice(1)) + 1 ? true : undefined), `${f.id} a slave`, 20_000, 50);
    }
    const topic = uniq('DlTopic');
    // Created on the master; the slaves take it from there (SlaveSynchronize), as they take committed offsets.
    expect((await createTopic(g.client, leader.broker!.addresses.broker, topic, QUEUES)).code).toBe(0);
    const group = uniq('DlG');
    const commit = await g.client.invoke(leader.broker!.addresses.broker, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic, queueId: 1, commitOffset: 7 }));
    expect(commit.code).toBe(0);
    for (const f of followers) {
      await eventually(() => (f.broker!.topicConfig(topic)?.writeQueueNums === QUEUES && f.broker!.queryOffset(group, topic, 1) === 7 ? true : undefined), `${f.id} took the topic and the offset from its master`, 20_000, 50);
    }

    const producer = new Producer({ namesrvAddr: g.namesrv, producerGroup: uniq('DlPG') });
    await producer.start();
    cleanups.push(() => producer.close());
    const acked: string[] = [];
    /** Bodies a send failed for at least once (during the failover): they may be stored twice. */
    const retried = new Set<string>();
    const send = async (i: number) => {
      const body = `m${i}`;
      // Bounded: 100 attempts. A send that fails is not acknowledged, so it may or may not be stored.
      for (let attempt = 0; attempt < 100; attempt++) {
        try {
          const r = await producer.send({ topic, body: Buffer.from(body) });
          expect(r.status).toBe('SEND_OK');
          acked.push(body);
          return;
        } catch {
          retried.add(body);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      expect.fail(`${body}: no send succeeded`);
    };
    for (let i = 0; i < 120; i++) await send(i);
    // Every member's consume queues get every committed message.
    for (const m of g.members) await eventually(() => (storedCount(m, topic) === 120 ? true : undefined), `${m.id} holds 120`, 20_000, 50);

    // A slave takes no messages (SERVICE_NOT_AVAILABLE, as DLedgerCommitLog answers NOT_LEADER).
    const slave = followers[0]!;
    const refused = await g.client.invoke(
      slave.broker!.addresses.broker,
      makeRequest(RequestCode.SEND_MESSAGE, { producerGroup: 'PG', topic, defaultTopic: 'TBW102', defaultTopicQueueNums: 4, queueId: 0, sysFlag: 0, bornTimestamp: Date.now(), flag: 0, reconsumeTimes: 0, unitMode: false, properties: '' }, Buffer.from('x')),
    );
    expect(refused.code).toBe(ResponseCode.SERVICE_NOT_AVAILABLE);

    // The leader goes; the other two elect a new one, which registers as master.
    const old = leader;
    await old.broker!.close();
    old.broker = undefined;
    leader = await masterOf(g.members, g.ns);
    expect(leader).not.toBe(old);
    for (let i = 120; i < 200; i++) await send(i);
    expect(leader.broker!.queryOffset(group, topic, 1)).toBe(7);

    // Everything acknowledged is on the new leader, once, in its queues.
    const bodies = (await readAllFrom(g.namesrv, leader.broker!.addresses.broker, topic)).map((m) => m.body.toString());
    // Each acknowledged message once; a second copy only of one whose send had failed before.
    const twice = bodies.filter((b, i) => bodies.indexOf(b) !== i);
    expect(twice.filter((b) => !retried.has(b))).toEqual([]);
    expect([...new Set(bodies)].sort()).toEqual([...acked].sort());
    // The survivor that is not leader holds them too.
    const other = g.members.find((m) => m.broker && m !== leader)!;
    await eventually(() => (storedCount(other, topic) === bodies.length ? true : undefined), `${other.id} holds ${bodies.length}`, 20_000, 50);
  });

  it('clusterList shows each member\'s role, term and committed index; checkNoLoss --require replication passes with 3 of 3 and exits 4 with 2 of 3', async () => {
    const g = await startGroup();
    const leader = await masterOf(g.members, g.ns);
    for (const f of g.members.filter((m) => m !== leader)) {
      await eventually(() => (f.broker!.dledger!.brokerId() > 0 ? true : undefined), `${f.id} a slave`, 20_000, 50);
    }
    const list = await runCli(['clusterList', '-n', g.namesrv, '--json']);
    expect(list.code, list.stderr).toBe(0);
    const rows = list.json.result.brokers as Array<{ brokerName: string; brokerId: number; addr: string; dledger: { selfId: string; role: string; term: number; writable: boolean } | null }>;
    expect(rows.map((r) => [r.brokerId, r.dledger?.selfId, r.dledger?.role]).sort()).toEqual(
      g.members.map((m) => (m === leader ? [0, m.id, 'LEADER'] : [Number(m.id.slice(1)) + 1, m.id, 'FOLLOWER'])).sort(),
    );
    expect(new Set(rows.map((r) => r.dledger!.term)).size).toBe(1);
    const table = await runCli(['clusterList', '-n', g.namesrv]);
    expect(table.stdout).toMatch(new RegExp(`${leader.id} LEADER term \\d+ commit`));

    const healthy = await runCli(['checkNoLoss', '-n', g.namesrv, '--require', 'replication', '--json']);
    const item = (r: typeof healthy) => (r.json.result.items as Array<{ id: string; status: string; current: string }>).find((i) => i.id === 'replication')!;
    expect(item(healthy)).toMatchObject({ status: 'pass' });
    expect(item(healthy).current).toContain('3 of 3 member(s) registered');
    expect(healthy.code, healthy.stdout + healthy.stderr).toBe(0);

    // One follower stops (and unregisters): one more failure would leave no majority.
    const down = g.members.find((m) => m !== leader)!;
    await down.broker!.close();
    down.broker = undefined;
    await eventually(() => (Object.keys(g.ns.routeInfo.getAllClusterInfo().brokerAddrTable[BROKER_NAME]?.brokerAddrs ?? {}).length === 2 ? true : undefined), 'two members registered', 20_000, 50);
    const degraded = await runCli(['checkNoLoss', '-n', g.namesrv, '--require', 'replication', '--json']);
    expect(degraded.code, degraded.stdout + degraded.stderr).toBe(4);
    expect(item(degraded).current).toContain('2 of 3 member(s) registered: one more failure leaves no majority');
  });

  it('a plain broker refuses a DLedger store (store verify reads it as the member would)', async () => {
    const g = await startGroup();
    const leader = await masterOf(g.members, g.ns);
    const topic = uniq('DlKind');
    expect((await createTopic(g.client, leader.broker!.addresses.broker, topic, QUEUES)).code).toBe(0);
    const p = new Producer({ namesrvAddr: g.namesrv, producerGroup: uniq('DlKindPG') });
    await p.start();
    cleanups.push(() => p.close());
    expect((await p.send({ topic, body: Buffer.from('x') })).status).toBe('SEND_OK');
    await leader.broker!.close();
    leader.broker = undefined;
    // store verify reads it as the member would: its commit log is the DLedger data files.
    const verify = await runCli(['store', 'verify', '--store-dir', leader.dir, '--json']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.json.result).toMatchObject({ mode: 'clean', problem: null, queueUnitsDropped: 0 });
    expect(verify.json.result.recordsScanned).toBeGreaterThanOrEqual(2);
    const plain = buildBrokerConfig({ overrides: { storePathRootDir: leader.dir, listenPort: '0', embeddedNamesrv: 'false' } }).config;
    await expect(BrokerController.start(plain)).rejects.toThrow(/holds a DLedger commit log \(dledger-n\d\): start it with enableDLegerCommitLog=true/);

    // The other way, a store written without DLedger is converted: convert.int.test.ts.
  });

  it('transferLeadership moves the leadership and the master role to the named member; an unknown member is a usage error', async () => {
    const g = await startGroup();
    const leader = await masterOf(g.members, g.ns);
    const target = g.members.find((m) => m !== leader)!;
    await eventually(() => (target.broker!.dledger!.brokerId() > 0 ? true : undefined), `${target.id} a slave`, 20_000, 50);
    const r = await runCli(['transferLeadership', '-n', g.namesrv, '-b', BROKER_NAME, '--to', target.id, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expectSuccessEnvelope('transferLeadership', r.json);
    expect(r.json.result).toMatchObject({ brokerName: BROKER_NAME, from: leader.id, to: target.id, transferred: true, masterAddr: target.broker!.addresses.broker });
    expect(await masterOf(g.members, g.ns)).toBe(target);
    const unknown = await runCli(['transferLeadership', '-n', g.namesrv, '-b', BROKER_NAME, '--to', 'n9']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/n9 is not a live member of dl-a/);
  });
});
