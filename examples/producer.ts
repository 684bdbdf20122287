/**
 * Send a few messages to a local broker, with an outbox so nothing is lost if the broker is down.
 *
 *   rocketctl broker start                       # in another terminal (name server on 127.0.0.1:9876)
 *   npx tsx examples/producer.ts [namesrv] [topic]
 */
import os from 'node:os';
import path from 'node:path';
import { Producer } from '../src/client/index.js';

const namesrvAddr = process.argv[2] ?? process.env.NAMESRV_ADDR ?? '127.0.0.1:9876';
const topic = process.argv[3] ?? 'ExampleTopic';

const producer = new Producer({
  namesrvAddr,
  producerGroup: 'example_producer',
  // Sends that cannot reach any name server or broker are kept here and resent in order later.
  outboxDir: path.join(os.homedir(), '.rocketctl', 'outbox', 'example_producer'),
  onOutboxEvent: (e) => {
    if (e.type === 'resent') console.log(`resent from the outbox: ${e.msgId}`);
  },
});

await producer.start();
try {
  for (let i = 0; i < 10; i++) {
    const r = await producer.send({
      topic,
      body: JSON.stringify({ n: i, at: new Date().toISOString() }),
      tags: i % 2 === 0 ? 'even' : 'odd',
      keys: `example-${i}`,
      properties: { source: 'examples/producer.ts' },
    });
    console.log(`${r.status} ${r.msgId}${r.messageQueue ? ` ${r.messageQueue.brokerName}:${r.messageQueue.queueId}@${r.queueOffset}` : ` (${r.outboxReason})`}`);
  }
  // Ordered messages: every message of one order goes to the same queue.
  for (const step of ['created', 'paid', 'shipped']) {
    await producer.send({ topic, body: step, tags: 'order' }, { shardingKey: 'order-1001' });
  }
  if (producer.outboxSize > 0) {
    console.log(`${producer.outboxSize} message(s) in the outbox; waiting up to 30 s for the broker...`);
    console.log((await producer.flushOutbox(30_000)) ? 'outbox drained' : 'still waiting: they stay on disk for the next run');
  }
} finally {
  await producer.close();
}
