/**
 * The producer against a real broker (ours, on loopback, with its embedded name server): sync,
 * async, oneway and batch sends; tags, keys, user properties, delay level; compression; queue
 * selectors; retries on another broker; the outbox while the broker is down.
 */
import { describe, expect, it } from 'vitest';
import { Producer, selectMessageQueueByHash, type SendResult } from '../../src/client/producer.js';
import { PullConsumer } from '../../src/client/pull-consumer.js';
import { decodeOffsetMsgId, SysFlag } from '../../src/protocol/message.js';
import { BrokerUnreachableError } from '../../src/errors/index.js';
import { eventually } from '../helpers/broker.js';
import { broker, defer, freeBrokerPort, freePort, namesrvOf, readAll, tempDir, topic, uniq } from './support.js';

async function producer(namesrvAddr: string, extra: Partial<ConstructorParameters<typeof Producer>[0]> = {}): Promise<Producer> {
  const p = new Producer({ namesrvAddr, producerGroup: uniq('PG'), ...extra });
  await p.start();
  defer(() => p.close());
  return p;
}

describe('Producer (real broker)', () => {
  it('sync send: SEND_OK, UNIQ_KEY as msgId, decodable offsetMsgId; tags, keys, properties arrive', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'));
    const p = await producer(ns);
    const r = await p.send({ topic: t, body: 'hello', tags: 'TagA', keys: ['k1', 'k2'], properties: { color: 'red' } });
    expect(r.status).toBe('SEND_OK');
    expect(r.msgId).toMatch(/^[0-9A-F]{32}$/);
    expect(decodeOffsetMsgId(r.offsetMsgId!)?.address).toBe(b.addr);
    expect(r.messageQueue?.topic).toBe(t);
    const [m] = await readAll(ns, t);
    expect(m).toMatchObject({ topic: t, msgId: r.msgId, offsetMsgId: r.offsetMsgId, tags: 'TagA', keys: ['k1', 'k2'], queueOffset: r.queueOffset });
    expect(m!.body.toString()).toBe('hello');
    expect(m!.properties.color).toBe('red');
    expect(m!.properties.WAIT).toBeUndefined(); // stripped by the broker (4.9.x)
  });

  it('compresses bodies over 4 KiB on the wire; consumers get them back inflated', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'));
    const p = await producer(ns);
    const big = Buffer.from('compress me, please. '.repeat(2000));
    await p.send({ topic: t, body: big });
    await p.send({ topic: t, body: 'small' });
    const msgs = await readAll(ns, t);
    const bigMsg = msgs.find((m) => m.body.length === big.length)!;
    expect(bigMsg.body.equals(big)).toBe(true);
    expect(bigMsg.sysFlag & SysFlag.COMPRESSED).toBe(SysFlag.COMPRESSED);
    expect(bigMsg.storeSize).toBeLessThan(big.length); // stored compressed
    const small = msgs.find((m) => m.body.toString() === 'small')!;
    expect(small.sysFlag & SysFlag.COMPRESSED).toBe(0);
  });

  it('async (callback) and oneway sends arrive', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'));
    const p = await producer(ns);
    const results = await Promise.all(
      [0, 1, 2].map(
        (i) =>
          new Promise<SendResult>((resolve, reject) =>
            p.sendAsync({ topic: t, body: `async ${i}` }, (err, r) => (err ? reject(err) : resolve(r!))),
          ),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(['SEND_OK', 'SEND_OK', 'SEND_OK']);
    for (let i = 0; i < 3; i++) await p.sendOneway({ topic: t, body: `oneway ${i}` });
    const bodies = await eventually(async () => {
      const all = (await readAll(ns, t)).map((m) => m.body.toString()).sort();
      return all.length === 6 ? all : undefined;
    }, 'all six messages stored');
    expect(bodies).toEqual(['async 0', 'async 1', 'async 2', 'oneway 0', 'oneway 1', 'oneway 2']);
  });

  it('batch send: one queue, consecutive offsets, comma-separated ids', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'));
    const p = await producer(ns);
    const r = await p.sendBatch([0, 1, 2, 3].map((i) => ({ topic: t, body: `b${i}`, tags: 'B', keys: `key${i}` })));
    expect(r.status).toBe('SEND_OK');
    const ids = r.msgId.split(',');
    expect(ids).toHaveLength(4);
    const msgs = (await readAll(ns, t)).sort((a, b2) => a.queueOffset - b2.queueOffset);
    expect(msgs.map((m) => m.msgId)).toEqual(ids);
    expect(new Set(msgs.map((m) => m.queueId)).size).toBe(1);
    expect(msgs.map((m) => m.body.toString())).toEqual(['b0', 'b1', 'b2', 'b3']);
    expect(msgs.map((m) => m.keys[0])).toEqual(['key0', 'key1', 'key2', 'key3']);
  });

  it('delay level: the message goes through the schedule topic and reaches its own topic', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'));
    const p = await producer(ns);
    const r = await p.send({ topic: t, body: 'later', delayLevel: 1 });
    const m = await eventually(async () => (await readAll(ns, t)).find((x) => x.msgId === r.msgId), 'delayed message delivered', 30_000, 200);
    // Delivered by the broker's schedule service with the delayed record's properties, as Apache's
    // messageTimeup stores them: REAL_TOPIC/REAL_QID and DELAY kept.
    expect(m.properties.REAL_TOPIC).toBe(t);
    expect(m.properties.REAL_QID).toBeDefined();
    expect(m.properties.DELAY).toBe('1');
  });

  it('queue selectors: a sharding key always picks the same queue; a custom selector is honoured', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 8);
    const p = await producer(ns);
    const byKey = new Set<number>();
    for (let i = 0; i < 5; i++) byKey.add((await p.send({ topic: t, body: `o${i}` }, { shardingKey: 'order-42' })).messageQueue!.queueId);
    expect(byKey.size).toBe(1);
    const expected = selectMessageQueueByHash(
      Array.from({ length: 8 }, (_, queueId) => ({ topic: t, brokerName: 'broker-a', queueId })),
      { topic: t, body: '' },
      'order-42',
    ).queueId;
    expect([...byKey][0]).toBe(expected);
    const r = await p.send({ topic: t, body: 'x' }, { selector: (qs) => qs.find((q) => q.queueId === 5)!, selectorArg: undefined });
    expect(r.messageQueue?.queueId).toBe(5);
  });

  it('retries on another broker when one is gone', async () => {
    const a = await broker({ config: { brokerName: 'broker-a' } });
    const ns = namesrvOf(a);
    const bb = await broker({ namesrv: false, config: { brokerName: 'broker-b', namesrvAddr: ns } });
    const t = uniq('T');
    await topic(a, t);
    await topic(bb, t);
    const p = await producer(ns);
    // Both brokers in the route first.
    await eventually(async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 8; i++) seen.add((await p.send({ topic: t, body: `warm ${i}` })).messageQueue!.brokerName);
      return seen.size === 2 ? true : undefined;
    }, 'sends reach both brokers');
    await bb.close();
    const results: SendResult[] = [];
    for (let i = 0; i < 20; i++) results.push(await p.send({ topic: t, body: `after ${i}` }));
    expect(results.every((r) => r.status === 'SEND_OK')).toBe(true);
    expect(new Set(results.map((r) => r.messageQueue!.brokerName))).toEqual(new Set(['broker-a']));
  });

  it('fails within sendMsgTimeout with a typed error when nothing is reachable and there is no outbox', async () => {
    const port = await freePort();
    const p = await producer(`127.0.0.1:${port}`, { sendMsgTimeoutMs: 1000 });
    await expect(p.send({ topic: 'T', body: 'x' })).rejects.toBeInstanceOf(BrokerUnreachableError);
    await expect(p.send({ topic: 'bad topic!', body: 'x' })).rejects.toMatchObject({ code: 'E_MESSAGE_ILLEGAL' });
  });

  it('outbox: sends while the broker is down are OUTBOXED, then delivered once, in order, when it is back', async () => {
    const listenPort = await freeBrokerPort();
    const nsPort = await freePort();
    const ports = { listenPort: String(listenPort), namesrvListenPort: String(nsPort) };
    const b = await broker({ config: ports });
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 1);
    const events: string[] = [];
    const p = await producer(ns, { outboxDir: tempDir(), sendMsgTimeoutMs: 1000, outboxMaxBackoffMs: 200, onOutboxEvent: (e) => events.push(e.type) });
    const first = await p.send({ topic: t, body: 'before' });
    expect(first.status).toBe('SEND_OK');
    await b.broker.close(); // the broker only: the store and the test client stay
    const outboxed: SendResult[] = [];
    for (let i = 0; i < 50; i++) outboxed.push(await p.send({ topic: t, body: `down ${i}` }));
    expect(outboxed.every((r) => r.status === 'OUTBOXED')).toBe(true);
    expect(outboxed[0]!.outboxReason).toBeTruthy();
    expect(p.outboxSize).toBe(50);
    await b.restart(ports);
    expect(await p.flushOutbox(60_000)).toBe(true);
    expect(p.outboxSize).toBe(0);
    const msgs = (await readAll(ns, t)).sort((x, y) => x.queueOffset - y.queueOffset);
    expect(msgs.map((m) => m.body.toString())).toEqual(['before', ...outboxed.map((_, i) => `down ${i}`)]);
    expect(msgs.slice(1).map((m) => m.msgId)).toEqual(outboxed.map((r) => r.msgId));
    expect(events).toContain('resent');
  });
});

describe('local broker socket', () => {
  it.skipIf(Boolean(process.env.ROCKETCTL_TEST_NAMESRV))('works with the broker\'s Unix socket as the name server address (embedded name server)', async () => {
    const b = await broker();
    const t = await topic(b, uniq('T'), 1);
    const sock = b.broker.addresses.socket;
    const p = await producer(sock);
    const r = await p.send({ topic: t, body: 'over the socket' });
    expect(r.status).toBe('SEND_OK');
    const [m] = await readAll(sock, t);
    expect(m!.body.toString()).toBe('over the socket');
  });
});

describe('outbox deduplication lookup', () => {
  it('isDelivered finds a stored UNIQ_KEY on the brokers of the topic (QUERY_MESSAGE, unique-key query)', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 2);
    const p = await producer(ns);
    const r = await p.send({ topic: t, body: 'stored' });
    expect(await eventually(async () => ((await p.isDelivered(t, r.msgId, Date.now())) ? true : undefined), 'indexed')).toBe(true);
    expect(await p.isDelivered(t, '0A0000010000000000000000000000FF', Date.now())).toBe(false);
  });
});

describe('PullConsumer (tools)', () => {
  it('reads a queue range without registering the group or storing offsets', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 1);
    const p = await producer(ns);
    for (let i = 0; i < 10; i++) await p.send({ topic: t, body: `m${i}`, tags: i % 2 ? 'odd' : 'even' });
    const pc = new PullConsumer({ namesrvAddr: ns });
    await pc.start();
    defer(() => pc.close());
    const [mq] = await pc.fetchSubscribeMessageQueues(t);
    expect(await pc.maxOffset(mq!)).toBe(10);
    expect(await pc.minOffset(mq!)).toBe(0);
    const some: string[] = [];
    for await (const m of pc.readRange(mq!, 2, 6)) some.push(m.body.toString());
    expect(some).toEqual(['m2', 'm3', 'm4', 'm5']);
    const odd: string[] = [];
    for await (const m of pc.readRange(mq!, 0, undefined, { expression: 'odd' })) odd.push(m.body.toString());
    expect(odd).toEqual(['m1', 'm3', 'm5', 'm7', 'm9']);
    const beyond = await pc.pull(mq!, 10, 32);
    expect(beyond.status).toBe('NO_NEW_MSG');
    // Nothing was registered or stored for the tools group.
    const { makeRequest } = await import('../../src/protocol/frame.js');
    const list = await b.client.invoke(b.addr, makeRequest(38, { consumerGroup: 'TOOLS_CONSUMER' }));
    expect(list.code).not.toBe(0);
    const off = await b.client.invoke(b.addr, makeRequest(14, { consumerGroup: 'TOOLS_CONSUMER', topic: t, queueId: 0 }));
    expect(off.code === 22 || Number(off.extFields?.offset) <= 0).toBe(true);
  });
});

describe('lifecycle', () => {
  it('closed clients let the process exit by itself (no timer or socket left)', async () => {
    const { spawn } = await import('node:child_process');
    const path = await import('node:path');
    const { ROOT } = await import('../helpers/cli.js');
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 2);
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/client/fixtures/lifecycle.ts'), ns, t, tempDir()], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    defer(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    // Bounded wait for the exit (not a timing assertion: a leak would keep it alive indefinitely).
    const code = await new Promise<number | null | 'alive'>((resolve) => {
      const timer = setTimeout(() => resolve('alive'), 45_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect({ code, out, err }).toMatchObject({ code: 0, out: 'closed\n' });
  }, 60_000);
});
