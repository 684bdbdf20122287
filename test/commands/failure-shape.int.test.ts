/**
 * One failure shape from every command that asks several brokers (issue 11): two real brokers
 * share a name server, the second one (a child process) is frozen with SIGSTOP so its connections
 * stay open and its requests time out, as a hung broker's do. Every command that fans out to
 * brokers must then still answer from the first broker, exit 3, and name the frozen one in
 * `failed` with exactly the admin layer's fields: {kind, addr, brokerName, code, message}.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Producer } from '../../src/client/producer.js';
import { createTopic, spawnBroker, startTestBroker, tempDir, type BrokerProcess, type TestBroker } from '../helpers/broker.js';
import { expectErrorEnvelope, expectSuccessEnvelope, runCli } from '../helpers/cli.js';

const TOPIC = 'FailureShapeTopic';
const GROUP = 'failure_shape_group';
const FROZEN = 'broker-frozen';
const FAILURE_KEYS = ['addr', 'brokerName', 'code', 'kind', 'message'];

let a: TestBroker;
let b: BrokerProcess;
let ns: string;
let frozenAddr: string;
let dir: string;

/** Every array named `failed` anywhere in a --json result. */
function failedLists(v: unknown, out: unknown[][] = []): unknown[][] {
  if (Array.isArray(v)) for (const x of v) failedLists(x, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === 'failed' && Array.isArray(x)) out.push(x);
      else failedLists(x, out);
    }
  }
  return out;
}

beforeAll(async () => {
  a = await startTestBroker({ config: { brokerName: 'broker-live' } });
  ns = a.namesrv!;
  dir = tempDir();
  const conf = path.join(dir, 'broker.conf');
  fs.writeFileSync(conf, `brokerName=${FROZEN}\nnamesrvAddr=${ns}\nembeddedNamesrv=false\nmappedFileSizeCommitLog=4194304\n`);
  b = await spawnBroker(['-c', conf, '--store-dir', path.join(dir, 'store'), '--listen-port', '0']);
  frozenAddr = b.ready.broker;
  for (const addr of [a.addr, frozenAddr]) expect((await createTopic(a.client, addr, TOPIC, 2)).code).toBe(0);
  // A backlog and committed offsets on both brokers, so the group exists everywhere.
  const p = new Producer({ namesrvAddr: ns, producerGroup: 'failure_shape_pg' });
  await p.start();
  try {
    for (let i = 0; i < 20; i++) await p.send({ topic: TOPIC, body: Buffer.from(`m${i}`), keys: ['shape-key'] });
  } finally {
    await p.close();
  }
  const upd = await runCli(['updateSubGroup', '-n', ns, '-c', 'DefaultCluster', '-g', GROUP, '--json']);
  expect(upd.code, upd.stderr).toBe(0);
  b.child.kill('SIGSTOP');
}, 90_000);

afterAll(async () => {
  if (b) {
    b.child.kill('SIGCONT');
    await b.stop('SIGKILL');
  }
  await a?.cleanup();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('one failure shape from every fan-out command', () => {
  // A reset is all or nothing: planning one with a broker silent would leave the group half reset.
  for (const args of [['resetOffset', '-g', GROUP, '-t', TOPIC, '-s', 'now'], ['skipAccumulatedMessage', '-g', GROUP, '-t', TOPIC]]) {
    it(`${args[0]}: refuses to plan with a broker silent (exit 1, the error envelope names it)`, async () => {
      const r = await runCli([...args, '-n', ns, '--timeout', '1500', '--json'], { timeoutMs: 60_000 });
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
      expectErrorEnvelope(r.json, 1);
      expect(r.json.code).toBe('E_TIMEOUT');
      expect(JSON.stringify(r.json)).toContain(frozenAddr);
    }, 90_000);
  }

  const commands: Array<[string, string[]]> = [
    ['topicStatus', ['topicStatus', '-t', TOPIC]],
    ['consumerProgress -g', ['consumerProgress', '-g', GROUP]],
    ['consumerProgress', ['consumerProgress']],
    ['brokerStatus -c', ['brokerStatus', '-c', 'DefaultCluster']],
    ['clusterList', ['clusterList']],
    ['updateSubGroup -c', ['updateSubGroup', '-c', 'DefaultCluster', '-g', GROUP]],
    ['updateTopic -c', ['updateTopic', '-c', 'DefaultCluster', '-t', TOPIC, '-r', '2', '-w', '2']],
    ['queryMsgByKey', ['queryMsgByKey', '-t', TOPIC, '-k', 'shape-key']],
    // Last: it deletes the group the others read.
    ['deleteSubGroup -c', ['deleteSubGroup', '-c', 'DefaultCluster', '-g', GROUP]],
  ];
  for (const [name, args] of commands) {
    it(`${name}: answers from the live broker, exits 3, names the frozen one`, async () => {
      const r = await runCli([...args, '-n', ns, '--timeout', '1500', '--json'], { timeoutMs: 60_000 });
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(3);
      expectSuccessEnvelope(args[0]!, r.json);
      const failures = failedLists(r.json.result).flat() as Array<Record<string, unknown>>;
      expect(failures.length, JSON.stringify(r.json.result)).toBeGreaterThan(0);
      for (const f of failures) expect(Object.keys(f).sort()).toEqual(FAILURE_KEYS);
      expect(failures).toContainEqual(expect.objectContaining({ kind: 'broker', addr: frozenAddr, brokerName: FROZEN, code: expect.stringMatching(/^E_/) }));
      expect(r.json.warnings.join('\n')).toContain(frozenAddr);
    }, 90_000);
  }
});