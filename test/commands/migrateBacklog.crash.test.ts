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
import { describe, expect, it } from 'vitest';
import { MIGRATED_FROM } from '../../src/admin/migrate.js';
import { mulberry32 } from '../../src/broker/store/faulty-file-io.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { RequestCode } from '../../src/protocol/codes.js';
import type { TestBroker } from '../helpers/broker.js';
import { expectSuccessEnvelope, runCli, type CliResult } from '../helpers/cli.js';
import { broker, maxOffset, namesrvOf, sleep, storedOffset, topic, uniq } from '../client/support.js';
import { expectMigratedInKeyOrder, killWhen, readTopic, sendBacklog } from '../helpers/migrate-backlog.js';

const SOURCE_QUEUES = 4;
const TARGET_QUEUES = 8;
const KILLS = 10;
/** How often the target's size is checked for the kill point. */
const KILL_POLL_MS = 5;

async function targetCount(b: TestBroker, t: string): Promise<number> {
  let n = 0;
  for (let q = 0; q < TARGET_QUEUES; q++) n += Math.max(0, b.broker.messageStore.getMaxOffsetInQueue(t, q));
  return n;
}

/** Kill once the target holds `n` messages. */
function killAt(b: TestBroker, target: string, n: number) {
  return killWhen(async () => (await targetCount(b, target)) >= n, KILL_POLL_MS);
}

/** Kill as soon as a checkpoint starts: the first queue whose committed offset moved (the others may not have yet). */
async function killAtCheckpoint(b: TestBroker, group: string, t: string) {
  const offsets = () => Promise.all(Array.from({ length: SOURCE_QUEUES }, (_, q) => storedOffset(b, group, t, q)));
  const before = (await offsets()).join();
  return killWhen(async () => (await offsets()).join() !== before, KILL_POLL_MS);
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
    await sendBacklog(ns, b.broker.config.brokerName, t, total, SOURCE_QUEUES);
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

    // Exactly once (by origin queue and offset, by UNIQ_KEY and by body), in per-key order.
    const copies = await readTopic(ns, b.broker.config.brokerName, target, TARGET_QUEUES);
    expectMigratedInKeyOrder(copies, Array.from({ length: total }, (_, i) => i), SOURCE_QUEUES, { where: `runs: ${runs.join('; ')} ${where}` });
    // The group's offsets end where the copy ended.
    for (let q = 0; q < SOURCE_QUEUES; q++) expect(await storedOffset(b, group, t, q)).toBe(await maxOffset(b, t, q));
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
    await sendBacklog(srcNs, src.broker.config.brokerName, t, total, SOURCE_QUEUES);
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
    await sendBacklog(namesrvOf(src), src.broker.config.brokerName, t, total, SOURCE_QUEUES);
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
