/**
 * Child process for test/store/sync-flush.crash.test.ts: opens a store under SYNC_FLUSH and appends
 * with many concurrent appenders until it is SIGKILLed. Protocol on stdout, one line each:
 *
 *   {"type":"open","report":{...},"verified":N,"problems":[...]}   after recovery (and checks)
 *   a <commitLogOffset> <size> <queueId> <queueOffset> <sha1>        one per acknowledged append
 *   {"type":"error","code":"E_...","message":"..."}                  if opening failed
 *
 * An ack line is written only after the append resolved, i.e. after the fdatasync covering it.
 * Environment: CHILD_STORE_DIR, CHILD_SEGMENT_BYTES, CHILD_APPENDERS, CHILD_SEED, and optionally
 * CHILD_VERIFY_FILE (ack lines of earlier runs to check after recovery) and CHILD_MIN_END (the log
 * must reach at least this offset after recovery).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { RocketError } from '../../src/errors/index.js';
import { decodeRecord, parseSocketAddr } from '../../src/protocol/message.js';
import { encodeProperties } from '../../src/protocol/properties.js';
import { MessageStore } from '../../src/broker/store/message-store.js';
import { defaultStoreConfig } from '../../src/broker/store/store-config.js';

const QUEUES = 4;
/** Bound on appends per appender (the parent kills us long before). */
const MAX_APPENDS_PER_APPENDER = 1_000_000;

function env(name: string, fallback?: string): string {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is required`);
  return v;
}

function sha1(b: Buffer): string {
  return createHash('sha1').update(b).digest('hex');
}

async function verify(store: MessageStore, file: string | undefined): Promise<{ verified: number; problems: string[] }> {
  const problems: string[] = [];
  let verified = 0;
  if (!file || !fs.existsSync(file)) return { verified, problems };
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('a ')) continue;
    const [, off, , q, qo, hash] = line.split(' ');
    const raw = await store.readRecord(Number(off));
    if (!raw) {
      problems.push(`acked record at ${off} is missing`);
    } else {
      try {
        const m = decodeRecord(raw, 0, { checkCrc: true });
        if (sha1(m.body) !== hash || m.queueId !== Number(q) || m.queueOffset !== Number(qo)) problems.push(`acked record at ${off} differs`);
      } catch (err) {
        problems.push(`acked record at ${off} does not decode: ${(err as Error).message}`);
      }
    }
    verified++;
    if (problems.length > 20) break;
  }
  return { verified, problems };
}

async function main(): Promise<void> {
  const seed = Number(env('CHILD_SEED', '1'));
  const config = defaultStoreConfig({
    storePathRootDir: env('CHILD_STORE_DIR'),
    flushDiskType: 'SYNC_FLUSH',
    mappedFileSizeCommitLog: Number(env('CHILD_SEGMENT_BYTES', String(256 * 1024))),
    mappedFileSizeConsumeQueue: 20 * 1024,
    flushIntervalConsumeQueue: 200,
    messageIndexEnable: true,
    maxHashSlotNum: 1024,
    maxIndexNum: 4096,
  });
  let store: MessageStore;
  try {
    store = await MessageStore.open(config);
  } catch (err) {
    const e = err instanceof RocketError ? err : new RocketError(String(err), { code: 'E_BUG' });
    process.stdout.write(JSON.stringify({ type: 'error', code: e.code, message: e.message }) + '\n');
    process.exitCode = 1;
    return;
  }
  const { verified, problems } = await verify(store, process.env.CHILD_VERIFY_FILE);
  const minEnd = Number(process.env.CHILD_MIN_END ?? '0');
  if (store.commitLogMaxOffset() < minEnd) problems.push(`log ends at ${store.commitLogMaxOffset()}, but acks reached ${minEnd}`);
  process.stdout.write(JSON.stringify({ type: 'open', report: store.report, verified, problems, stats: store.stats() }) + '\n');

  const born = parseSocketAddr('127.0.0.1:40000');
  const appenders = Number(env('CHILD_APPENDERS', '64'));
  const appender = async (w: number): Promise<void> => {
    for (let i = 0; i < MAX_APPENDS_PER_APPENDER; i++) {
      const body = Buffer.alloc(64 + ((i * 131 + w * 17 + seed) % 900));
      body.write(`${process.pid}:${w}:${i}:`);
      body.fill(w + i, 24);
      const queueId = (w + i) % QUEUES;
      const r = await store.putMessage({
        topic: 'CrashTopic',
        queueId,
        flag: 0,
        sysFlag: 0,
        bornTimestamp: Date.now(),
        bornHost: born,
        body,
        properties: encodeProperties({ KEYS: `w${w}-${i}`, TAGS: `T${w % 3}` }),
        reconsumeTimes: 0,
        preparedTransactionOffset: 0,
      });
      process.stdout.write(`a ${r.commitLogOffset} ${r.wroteBytes} ${queueId} ${r.queueOffset} ${sha1(body)}\n`);
    }
  };
  await Promise.all(Array.from({ length: appenders }, (_, w) => appender(w)));
}

await main();
