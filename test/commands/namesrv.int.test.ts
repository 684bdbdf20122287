/**
 * `rocketctl namesrv start`: a name server alone in its process (as Apache's mqnamesrv), the one
 * that outlives brokers. A broker started with two of them (`-n a;b`) registers with both;
 * clients given both keep working when one dies; a taken port is one line and exit 1.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Producer } from '../../src/client/producer.js';
import { eventually, spawnBroker, spawnNamesrv, tempDir, type BrokerProcess, type NamesrvProcess } from '../helpers/broker.js';
import { runCli } from '../helpers/cli.js';
import { uniq } from '../client/support.js';

const started: Array<BrokerProcess | NamesrvProcess> = [];
const dirs: string[] = [];
const producers: Producer[] = [];

afterEach(async () => {
  for (const p of producers.splice(0)) await p.close().catch(() => undefined);
  for (const s of started.splice(0).reverse()) await s.stop('SIGKILL');
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function namesrv(): Promise<NamesrvProcess> {
  const dir = tempDir('rocketctl-ns-');
  dirs.push(dir);
  const ns = await spawnNamesrv(['--listen-port', '0', '--kv-config', path.join(dir, 'kvConfig.json')]);
  started.push(ns);
  return ns;
}

/** The broker names `clusterList -n addr --json` lists. */
async function brokersListedBy(addr: string): Promise<string[]> {
  const r = await runCli(['clusterList', '-n', addr, '--json']);
  if (r.code !== 0) return [];
  return (r.json.result.brokers as Array<{ brokerName: string }>).map((b) => b.brokerName);
}

describe('rocketctl namesrv start', () => {
  it('serves brokers and clients alone; a broker registers with every name server of -n a;b, and clients go on when one dies', async () => {
    const [a, b] = [await namesrv(), await namesrv()];
    expect(a.stdout()).toMatch(/^namesrv ready: namesrv=127\.0\.0\.1:\d+ kvConfig=\S+kvConfig\.json\n/);
    const storeDir = tempDir('rocketctl-ns-broker-');
    dirs.push(storeDir);
    const broker = await spawnBroker(['-n', `${a.addr};${b.addr}`, '--listen-port', '0', '--store-dir', storeDir, '--broker-ip', '127.0.0.1']);
    started.push(broker);
    expect(broker.ready.namesrv).toBeUndefined();
    for (const ns of [a, b]) await eventually(async () => ((await brokersListedBy(ns.addr)).includes('broker-a') ? true : undefined), `broker-a registered with ${ns.addr}`, 20_000, 200);

    const topic = uniq('NsTopic');
    const create = await runCli(['updateTopic', '-n', `${a.addr};${b.addr}`, '-t', topic, '-c', 'DefaultCluster', '--json']);
    expect(create.code, create.stderr).toBe(0);
    const producer = new Producer({ namesrvAddr: `${a.addr};${b.addr}`, producerGroup: uniq('NsPG') });
    producers.push(producer);
    await producer.start();
    expect((await producer.send({ topic, body: Buffer.from('before') })).status).toBe('SEND_OK');

    // Name server a dies; a client started now (no routes cached) finds the topic through b.
    expect((await a.stop('SIGKILL')).signal).toBe('SIGKILL');
    const late = new Producer({ namesrvAddr: `${a.addr};${b.addr}`, producerGroup: uniq('NsPG'), instanceName: uniq('late') });
    producers.push(late);
    await late.start();
    for (const p of [producer, late]) expect((await p.send({ topic, body: Buffer.from('after') })).status).toBe('SEND_OK');
    const status = await runCli(['topicStatus', '-n', b.addr, '-t', topic, '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect((status.json.result.queues as Array<{ maxOffset: number }>).reduce((n, q) => n + q.maxOffset, 0)).toBe(3);

    // SIGTERM: a clean stop, exit 0, one line on stderr.
    await broker.stop();
    const stopped = await b.stop('SIGTERM');
    expect(stopped.code).toBe(0);
    expect(b.stderr()).toMatch(/namesrv stopped \(SIGTERM\)/);
  });

  it('a port already taken: one line naming it, exit 1; bad flags exit 2', async () => {
    const a = await namesrv();
    const port = a.addr.split(':')[1]!;
    const taken = await runCli(['namesrv', 'start', '--listen-port', port]);
    expect(taken.code).toBe(1);
    expect(taken.stderr.trim().split('\n')[0]).toBe(`Error: name server address 127.0.0.1:${port} is already in use`);
    expect(taken.stderr).not.toMatch(/\n\s+at /);
    const bad = await runCli(['namesrv', 'start', '--listen-port', '70000']);
    expect(bad.code).toBe(2);
  });
});
