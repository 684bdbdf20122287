/**
 * `npm run bench`: runs every bench part in turn and prints ONE JSON document on stdout
 * (progress goes to stderr). Add a part by appending to PARTS.
 * ROCKETCTL_BENCH_PHASE_MS shortens/lengthens each timed phase; ROCKETCTL_BENCH_ONLY=a,b picks parts.
 */
import os from 'node:os';
import { benchAdmin } from './admin.js';
import { benchDLedger } from './dledger.js';
import { benchE2e } from './e2e.js';
import { benchMigrate } from './migrate.js';
import { benchStore } from './store.js';
import { benchTopics } from './topics.js';
import { benchTrace } from './trace.js';

interface BenchPart {
  name: string;
  run: () => Promise<unknown>;
}

const phaseMs = Number(process.env.ROCKETCTL_BENCH_PHASE_MS ?? '4000');

const PARTS: BenchPart[] = [
  { name: 'store', run: () => benchStore({ phaseMs }) },
  { name: 'e2e', run: () => benchE2e({ phaseMs }) },
  // The same produce/consume with JSON remoting headers (Java's default; our clients send binary ones).
  { name: 'e2eJson', run: () => benchE2e({ phaseMs, serializeType: 'JSON', syncFlush: false }) },
  // consumerProgress over 1,000 groups and CLI start-up (needs the build: npm run bench builds first)
  { name: 'admin', run: () => benchAdmin() },
  // 10,000 topics through updateTopic (per-call latency at 10k, auto-creation), broker start with 50,000
  { name: 'topics', run: () => benchTopics() },
  // migrateBacklog --execute of 200,000 1 KiB messages, broker and CLI in separate processes (ROCKETCTL_BENCH_MIGRATE_MESSAGES)
  { name: 'migrate', run: () => benchMigrate() },
  // produce throughput with broker-side tracing (brokerTraceEnable) off vs on, alternated rounds; aim: at most 15 % slower
  { name: 'trace', run: () => benchTrace({ phaseMs }) },
  // SYNC_FLUSH produce into one broker vs a 3-node DLedger group, and master failover with default election timing (ROCKETCTL_BENCH_DLEDGER_MS)
  { name: 'dledger', run: () => benchDLedger() },
];

async function main(): Promise<void> {
  const only = process.env.ROCKETCTL_BENCH_ONLY?.split(',').filter(Boolean);
  const results: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const part of PARTS) {
    if (only && !only.includes(part.name)) continue;
    process.stderr.write(`bench: ${part.name} ...\n`);
    const t0 = performance.now();
    try {
      results[part.name] = await part.run();
    } catch (err) {
      errors[part.name] = err instanceof Error ? err.message : String(err);
    }
    process.stderr.write(`bench: ${part.name} done in ${Math.round(performance.now() - t0)} ms\n`);
  }
  const doc = {
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: os.cpus().length,
    totalMemBytes: os.totalmem(),
    at: new Date().toISOString(),
    results,
    errors,
  };
  process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
  if (Object.keys(errors).length > 0) process.exitCode = 1;
}

await main();
