/**
 * End-to-end benchmark through the client library: an in-process broker (temp store, embedded
 * name server, loopback), a Producer sending 1 KiB messages from `concurrency` concurrent callers
 * for `phaseMs`, then a PushConsumer draining the topic. Reports send throughput and latency
 * percentiles, and consume throughput. The same produce phase is then repeated against a
 * SYNC_FLUSH broker (`produceSync`). Every phase also reports the process CPU time (user+system,
 * all threads: broker, client and store together) per message, steadier than rates on a busy
 * machine. Each phase is bounded in time; the temp dirs are removed.
 *
 * Hook into bench/run.ts with:
 *   import { benchE2e } from './e2e.js';
 *   PARTS.push({ name: 'e2e', run: () => benchE2e({ phaseMs }) });
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BrokerController } from '../src/broker/broker.js';
import { buildBrokerConfig } from '../src/broker/broker-config.js';
import { Producer } from '../src/client/producer.js';
import { PushConsumer } from '../src/client/push-consumer.js';
import { serializeTypeFromEnv } from '../src/client/client-instance.js';
import type { SerializeType } from '../src/protocol/frame.js';

export interface E2eBenchOptions {
  phaseMs: number;
  concurrency?: number;
  bodyBytes?: number;
  queues?: number;
  /** Register the broker with this name server instead of running the embedded one. */
  namesrvAddr?: string;
  /** Also run the produce phase against a SYNC_FLUSH broker (default true). */
  syncFlush?: boolean;
  /** Remoting header encoding of the producer and consumer (default: ROCKETMQ_SERIALIZE_TYPE, else ROCKETMQ). */
  serializeType?: SerializeType;
}

export interface ProducePhase {
  sent: number;
  failed: number;
  seconds: number;
  msgsPerSec: number;
  latencyMs: { p50: number; p99: number; max: number };
  /** Process CPU (user+system) per message sent, in microseconds. */
  cpuMicrosPerMsg: number;
}

export interface E2eBenchResult {
  options: Omit<Required<E2eBenchOptions>, 'namesrvAddr'>;
  /** ASYNC_FLUSH broker. */
  produce: ProducePhase & { flushDiskType: 'ASYNC_FLUSH' };
  consume: { received: number; seconds: number; msgsPerSec: number; complete: boolean; cpuMicrosPerMsg: number };
  /** The produce phase against a SYNC_FLUSH broker (absent with syncFlush: false). */
  produceSync?: ProducePhase & { flushDiskType: 'SYNC_FLUSH' };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

export async function startBroker(dir: string, flushDiskType: 'ASYNC_FLUSH' | 'SYNC_FLUSH', queues: number, externalNamesrv: string | undefined, extra: Record<string, string> = {}): Promise<BrokerController> {
  return BrokerController.start(
    buildBrokerConfig({
      overrides: {
        storePathRootDir: dir,
        listenPort: '0',
        namesrvListenPort: '0',
        embeddedNamesrv: externalNamesrv ? 'false' : 'true',
        ...(externalNamesrv ? { namesrvAddr: externalNamesrv } : {}),
        defaultTopicQueueNums: String(queues),
        flushDiskType,
        ...extra,
      },
    }).config,
  );
}

/** `concurrency` callers each sending one message at a time until phaseMs has passed (with `keyOf(i)` as its key, if given). */
export async function producePhase(producer: Producer, topic: string, body: Buffer, concurrency: number, phaseMs: number, keyOf?: (i: number) => string): Promise<ProducePhase> {
  await producer.send({ topic, body }); // creates the topic (auto-create from TBW102)
  const latencies: number[] = [];
  let sent = 1;
  let failed = 0;
  const cpu0 = cpuMicros();
  const t0 = performance.now();
  const deadline = t0 + phaseMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const s = performance.now();
        try {
          await producer.send({ topic, body, keys: keyOf?.(sent) });
          sent++;
          latencies.push(performance.now() - s);
        } catch {
          failed++;
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuMicros() - cpu0;
  latencies.sort((a, b) => a - b);
  return {
    sent,
    failed,
    seconds,
    msgsPerSec: Math.round(sent / seconds),
    latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] ?? 0 },
    cpuMicrosPerMsg: round2(cpu / Math.max(1, latencies.length)),
  };
}

export function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

export async function benchE2e(o: E2eBenchOptions): Promise<E2eBenchResult> {
  const { namesrvAddr: externalNamesrv, ...rest } = o;
  const options = { concurrency: 256, bodyBytes: 1024, queues: 8, syncFlush: true, serializeType: serializeTypeFromEnv(), ...rest };
  const st = options.serializeType;
  const body = Buffer.alloc(options.bodyBytes, 'x');
  const topic = 'BenchE2E';
  let produce: E2eBenchResult['produce'];
  let consume: E2eBenchResult['consume'];
  {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rocketctl-bench-e2e-'));
    const broker = await startBroker(dir, 'ASYNC_FLUSH', options.queues, externalNamesrv);
    const namesrvAddr = externalNamesrv ?? broker.addresses.namesrv!;
    const producer = new Producer({ namesrvAddr, producerGroup: 'BENCH_E2E_PG', defaultTopicQueueNums: options.queues, instanceName: 'bench-producer', serializeType: st });
    const consumer = new PushConsumer({ namesrvAddr, consumerGroup: 'BENCH_E2E_CG', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', instanceName: 'bench-consumer', serializeType: st });
    try {
      await producer.start();
      produce = { flushDiskType: 'ASYNC_FLUSH', ...(await producePhase(producer, topic, body, options.concurrency, options.phaseMs)) };
      const sent = produce.sent;

      let received = 0;
      let resolveAll!: () => void;
      const all = new Promise<void>((r) => (resolveAll = r));
      consumer.subscribe(topic, '*');
      const cpu0 = cpuMicros();
      const c0 = performance.now();
      await consumer.start(() => {
        received++;
        if (received >= sent) resolveAll();
      });
      let timer: NodeJS.Timeout | undefined;
      const complete = await Promise.race([all.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), Math.max(options.phaseMs * 4, 30_000))))]);
      clearTimeout(timer);
      const consumeSeconds = (performance.now() - c0) / 1000;
      const cpu = cpuMicros() - cpu0;
      consume = { received, seconds: consumeSeconds, msgsPerSec: Math.round(received / consumeSeconds), complete, cpuMicrosPerMsg: round2(cpu / Math.max(1, received)) };
    } finally {
      await consumer.close().catch(() => undefined);
      await producer.close().catch(() => undefined);
      await broker.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
  const result: E2eBenchResult = { options, produce, consume };
  if (options.syncFlush) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rocketctl-bench-e2e-sync-'));
    const broker = await startBroker(dir, 'SYNC_FLUSH', options.queues, externalNamesrv);
    const namesrvAddr = externalNamesrv ?? broker.addresses.namesrv!;
    const producer = new Producer({ namesrvAddr, producerGroup: 'BENCH_E2E_PG', defaultTopicQueueNums: options.queues, instanceName: 'bench-producer-sync', serializeType: st });
    try {
      await producer.start();
      result.produceSync = { flushDiskType: 'SYNC_FLUSH', ...(await producePhase(producer, topic, body, options.concurrency, options.phaseMs)) };
    } finally {
      await producer.close().catch(() => undefined);
      await broker.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
  return result;
}

// Run alone: npx tsx bench/e2e.ts
if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchE2e({
    phaseMs: Number(process.env.ROCKETCTL_BENCH_PHASE_MS ?? '4000'),
    ...(process.env.ROCKETCTL_BENCH_E2E_CONCURRENCY ? { concurrency: Number(process.env.ROCKETCTL_BENCH_E2E_CONCURRENCY) } : {}),
  });
  process.stdout.write(JSON.stringify(r, null, 2) + '\n');
}
