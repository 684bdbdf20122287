/**
 * The pure parts of the progress and reset modules: the diagnosis rules, the exact "first message at or after a
 * time" search (against a fake broker whose SEARCH_OFFSET_BY_TIMESTAMP answers the closest, as
 * Java's does), version names, timestamps, lag checks, and plan files.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { diagnose, lagViolations, type DiagnosisInput } from '../../src/admin/progress.js';
import { isBuiltInGroup, DEFAULT_SUBSCRIPTION_GROUPS, SYSTEM_GROUPS } from '../../src/protocol/names.js';
import { firstOffsetAtOrAfter, parsePlan, parseTimestamp, undoPlan, writePlanFile, type AppliedQueue, type ResetPlan } from '../../src/admin/reset.js';
import type { AdminSession } from '../../src/admin/session.js';
import { RequestCode, ResponseCode } from '../../src/protocol/codes.js';
import { makeResponse, type RemotingCommand } from '../../src/protocol/frame.js';
import { encodeRecord } from '../../src/protocol/message.js';

/** A queue whose message at offset i was stored at times[i]; SEARCH answers the closest (ties: any). */
function fakeQueue(times: number[], tieBreak: 'first' | 'last' | 'middle' = 'middle') {
  const calls = { search: 0, pull: 0 };
  const host = { ip: Buffer.from([127, 0, 0, 1]), port: 10911 };
  const invoke = async (_addr: string, req: RemotingCommand): Promise<RemotingCommand> => {
    const f = req.extFields ?? {};
    if (req.code === RequestCode.SEARCH_OFFSET_BY_TIMESTAMP) {
      calls.search++;
      const ts = Number(f.timestamp);
      let best: number[] = [];
      let bestD = Infinity;
      times.forEach((t, i) => {
        const d = Math.abs(t - ts);
        if (d < bestD) [best, bestD] = [[i], d];
        else if (d === bestD) best.push(i);
      });
      const pick = tieBreak === 'first' ? best[0]! : tieBreak === 'last' ? best[best.length - 1]! : best[Math.floor(best.length / 2)]!;
      return makeResponse(req, ResponseCode.SUCCESS, undefined, { offset: pick });
    }
    if (req.code === RequestCode.PULL_MESSAGE) {
      calls.pull++;
      expect(f.consumerGroup).toBe('TOOLS_CONSUMER');
      expect(Number(f.sysFlag) & 0x1).toBe(0); // never commits
      const o = Number(f.queueOffset);
      if (o < 0 || o >= times.length) return makeResponse(req, ResponseCode.PULL_NOT_FOUND);
      const rec = encodeRecord({ topic: 'T', queueId: 0, flag: 0, sysFlag: 0, bornTimestamp: times[o]!, bornHost: host, storeHost: host, reconsumeTimes: 0, preparedTransactionOffset: 0, body: Buffer.from('x'), properties: '', queueOffset: o, storeTimestamp: times[o]! });
      return makeResponse(req, ResponseCode.SUCCESS, 'FOUND', {}, rec);
    }
    throw new Error(`unexpected request ${req.code}`);
  };
  const session = { client: { invoke }, namesrvAddrs: [], target: 'fake', timeoutMs: 1000, close: async () => {} } as unknown as AdminSession;
  return { session, calls };
}

const mq = { topic: 'T', brokerName: 'b', queueId: 0 };

/** The answer by definition: the first offset stored at or after ts, or the end. */
function expected(times: number[], ts: number): number {
  const i = times.findIndex((t) => t >= ts);
  return i < 0 ? times.length : i;
}

describe('firstOffsetAtOrAfter', () => {
  it('is exact where the closest match is not: runs of one millisecond, gaps, both ends', async () => {
    // 1000 messages in 10 ms runs of 100 each, then gaps.
    const times = [...Array.from({ length: 1000 }, (_, i) => 1000 + Math.floor(i / 100)), 2000, 2000, 2050, 3000];
    for (const tie of ['first', 'last', 'middle'] as const) {
      for (const ts of [0, 999, 1000, 1001, 1005, 1009, 1010, 1500, 2000, 2001, 2049, 2050, 2999, 3000, 3001]) {
        const { session, calls } = fakeQueue(times, tie);
        const r = await firstOffsetAtOrAfter(session, 'a', mq, 0, times.length, ts);
        expect(r.offset, `ts ${ts} tie ${tie}`).toBe(expected(times, ts));
        expect(r.storeTimestamp).toBe(r.offset < times.length ? times[r.offset] : null);
        expect(r.approximate).toBeUndefined();
        expect(calls.search).toBe(1);
        expect(calls.pull).toBeLessThan(40);
      }
    }
  });

  it('a queue that starts later (min > 0) and an empty queue', async () => {
    const times = [5, 6, 7, 8, 9, 10];
    const { session } = fakeQueue(times);
    expect((await firstOffsetAtOrAfter(session, 'a', mq, 3, 6, 0)).offset).toBe(3);
    expect((await firstOffsetAtOrAfter(session, 'a', mq, 3, 6, 9)).offset).toBe(4);
    expect((await firstOffsetAtOrAfter(session, 'a', mq, 3, 6, 11)).offset).toBe(6);
    expect(await firstOffsetAtOrAfter(session, 'a', mq, 4, 4, 1)).toEqual({ offset: 4, storeTimestamp: null });
  });
});

function input(over: Partial<DiagnosisInput>, queues: number, diffs: number[], clients = 1): DiagnosisInput {
  return {
    group: 'G',
    online: true,
    clients: Array.from({ length: clients }, (_, i) => ({ clientId: `c${i}` })),
    messageModel: 'CLUSTERING',
    queues: Array.from({ length: queues }, (_, i) => ({ topic: 'T', brokerName: 'b', queueId: i, diff: diffs[i] ?? 0, consumerOffset: 0, lagMs: 0 })),
    ...over,
  };
}

describe('diagnose', () => {
  it('fewer consumers than queues: adding some helps, and how many', () => {
    expect(diagnose(input({}, 8, [5, 5, 5, 5, 5, 5, 5, 5], 3)).diagnosis).toBe('3 consumers for 8 queues of T: adding up to 5 more consumers will help');
    expect(diagnose(input({}, 2, [1, 1], 1)).diagnosis).toBe('1 consumer for 2 queues of T: adding up to 1 more consumer will help');
  });

  it('backlog mostly in one queue: a slow consumer or a hot key, whatever the consumer count', () => {
    const d = diagnose(input({}, 8, [1, 0, 0, 0, 0, 0, 0, 0], 1));
    expect(d.diagnosis).toMatch(/^backlog concentrated in one queue of T: it holds 100% \(1 of 1\).*more consumers won't drain it faster$/);
    expect(diagnose(input({}, 4, [6, 2, 2, 2], 4)).diagnosis).toMatch(/^backlog concentrated in one queue of T: it holds 50%/);
    expect(diagnose(input({}, 4, [5, 2, 2, 2], 2)).diagnosis).toMatch(/^2 consumers for 4 queues of T: adding up to 2/);
    expect(diagnose(input({}, 2, [70, 30], 2)).diagnosis).toMatch(/^backlog concentrated in one queue of T: it holds 70%/);
  });

  it('an uneven but not concentrated backlog is not called concentrated (the top queue under twice the next)', () => {
    expect(diagnose(input({}, 2, [100, 90], 2)).diagnosis).toMatch(/^as many consumers as queues \(2 for 2 of T\)/);
    expect(diagnose(input({}, 2, [100, 90], 1)).diagnosis).toMatch(/^1 consumer for 2 queues of T: adding up to 1 more consumer will help/);
    expect(diagnose(input({}, 4, [6, 4, 1, 1], 4)).diagnosis).toMatch(/^as many consumers as queues/);
  });

  it('as many consumers as queues, or more: migrateBacklog', () => {
    expect(diagnose(input({}, 4, [3, 3, 3, 3], 4)).diagnosis).toMatch(/^as many consumers as queues \(4 for 4 of T\): more consumers won't help; migrateBacklog/);
    expect(diagnose(input({}, 4, [3, 3, 3, 3], 6)).diagnosis).toMatch(/2 consumers idle: more consumers won't help/);
  });

  it('offline, no backlog, broadcasting', () => {
    expect(diagnose(input({ online: false, clients: [] }, 4, [1, 0, 0, 0])).diagnosis).toMatch(/^offline .*1 message\(s\) wait/);
    expect(diagnose(input({ online: false, clients: [] }, 4, [])).diagnosis).toBe('offline (no consumer connected); nothing pending');
    expect(diagnose(input({}, 4, [], 2)).diagnosis).toBe('no backlog (2 consumers, 4 queues)');
    expect(diagnose(input({ messageModel: 'BROADCASTING' }, 4, [1, 1, 1, 1], 2)).diagnosis).toMatch(/^broadcasting/);
  });

  it('retry topics do not decide the advice; notes flag skew, orphaned queues, missing offsets', () => {
    const g = input({}, 4, [100, 0, 0, 0], 1);
    g.queues.push({ topic: '%RETRY%G', brokerName: 'b', queueId: 0, diff: 1000, consumerOffset: null, lagMs: 5 });
    g.queues[0]!.clientId = null;
    const d = diagnose(g);
    expect(d.diagnosis).toMatch(/^backlog concentrated in one queue of T: it holds 100% \(100 of 100\)/);
    expect(d.notes.join('\n')).toMatch(/1 queue\(s\) have no committed offset/);
    expect(d.notes.join('\n')).toMatch(/held by no consumer/);
  });
});

describe('small helpers', () => {
  it('parseTimestamp: now, millis, mqadmin format (local time); anything else is a usage error', () => {
    expect(parseTimestamp('now')).toBe('now');
    expect(parseTimestamp('1700000000000')).toBe(1700000000000);
    expect(parseTimestamp('2024-05-01#12:30:15:250')).toBe(new Date(2024, 4, 1, 12, 30, 15, 250).getTime());
    for (const bad of ['yesterday', '2024-05-01', '2024-02-30#00:00:00:000', '-5']) expect(() => parseTimestamp(bad)).toThrow(/expected now/);
  });

  it('lagViolations: per queue, by count and by age', () => {
    const qs = [
      { topic: 'T', brokerName: 'b', queueId: 0, diff: 10, lagMs: 100 },
      { topic: 'T', brokerName: 'b', queueId: 1, diff: 3, lagMs: 9000 },
      { topic: 'T', brokerName: 'b', queueId: 2, diff: 0, lagMs: null },
    ];
    expect(lagViolations('G', qs, 5).map((v) => v.queueId)).toEqual([0]);
    expect(lagViolations('G', qs, undefined, 1000).map((v) => v.queueId)).toEqual([1]);
    expect(lagViolations('G', qs, 5, 1000).map((v) => v.queueId)).toEqual([0, 1]);
    expect(lagViolations('G', qs)).toEqual([]);
  });
});

describe('plan files', () => {
  const plan: ResetPlan = {
    kind: 'rocketctl.resetOffset.plan',
    formatVersion: 1,
    group: 'G',
    topic: 'T',
    mode: 'latest',
    timestampMs: null,
    force: true,
    createdAt: 1,
    online: false,
    queues: [0, 1].map((q) => ({ topic: 'T', brokerName: 'b', brokerAddr: 'a:1', queueId: q, minOffset: 0, maxOffset: 10, currentOffset: q === 0 ? 4 : null, targetOffset: 10, replay: 0, skip: 6, targetStoreTimestamp: null, notes: [] })),
    totals: { replay: 0, skip: 16, queues: 2 },
  };

  it('the undo plan reverses what was applied; a queue that had no offset cannot be restored', () => {
    const applied: AppliedQueue[] = plan.queues.map((q) => ({ topic: 'T', brokerName: 'b', queueId: q.queueId, expectedOffset: q.currentOffset, targetOffset: 10, foundOffset: q.currentOffset, resultOffset: 10, status: 'applied', via: 'update-offset' }));
    const u = undoPlan(plan, applied);
    expect(u.plan.queues).toHaveLength(1);
    expect(u.plan.queues[0]).toMatchObject({ queueId: 0, currentOffset: 10, targetOffset: 4, replay: 6, skip: 0 });
    expect(u.skipped[0]).toMatch(/T\/b\/1: had no committed offset/);
    expect(u.plan.mode).toMatch(/^undo of the reset to latest/);
    expect(parsePlan(JSON.stringify(u.plan), 'f')).toEqual(u.plan);
  });

  it('writePlanFile: creates missing directories; an impossible path is E_PLAN_FILE (exit 1), not a crash', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rocketctl-plan-'));
    try {
      const file = path.join(dir, 'a', 'b', 'plan.json');
      writePlanFile(file, plan);
      expect(parsePlan(fs.readFileSync(file, 'utf8'), file)).toEqual(plan);
      fs.writeFileSync(path.join(dir, 'f'), 'x');
      for (const bad of [path.join(dir, 'f', 'undo.json'), path.join(dir, 'f', 'deeper', 'undo.json'), '/proc/nope/undo.json']) {
        let err: unknown;
        try {
          writePlanFile(bad, plan);
        } catch (e) {
          err = e;
        }
        expect(err, bad).toMatchObject({ code: 'E_PLAN_FILE', exitCode: 1 });
      }
      expect(fs.readdirSync(dir).sort()).toEqual(['a', 'f']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('parsePlan refuses what is not a plan, with a usage error', () => {
    expect(() => parsePlan('{', 'f')).toThrow(/not JSON/);
    expect(() => parsePlan('{"kind":"x"}', 'f')).toThrow(/not a resetOffset plan/);
    expect(() => parsePlan(JSON.stringify({ ...plan, queues: [{ queueId: 'x' }] }), 'f')).toThrow(/lacks/);
  });
});

describe('isBuiltInGroup (left out of consumerProgress without -g)', () => {
  it('the broker\'s default subscription groups and MixAll\'s system groups, not an application\'s', () => {
    for (const g of ['TOOLS_CONSUMER', 'FILTERSRV_CONSUMER', 'SELF_TEST_C_GROUP', 'CID_ONS-HTTP-PROXY', 'CID_ONSAPI_PULL', 'CID_ONSAPI_PERMISSION', 'CID_ONSAPI_OWNER', 'CID_RMQ_SYS_TRANS', 'CID_RMQ_SYS_X', 'SCHEDULE_CONSUMER']) {
      expect(isBuiltInGroup(g), g).toBe(true);
    }
    // Every group our broker creates by itself, and every consumer group MixAll names.
    for (const g of [...DEFAULT_SUBSCRIPTION_GROUPS, ...[...SYSTEM_GROUPS].filter((x) => !/PRODUCER|_P_GROUP/.test(x))]) expect(isBuiltInGroup(g), g).toBe(true);
    for (const g of ['orders-consumer', 'CID_ORDERS', 'TOOLS_CONSUMER_2', 'cid_rmq_sys_lower']) expect(isBuiltInGroup(g), g).toBe(false);
  });
});
