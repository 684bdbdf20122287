/**
 * migrateBacklog --execute exactly once across kill -9: the real CLI copies a 100,000-message
 * backlog (100-byte bodies, to stay within a minute on a loaded 2-core machine) from a real
 * in-process broker and is SIGKILLed ten times at random points (a seeded PRNG picks how far into
 * the copy, printed on failure; every third kill as soon as a checkpoint starts moving the group's
 * offsets); the eleventh run finishes. Then every backlog message is on the
 * target exactly once (by origin queue and offset, and by UNIQ_KEY), nothing skipped, the group's
 * offsets are at the end, and every key's messages are in one target queue in source order.
 *
 * Also: --to-namesrv between two brokers with their own name servers, across a kill -9; and a
 * target broker that restarts mid-copy (sends fail: exit 3, no checkpoint; the rerun finds what
 * was stored and copies the rest once).
 *
 * The broker's queue-lock lifetime (rebalanceLockMaxLiveTime) is 300 ms here instead of 60 s, so
 * a killed run's lease lapses before the next run starts (README: a dead run frees it 60 s later).
 */
import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { MessageExt } from '../../src/client/message.js';
import { MIGRATED_FROM } from '../../src/client/admin-migrate.js';
import { readPipelined } from '../../src/client/migrate-copy.js';
import { PullConsumer } from '../../src/client/pull-consumer.js';
import { Producer } from '../../src/client/producer.js';
import { javaHashCode } from '../../src/protocol/hash.js';
import { mulberry32 } from '../../src/broker/store/faulty-file-io.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { RequestCode } from '../../src/protocol/codes.js';
import type { TestBroker } from '../helpers/broker.js';
import { expectSuccessEnvelope, runCli, type CliResult } from '../helpers/cli.js';
import { broker, defer, maxOffset, namesrvOf, sleep, storedOffset, topic, uniq } from '../client/support.js';

const SOURCE_QUEUES = 4;
const TARGET_QUEUES = 8;
const KILLS = 10;
const BODY_BYTES = 100;
/** How often the target's size is checked for the kill point. */
const KILL_POLL_MS = 5;

interface Sent {
  key: string | undefined;
  queueId: number;
}

/** Message i: a third unkeyed, a third with SHARDING_KEY, a third with KEYS; keyed ones on their key's queue, as an orderly producer sends them. */
function messageOf(i: number): Sent & { properties?: Record<string, string>; keys?: string[] } {
  if (i % 3 === 0) return { key: undefined, queueId: i % SOURCE_QUEUES };
  const key = i % 3 === 1 ? `s${i % 40}` : `k${i % 30}`;
  const queueId = Math.abs(javaHashCode(key) % SOURCE_QUEUES);
  return i % 3 === 1 ? { key, queueId, properties: { SHARDING_KEY: key } } : { key, queueId, keys: [key] };
}

async function sendBacklog(ns: string, brokerName: string, t: string, n: number): Promise<void> {
  const p = new Producer({ namesrvAddr: ns, producerGroup: uniq('PG') });
  await p.start();
  defer(() => p.close());
  const pending: Array<Array<{ topic: string; body: Buffer; properties?: Record<string, string>; keys?: string[] }>> = Array.from({ length: SOURCE_QUEUES }, () => []);
  const flush = async (q: number) => {
    if (pending[q]!.length === 0) return;
    await p.sendBatch(pending[q]!, { queue: { topic: t, brokerName, queueId: q } });
    pending[q] = [];
  };
  for (let i = 0; i < n; i++) {
    const m = messageOf(i);
    pending[m.queueId]!.push({ topic: t, body: Buffer.from(`${i}:`.padEnd(BODY_BYTES, 'x')), properties: m.properties, keys: m.keys });
    if (pending[m.queueId]!.length >= 1000) await flush(m.queueId);
  }
  for (let q = 0; q < SOURCE_QUEUES; q++) await flush(q);
}

async function readTopic(ns: string, brokerName: string, t: string, queues: number): Promise<MessageExt[][]> {
  const pc = new PullConsumer({ namesrvAddr: ns, instanceName: uniq('reader') });
  await pc.start();
  try {
    return await Promise.all(
      Array.from({ length: queues }, async (_, queueId) => {
        const mq = { topic: t, brokerName, queueId };
        const out: MessageExt[] = [];
        for await (const chunk of readPipelined(pc, mq, await pc.minOffset(mq), await pc.maxOffset(mq), 8)) out.push(...chunk);
        return out;
      }),
    );
  } finally {
    await pc.close();
  }
}

async function targetCount(b: TestBroker, t: string): Promise<number> {
  let n = 0;
  for (let q = 0; q < TARGET_QUEUES; q++) n += Math.max(0, b.broker.messageStore.getMaxOffsetInQueue(t, q));
  return n;
}

/** An onSpawn for runCli: SIGKILL the CLI as soon as `now()` says so (polled); `killed()` says whether it did. */
function killWhen(now: () => Promise<boolean>): { onSpawn: (child: ChildProcess) => void; killed: () => boolean } {
  let killed = false;
  return {
    killed: () => killed,
    onSpawn: (child) => {
      const poll = setInterval(() => {
        void now().then((yes) => {
          if (yes && !killed) killed = child.kill('SIGKILL');
        });
      }, KILL_POLL_MS);
      child.on('exit', () => clearInterval(poll));
    },
  };
}

/** Kill once the target holds `n` messages. */
function killAt(b: TestBroker, target: string, n: number) {
  return killWhen(async () => (await targetCount(b, target)) >= n);
}

/** Kill as soon as a checkpoint starts: the first queue whose committed offset moved (the others may not have yet). */
async function killAtCheckpoint(b: TestBroker, group: string, t: string) {
  const offsets = () => Promise.all(Array.from({ length: SOURCE_QUEUES }, (_, q) => storedOffset(b, group, t, q)));
  const before = (await offsets()).join();
  return killWhen(async () => (await offsets()).join() !== before);
}

describe('migrateBacklog --execute, kill -9 ten times (real CLI, real broker)', () => {
  it('100,000 messages end on the target exactly once, in per-key order, the offsets at the end', async () => {
    const seed = Number(process.env.ROCKETCTL_TEST_SEED ?? Date.now() % 1_000_000);
    const random = mulberry32(seed);
    const where = `(seed ${seed}; rerun with ROCKETCTL_TEST_SEED=${seed})`;
    const total = 100_000;
    const b = await broker({ config: { rebalanceLockMaxLiveTime: '300' } });
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('SRC'), SOURCE_QUEUES);
    const target = await topic(b, uniq('WIDE'), TARGET_QUEUES);
    const group = uniq('CG');
    await sendBacklog(ns, b.broker.config.brokerName, t, total);
    // An offline group that committed offset 0 everywhere: the whole topic is its backlog.
    for (let q = 0; q < SOURCE_QUEUES; q++) {
      const res = await b.client.invoke(b.addr, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic: t, queueId: q, commitOffset: 0 }));
      expect(res.code).toBe(0);
    }
    const args = ['migrateBacklog', '-g', group, '-t', t, '--to', target, '--execute', '--json', '--socket', b.broker.addresses.socket];
    const runs: string[] = [];

    // Ten runs killed part-way: each after a random number of further copies reached the target.
    let kills = 0;
    for (let attempt = 0; kills < KILLS && attempt < 3 * KILLS; attempt++) {
      const before = await targetCount(b, target);
      // Every third kill lands on a checkpoint (offsets moving); the others after 1,000 to 6,000 more copies.
      const kill = kills % 3 === 2 ? await killAtCheckpoint(b, group, t) : killAt(b, target, before + 1_000 + Math.floor(random() * 5_000));
      const run = runCli(args, { timeoutMs: 30_000, onSpawn: kill.onSpawn });
      const r: CliResult = await run;
      runs.push(`${kill.killed() ? 'killed' : `exit ${r.code}`} at ${await targetCount(b, target)}`);
      if (kill.killed()) kills++;
      else if (r.code === 1 && r.json?.code === 'E_MIGRATION_RUNNING') await sleep(400); // a killed run's lease, lapsing
      else break; // finished before the kill point: the backlog is all copied
    }
    expect(kills, `${runs.join('; ')} ${where}`).toBe(KILLS);

    // The run that finishes, after the last kill (the lease lapses in 300 ms).
    await sleep(400);
    const last = await runCli(args, { timeoutMs: 30_000 });
    expect(last.code, `${last.stdout}${last.stderr} ${where}`).toBe(0);
    expectSuccessEnvelope('migrateBacklog', last.json);
    const v = last.json.result.execution.verification;
    expect(v.ok, where).toBe(true);
    expect(v.sourceBodyCrc).toBe(v.targetBodyCrc);

    // Exactly once: every (source queue, offset) of the backlog once on the target, nothing else.
    const copies = (await readTopic(ns, b.broker.config.brokerName, target, TARGET_QUEUES)).map((q, queueId) => q.map((m) => ({ m, queueId })));
    const all = copies.flat();
    const seen = new Map<string, number>();
    for (const { m } of all) {
      const k = `${m.properties[MIGRATED_FROM.QUEUE_ID]}:${m.properties[MIGRATED_FROM.QUEUE_OFFSET]}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    const twice = [...seen].filter(([, n]) => n > 1);
    expect(twice.slice(0, 5), `${twice.length} copied twice; runs: ${runs.join('; ')} ${where}`).toEqual([]);
    expect(all.length, where).toBe(total);
    for (let q = 0; q < SOURCE_QUEUES; q++) {
      const max = await maxOffset(b, t, q);
      for (let o = 0; o < max; o++) if (!seen.has(`${q}:${o}`)) expect.fail(`offset ${o} of queue ${q} is not on the target ${where}`);
      // The group's offsets end where the copy ended.
      expect(await storedOffset(b, group, t, q)).toBe(max);
    }
    expect(new Set(all.map(({ m }) => m.msgId)).size).toBe(total);

    // Per-key order: one target queue per key, and source order (body number) along it.
    const keyQueue = new Map<string, number>();
    const lastOf = new Map<string, number>();
    for (const { m, queueId } of all) {
      const i = Number(m.body.toString().split(':')[0]);
      expect(m.body.toString()).toBe(`${i}:`.padEnd(BODY_BYTES, 'x'));
      const key = messageOf(i).key;
      if (key === undefined) continue;
      expect(keyQueue.get(key) ?? queueId, `key ${key} ${where}`).toBe(queueId);
      keyQueue.set(key, queueId);
      expect(i, `key ${key}: message ${i} after ${lastOf.get(key)} ${where}`).toBeGreaterThan(lastOf.get(key) ?? -1);
      lastOf.set(key, i);
    }
    const keys = new Set(Array.from({ length: total }, (_, i) => messageOf(i).key).filter((k) => k !== undefined));
    expect(keyQueue.size).toBe(keys.size);
    // Messages without a key spread over every target queue.
    for (const q of copies) expect(q.filter(({ m }) => m.keys.length === 0 && !m.properties.SHARDING_KEY).length).toBeGreaterThan(0);
    process.stderr.write(`migrateBacklog crash test ${where}: ${runs.join('; ')}; last run found ${last.json.result.execution.totals.found}, copied ${last.json.result.execution.totals.copied}\n`);
  }, 120_000);
});

describe('migrateBacklog --execute --to-namesrv (two clusters: two real brokers, each with its name server)', () => {
  it('creates the target on the other cluster and moves the backlog there exactly once, across a kill -9', async () => {
    const src = await broker({ config: { rebalanceLockMaxLiveTime: '300' } });
    const dst = await broker();
    const [srcNs, dstNs] = [namesrvOf(src), namesrvOf(dst)];
    const t = await topic(src, uniq('SRC'), SOURCE_QUEUES);
    const target = uniq('OTHER');
    const group = uniq('CG');
    const total = 30_000;
    await sendBacklog(srcNs, src.broker.config.brokerName, t, total);
    for (let q = 0; q < SOURCE_QUEUES; q++) {
      const res = await src.client.invoke(src.addr, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic: t, queueId: q, commitOffset: 0 }));
      expect(res.code).toBe(0);
    }
    const args = ['migrateBacklog', '-g', group, '-t', t, '--to', target, '--to-namesrv', dstNs, '-r', String(TARGET_QUEUES), '--json', '--socket', src.broker.addresses.socket];

    const plan = await runCli(args);
    expect(plan.code, plan.stderr).toBe(0);
    expectSuccessEnvelope('migrateBacklog', plan.json);
    expect(plan.json.result.plan.target).toMatchObject({ topic: target, namesrvAddr: dstNs, exists: false, queueNums: TARGET_QUEUES, brokers: [{ brokerAddr: dst.addr }] });

    // Killed once part-way, then run again: the rerun reads the other cluster's target back.
    const kill = killAt(dst, target, 5_000);
    await runCli([...args, '--execute'], { onSpawn: kill.onSpawn });
    expect(kill.killed()).toBe(true);
    await sleep(400); // the killed run's lease lapses (300 ms on the source broker)
    const exec = await runCli([...args, '--execute']);
    expect(exec.code, exec.stdout + exec.stderr).toBe(0);
    expectSuccessEnvelope('migrateBacklog', exec.json);
    const e = exec.json.result.execution;
    expect(e.totals.found).toBeGreaterThan(0);
    expect(e.verification.ok).toBe(true);

    const copies = (await readTopic(dstNs, dst.broker.config.brokerName, target, TARGET_QUEUES)).flat();
    expect(copies.length).toBe(total);
    expect(new Set(copies.map((m) => `${m.properties[MIGRATED_FROM.QUEUE_ID]}:${m.properties[MIGRATED_FROM.QUEUE_OFFSET]}`)).size).toBe(total);
    for (let q = 0; q < SOURCE_QUEUES; q++) expect(await storedOffset(src, group, t, q)).toBe(await maxOffset(src, t, q));
    // Nothing went to the source cluster's namesake topic.
    expect(await targetCount(src, target)).toBe(0);
  }, 120_000);
});

describe('migrateBacklog --execute when the target goes away mid-copy', () => {
  it('stops with exit 3 and no checkpoint for its last window; the rerun finds what was stored and copies the rest once', async () => {
    const src = await broker();
    const dst = await broker();
    const t = await topic(src, uniq('SRC'), SOURCE_QUEUES);
    const target = await topic(dst, uniq('OTHER'), TARGET_QUEUES);
    const group = uniq('CG');
    const total = 30_000;
    await sendBacklog(namesrvOf(src), src.broker.config.brokerName, t, total);
    for (let q = 0; q < SOURCE_QUEUES; q++) {
      const res = await src.client.invoke(src.addr, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic: t, queueId: q, commitOffset: 0 }));
      expect(res.code).toBe(0);
    }
    const args = () => ['migrateBacklog', '-g', group, '-t', t, '--to', target, '--to-namesrv', namesrvOf(dst), '--execute', '--json', '--socket', src.broker.addresses.socket];

    // The target's broker restarts (new ports) once 5,000 copies are there: the run's sends fail.
    let restarted: Promise<void> | undefined;
    const first = await runCli(args(), {
      onSpawn: (child) => {
        const poll = setInterval(() => {
          void targetCount(dst, target).then((n) => {
            if (n >= 5_000) restarted ??= dst.restart();
          });
        }, KILL_POLL_MS);
        child.on('exit', () => clearInterval(poll));
      },
    });
    await restarted;
    expect(first.code, first.stdout + first.stderr).toBe(3);
    expectSuccessEnvelope('migrateBacklog', first.json);
    const failed = first.json.result.execution.queues.filter((q: { copyStatus: string }) => q.copyStatus === 'failed');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0].message).toMatch(/a send to the target failed.*the rerun finds it on the target and copies only the rest/);
    expect(first.json.result.execution.verification.ok).toBe(false);

    const second = await runCli(args());
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(second.json.result.execution.verification.ok).toBe(true);
    expect(second.json.result.execution.totals.found).toBeGreaterThanOrEqual(5_000);
    const copies = (await readTopic(namesrvOf(dst), dst.broker.config.brokerName, target, TARGET_QUEUES)).flat();
    expect(new Set(copies.map((m) => `${m.properties[MIGRATED_FROM.QUEUE_ID]}:${m.properties[MIGRATED_FROM.QUEUE_OFFSET]}`)).size).toBe(total);
    expect(copies.length).toBe(total);
    for (let q = 0; q < SOURCE_QUEUES; q++) expect(await storedOffset(src, group, t, q)).toBe(await maxOffset(src, t, q));
  }, 120_000);
});
