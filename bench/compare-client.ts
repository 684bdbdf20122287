/**
 * The client process of `npm run bench:compare` (bench/compare.ts spawns one per run, so the
 * server's CPU is never mixed with the client's). One workload over four systems: send `count`
 * messages of `size` bytes with at most `inflight` unanswered, then read them all back as a
 * consumer group would (acknowledged). test/apache/java/BenchClient.java is its Java twin.
 *
 * Protocol with the driver (one JSON object per stdout line, one "go" line per phase on stdin):
 *   {"event":"ready","phase":"produce"}  <- go   then  {"event":"result","phase":"produce",...}
 *   {"event":"ready","phase":"consume"}  <- go   then  {"event":"result","phase":"consume",...}
 *   {"event":"done"}
 * A fan-scenario client (spec.role) runs only one of the two phases, with the same handshake; a
 * producer then waits for one more line before it closes, so the driver reads its CPU time first.
 * The driver reads the server's /proc counters between "ready" and "go" and at "result", so
 * each phase's server CPU is exactly the work of that phase. Warm-up sends (connections, route
 * look-ups, topic creation, JIT of the client) come before the first "ready" and are not timed;
 * the consumer reads them too.
 *
 * Usage: node dist/bench/compare-client.js '<ClientSpec as JSON>'
 */
import { createRequire } from 'node:module';
import readline from 'node:readline';
import { Producer, PushConsumer, topicRoute, updateTopic, withAdminSession } from '../src/index.js';

/** rocketmq: our client; ali-ons: the third-party ali-ons 3.12 client, against a RocketMQ name server. */
export type ClientSystem = 'rocketmq' | 'ali-ons' | 'redis' | 'nats' | 'rabbitmq';

export interface ClientSpec {
  system: ClientSystem;
  /** rocketmq, ali-ons: the name server; others: the server's host:port. */
  addr: string;
  /** Topic, stream key, JetStream stream (subject `<topic>.x`) or queue name. */
  topic: string;
  count: number;
  sizeBytes: number;
  inflight: number;
  warmup: number;
  phaseTimeoutMs: number;
  /** rocketmq, ali-ons: write queues of the auto-created topic. */
  queues: number;
  /** rabbitmq: 'classic' or 'quorum'. */
  queueType?: 'classic' | 'quorum';
  /** rabbitmq: delivery mode 2 (persistent; confirmed once fsynced) instead of 1 (transient). */
  persistent?: boolean;
  /**
   * Absent: produce, then consume (the single scenario). 'produce': only the produce phase (one of
   * the fan scenario's producers). 'consume': only the consume phase, reading `expect` messages
   * as consumer group `consumerGroup` (one of the fan scenario's groups).
   */
  role?: 'produce' | 'consume';
  expect?: number;
  consumerGroup?: string;
  /** Put every acknowledged send's latency in the produce result, so the driver can merge percentiles. */
  latencies?: boolean;
}

export interface ProduceResult {
  event: 'result';
  phase: 'produce';
  sent: number;
  failed: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Warm-up sends the server acked (they are read back too) and refused. */
  warmupSent: number;
  warmupFailed: number;
  /** The first failed send's message, warm-up included. */
  firstError: string | null;
  /** With spec.latencies: each acknowledged send's latency, ms, sorted. */
  latenciesMs?: number[];
}

export interface ConsumeResult {
  event: 'result';
  phase: 'consume';
  received: number;
  seconds: number;
  complete: boolean;
  /**
   * When half of the expected messages had arrived: how many had (a batch may overshoot), and
   * seconds since the phase began (0: never). The second half's rate leaves the consumer's
   * start-up out (connections, rebalance, a cold JIT), which dominates short runs.
   */
  halfReceived: number;
  halfSeconds: number;
}

/** One system's client: connect and declare, send one message, read `expect` messages back. */
interface Adapter {
  setup(): Promise<void>;
  send(body: Buffer): Promise<void>;
  /** Reads until `expect` messages arrived or `deadline` (performance.now() ms); returns how many. */
  consume(expect: number, deadline: number): Promise<number>;
  close(): Promise<void>;
}

/** Messages read per request by the pull-style consumers (Redis, NATS) and RabbitMQ's prefetch. */
const CONSUME_BATCH = 1000;
/** Acknowledge every this many messages (RabbitMQ multiple=true, NATS AckAll) and at the end. */
const ACK_EVERY = 100;
/** How long one blocking read waits for more (Redis XREADGROUP BLOCK, NATS pull expiry). */
const READ_BLOCK_MS = 1000;

function emit(o: object): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** The first failed send's message. */
let firstError: string | null = null;

/** `count` sends through `send`, at most `inflight` unanswered; stops issuing at `deadline`. Returns how many failed. */
async function sendWindow(count: number, inflight: number, deadline: number, send: () => Promise<void>, latenciesMs?: number[]): Promise<number> {
  let issued = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (issued < count && performance.now() < deadline) {
      issued++;
      const s = performance.now();
      try {
        await send();
        latenciesMs?.push(performance.now() - s);
      } catch (err) {
        firstError ??= (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
        failed++;
      }
    }
  };
  await withDeadline(Promise.all(Array.from({ length: Math.min(inflight, count) }, worker)), deadline);
  return failed + (count - issued);
}

/** p, or nothing once `deadline` has passed: a send or read that never answers cannot hang the phase. */
async function withDeadline<T>(p: Promise<T>, deadline: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - performance.now()))));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The consume phase's halfway mark (see ConsumeResult): every adapter reports its running count. */
const halfway = { expect: 0, received: 0, at: 0 };

function arrived(received: number): void {
  if (halfway.at === 0 && received * 2 >= halfway.expect) {
    halfway.at = performance.now();
    halfway.received = received;
  }
}

/** Starts a push consumer through `start` and counts its deliveries until `expect` or `deadline`. */
async function countDeliveries(expect: number, deadline: number, start: (onMessage: () => void) => Promise<void>): Promise<number> {
  let received = 0;
  let all!: () => void;
  const done = new Promise<void>((resolve) => (all = resolve));
  await start(() => {
    arrived(++received);
    if (received >= expect) all();
  });
  await withDeadline(done, deadline);
  return received;
}

function rocketmqAdapter(spec: ClientSpec): Adapter {
  const producer = new Producer({
    namesrvAddr: spec.addr,
    producerGroup: 'bench_compare_pg',
    defaultTopicQueueNums: spec.queues,
    instanceName: `bench-p-${process.pid}`,
    // A loaded 2-core machine can hold an ack for seconds; a timeout would count as a failed send.
    sendMsgTimeoutMs: 30_000,
  });
  let consumer: PushConsumer | undefined;
  return {
    setup: () => (spec.role === 'consume' ? Promise.resolve() : producer.start()),
    send: async (body) => {
      await producer.send({ topic: spec.topic, body });
    },
    async consume(expect, deadline) {
      await producer.close();
      consumer = new PushConsumer({ namesrvAddr: spec.addr, consumerGroup: spec.consumerGroup ?? 'bench_compare_cg', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', instanceName: `bench-c-${process.pid}` });
      const c = consumer;
      c.subscribe(spec.topic, '*');
      return countDeliveries(expect, deadline, (onMessage) => c.start(onMessage));
    },
    async close() {
      await consumer?.close();
      await producer.close();
    },
  };
}

/** The parts of ali-ons 3.12 (CommonJS, no types) this client uses; see test/interop/ali-ons-scenario.cjs. */
interface AliOns {
  Producer: new (o: Record<string, unknown>) => { ready(): Promise<void>; send(m: unknown): Promise<{ sendStatus: string }>; close(): Promise<void>; on(e: 'error', f: (err: Error) => void): void };
  Consumer: new (o: Record<string, unknown>) => { ready(): Promise<void>; subscribe(topic: string, expr: string, handler: (msg: unknown) => Promise<void>): void; close(): Promise<void>; on(e: 'error', f: (err: Error) => void): void };
  Message: new (topic: string, tags: string, body: Buffer) => unknown;
}

/**
 * ali-ons with its defaults (one connection per address, pullBatchSize 32, parallelConsumeLimit 1)
 * except what the workload needs: the name server, the topic's queue count, and the same 30 s send
 * timeout as our client (its 3 s default would count a slow ack on a loaded machine as a failure).
 * Its timers outlive close(); main() ends the process with process.exit.
 */
function aliOnsAdapter(spec: ClientSpec): Adapter {
  const ons = createRequire(import.meta.url)('ali-ons') as AliOns;
  const quiet = { info() {}, debug() {}, warn() {}, error() {} };
  const common = { nameSrv: spec.addr, httpclient: {}, clientIP: '127.0.0.1', logger: quiet };
  const producer = new ons.Producer({ ...common, producerGroup: 'bench_compare_pg', defaultTopicQueueNums: spec.queues, sendMsgTimeout: 30_000 });
  producer.on('error', () => undefined);
  let consumer: InstanceType<AliOns['Consumer']> | undefined;
  return {
    async setup() {
      // ali-ons does not fall back to the default topic's route (TBW102) when the name server has
      // none (its TOPIC_NOT_EXIST falls through to an error), so the topic is made first, as
      // mqadmin updateTopic would, and its route awaited (bounded).
      await withAdminSession({ namesrvAddr: spec.addr, timeoutMs: 5000 }, async (s) => {
        await updateTopic(s, { topic: spec.topic, clusterName: 'DefaultCluster', readQueueNums: spec.queues, writeQueueNums: spec.queues });
        const until = performance.now() + 30_000;
        for (;;) {
          const found = await topicRoute(s, spec.topic).then(() => true, () => false);
          if (found) break;
          if (performance.now() > until) throw new Error(`no route for ${spec.topic} within 30 s of creating it`);
          await new Promise((r) => setTimeout(r, 100));
        }
      });
      await producer.ready();
    },
    send: async (body) => {
      const r = await producer.send(new ons.Message(spec.topic, '', body));
      if (r.sendStatus !== 'SEND_OK') throw new Error(`ali-ons: ${r.sendStatus}`);
    },
    async consume(expect, deadline) {
      consumer = new ons.Consumer({ ...common, consumerGroup: spec.consumerGroup ?? 'bench_compare_cg', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' });
      consumer.on('error', () => undefined);
      await consumer.ready();
      const c = consumer;
      return countDeliveries(expect, deadline, async (onMessage) => c.subscribe(spec.topic, '*', async () => onMessage()));
    },
    async close() {
      await consumer?.close();
      await producer.close();
    },
  };
}

async function redisAdapter(spec: ClientSpec): Promise<Adapter> {
  const { createClient } = await import('redis');
  const [host, port] = spec.addr.split(':');
  const client = createClient({ socket: { host, port: Number(port) } });
  const group = spec.consumerGroup ?? 'bench_compare_cg';
  return {
    async setup() {
      await client.connect();
      // A fan producer leaves the groups to the consumers (a second XGROUP CREATE would fail BUSYGROUP).
      if (spec.role !== 'produce') await client.xGroupCreate(spec.topic, group, '0', { MKSTREAM: true });
    },
    send: async (body) => {
      await client.xAdd(spec.topic, '*', { b: body });
    },
    // XREADGROUP (entries enter the group's pending list) and XACK of each batch: the at-least-once
    // read of a consumer group, as RocketMQ's consumers and RabbitMQ's acks are.
    async consume(expect, deadline) {
      let received = 0;
      const acks: Promise<unknown>[] = [];
      while (received < expect && performance.now() < deadline) {
        const reply = await client.xReadGroup(group, 'c1', { key: spec.topic, id: '>' }, { COUNT: CONSUME_BATCH, BLOCK: READ_BLOCK_MS });
        // RESP2 (node-redis's default): [{ name, messages: [{ id, message }] }] or null.
        const messages = (reply as { messages: { id: string }[] }[] | null)?.[0]?.messages ?? [];
        if (messages.length === 0) continue;
        received += messages.length;
        arrived(received);
        // Not awaited here: the ack goes out on the same connection ahead of the next read.
        acks.push(client.xAck(spec.topic, group, messages.map((m) => m.id)));
      }
      await withDeadline(Promise.all(acks), deadline);
      return received;
    },
    async close() {
      await client.quit();
    },
  };
}

async function natsAdapter(spec: ClientSpec): Promise<Adapter> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstream, jetstreamManager, AckPolicy, StorageType } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: spec.addr });
  const js = jetstream(nc);
  const subject = `${spec.topic}.x`;
  const durable = 'bench_compare_cg';
  return {
    async setup() {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: spec.topic, subjects: [`${spec.topic}.>`], storage: StorageType.File });
      // AckAll: acking a message acks every one before it (RocketMQ-like committed offset).
      await jsm.consumers.add(spec.topic, { durable_name: durable, ack_policy: AckPolicy.All, max_ack_pending: CONSUME_BATCH * 20 });
    },
    send: async (body) => {
      await js.publish(subject, body);
    },
    async consume(expect, deadline) {
      const consumer = await js.consumers.get(spec.topic, durable);
      const messages = await consumer.consume({ max_messages: CONSUME_BATCH, expires: READ_BLOCK_MS * 5 });
      let received = 0;
      const timer = setTimeout(() => void messages.stop(), Math.max(0, deadline - performance.now()));
      try {
        for await (const m of messages) {
          arrived(++received);
          if (received % ACK_EVERY === 0 || received >= expect) m.ack();
          if (received >= expect) break;
        }
      } finally {
        clearTimeout(timer);
        await messages.close().catch(() => undefined);
      }
      return received;
    },
    async close() {
      await nc.drain();
    },
  };
}

async function rabbitmqAdapter(spec: ClientSpec): Promise<Adapter> {
  const amqp = await import('amqplib');
  const conn = await amqp.connect(`amqp://guest:guest@${spec.addr}`);
  const ch = await conn.createConfirmChannel();
  const deliveryMode = spec.persistent ? 2 : 1;
  let drained: Promise<void> | undefined;
  return {
    async setup() {
      await ch.assertQueue(spec.topic, { durable: true, arguments: { 'x-queue-type': spec.queueType ?? 'classic' } });
    },
    // Publisher confirms: the broker acks once every queue has the message (for a persistent
    // message on a durable queue: once it is on disk).
    async send(body) {
      if (drained) await drained;
      await new Promise<void>((resolve, reject) => {
        const ok = ch.publish('', spec.topic, body, { deliveryMode }, (err) => (err ? reject(err) : resolve()));
        if (!ok && !drained) drained = new Promise<void>((r) => ch.once('drain', () => ((drained = undefined), r())));
      });
    },
    async consume(expect, deadline) {
      const cc = await conn.createChannel();
      await cc.prefetch(CONSUME_BATCH);
      let received = 0;
      let all!: () => void;
      const done = new Promise<void>((resolve) => (all = resolve));
      await cc.consume(spec.topic, (m) => {
        if (!m) return;
        arrived(++received);
        if (received % ACK_EVERY === 0 || received >= expect) cc.ack(m, true);
        if (received >= expect) all();
      });
      await withDeadline(done, deadline);
      await cc.close();
      return received;
    },
    async close() {
      await conn.close();
    },
  };
}

function adapterFor(spec: ClientSpec): Adapter | Promise<Adapter> {
  switch (spec.system) {
    case 'rocketmq': return rocketmqAdapter(spec);
    case 'ali-ons': return aliOnsAdapter(spec);
    case 'redis': return redisAdapter(spec);
    case 'nats': return natsAdapter(spec);
    case 'rabbitmq': return rabbitmqAdapter(spec);
  }
}

/** Lines from the driver; each phase waits for one ("go"), bounded by the phase timeout. */
function stdinLines(): (timeoutMs: number) => Promise<string> {
  const queue: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    const w = waiting.shift();
    if (w) w(line);
    else queue.push(line);
  });
  return (timeoutMs) => {
    const line = queue.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "go" from the driver within ${timeoutMs} ms`)), timeoutMs);
      waiting.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
    });
  };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as ClientSpec;
  const nextLine = stdinLines();
  const adapter = await adapterFor(spec);
  await adapter.setup();
  // Every message the server acked, warm-up included, is read back.
  const expect = spec.role === 'consume' ? spec.expect ?? 0 : await producePhase(spec, adapter, nextLine);
  // A fan producer stays up until the driver has read its CPU time: one more line on stdin.
  if (spec.role === 'produce') await nextLine(spec.phaseTimeoutMs);
  if (spec.role !== 'produce') {
    emit({ event: 'ready', phase: 'consume' });
    await nextLine(spec.phaseTimeoutMs);
    halfway.expect = expect;
    const c0 = performance.now();
    const received = await adapter.consume(expect, c0 + spec.phaseTimeoutMs);
    const consume: ConsumeResult = {
      event: 'result', phase: 'consume', received, seconds: round3((performance.now() - c0) / 1000), complete: received >= expect,
      halfReceived: halfway.received, halfSeconds: halfway.at === 0 ? 0 : round3((halfway.at - c0) / 1000),
    };
    emit(consume);
  }
  await withDeadline(adapter.close(), performance.now() + 10_000);
  emit({ event: 'done' });
}

/** Warm-up, "ready", "go", the timed sends and their result; returns how many the server acked. */
async function producePhase(spec: ClientSpec, adapter: Adapter, nextLine: (timeoutMs: number) => Promise<string>): Promise<number> {
  const body = Buffer.alloc(spec.sizeBytes, 'x');
  const warmupFailed = await sendWindow(spec.warmup, spec.inflight, performance.now() + spec.phaseTimeoutMs, () => adapter.send(body));
  emit({ event: 'ready', phase: 'produce' });
  await nextLine(spec.phaseTimeoutMs);
  const latenciesMs: number[] = [];
  const t0 = performance.now();
  const failed = await sendWindow(spec.count, spec.inflight, t0 + spec.phaseTimeoutMs, () => adapter.send(body), latenciesMs);
  const seconds = (performance.now() - t0) / 1000;
  latenciesMs.sort((a, b) => a - b);
  const produce: ProduceResult = {
    event: 'result', phase: 'produce', sent: latenciesMs.length, failed, seconds: round3(seconds),
    p50Ms: round3(percentile(latenciesMs, 50)), p99Ms: round3(percentile(latenciesMs, 99)), maxMs: round3(latenciesMs.at(-1) ?? 0),
    warmupSent: spec.warmup - warmupFailed, warmupFailed, firstError,
    ...(spec.latencies ? { latenciesMs: latenciesMs.map(round3) } : {}),
  };
  emit(produce);
  return produce.warmupSent + produce.sent;
}

// The driver stops a client with SIGTERM: exit as from process.exit, so a --cpu-prof profile is written.
process.once('SIGTERM', () => process.exit(143));

main().then(
  () => process.exit(0),
  (err: unknown) => {
    emit({ event: 'error', message: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  },
);
