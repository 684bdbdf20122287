'use strict';
/**
 * One ali-ons scenario against a running broker, in its own process: ali-ons keeps timers alive
 * after close(), so the only clean end is process.exit(). Input: one JSON
 * argument; output: one JSON line on stdout ({ sent, received, errors }). Diagnostics on stderr.
 *
 * Scenarios:
 *  - "produce-consume": send `count` messages (even i: TagA, odd i: TagB; keys; every 4th body
 *    > 4 KiB so ali-ons compresses it), consume with subscription "TagA" until every TagA arrived.
 *  - "retry": send one message; the handler fails on its first delivery, so ali-ons sends it back
 *    (CONSUMER_SEND_MSG_BACK) and it must come again via %RETRY%<group>.
 *  - "produce-only": send `count` messages as produce-consume does (for our consumer to read).
 *  - "produce-failover": send `count` messages `pauseMs` apart, going on after failed sends (errors
 *    listed); {"ready":true} after the first success (a DLedger failover is made meanwhile).
 *  - "consume-only": subscribe "*" and wait until `expect` messages arrived (our producer sent them).
 *  - "consume-hold": as consume-only, then print {"ready":true} once its offsets are committed and
 *    stay online (committing every second, as ali-ons does) for `holdMs` before the result line.
 */
const crypto = require('node:crypto');
const { Producer, Consumer, Message } = require('ali-ons');

const input = JSON.parse(process.argv[2]);
const errors = [];
const logs = [];
const logger = {
  info() {},
  debug() {},
  warn: (...a) => logs.push(['warn', a.map(String).join(' ')]),
  error: (...a) => logs.push(['error', a.map(String).join(' ')]),
};
const common = {
  nameSrv: input.nameSrv,
  httpclient: {},
  clientIP: '127.0.0.1',
  logger,
  // Shorter client periods than the defaults (30 s / 10 s) so routes created on the broker side
  // (e.g. %RETRY%<group> after the first heartbeat) are picked up quickly.
  pollNameServerInteval: 1000,
  heartbeatBrokerInterval: 2000,
  rebalanceInterval: 1000,
  persistConsumerOffsetInterval: 1000,
};

const sha1 = (b) => crypto.createHash('sha1').update(b).digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function finish(result, code = 0) {
  process.stdout.write(JSON.stringify({ ...result, errors, logs: logs.slice(-50) }) + '\n', () => process.exit(code));
}

const deadline = setTimeout(() => finish({ timedOut: true, sent, received }, 3), input.timeoutMs || 45000);
const sent = [];
const received = [];

function bodyFor(i) {
  // Every 4th body is 6000 bytes: above compressMsgBodyOverHowmuch (4096), so it travels deflated.
  const base = `message ${i} of ${input.runId} `;
  return Buffer.from(i % 4 === 0 ? base.repeat(Math.ceil(6000 / base.length)).slice(0, 6000) : base);
}

function record(msg) {
  received.push({
    msgId: msg.msgId,
    topic: msg.topic,
    tags: msg.tags,
    keys: msg.keys,
    bodySha1: sha1(msg.body),
    bodyLength: msg.body.length,
    reconsumeTimes: msg.reconsumeTimes,
    originMessageId: msg.originMessageId || null,
    retryTopic: msg.retryTopic || null,
  });
}

async function waitFor(pred) {
  while (!pred()) await sleep(50);
}

async function main() {
  const consumer = new Consumer({ ...common, consumerGroup: input.group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' });
  consumer.on('error', (err) => errors.push(String(err && err.message).slice(0, 300)));
  const producer = new Producer({ ...common, producerGroup: input.producerGroup });
  producer.on('error', (err) => errors.push(String(err && err.message).slice(0, 300)));
  await consumer.ready();
  await producer.ready();

  if (input.scenario === 'produce-consume') {
    consumer.subscribe(input.topic, 'TagA', async (msg) => record(msg));
    for (let i = 0; i < input.count; i++) {
      const tags = i % 2 === 0 ? 'TagA' : 'TagB';
      const msg = new Message(input.topic, tags, bodyFor(i));
      msg.keys = [`k${i}`, `run-${input.runId}`];
      const r = await producer.send(msg);
      sent.push({ i, msgId: r.msgId, sendStatus: r.sendStatus, queueId: r.messageQueue.queueId, queueOffset: r.queueOffset, tags, keys: msg.keys, bodySha1: sha1(bodyFor(i)), bodyLength: bodyFor(i).length });
    }
    const expected = sent.filter((s) => s.tags === 'TagA').length;
    await waitFor(() => received.length >= expected);
  } else if (input.scenario === 'retry') {
    let failures = 0;
    consumer.subscribe(input.topic, '*', async (msg) => {
      record(msg);
      if (failures === 0) {
        failures++;
        throw new Error('fail once on purpose');
      }
    });
    const msg = new Message(input.topic, 'TagR', bodyFor(1));
    msg.keys = [`retry-${input.runId}`];
    const r = await producer.send(msg);
    sent.push({ msgId: r.msgId, sendStatus: r.sendStatus, tags: 'TagR', keys: msg.keys, bodySha1: sha1(bodyFor(1)) });
    await waitFor(() => received.length >= 2);
  } else if (input.scenario === 'produce-only') {
    // For our consumer to read: the same tags/keys/body pattern as produce-consume.
    for (let i = 0; i < input.count; i++) {
      const tags = i % 2 === 0 ? 'TagA' : 'TagB';
      const msg = new Message(input.topic, tags, bodyFor(i));
      msg.keys = [`k${i}`, `run-${input.runId}`];
      const r = await producer.send(msg);
      sent.push({ i, msgId: r.msgId, sendStatus: r.sendStatus, queueId: r.messageQueue.queueId, queueOffset: r.queueOffset, tags, keys: msg.keys, bodySha1: sha1(bodyFor(i)), bodyLength: bodyFor(i).length });
    }
  } else if (input.scenario === 'produce-failover') {
    // One message every pauseMs; a send that fails (a DLedger failover under way) is recorded as
    // an error and the next one tried. Prints {"ready":true} after the first success.
    for (let i = 0; i < input.count; i++) {
      const msg = new Message(input.topic, 'TagF', bodyFor(i));
      try {
        const r = await producer.send(msg);
        sent.push({ i, msgId: r.msgId, sendStatus: r.sendStatus, queueId: r.messageQueue.queueId, tags: 'TagF', keys: '', bodySha1: sha1(bodyFor(i)) });
        if (sent.length === 1) process.stdout.write(JSON.stringify({ ready: true }) + '\n');
      } catch (err) {
        errors.push(`send ${i}: ${err && err.message}`);
      }
      await sleep(input.pauseMs);
    }
  } else if (input.scenario === 'consume-only') {
    // Messages our producer sent: consume everything until `expect` arrived.
    consumer.subscribe(input.topic, '*', async (msg) => record(msg));
    await waitFor(() => received.length >= input.expect);
  } else if (input.scenario === 'consume-hold') {
    consumer.subscribe(input.topic, '*', async (msg) => record(msg));
    await waitFor(() => received.length >= input.expect);
    await sleep(1500);
    process.stdout.write(JSON.stringify({ ready: true }) + '\n');
    await sleep(input.holdMs);
  } else {
    throw new Error(`unknown scenario ${input.scenario}`);
  }
  // Let the consumer commit its offsets (persistConsumerOffsetInterval) before leaving.
  await sleep(1500);
  clearTimeout(deadline);
  // One after the other: they share one MQClient, which the last close shuts (closing both at
  // once fails the first one's UNREGISTER_CLIENT with SocketCloseError).
  const closeErrors = [];
  for (const c of [consumer, producer]) {
    await Promise.race([c.close(), sleep(5000)]).catch((err) => closeErrors.push(String(err && err.message)));
  }
  finish({ sent, received, closeErrors });
}

main().catch((err) => {
  errors.push(`fatal: ${err && err.stack ? err.stack : err}`);
  finish({ sent, received }, 2);
});
