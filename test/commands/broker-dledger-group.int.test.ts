/**
 * `rocketctl broker start --dledger-group 3`: a name server and a DLedger group of three brokers in
 * one process. It prints a line per member and the group's ready line; the name server lists one
 * master (the leader) and two slaves under one broker name; a producer sends through it; SIGINT
 * closes every member cleanly. A group size that is not 3, 5 or 7 is a usage error.
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Producer } from '../../src/client/producer.js';
import { eventually, spawnDLedgerGroup, tempDir } from '../helpers/broker.js';
import { runCli } from '../helpers/cli.js';
import { uniq } from '../client/support.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('broker start --dledger-group', () => {
  it('runs a name server and three members; one registers as master; sends work; SIGINT closes all cleanly', async () => {
    const dir = tempDir('rocketctl-dlgroup-');
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const g = await spawnDLedgerGroup(3, ['--listen-port', '0', '--namesrv-port', '0', '--store-dir', dir, '--flush-disk-type', 'SYNC_FLUSH'], { timeoutMs: 60_000 });
    cleanups.push(() => g.stop('SIGKILL'));
    expect(g.members.map((m) => m.selfId)).toEqual(['n0', 'n1', 'n2']);
    expect(g.stdout()).toMatch(/^member n0 ready: broker=\S+ fast=\S+ namesrvAddr=\S+ socket=\S+ store=\S+dledger-group\/n0\n/);

    const rows = await eventually(async () => {
      const r = await runCli(['clusterList', '-n', g.namesrv, '--json']);
      const brokers = (r.json?.result?.brokers ?? []) as Array<{ brokerId: number; addr: string; dledger: { role: string } | null }>;
      return brokers.length === 3 && brokers.some((b) => b.brokerId === 0) ? brokers : undefined;
    }, 'a master and two slaves registered', 30_000, 200);
    const master = rows.find((b) => b.brokerId === 0)!;
    expect(master.dledger?.role).toBe('LEADER');
    expect(rows.map((b) => b.addr).sort()).toEqual(g.members.map((m) => m.addr).sort());

    const topic = uniq('DlGroupTopic');
    const created = await runCli(['updateTopic', '-n', g.namesrv, '-t', topic, '-c', 'DefaultCluster', '--json']);
    expect(created.code, created.stderr).toBe(0);
    const p = new Producer({ namesrvAddr: g.namesrv, producerGroup: uniq('DlGroupPG') });
    await p.start();
    cleanups.push(() => p.close());
    const sent = await p.send({ topic, body: Buffer.from('replicated') });
    expect(sent.status).toBe('SEND_OK');
    await p.close();

    const exit = await g.stop('SIGINT', 30_000);
    expect(exit.code, g.stderr()).toBe(0);
    expect(g.stderr()).toContain('store closed cleanly');
  });

  it('a group of 4 is a usage error, one line', async () => {
    const r = await runCli(['broker', 'start', '--dledger-group', '4', '--listen-port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/3, 5, 7/);
  });
});
