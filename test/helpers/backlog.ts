/** A consumer group with a known backlog, made with real clients: shared by admin, watch and metrics tests. */
import { Producer, type SendResult } from '../../src/client/producer.js';
import type { ClientOptions } from '../../src/client/client-instance.js';
import { PushConsumer } from '../../src/client/push-consumer.js';
import { eventually } from './broker.js';
import { defer, uniq } from '../client/support.js';

/** Push-consumer settings that make tests quick (rebalance 1 s, offsets persisted every 300 ms). */
export const FAST_CONSUMER = { rebalanceIntervalMs: 1000, persistConsumerOffsetIntervalMs: 300, pullTimeDelayMsWhenException: 300 };

/**
 * `first` messages consumed by a push consumer of a new group that then stops (offsets committed),
 * then `second` more sent and left as backlog; returns the group and the second batch's results.
 * `client` adds client options to both (e.g. credentials for a broker with ACL on).
 */
export async function makeBacklog(ns: string, topic: string, first: number, second: number, client: Partial<ClientOptions> = {}): Promise<{ group: string; sent: SendResult[] }> {
  const group = uniq('CG');
  const p = new Producer({ ...client, namesrvAddr: ns, producerGroup: uniq('PG') });
  await p.start();
  defer(() => p.close());
  for (let i = 0; i < first; i++) await p.send({ topic, body: `a${i}` });
  const c = new PushConsumer({ ...client, namesrvAddr: ns, consumerGroup: group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', ...FAST_CONSUMER });
  c.subscribe(topic, '*');
  let got = 0;
  await c.start(() => {
    got++;
  });
  await eventually(() => (got >= first ? true : undefined), `${first} consumed`);
  await c.close();
  const sent: SendResult[] = [];
  for (let i = 0; i < second; i++) sent.push(await p.send({ topic, body: `b${i}` }));
  return { group, sent };
}
