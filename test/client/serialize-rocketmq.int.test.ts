/**
 * serializeType ROCKETMQ (binary headers, our clients' default) and JSON (Java's default) from our
 * clients against a real broker: messages keep tags, keys and properties both ways, and the frames
 * on the wire are of the chosen type — checked by a TCP relay in front of the name server that
 * reads each frame's serialize-type byte.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { Producer } from '../../src/client/producer.js';
import { PushConsumer } from '../../src/client/push-consumer.js';
import { serializeTypeFromEnv } from '../../src/client/client-instance.js';
import type { MessageExt } from '../../src/client/message.js';
import { eventually } from '../helpers/broker.js';
import { broker, defer, namesrvOf, topic, uniq } from './support.js';

/** A relay to `target` recording the serialize type (high byte of the 2nd int32) of every frame. */
async function relay(target: string): Promise<{ addr: string; types: { up: number[]; down: number[] } }> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const types = { up: [] as number[], down: [] as number[] };
  const watch = (into: number[]) => {
    let buf = Buffer.alloc(0);
    return (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 8 && buf.length >= 4 + buf.readInt32BE(0)) {
        into.push(buf[4]!);
        buf = buf.subarray(4 + buf.readInt32BE(0));
      }
    };
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host);
    client.on('data', watch(types.up));
    upstream.on('data', watch(types.down));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  defer(() => new Promise((r) => server.close(r)));
  return { addr: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, types };
}

describe('serializeType (remoting header encoding)', () => {
  it.each([
    ['ROCKETMQ', 1],
    ['JSON', 0],
  ] as const)('%s: sends and consumes with tags, keys and properties intact; every frame is of that type both ways', async (serializeType, typeByte) => {
    const b = await broker();
    const t = await topic(b, uniq('SB'), 2);
    const r = await relay(namesrvOf(b));
    const p = new Producer({ namesrvAddr: r.addr, producerGroup: uniq('PG'), serializeType, instanceName: uniq('bin') });
    await p.start();
    defer(() => p.close());
    const sent = [];
    for (let i = 0; i < 6; i++) sent.push(await p.send({ topic: t, body: `bin-${i}`, tags: i % 2 ? 'odd' : 'even', keys: [`k${i}`, 'shared'], properties: { 'x-n': String(i), 'ünï': 'cödé' } }));
    const got: MessageExt[] = [];
    const c = new PushConsumer({ namesrvAddr: r.addr, consumerGroup: uniq('CG'), consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', serializeType, instanceName: uniq('binc'), rebalanceIntervalMs: 1000 });
    c.subscribe(t, 'odd');
    defer(() => c.close());
    await c.start((m) => void got.push(m));
    await eventually(() => (got.length >= 3 ? true : undefined), 'the odd messages consumed');
    const byBody = new Map(got.map((m) => [m.body.toString(), m]));
    for (const i of [1, 3, 5]) {
      const m = byBody.get(`bin-${i}`)!;
      expect(m.msgId).toBe(sent[i]!.msgId);
      expect(m.tags).toBe('odd');
      expect(m.keys).toEqual([`k${i}`, 'shared']);
      expect(m.properties).toMatchObject({ 'x-n': String(i), 'ünï': 'cödé' });
    }
    expect(r.types.up.length).toBeGreaterThan(0);
    expect(new Set(r.types.up)).toEqual(new Set([typeByte]));
    expect(new Set(r.types.down)).toEqual(new Set([typeByte]));
  });

  it('ROCKETMQ_SERIALIZE_TYPE sets the default (unset: ROCKETMQ); anything else is refused', () => {
    expect(serializeTypeFromEnv({})).toBe('ROCKETMQ');
    expect(serializeTypeFromEnv({ ROCKETMQ_SERIALIZE_TYPE: 'JSON' })).toBe('JSON');
    expect(serializeTypeFromEnv({ ROCKETMQ_SERIALIZE_TYPE: 'ROCKETMQ' })).toBe('ROCKETMQ');
    expect(() => serializeTypeFromEnv({ ROCKETMQ_SERIALIZE_TYPE: 'XML' })).toThrow(/expected JSON or ROCKETMQ/);
  });
});
