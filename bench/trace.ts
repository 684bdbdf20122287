/**
 * What broker-side tracing (brokerTraceEnable, docs/broker-trace.md) costs producers: the e2e
 * produce phase (1 KiB messages, each with its own key, `concurrency` concurrent callers, ASYNC_FLUSH)
 * against a broker with tracing off and one with it on, after a warm-up of each, alternated
 * `rounds` times so load from elsewhere on the machine falls on both alike. Reports each side's throughput (median of its
 * rounds), the ratio on/off and the slowdown in percent (the aim: at most 15 %), CPU per message,
 * and what the tracer did (records written, dropped).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BrokerController } from '../src/broker/broker.js';
import { Producer } from '../src/client/producer.js';
import type { BrokerTraceStats } from '../src/broker/trace/broker-tracer.js';
import { producePhase, round2, startBroker, type ProducePhase } from './e2e.js';

export interface TraceBenchOptions {
  phaseMs: number;
  rounds?: number;
  concurrency?: number;
  bodyBytes?: number;
  queues?: number;
}

export interface TraceBenchSide {
  /** Median of the rounds' throughputs. */
  msgsPerSec: number;
  cpuMicrosPerMsg: number;
  rounds: ProducePhase[];
}

export interface TraceBenchResult {
  options: Required<TraceBenchOptions>;
  off: TraceBenchSide;
  on: TraceBenchSide & { tracer: BrokerTraceStats };
  /** on.msgsPerSec / off.msgsPerSec. */
  ratio: number;
  /** (1 - ratio) * 100: how much slower producing is with broker tracing on. */
  slowdownPct: number;
  aimMaxSlowdownPct: 15;
  /** os.loadavg() (1, 5, 15 min) before and after: the rates mean little on a busy machine. */
  loadAvg: { before: number[]; after: number[] };
}

const TOPIC = 'BenchTrace';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function side(rounds: ProducePhase[]): TraceBenchSide {
  return { msgsPerSec: Math.round(median(rounds.map((r) => r.msgsPerSec))), cpuMicrosPerMsg: round2(median(rounds.map((r) => r.cpuMicrosPerMsg))), rounds };
}

export async function benchTrace(o: TraceBenchOptions): Promise<TraceBenchResult> {
  const options = { rounds: 5, concurrency: 256, bodyBytes: 1024, queues: 8, ...o };
  const body = Buffer.alloc(options.bodyBytes, 'x');
  const loadBefore = os.loadavg().map(round2);
  const dirs: string[] = [];
  const brokers: BrokerController[] = [];
  const producers: Producer[] = [];
  const start = async (trace: boolean) => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), `rocketctl-bench-trace-${trace ? 'on' : 'off'}-`));
    dirs.push(dir);
    const broker = await startBroker(dir, 'ASYNC_FLUSH', options.queues, undefined, { brokerTraceEnable: String(trace) });
    brokers.push(broker);
    const producer = new Producer({ namesrvAddr: broker.addresses.namesrv!, producerGroup: 'BENCH_TRACE_PG', defaultTopicQueueNums: options.queues, instanceName: `bench-trace-${trace}` });
    producers.push(producer);
    await producer.start();
    return { broker, producer };
  };
  try {
    const off = await start(false);
    const on = await start(true);
    // Warm-up (JIT, page cache, first segment files), not counted.
    await producePhase(off.producer, TOPIC, body, options.concurrency, options.phaseMs / 2);
    await producePhase(on.producer, TOPIC, body, options.concurrency, options.phaseMs / 2);
    const offRounds: ProducePhase[] = [];
    const onRounds: ProducePhase[] = [];
    for (let i = 0; i < options.rounds; i++) {
      const key = (round: number) => (n: number) => `order-${round}-${n}`;
      offRounds.push(await producePhase(off.producer, TOPIC, body, options.concurrency, options.phaseMs, key(i)));
      onRounds.push(await producePhase(on.producer, TOPIC, body, options.concurrency, options.phaseMs, key(i)));
    }
    await on.broker.tracer!.flush();
    const offSide = side(offRounds);
    const onSide = { ...side(onRounds), tracer: { ...on.broker.tracer!.stats } };
    const ratio = offSide.msgsPerSec > 0 ? onSide.msgsPerSec / offSide.msgsPerSec : 0;
    const loadAvg = { before: loadBefore, after: os.loadavg().map(round2) };
    return { options, off: offSide, on: onSide, ratio: round2(ratio), slowdownPct: round2((1 - ratio) * 100), aimMaxSlowdownPct: 15, loadAvg };
  } finally {
    for (const p of producers) await p.close().catch(() => undefined);
    for (const b of brokers) await b.close();
    for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
  }
}
