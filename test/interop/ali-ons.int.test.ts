/**
 * Interop with a third-party RocketMQ client: ali-ons 3.12.0 (pure JS, remoting protocol) produces
 * to and consumes from our broker through our embedded name server. Each scenario runs in a child
 * process (test/interop/ali-ons-scenario.cjs), because ali-ons' timers only stop with process.exit.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bodyBuffer, makeRequest } from '../../src/protocol/frame.js';
import { RequestCode, ResponseCode } from '../../src/protocol/codes.js';
import { decodeRecords, SysFlag } from '../../src/protocol/message.js';
import { decodeTopicRouteData } from '../../src/protocol/bodies.js';
import { decodeProperties } from '../../src/protocol/properties.js';
import { createTopic, eventually, startTestBroker, type TestBroker } from '../helpers/broker.js';
import { masterOf, QUEUES, readAllFrom, startGroup } from '../helpers/dledger-group.js';
import { expectSuccessEnvelope, ROOT, runCli, type CliResult } from '../helpers/cli.js';

const SCRIPT = path.join(ROOT, 'test/interop/ali-ons-scenario.cjs');

interface Sent {
  msgId: string;
  sendStatus: string;
  tags: string;
  /** As ali-ons reports them: the keys joined with a space. */
  keys: string;
  bodySha1: string;
  bodyLength?: number;
  queueId?: number | string;
}
interface Received {
  msgId: string;
  topic: string;
  tags: string;
  keys: string;
  bodySha1: string;
  bodyLength: number;
  reconsumeTimes: number;
  originMessageId: string | null;
  retryTopic: string | null;
}
interface ScenarioResult {
  sent: Sent[];
  received: Received[];
  errors: string[];
  logs: unknown[];
  timedOut?: boolean;
}

/** Run a scenario; `onReady` runs (while it keeps running) when it prints its {"ready":true} line. */
function runScenario(input: Record<string, unknown>, timeoutMs = 50_000, onReady?: () => Promise<void>): Promise<ScenarioResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, JSON.stringify({ timeoutMs: timeoutMs - 5000, ...input })], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let readyRun: Promise<void> | undefined;
    child.stdout.on('data', (d) => {
      out += d;
      if (onReady && !readyRun && out.includes('{"ready":true}')) readyRun = onReady().catch((e: unknown) => {
        child.kill('SIGKILL');
        throw e;
      });
    });
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').at(-1) ?? '';
      try {
        const r = JSON.parse(line) as ScenarioResult;
        if (code !== 0 || r.timedOut) reject(new Error(`ali-ons scenario exited ${code}${r.timedOut ? ' (timed out)' : ''}: ${JSON.stringify(r).slice(0, 4000)}\nstderr: ${err.slice(-2000)}`));
        else if (onReady && !readyRun) reject(new Error('ali-ons scenario never printed its ready line'));
        else if (readyRun) readyRun.then(() => resolve(r), reject);
        else resolve(r);
      } catch {
        reject(new Error(`ali-ons scenario exited ${code} without a result\nstdout: ${out.slice(-2000)}\nstderr: ${err.slice(-2000)}`));
      }
    });
  });
}

const brokers: TestBroker[] = [];
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.cleanup();
});

async function start(config: Record<string, string> = {}): Promise<TestBroker> {
  const b = await startTestBroker({ namesrv: true, config });
  brokers.push(b);
  return b;
}

async function routeExists(b: TestBroker, topic: string): Promise<boolean> {
  const res = await b.client.invoke(b.namesrv!, makeRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic }));
  return res.code === ResponseCode.SUCCESS && decodeTopicRouteData(bodyBuffer(res)).queueDatas.length > 0;
}

describe('interop: ali-ons 3.12.0 against our broker', () => {
  it('produces with tags and keys (bodies over 4 KiB compressed) and consumes with a tag filter, each message exactly once', async () => {
    const b = await start();
    const topic = 'AliOnsTopic';
    expect((await createTopic(b.client, b.addr, topic, 4)).code).toBe(0);
    await eventually(async () => ((await routeExists(b, topic)) ? true : undefined), 'route in the name server');

    const runId = crypto.randomUUID().slice(0, 8);
    const r = await runScenario({ scenario: 'produce-consume', nameSrv: b.namesrv, topic, group: 'GID_interop', producerGroup: 'PID_interop', count: 16, runId });

    expect(r.sent).toHaveLength(16);
    for (const [i, s] of r.sent.entries()) {
      expect(s.keys).toBe(`k${i} run-${runId}`);
      expect(s.sendStatus).toBe('SEND_OK');
      expect(s.msgId).toMatch(/^[0-9A-F]{32}$/);
    }
    const tagA = r.sent.filter((s) => s.tags === 'TagA');
    // Exactly the TagA messages, each once, with the msgId the send returned, body, tags and keys.
    const byId = new Map<string, Received[]>();
    for (const m of r.received) byId.set(m.msgId, [...(byId.get(m.msgId) ?? []), m]);
    expect([...byId.keys()].sort()).toEqual(tagA.map((s) => s.msgId).sort());
    for (const s of tagA) {
      const got = byId.get(s.msgId)!;
      expect(got, `arrivals of ${s.msgId}`).toHaveLength(1);
      expect(got[0]).toMatchObject({ topic, tags: 'TagA', keys: s.keys, bodySha1: s.bodySha1, bodyLength: s.bodyLength, reconsumeTimes: 0 });
    }
    const large = tagA.filter((s) => (s.bodyLength ?? 0) > 4096);
    expect(large.length).toBeGreaterThan(0);

    // What ali-ons stored: large bodies deflated (sysFlag COMPRESSED), small ones as they are.
    let compressed = 0;
    for (let q = 0; q < 4; q++) {
      const res = await b.client.invoke(
        b.addr,
        makeRequest(RequestCode.PULL_MESSAGE, { consumerGroup: 'inspector', topic, queueId: q, queueOffset: 0, maxMsgNums: 32, sysFlag: 4, commitOffset: 0, suspendTimeoutMillis: 0, subscription: '*', subVersion: 0 }),
      );
      if (res.code !== 0) continue;
      for (const rec of decodeRecords(bodyBuffer(res))) {
        if (rec.sysFlag & SysFlag.COMPRESSED) {
          compressed++;
          expect(rec.body.length).toBeLessThan(4096);
        }
      }
    }
    expect(compressed).toBe(r.sent.filter((s) => (s.bodyLength ?? 0) > 4096).length);

    // The consumer committed its progress: queues it consumed from are committed to their end.
    // (Queues holding only TagB stay uncommitted: ali-ons, unlike the Java client, does not commit
    // past messages the broker filtered out.)
    const consumedQueues = new Set(tagA.map((s) => Number(s.queueId)));
    expect(consumedQueues.size).toBeGreaterThan(0);
    for (const q of consumedQueues) {
      const max = await b.client.invoke(b.addr, makeRequest(RequestCode.GET_MAX_OFFSET, { topic, queueId: q }));
      const committed = await b.client.invoke(b.addr, makeRequest(RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: 'GID_interop', topic, queueId: q }));
      expect(committed.extFields!.offset, `queue ${q}`).toBe(max.extFields!.offset);
    }
  });

  it('redelivers a message whose handler failed once, through %RETRY%<group> and CONSUMER_SEND_MSG_BACK', async () => {
    // Delay level 3 (the first retry) is 1 s instead of 10 s.
    const b = await start({ messageDelayLevel: '1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s' });
    const topic = 'AliOnsRetry';
    expect((await createTopic(b.client, b.addr, topic, 2)).code).toBe(0);
    await eventually(async () => ((await routeExists(b, topic)) ? true : undefined), 'route in the name server');

    const r = await runScenario({ scenario: 'retry', nameSrv: b.namesrv, topic, group: 'GID_retry', producerGroup: 'PID_retry', runId: 'r1' });
    expect(r.sent).toHaveLength(1);
    const s = r.sent[0]!;
    expect(r.received).toHaveLength(2);
    const [first, second] = r.received as [Received, Received];
    expect(first).toMatchObject({ msgId: s.msgId, topic, tags: 'TagR', keys: 'retry-r1', bodySha1: s.bodySha1, reconsumeTimes: 0 });
    // The redelivery: same body, tags and keys, one more reconsume, the original id kept.
    expect(second).toMatchObject({ topic, tags: 'TagR', keys: 'retry-r1', bodySha1: s.bodySha1, reconsumeTimes: 1, originMessageId: s.msgId, retryTopic: topic });
    expect(second.msgId).not.toBe(s.msgId);
    // The retry topic was created on the consumer's heartbeat and registered with the name server.
    expect(await routeExists(b, '%RETRY%GID_retry')).toBe(true);
  });
});

describe('interop: our client with ali-ons 3.12.0, both ways', () => {
  it("our producer's messages are consumed by an ali-ons consumer with bodies, tags, keys and ids intact", async () => {
    const b = await start();
    const topic = `OursToAliOns${Date.now() % 100000}`;
    expect((await createTopic(b.client, b.addr, topic, 4)).code).toBe(ResponseCode.SUCCESS);
    await eventually(async () => ((await routeExists(b, topic)) ? true : undefined), `route of ${topic}`);
    const { Producer } = await import('../../src/client/producer.js');
    const producer = new Producer({ namesrvAddr: b.namesrv!, producerGroup: 'PG_ours_to_alions', instanceName: 'ours-to-alions' });
    await producer.start();
    const sent: Array<{ offsetMsgId: string; tags: string; keys: string; bodySha1: string }> = [];
    try {
      for (let i = 0; i < 8; i++) {
        // Every 4th body over 4 KiB: our producer compresses it; ali-ons must inflate it.
        const body = Buffer.from(i % 4 === 0 ? `ours ${i} `.repeat(800) : `ours ${i}`);
        const tags = i % 2 === 0 ? 'TagA' : 'TagB';
        const r = await producer.send({ topic, body, tags, keys: [`ok${i}`, 'ours'] });
        expect(r.status).toBe('SEND_OK');
        sent.push({ offsetMsgId: r.offsetMsgId!, tags, keys: `ok${i} ours`, bodySha1: crypto.createHash('sha1').update(body).digest('hex') });
      }
    } finally {
      await producer.close();
    }
    const result = await runScenario({ scenario: 'consume-only', nameSrv: b.namesrv, topic, group: 'GID_alions_reads_ours', producerGroup: 'PID_alions_idle', expect: sent.length, runId: 'x' });
    expect(result.received).toHaveLength(sent.length);
    for (const s of sent) {
      // ali-ons computes msgId from the record's store host and commit log offset: our offsetMsgId.
      const got = result.received.filter((r) => r.msgId === s.offsetMsgId);
      expect(got, `arrivals of ${s.offsetMsgId}`).toHaveLength(1);
      expect(got[0]).toMatchObject({ topic, tags: s.tags, keys: s.keys, bodySha1: s.bodySha1 });
    }
  });

  it("ali-ons' messages are consumed by our push consumer with bodies, tags, keys and ids intact", async () => {
    const b = await start();
    const topic = `AliOnsToOurs${Date.now() % 100000}`;
    expect((await createTopic(b.client, b.addr, topic, 4)).code).toBe(ResponseCode.SUCCESS);
    await eventually(async () => ((await routeExists(b, topic)) ? true : undefined), `route of ${topic}`);
    const produced = await runScenario({ scenario: 'produce-only', nameSrv: b.namesrv, topic, group: 'GID_alions_idle', producerGroup: 'PID_alions_writes', count: 8, runId: 'y' });
    expect(produced.sent).toHaveLength(8);

    const { PushConsumer } = await import('../../src/client/push-consumer.js');
    const consumer = new PushConsumer({ namesrvAddr: b.namesrv!, consumerGroup: 'CG_ours_reads_alions', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', instanceName: 'ours-reads-alions' });
    const got = new Map<string, { tags?: string; keys: string; sha: string; topic: string }[]>();
    consumer.subscribe(topic, '*');
    try {
      await consumer.start((m) => {
        const list = got.get(m.msgId) ?? [];
        list.push({ tags: m.tags, keys: m.keys.join(' '), sha: crypto.createHash('sha1').update(m.body).digest('hex'), topic: m.topic });
        got.set(m.msgId, list);
      });
      await eventually(() => ([...got.values()].reduce((n, l) => n + l.length, 0) >= 8 ? true : undefined), 'eight ali-ons messages consumed');
    } finally {
      await consumer.close();
    }
    for (const s of produced.sent) {
      // ali-ons sends no UNIQ_KEY, so our msgId is the broker's offsetMsgId — what ali-ons' send returned.
      const arrivals = got.get(s.msgId);
      expect(arrivals, `arrivals of ${s.msgId}`).toHaveLength(1);
      expect(arrivals![0]).toMatchObject({ topic, tags: s.tags, keys: s.keys, sha: s.bodySha1 });
    }
  });
});

describe('interop: resetOffset against an online ali-ons consumer', () => {
  it('ali-ons writes its old offset back (it ignores RESET_CONSUMER_CLIENT_OFFSET): every such queue is "reverted", exit 3, stop the consumers', async () => {
    const b = await start();
    const topic = `ResetAliOns${Date.now() % 100000}`;
    const group = 'GID_reset_alions';
    expect((await createTopic(b.client, b.addr, topic, 2)).code).toBe(ResponseCode.SUCCESS);
    await eventually(async () => ((await routeExists(b, topic)) ? true : undefined), `route of ${topic}`);
    const { Producer } = await import('../../src/client/producer.js');
    const producer = new Producer({ namesrvAddr: b.namesrv!, producerGroup: 'PG_reset_alions', instanceName: 'reset-alions' });
    await producer.start();
    try {
      for (let i = 0; i < 6; i++) expect((await producer.send({ topic, body: `m${i}` })).status).toBe('SEND_OK');
    } finally {
      await producer.close();
    }
    const queryOffset = async (queueId: number) =>
      Number((await b.client.invoke(b.addr, makeRequest(RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: group, topic, queueId }))).extFields!.offset);
    const maxOffset = async (queueId: number) => Number((await b.client.invoke(b.addr, makeRequest(RequestCode.GET_MAX_OFFSET, { topic, queueId }))).extFields!.offset);

    const undoDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rocketctl-undo-'));
    let reset: CliResult | undefined;
    const consumed = await runScenario({ scenario: 'consume-hold', nameSrv: b.namesrv, topic, group, producerGroup: 'PID_reset_idle', expect: 6, holdMs: 12_000, runId: 'r' }, 50_000, async () => {
      const ends = [await maxOffset(0), await maxOffset(1)];
      expect([await queryOffset(0), await queryOffset(1)]).toEqual(ends);
      reset = await runCli(['resetOffset', '-n', b.namesrv!, '-g', group, '-t', topic, '--earliest', '--execute', '--watch-ms', '5000', '--undo-file', path.join(undoDir, 'undo.json'), '--json']);
      // The consumer never moved: its old offsets are what the broker holds.
      expect([await queryOffset(0), await queryOffset(1)]).toEqual(ends);
    });
    fs.rmSync(undoDir, { recursive: true, force: true });
    // ali-ons consumed nothing again.
    expect(consumed.received).toHaveLength(6);

    const r = reset!;
    expect(r.code, r.stderr + r.stdout).toBe(3);
    expectSuccessEnvelope('resetOffset', r.json);
    const queues = r.json.result.apply.queues as Array<{ queueId: number; status: string; message: string; targetOffset: number; resultOffset: number; expectedOffset: number }>;
    expect(queues.map((q) => q.status)).toEqual(['reverted', 'reverted']);
    for (const q of queues) {
      expect(q.resultOffset).toBe(q.expectedOffset);
      expect(q.message).toMatch(/a consumer wrote its own offset back .*Stop the group's consumers, then run resetOffset again/);
    }
    expect(r.json.warnings.join('\n')).toMatch(/2 queue\(s\) reverted: .*Stop the group's consumers/);
  });
});

describe('interop: broker-side traces of ali-ons clients (brokerTraceEnable=true; ali-ons never traces)', () => {
  interface Step {
    step: string;
    source: string;
    group: string;
    clientHost: string;
    detail: string;
  }
  /** queryMsgTrace --json (the real CLI) until its first timeline has every step in `want`. */
  async function traceSteps(b: TestBroker, args: string[], want: string[]): Promise<{ result: any; steps: Step[] }> {
    return eventually(async () => {
      const r = await runCli(['queryMsgTrace', ...args, '-n', b.namesrv!, '--json']);
      if (r.code !== 0) return undefined;
      expectSuccessEnvelope('queryMsgTrace', r.json);
      const steps = r.json.result.timelines[0].steps as Step[];
      const names = steps.map((s) => s.step);
      return want.every((w) => names.includes(w)) ? { result: r.json.result, steps } : undefined;
    }, `steps ${want.join(', ')} of ${args.join(' ')}`, 30_000, 250);
  }

  it('an ali-ons producer and consumer: stored, delivered and committed, found by id and by key', async () => {
    const b = await start({ brokerTraceEnable: 'true' });
    const topic = 'AliOnsTraced';
    expect((await createTopic(b.client, b.addr, topic, 2)).code).toBe(0);
    await eventually(async () => ((await routeExists(b, topic)) ? true : undefined), 'route in the name server');
    const runId = crypto.randomUUID().slice(0, 8);
    const r = await runScenario({ scenario: 'produce-consume', nameSrv: b.namesrv, topic, group: 'GID_traced', producerGroup: 'PID_traced', count: 4, runId });
    expect(r.sent).toHaveLength(4);
    const s0 = r.sent[0]!; // TagA: the consumer subscribes to TagA
    expect(r.received.map((m) => m.msgId)).toContain(s0.msgId);

    // By id: ali-ons sends no UNIQ_KEY, so its msgId is the broker's offset msgId, which the broker traces by.
    const { result, steps } = await traceSteps(b, ['-i', s0.msgId], ['stored', 'delivered', 'committed']);
    expect(result.timelines[0]).toMatchObject({ msgId: s0.msgId, topic, keys: `k0 run-${runId}` });
    for (const s of steps) {
      expect(s.source).toBe('broker');
      expect(s.group).toMatch(/^%BROKER%/);
    }
    expect(steps.map((s) => s.step)).toEqual(['stored', 'delivered', 'committed']);
    expect(steps[0]).toMatchObject({ group: '%BROKER%PID_traced', detail: topic });
    expect(steps[1]).toMatchObject({ group: '%BROKER%GID_traced' });
    expect(steps[1]!.clientHost).toMatch(/^127\.0\.0\.1:\d+$/);
    const pub = result.rows.find((x: any) => x.type === 'Pub').records[0];
    expect(pub).toMatchObject({ msgId: s0.msgId, offsetMsgId: s0.msgId, tags: 'TagA', keys: `k0 run-${runId}`, storeHost: b.addr, success: true });
    // The body as stored: ali-ons deflated its 6000 bytes (the broker never inflates).
    expect(pub.bodyLength).toBeGreaterThan(0);
    expect(pub.bodyLength).toBeLessThan(4096);

    // By key: one key of one message, and the key all four share (TagB ones were only stored).
    const byKey = await traceSteps(b, ['-k', 'k0'], ['stored', 'delivered', 'committed']);
    expect(byKey.result.timelines.map((t: any) => t.msgId)).toEqual([s0.msgId]);
    const all = await eventually(async () => {
      const x = await runCli(['queryMsgTrace', '-k', `run-${runId}`, '-n', b.namesrv!, '--json']);
      return x.code === 0 && x.json.result.timelines.length === 4 ? x.json.result : undefined;
    }, 'four messages by their shared key');
    expect(all.timelines.map((t: any) => t.msgId).sort()).toEqual(r.sent.map((x) => x.msgId).sort());
    for (const t of all.timelines) {
      const tags = r.sent.find((x) => x.msgId === t.msgId)!.tags;
      if (tags === 'TagB') expect(t.steps.map((s: Step) => s.step)).toEqual(['stored']);
    }

    // Apache's mqadmin sees the same records; ours prints them with the timeline.
    const text = await runCli(['queryMsgTrace', '-i', s0.msgId, '-n', b.namesrv!]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^Pub\s+%BROKER%PID_traced\s+127\.0\.0\.1:\d+/m);
    expect(text.stdout).toMatch(/^committed\s+broker\s+/m);
  });

  it('a message an ali-ons consumer failed once: delivered, retried (%RETRY%), delivered again, committed', async () => {
    const b = await start({ brokerTraceEnable: 'true', messageDelayLevel: '1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s' });
    const topic = 'AliOnsTracedRetry';
    expect((await createTopic(b.client, b.addr, topic, 1)).code).toBe(0);
    await eventually(async () => ((await routeExists(b, topic)) ? true : undefined), 'route in the name server');
    const r = await runScenario({ scenario: 'retry', nameSrv: b.namesrv, topic, group: 'GID_traced_retry', producerGroup: 'PID_traced_retry', runId: 't1' });
    const s = r.sent[0]!;
    const { steps } = await traceSteps(b, ['-k', 'retry-t1'], ['stored', 'delivered', 'retried', 'committed']);
    const names = steps.map((x) => x.step);
    expect(names.filter((n) => n === 'delivered')).toHaveLength(2);
    expect(names.indexOf('stored')).toBeLessThan(names.indexOf('retried'));
    expect(names.lastIndexOf('delivered')).toBeGreaterThan(names.indexOf('retried'));
    expect(steps.find((x) => x.step === 'retried')).toMatchObject({ group: '%BROKER%GID_traced_retry', detail: '%RETRY%GID_traced_retry' });
    const byId = await traceSteps(b, ['-i', s.msgId], ['retried']);
    expect(byId.steps.map((x) => x.step)).toEqual(names);
  });
});

describe('interop: ali-ons 3.12.0 against a DLedger group of our brokers', () => {
  it('an ali-ons producer goes on after the leader goes; every SEND_OK message is on the new master', async () => {
    const g = await startGroup();
    const leader = await masterOf(g.members, g.ns);
    const topic = `DlAliOns${Date.now()}`;
    expect((await createTopic(g.client, leader.broker!.addresses.broker, topic, QUEUES)).code).toBe(0);
    for (const m of g.members) await eventually(() => (m.broker!.topicConfig(topic) ? true : undefined), `${m.id} knows ${topic}`, 20_000, 50);
    // 80 sends 50 ms apart; the leader closes once the first is acknowledged.
    const r = await runScenario({ scenario: 'produce-failover', nameSrv: g.namesrv, topic, group: 'DlAliOnsG', producerGroup: 'DlAliOnsPG', count: 80, pauseMs: 50, runId: 'dl' }, 60_000, async () => {
      await leader.broker!.close();
      leader.broker = undefined;
    });
    const next = await masterOf(g.members, g.ns);
    const acked = r.sent.filter((s) => s.sendStatus === 'SEND_OK');
    // Sends after the failover were acknowledged by the new master.
    expect(acked.filter((s) => (s as unknown as { i: number }).i >= 70).length, JSON.stringify(r.errors.slice(0, 5))).toBeGreaterThan(0);
    const stored = new Set((await readAllFrom(g.namesrv, next.broker!.addresses.broker, topic)).map((m) => m.msgId));
    expect(acked.map((s) => s.msgId).filter((id) => !stored.has(id))).toEqual([]);
  }, 90_000);
});
