/**
 * End-to-end benchmark through the client library: an in-process broker (temp store, embedded
 * name server, loopback), a Producer sending 1 KiB messages from `concurrency` concurrent callers
 * for `phaseMs`, then a PushConsumer draining the topic. Reports send throughput and latency
 * percentiles, and consume throughput. Each phase is bounded in time; the temp dir is removed.
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

export interface E2eBenchOptions {
  phaseMs: number;
  concurrency?: number;
  bodyBytes?: number;
  queues?: number;
  /** Register the broker with this name server instead of running the embedded one. */
  namesrvAddr?: string;
}

export interface E2eBenchResult {
  options: Omit<Required<E2eBenchOptions>, 'namesrvAddr'>;
  produce: { sent: number; failed: number; seconds: number; msgsPerSec: number; latencyMs: { p50: number; p99: number; max: number } };
  consume: { received: number; seconds: number; msgsPerSec: number; complete: boolean };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function benchE2e(o: E2eBenchOptions): Promise<E2eBenchResult> {
  const { namesrvAddr: externalNamesrv, ...rest } = o;
  const options = { concurrency: 64, bodyBytes: 1024, queues: 8, ...rest };
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rocketctl-bench-e2e-'));
  const broker = await BrokerController.start(
    buildBrokerConfig({
      overrides: {
        storePathRootDir: dir,
        listenPort: '0',
        namesrvListenPort: '0',
        embeddedNamesrv: externalNamesrv ? 'false' : 'true',
        ...(externalNamesrv ? { namesrvAddr: externalNamesrv } : {}),
        defaultTopicQueueNums: String(options.queues),
      },
    }).config,
  );
  const namesrvAddr = externalNamesrv ?? broker.addresses.namesrv!;
  const topic = 'BenchE2E';
  const producer = new Producer({ namesrvAddr, producerGroup: 'BENCH_E2E_PG', defaultTopicQueueNums: options.queues, instanceName: 'bench-producer' });
  const consumer = new PushConsumer({ namesrvAddr, consumerGroup: 'BENCH_E2E_CG', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', instanceName: 'bench-consumer' });
  try {
    await producer.start();
    const body = Buffer.alloc(options.bodyBytes, 'x');
    await producer.send({ topic, body }); // creates the topic (auto-create from TBW102)
    const latencies: number[] = [];
    let sent = 1;
    let failed = 0;
    const t0 = performance.now();
    const deadline = t0 + options.phaseMs;
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (performance.now() < deadline) {
          const s = performance.now();
          try {
            await producer.send({ topic, body });
            sent++;
            latencies.push(performance.now() - s);
          } catch {
            failed++;
          }
        }
      }),
    );
    const produceSeconds = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);

    let received = 0;
    let resolveAll!: () => void;
    const all = new Promise<void>((r) => (resolveAll = r));
    consumer.subscribe(topic, '*');
    const c0 = performance.now();
    await consumer.start(() => {
      received++;
      if (received >= sent) resolveAll();
    });
    let timer: NodeJS.Timeout | undefined;
    const complete = await Promise.race([all.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), Math.max(options.phaseMs * 4, 30_000))))]);
    clearTimeout(timer);
    const consumeSeconds = (performance.now() - c0) / 1000;
    return {
      options,
      produce: {
        sent,
        failed,
        seconds: produceSeconds,
        msgsPerSec: Math.round(sent / produceSeconds),
        latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] ?? 0 },
      },
      consume: { received, seconds: consumeSeconds, msgsPerSec: Math.round(received / consumeSeconds), complete },
    };
  } finally {
    await consumer.close().catch(() => undefined);
    await producer.close().catch(() => undefined);
    await broker.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

// Run alone: npx tsx bench/e2e.ts
if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchE2e({ phaseMs: Number(process.env.ROCKETCTL_BENCH_PHASE_MS ?? '4000') });
  process.stdout.write(JSON.stringify(r, null, 2) + '\n');
}
