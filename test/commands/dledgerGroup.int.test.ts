/**
 * `dledgerGroup` against a real DLedger group of three brokers in this process (their own name
 * server, 127.0.0.1, election timing shortened): every member with role, term, indexes and lag;
 * a member missing from the route answered through METADATA on its DLedger port; a stopped member
 * UNREACHABLE with exit 3; a group without leader failing --max-lag with exit 4; bad input as one
 * line. Every wait is a bounded poll; nothing is asserted about durations.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BrokerController } from '../../src/broker/broker.js';
import { buildBrokerConfig } from '../../src/broker/broker-config.js';
import { Producer } from '../../src/client/producer.js';
import { createTopic, eventually, tempDir } from '../helpers/broker.js';
import { BROKER_NAME, cleanups, masterOf, QUEUES, startGroup } from '../helpers/dledger-group.js';
import { expectErrorEnvelope, expectOneLineError, expectSuccessEnvelope, runCli } from '../helpers/cli.js';
import { uniq } from '../client/support.js';

interface Row {
  selfId: string;
  addr: string | null;
  brokerId: number | null;
  role: string;
  source: string;
  term: number | null;
  leaderId: string | null;
  ledgerEndIndex: number | null;
  committedIndex: number | null;
  lag: number | null;
  error: string | null;
}

async function groupCli(namesrv: string, ...extra: string[]) {
  const r = await runCli(['dledgerGroup', '-n', namesrv, ...extra, '--json']);
  if (r.json?.status !== undefined && r.json.result) expectSuccessEnvelope('dledgerGroup', r.json);
  return r;
}

describe('dledgerGroup', () => {
  it('lists every member with role, term, indexes and lag; a member not in the route through METADATA; a stopped one UNREACHABLE (exit 3); no leader fails --max-lag (exit 4)', async () => {
    const g = await startGroup();
    const leader = await masterOf(g.members, g.ns);
    const followers = g.members.filter((m) => m !== leader);
    for (const f of followers) await eventually(() => (f.broker!.dledger!.brokerId() > 0 ? true : undefined), `${f.id} a slave`, 20_000, 50);
    const topic = uniq('DlGroup');
    expect((await createTopic(g.client, leader.broker!.addresses.broker, topic, QUEUES)).code).toBe(0);
    const p = new Producer({ namesrvAddr: g.namesrv, producerGroup: uniq('DlGroupPG') });
    await p.start();
    cleanups.push(() => p.close());
    for (let i = 0; i < 5; i++) expect((await p.send({ topic, body: Buffer.from(`m${i}`) })).status).toBe('SEND_OK');

    // All three up and caught up (no sends now): lag 0 everywhere, so --max-lag 0 passes.
    const healthy = await eventually(async () => {
      const r = await groupCli(g.namesrv, '-b', BROKER_NAME, '--max-lag', '0');
      return r.code === 0 ? r : undefined;
    }, 'the group up and caught up', 20_000, 200);
    const grp = healthy.json.result.groups[0];
    expect(healthy.json.result.groups).toHaveLength(1);
    expect(grp).toMatchObject({ brokerName: BROKER_NAME, group: BROKER_NAME, leader: leader.id, size: 3, up: 3, majority: 2, majorityOk: true });
    const rows = grp.members as Row[];
    expect(rows.map((m) => m.selfId)).toEqual(['n0', 'n1', 'n2']);
    for (const m of rows) {
      const member = g.members.find((x) => x.id === m.selfId)!;
      expect(m).toMatchObject({ source: 'runtime-info', addr: member.broker!.addresses.broker, role: m.selfId === leader.id ? 'LEADER' : 'FOLLOWER', term: grp.term, leaderId: leader.id, lag: 0, error: null });
      expect(m.brokerId).toBe(m.selfId === leader.id ? 0 : Number(m.selfId.slice(1)) + 1);
      // Five sends and the leader marker at least; what a member holds is what it committed (caught up).
      expect(m.ledgerEndIndex).toBe(grp.leaderEndIndex);
      expect(m.ledgerEndIndex!).toBeGreaterThanOrEqual(5);
      expect(m.committedIndex).toBe(m.ledgerEndIndex);
    }
    const human = await runCli(['dledgerGroup', '-n', g.namesrv]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain(`${BROKER_NAME} (group ${BROKER_NAME}): leader ${leader.id}, term ${grp.term}; 3 of 3 member(s) up, majority (2) ok`);
    expect(human.stdout).toMatch(new RegExp(`${leader.id}\\s+\\S+\\s+0\\s+\\S+\\s+LEADER`));

    // A follower missing from the route (as a member not registered yet, or an Apache one) is asked METADATA on its DLedger port.
    const [hidden, stopped] = followers as [typeof leader, typeof leader];
    const cluster = Object.keys(g.ns.routeInfo.getAllClusterInfo().clusterAddrTable)[0]!;
    g.ns.routeInfo.unregisterBroker(cluster, hidden.broker!.addresses.broker, BROKER_NAME, hidden.broker!.dledger!.brokerId());
    const viaMetadata = await groupCli(g.namesrv, '-b', BROKER_NAME);
    expect(viaMetadata.code, viaMetadata.stdout + viaMetadata.stderr).toBe(0);
    const hiddenRow = (viaMetadata.json.result.groups[0].members as Row[]).find((m) => m.selfId === hidden.id)!;
    expect(hiddenRow).toMatchObject({ source: 'metadata', role: 'FOLLOWER', leaderId: leader.id, addr: null, term: null, ledgerEndIndex: null, lag: null });

    // A stopped follower: UNREACHABLE, 2 of 3 up, the majority still there, exit 3.
    await stopped.broker!.close();
    stopped.broker = undefined;
    const partial = await groupCli(g.namesrv, '-b', BROKER_NAME);
    expect(partial.code, partial.stdout + partial.stderr).toBe(3);
    expect(partial.json.status).toBe(3);
    expect(partial.json.result.groups[0]).toMatchObject({ up: 2, size: 3, majorityOk: true, leader: leader.id });
    const stoppedRow = (partial.json.result.groups[0].members as Row[]).find((m) => m.selfId === stopped.id)!;
    expect(stoppedRow).toMatchObject({ role: 'UNREACHABLE', source: 'none', addr: null, lag: null });
    expect(stoppedRow.error).toBeTruthy();
    expect(partial.json.warnings.join('\n')).toContain(`${stopped.id} (`);
    const partialHuman = await runCli(['dledgerGroup', '-n', g.namesrv, '-b', BROKER_NAME]);
    expect(partialHuman.code).toBe(3);
    expect(partialHuman.stdout).toContain('2 of 3 member(s) up, majority (2) ok');
    expect(partialHuman.stderr).toMatch(/warning: dl-a: n\d \(127\.0\.0\.1:\d+\) did not answer/);

    // The hidden follower stops too: the leader loses its majority and steps down; no leader, so --max-lag cannot pass (4 over 3).
    await hidden.broker!.close();
    hidden.broker = undefined;
    const leaderless = await eventually(async () => {
      const r = await groupCli(g.namesrv, '-b', BROKER_NAME, '--max-lag', '100');
      return r.json?.result?.groups?.[0]?.leader === null ? r : undefined;
    }, 'the last member no longer leader', 20_000, 200);
    expect(leaderless.code, leaderless.stdout + leaderless.stderr).toBe(4);
    expect(leaderless.json.result.groups[0]).toMatchObject({ up: 1, majorityOk: false, leader: null });
    expect(leaderless.json.warnings.join('\n')).toContain(`${BROKER_NAME} has no leader: lag cannot be measured`);
  });

  it('an unknown broker name is a usage error (exit 2) and a broker that is not a DLedger member exit 1, each one line', async () => {
    const g = await startGroup(1);
    await masterOf(g.members, g.ns);
    const unknown = await runCli(['dledgerGroup', '-n', g.namesrv, '-b', 'no-such-broker']);
    expect(unknown.code).toBe(2);
    expectOneLineError(unknown.stderr);
    expect(unknown.stderr).toContain('no broker named no-such-broker is registered with the name server');
    const negative = await runCli(['dledgerGroup', '-n', g.namesrv, '--max-lag', '-1']);
    expect(negative.code).toBe(2);

    const dir = tempDir('rocketctl-plain-');
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const plain = await BrokerController.start(buildBrokerConfig({ overrides: { storePathRootDir: dir, listenPort: '0', embeddedNamesrv: 'false', namesrvAddr: g.namesrv, brokerName: 'plain-b' } }).config);
    cleanups.push(() => plain.close());
    await eventually(() => (g.ns.routeInfo.getAllClusterInfo().brokerAddrTable['plain-b'] ? true : undefined), 'plain-b registered', 20_000, 50);
    const notDLedger = await runCli(['dledgerGroup', '-n', g.namesrv, '-b', 'plain-b', '--json']);
    expect(notDLedger.code).toBe(1);
    expectErrorEnvelope(notDLedger.json, 1);
    expect(notDLedger.json.code).toBe('E_NOT_DLEDGER');
    // Without -b: the DLedger groups only; a group of one is its own majority.
    const one = await groupCli(g.namesrv);
    expect(one.code, one.stdout + one.stderr).toBe(0);
    expect(one.json.result.groups).toHaveLength(1);
    expect(one.json.result.groups[0]).toMatchObject({ brokerName: BROKER_NAME, size: 1, up: 1, majority: 1, majorityOk: true, leader: 'n0' });
  });
});
