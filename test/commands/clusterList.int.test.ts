/**
 * clusterList and brokerStatus through the real CLI (`node bin/run.js`, built) against a real
 * broker in this process: over its Unix socket (the default target) and over its name server
 * (-n, as against an Apache cluster). A broker registered with the name server that cannot be
 * reached makes the answer partial: listed as failed, exit 3, the rest printed.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../client/support.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { encodeJson } from '../../src/protocol/bodies.js';
import { RequestCode } from '../../src/protocol/codes.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { Producer } from '../../src/client/producer.js';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { expectErrorEnvelope, expectOneLineError, expectSuccessEnvelope, runCli } from '../helpers/cli.js';

let tb: TestBroker;
let socket: string;
/** NAMESRV_ADDR from the runner's environment must not redirect the default target. */
const ENV = { NAMESRV_ADDR: '' };

beforeAll(async () => {
  tb = await startTestBroker();
  socket = path.join(tb.storeDir, 'broker.sock');
  // Some traffic, so the put counters are not all zero.
  const p = new Producer({ namesrvAddr: tb.namesrv!, producerGroup: 'PG_clusterList', instanceName: 'clusterList-test' });
  await p.start();
  try {
    for (let i = 0; i < 5; i++) await p.send({ topic: 'TopicTest_clusterList', body: `m${i}` });
  } finally {
    await p.close();
  }
});

afterAll(async () => {
  await tb?.cleanup();
});

const cli = (args: string[]) => runCli([...args, '--socket', socket], { env: ENV });

describe('clusterList', () => {
  it('--json: the local broker with its version and disk use (schema-checked)', async () => {
    const r = await cli(['clusterList', '--json']);
    expect(r.code).toBe(0);
    expectSuccessEnvelope('clusterList', r.json);
    expect(r.json.result.failed).toEqual([]);
    expect(r.json.result.brokers).toEqual([
      expect.objectContaining({ clusterName: 'DefaultCluster', brokerName: 'broker-a', brokerId: 0, addr: tb.addr, version: 'V4_9_8', outTps: 0, outTotalToday: 0 }), // nothing consumed yet
    ]);
    expect(r.json.result.brokers[0].commitLogDiskRatio).toBeGreaterThan(0);
    expect(r.json.result.brokers[0].inTotalToday).toBeGreaterThanOrEqual(5);
  });

  it('table: mqadmin\'s columns; -m the message totals; the same through -n', async () => {
    const plain = await cli(['clusterList']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^#Cluster Name\s+#Broker Name\s+#BID\s+#Addr\s+#Version\s+#InTPS\(LOAD\)\s+#OutTPS\(LOAD\)\s+#PCWait\(ms\)\s+#Hour\s+#SPACE/m);
    expect(plain.stdout).toMatch(new RegExp(`^DefaultCluster\\s+broker-a\\s+0\\s+${tb.addr.replace(/\./g, '\\.')}\\s+V4_9_8`, 'm'));
    const more = await runCli(['clusterList', '-m', '-n', tb.namesrv!]);
    expect(more.code).toBe(0);
    expect(more.stdout).toMatch(/^#Cluster Name\s+#Broker Name\s+#BID\s+#InTotalYest\s+#OutTotalYest\s+#InTotalToday\s+#OutTotalToday/m);
    expect(more.stdout).toMatch(/^DefaultCluster\s+broker-a\s+0\s+/m);
    expect(more.stderr).toBe('');
  });
});

describe('brokerStatus', () => {
  it('default (local broker), -b and -c: the runtime KV table', async () => {
    const local = await cli(['brokerStatus', '--json']);
    expect(local.code).toBe(0);
    expectSuccessEnvelope('brokerStatus', local.json);
    const stats = local.json.result.brokers[0].stats;
    expect(stats).toMatchObject({ brokerVersionDesc: 'V4_9_8', brokerVersion: '409', brokerAddr: tb.addr, flushDiskType: 'ASYNC_FLUSH', brokerRole: 'ASYNC_MASTER' });
    expect(Number(stats.msgPutTotalTodayNow)).toBeGreaterThanOrEqual(5);
    expect(Object.keys(stats)).toEqual(Object.keys(stats).sort());

    const byAddr = await runCli(['brokerStatus', '-n', tb.namesrv!, '-b', tb.addr]);
    expect(byAddr.code).toBe(0);
    expect(byAddr.stdout).toMatch(/^brokerVersionDesc:\s+V4_9_8$/m);
    expect(byAddr.stdout).toMatch(/^runtime:\s+\[ \d+ days, \d+ hours, \d+ minutes, \d+ seconds \]$/m);

    const byCluster = await runCli(['brokerStatus', '-n', tb.namesrv!, '-c', 'DefaultCluster', '--json']);
    expect(byCluster.code).toBe(0);
    expect(byCluster.json.result.brokers.map((b: { addr: string }) => b.addr)).toEqual([tb.addr]);
  });

  it('-b and -c together is a usage error (exit 2); an unknown cluster is one line, exit 1', async () => {
    const both = await cli(['brokerStatus', '-b', tb.addr, '-c', 'DefaultCluster']);
    expect(both.code).toBe(2);
    expectOneLineError(both.stderr);
    const unknown = await cli(['brokerStatus', '-c', 'NoSuchCluster']);
    expect(unknown.code).toBe(1);
    expectOneLineError(unknown.stderr);
    expect(unknown.stderr).toContain('cluster NoSuchCluster is not known to the name server (known: DefaultCluster)');
  });
});

describe('a broker that cannot be reached', () => {
  it('clusterList and brokerStatus -c list it as failed, print the rest and exit 3', async () => {
    const ghost = `127.0.0.1:${await freePort()}`;
    const reg = new RemotingClient({ requestTimeoutMs: 5000 });
    try {
      // Registered over a connection kept open: the name server drops it when the connection closes.
      const body = encodeJson({ filterServerList: [], topicConfigSerializeWrapper: { dataVersion: { counter: 1, timestamp: Date.now() }, topicConfigTable: {} } });
      const res = await reg.invoke(tb.namesrv!, makeRequest(RequestCode.REGISTER_BROKER, { brokerName: 'broker-ghost', brokerAddr: ghost, clusterName: 'DefaultCluster', haServerAddr: ghost, brokerId: 0 }, body));
      expect(res.code).toBe(0);

      const json = await cli(['clusterList', '--json']);
      expect(json.code).toBe(3);
      expectSuccessEnvelope('clusterList', json.json);
      expect(json.json.status).toBe(3);
      expect(json.json.result.brokers.map((b: { brokerName: string }) => b.brokerName)).toEqual(['broker-a']);
      expect(json.json.result.failed).toEqual([expect.objectContaining({ kind: 'broker', brokerName: 'broker-ghost', addr: ghost, code: 'E_BROKER_UNREACHABLE' })]);
      expect(json.json.warnings).toEqual([expect.stringContaining(`broker broker-ghost (${ghost}) failed: cannot reach ${ghost}`)]);

      const human = await cli(['clusterList']);
      expect(human.code).toBe(3);
      expect(human.stdout).toMatch(/^DefaultCluster\s+broker-a\s+/m);
      expect(human.stdout).not.toContain('broker-ghost');
      expect(human.stderr).toContain(`warning: broker broker-ghost (${ghost}) failed`);

      const bs = await runCli(['brokerStatus', '-n', tb.namesrv!, '-c', 'DefaultCluster', '--json']);
      expect(bs.code).toBe(3);
      expectSuccessEnvelope('brokerStatus', bs.json);
      expect(bs.json.result.failed.map((f: { addr: string }) => f.addr)).toEqual([ghost]);

      // Only the unreachable broker asked: nothing to print, so it is an error.
      const only = await runCli(['brokerStatus', '-n', tb.namesrv!, '-b', ghost, '--timeout', '2000']);
      expect(only.code).toBe(1);
      expectOneLineError(only.stderr);
      expect(only.stderr).toContain(`cannot reach ${ghost}`);
    } finally {
      await reg.close();
    }
  });
});


describe('brokerStatus / clusterList errors', () => {
  it('no local broker: one line naming the socket and how to start one, exit 1', async () => {
    const r = await runCli(['clusterList', '--socket', path.join(tb.storeDir, 'nope.sock')], { env: ENV });
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr);
    expect(r.stderr).toContain('cannot reach the local broker (no socket at');
    expect(r.stderr).toContain('try: start a local broker with: rocketctl broker start');
    const j = await runCli(['brokerStatus', '--socket', path.join(tb.storeDir, 'nope.sock'), '--json'], { env: ENV });
    expect(j.code).toBe(1);
    expectErrorEnvelope(j.json, 1);
    expect(j.json.code).toBe('E_BROKER_UNREACHABLE');
  });
});
