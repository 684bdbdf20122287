/**
 * checkNoLoss through the real CLI (`bin/run.js ... --json`) against real in-process brokers
 * started by the test: ASYNC_FLUSH and SYNC_FLUSH give different verdicts and exit codes, a
 * group's dead letters are counted, a live rocketctl consumer is recognised, and the error paths
 * (unreachable broker, bad --require) are one line with exit 1 / 2.
 */
import { describe, expect, it } from 'vitest';
import { PushConsumer } from '../../src/client/push-consumer.js';
import { Producer } from '../../src/client/producer.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { RequestCode } from '../../src/protocol/codes.js';
import { decodeOffsetMsgId } from '../../src/protocol/message.js';
import type { TestBroker } from '../helpers/broker.js';
import { eventually } from '../helpers/broker.js';
import { expectErrorEnvelope, expectOneLineError, expectSuccessEnvelope, runCli } from '../helpers/cli.js';
import { broker, defer, namesrvOf, topic, uniq } from '../client/support.js';

interface Item {
  id: string;
  status: string;
  required: boolean;
  current: string;
  why: string;
  fix: string[];
  price: string;
}

function cli(b: TestBroker, args: string[]) {
  return runCli(['checkNoLoss', ...args, '--socket', b.broker.addresses.socket]);
}

async function json(b: TestBroker, args: string[]) {
  const r = await cli(b, [...args, '--json']);
  expect(r.json, r.stderr).toBeDefined();
  if (r.code === 0 || r.code === 3 || r.code === 4) expectSuccessEnvelope('checkNoLoss', r.json);
  const items = Object.fromEntries((r.json.result.items as Item[]).map((i) => [i.id, i])) as Record<string, Item>;
  return { code: r.code, env: r.json, items, stderr: r.stderr };
}

describe('checkNoLoss (real CLI, real brokers)', () => {
  it('ASYNC_FLUSH: flush warns (exit 0); --require sync-flush fails it naming the broker (exit 4)', async () => {
    const b = await broker({ config: { flushDiskType: 'ASYNC_FLUSH' } });
    const name = b.broker.config.brokerName;

    const plain = await json(b, []);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.env.status).toBe(0);
    expect(plain.items['sync-flush']).toMatchObject({ status: 'warn', required: false });
    expect(plain.items['sync-flush']!.current).toContain(`${name} (`);
    expect(plain.items['sync-flush']!.current).toContain('ASYNC_FLUSH');
    expect(plain.items['sync-flush']!.price).toMatch(/SYNC_FLUSH/);
    expect(plain.items['sync-flush']!.fix.join(' ')).toContain('flushDiskType=SYNC_FLUSH');
    // The embedded broker has no replication; its config says so (GET_BROKER_CONFIG).
    expect(plain.items.replication).toMatchObject({ status: 'warn' });
    expect(plain.env.result.brokers[0]).toMatchObject({ brokerName: name, flushDiskType: 'ASYNC_FLUSH', brokerRole: 'ASYNC_MASTER', replication: 'none', rocketctl: true });
    expect(['pass', 'warn', 'fail']).toContain(plain.items['disk-headroom']!.status);
    expect(plain.items['disk-headroom']!.current).toMatch(/used \d+(\.\d)?%/);
    for (const id of ['retry-dlq', 'dlq-empty', 'retention', 'consumer-commit', 'transactions', 'outbox']) expect(plain.items[id]!.status, id).toBe('skip');

    const req = await json(b, ['--require', 'sync-flush']);
    expect(req.code).toBe(4);
    expect(req.env.status).toBe(4);
    expect(req.items['sync-flush']).toMatchObject({ status: 'fail', required: true });
    expect(req.env.result.unmet).toEqual([{ id: 'sync-flush', status: 'fail' }]);
    expect(req.env.warnings.join('\n')).toContain(`sync-flush (${name} (`);

    // Human output: the table, the reasons and prices, the warning on stderr, exit 4.
    const human = await cli(b, ['--require', 'sync-flush']);
    expect(human.code).toBe(4);
    expect(human.stdout).toMatch(/^sync-flush \*\s+fail\s+/m);
    expect(human.stdout).toMatch(/^ {2}price: /m);
    expect(human.stderr).toMatch(/^warning: 1 item\(s\) failed: sync-flush/m);
  });

  it('SYNC_FLUSH: flush passes, --require sync-flush exits 0', async () => {
    const b = await broker({ config: { flushDiskType: 'SYNC_FLUSH' } });
    const r = await json(b, ['--require', 'sync-flush']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.items['sync-flush']).toMatchObject({ status: 'pass', required: true });
    expect(r.items['sync-flush']!.current).toContain('SYNC_FLUSH');
    expect(r.env.result.unmet).toEqual([]);
    // Replication is still none: requiring it fails.
    const rep = await json(b, ['--require', 'sync-flush,replication']);
    expect(rep.code).toBe(4);
    expect(rep.env.result.unmet).toEqual([{ id: 'replication', status: 'fail' }]);
  });

  it('-g: dead letters counted, retry settings read, a live rocketctl consumer recognised; -p: unknown from the broker', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 2);
    const group = uniq('CG');
    const pgroup = uniq('PG');
    const p = new Producer({ namesrvAddr: ns, producerGroup: pgroup });
    await p.start();
    defer(() => p.close());

    // Before anything failed: no DLQ.
    const before = await json(b, ['-g', group]);
    expect(before.items['dlq-empty']).toMatchObject({ status: 'pass' });
    expect(before.items['dlq-empty']!.current).toContain('no %DLQ%');

    // Three messages sent back with delayLevel -1: the broker puts them straight into %DLQ%<group>.
    for (let i = 0; i < 3; i++) {
      const sent = await p.send({ topic: t, body: `m${i}` });
      const { commitLogOffset } = decodeOffsetMsgId(sent.offsetMsgId!)!;
      const res = await b.client.invoke(
        b.addr,
        makeRequest(RequestCode.CONSUMER_SEND_MSG_BACK, { offset: commitLogOffset, group, delayLevel: -1, originMsgId: sent.msgId, originTopic: t, maxReconsumeTimes: 0 }),
      );
      expect(res.code, res.remark).toBe(0);
    }

    const c = new PushConsumer({ namesrvAddr: ns, consumerGroup: group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', rebalanceIntervalMs: 1000 });
    c.subscribe(t, '*');
    await c.start(() => {});
    defer(() => c.close());

    const r = await eventually(async () => {
      const x = await json(b, ['-g', group, '-p', pgroup]);
      return x.items['consumer-commit']!.status === 'pass' ? x : undefined;
    }, 'consumer seen online');
    expect(r.code, r.stderr).toBe(0);
    expect(r.items['dlq-empty']).toMatchObject({ status: 'warn' });
    expect(r.items['dlq-empty']!.current).toMatch(/^3 message\(s\) in %DLQ%/);
    expect(r.items['retry-dlq']).toMatchObject({ status: 'pass' });
    expect(r.items['retry-dlq']!.current).toMatch(/retryQueueNums=1, retryMaxTimes=16/);
    expect(r.items['consumer-commit']!.current).toContain('rocketctl push consumer');
    expect(r.items.transactions).toMatchObject({ status: 'unknown' });
    expect(r.items.transactions!.current).toContain('unknown from the broker');
    expect(r.items.transactions!.current).toContain(`producer client(s) of ${pgroup} connected`);
    expect(r.items.outbox).toMatchObject({ status: 'unknown' });

    // Required DLQ emptiness fails; required transactions cannot be verified: exit 4 either way.
    const req = await json(b, ['-g', group, '-p', pgroup, '--require', 'dlq-empty,transactions']);
    expect(req.code).toBe(4);
    expect(req.env.result.unmet).toEqual([
      { id: 'dlq-empty', status: 'fail' },
      { id: 'transactions', status: 'unknown' },
    ]);
  });

  it('retryQueueNums=0 drops failed messages: a hard fail without --require', async () => {
    const b = await broker();
    const group = uniq('CG');
    const up = await runCli(['updateSubGroup', '-g', group, '--retryQueueNums', '0', '--socket', b.broker.addresses.socket, '--json']);
    expect(up.code, up.stderr).toBe(0);
    const r = await json(b, ['-g', group]);
    expect(r.code).toBe(4);
    expect(r.items['retry-dlq']).toMatchObject({ status: 'fail' });
    expect(r.items['retry-dlq']!.why).toContain('lost');
  });
});

describe('checkNoLoss errors', () => {
  it('unreachable broker: one line, exit 1', async () => {
    const r = await runCli(['checkNoLoss', '-n', '127.0.0.1:1', '--timeout', '1000']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expectOneLineError(r.stderr);
    expect(r.stderr).toMatch(/^Error: cannot reach/);
    const j = await runCli(['checkNoLoss', '--socket', '/nonexistent/broker.sock', '--json']);
    expect(j.code).toBe(1);
    expectErrorEnvelope(j.json, 1);
  });

  it('bad --require: exit 2, nothing asked', async () => {
    const r = await runCli(['checkNoLoss', '--require', 'sync-flush,fast', '--socket', '/nonexistent/broker.sock']);
    expect(r.code).toBe(2);
    expectOneLineError(r.stderr);
    expect(r.stderr).toContain('--require fast: not a checklist item');
    const g = await runCli(['checkNoLoss', '--require', 'dlq-empty', '--socket', '/nonexistent/broker.sock']);
    expect(g.code).toBe(2);
    expect(g.stderr).toContain('needs a consumer group');
  });
});
