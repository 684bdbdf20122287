/**
 * TraceDispatcher: a TraceBatcher (trace-batcher.ts) with its own internal trace producer, for a
 * traced client that is not itself a Producer (push consumers), and for the package's users.
 * Producers trace through a TraceBatcher directly, so this module and producer.ts do not import
 * each other at runtime.
 */
import { Producer } from './producer.js';
import { TraceBatcher, traceProducerOptions, type TraceDispatcherOptions } from './trace-batcher.js';

// push-consumer.ts takes its stats type from here.
export type { TraceDispatcherOptions, TraceStats } from './trace-batcher.js';

export class TraceDispatcher extends TraceBatcher {
  constructor(opts: TraceDispatcherOptions) {
    super(opts, new Producer(traceProducerOptions(opts)));
  }
}
