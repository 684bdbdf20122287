/**
 * Consume a topic from a local broker until Ctrl-C.
 *
 *   npx tsx examples/consumer.ts [namesrv] [topic] [group]
 */
import { PushConsumer } from '../src/client/index.js';

const namesrvAddr = process.argv[2] ?? process.env.NAMESRV_ADDR ?? '127.0.0.1:9876';
const topic = process.argv[3] ?? 'ExampleTopic';
const consumerGroup = process.argv[4] ?? 'example_consumer';

const consumer = new PushConsumer({
  namesrvAddr,
  consumerGroup,
  consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
  onError: (err, where) => console.error(`[${where}] ${err instanceof Error ? err.message : String(err)}`),
});
consumer.subscribe(topic, 'even || odd || order');

await consumer.start(async (msg) => {
  console.log(`${msg.topic} ${msg.tags ?? '-'} ${msg.msgId} q${msg.queueId}@${msg.queueOffset} ${msg.body.toString()}`);
  // Throwing here (or returning 'RECONSUME_LATER') has the message delivered again later,
  // from %RETRY%<group>; its offset is not committed until a copy is safely on the broker.
});
console.log(`consuming ${topic} as ${consumerGroup} (${consumer.clientId}); Ctrl-C to stop`);

const stop = async () => {
  await consumer.close(); // persists offsets, leaves the group; a running handler is not committed
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
