/**
 * migrateBacklog --to-namesrv across clusters, between our broker and an Apache RocketMQ broker
 * (4.9.7 and 5.x), in both directions (issue 16: the old cluster's unconsumed messages moved to a
 * topic of another cluster). The real CLI moves a group's backlog of a few thousand messages (a
 * third unkeyed, a third with SHARDING_KEY, a third with KEYS) to a target it creates on the other
 * cluster through that cluster's name server; a second run, after more messages, moves only those;
 * a third moves messages of the Java 4.9.8 client (compressed bodies, a batch, tags, keys, user
 * properties). Each run is checked against the brokers themselves: every backlog message once on
 * the target (by origin, UNIQ_KEY and body), nothing the group had consumed, one key's messages in
 * one target queue in source order, the source group's offsets at the end of what was copied, and
 * the --json totals and verification (counts per target queue, body checksums) equal to what is
 * there. Then the group's consumer, moved to the other cluster (the Java client), gets each message
 * once under the id it had, the Java client's as sent. And a run killed (kill -9) part-way into an
 * Apache target, then rerun. See docs/conformance/rocketctl-vs-apache.md.
 */
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { RemotingClient } from '../../src/remoting/client.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { RequestCode } from '../../src/protocol/codes.js';
import { crc32 } from '../../src/protocol/hash.js';
import { MIGRATED_FROM } from '../../src/admin/migrate.js';
import { MIGRATED_WINDOW } from '../../src/admin/migrate-copy.js';
import { createTopic, startTestBroker, type TestBroker } from '../helpers/broker.js';
import { expectSuccessEnvelope, runCli } from '../helpers/cli.js';
import { backlogBody, backlogMessage, expectMigratedInKeyOrder, killWhen, readTopic, sendBacklog } from '../helpers/migrate-backlog.js';
import { describeApache, javaDriver, startApache, type ApacheServer } from './support.js';
import { byMsgId, deliveriesOf, sentOf } from './javaclient-support.js';
import { consume, sleep, until } from './vs-apache.js';

const SOURCE_QUEUES = 4;
/** Target queues per broker (-r): the target cluster has one broker. */
const TARGET_QUEUES = 8;
/** Messages of the first round; of each source queue the group had consumed the first CONSUMED. */
const FIRST = 3_000;
const CONSUMED = 25;
/** Messages sent to the source after the first run: the second run's backlog. */
const SECOND = 600;
/** Java-produced messages per send mode (sync, batch), and their body size: the client compresses sync sends over 4 KiB. */
const JAVA_SENDS = 8;
const JAVA_BODY_BYTES = 5_000;
/** Message i's body as the Produce driver builds it with size=N (test/apache/java/Produce.java). */
const javaBody = (i: number) => Buffer.from(Array.from({ length: JAVA_BODY_BYTES }, (_, j) => 97 + ((j * 7 + i) % 26)));
/** The kill -9 test: body size, and how many copies the target holds when the first run is killed. */
const KILL_BODY_BYTES = 10_000;
const KILL_AT = 800;

// Apache brokers start in 10-30 s on a loaded 2-core machine; a run of the CLI in seconds.
vi.setConfig({ testTimeout: 240_000 });

/** One side of a migration: a broker address, the name server of its cluster, its broker name. */
interface Side {
  what: string;
  namesrv: string;
  addr: string;
  brokerName: string;
}

for (const major of [4, 5] as const) {
  describeApache(`migrateBacklog --to-namesrv between our broker and an Apache ${major}.x broker`, () => {
    let apache: ApacheServer;
    let ours: TestBroker;
    const client = new RemotingClient({ requestTimeoutMs: 15_000 });
    let seq = 0;

    beforeAll(async () => {
      apache = await startApache(major);
      // "boot success" can come before the name server lists the broker (seen with 5.5.0 on a loaded
      // machine); a target there is created on the masters its name server knows.
      await until(`the Apache ${major}.x broker in its name server's cluster list`, async () => {
        const r = await runCli(['clusterList', '-n', apache.namesrv, '--json']);
        return r.json?.result?.brokers?.some((b: { brokerName: string }) => b.brokerName === apache.brokerName) ? true : undefined;
      }, 60_000, 500);
      // A killed run's lease (held on the source) lapses in 300 ms instead of 60 s.
      ours = await startTestBroker({ config: { rebalanceLockMaxLiveTime: '300' } });
    }, 240_000);
    afterAll(async () => {
      await client.close();
      await Promise.all([apache?.cleanup(), ours?.cleanup()]);
    });
    afterEach(() => void seq++);

    const sides = () => ({
      apache: { what: `Apache ${major}.x`, namesrv: apache.namesrv, addr: apache.broker, brokerName: apache.brokerName },
      ours: { what: 'ours', namesrv: ours.namesrv!, addr: ours.addr, brokerName: ours.broker.config.brokerName },
    });

    const request = async (addr: string, code: number, header: Record<string, string | number>) => {
      const res = await client.invoke(addr, makeRequest(code, header));
      expect(res.code, `${code} ${JSON.stringify(header)} at ${addr}: ${res.remark}`).toBe(0);
      return res;
    };
    /** Per source queue: the group's committed offset and the max offset, as the broker answers them. */
    const offsets = async (s: Side, group: string, topic: string) =>
      Promise.all(
        Array.from({ length: SOURCE_QUEUES }, async (_, queueId) => ({
          committed: Number((await request(s.addr, RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: group, topic, queueId })).extFields?.offset),
          max: Number((await request(s.addr, RequestCode.GET_MAX_OFFSET, { topic, queueId })).extFields?.offset),
        })),
      );

    /** Indexes of messages first .. first+n-1 of `topic`, less the first `skip` of each source queue. */
    const backlogOf = (first: number, n: number, skip: number) => {
      const seen = new Array<number>(SOURCE_QUEUES).fill(0);
      return Array.from({ length: n }, (_, j) => first + j).filter((i) => seen[backlogMessage(i, SOURCE_QUEUES).queueId]!++ >= skip);
    };

    /** The CLI's migrateBacklog from `from` to `to`, with --execute and --json. */
    const migrateArgs = (from: Side, to: Side, group: string, topic: string, target: string) =>
      ['migrateBacklog', '-n', from.namesrv, '-g', group, '-t', topic, '--to', target, '--to-namesrv', to.namesrv, '-r', String(TARGET_QUEUES), '--execute', '--json', '--timeout', '15000'];

    /**
     * migrateBacklog --execute --json from `from` to `to` of a backlog whose bodies are `bodies`,
     * and the checks every run must pass; `resumed`: an earlier run was killed part-way, so part of
     * it is found on the target. Returns the execution.
     */
    async function migrate(from: Side, to: Side, group: string, topic: string, target: string, bodies: Buffer[], opts: { resumed?: boolean } = {}) {
      const r = await runCli(migrateArgs(from, to, group, topic, target), { timeoutMs: 120_000 });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expectSuccessEnvelope('migrateBacklog', r.json);
      const { plan, execution: e } = r.json.result;
      expect(plan.target).toMatchObject({ topic: target, namesrvAddr: to.namesrv, queueNums: TARGET_QUEUES, brokers: [{ brokerName: to.brokerName, brokerAddr: to.addr }] });
      expect(plan.totals.messages).toBe(bodies.length);
      if (opts.resumed) expect(e.totals.found).toBeGreaterThan(0);
      expect(e.totals).toEqual({ copied: bodies.length - e.totals.found, found: opts.resumed ? e.totals.found : 0, queuesMoved: SOURCE_QUEUES, problems: 0 });
      expect(e.queues.map((q: any) => [q.copyStatus, q.offsetStatus])).toEqual(Array.from({ length: SOURCE_QUEUES }, () => ['copied', 'applied']));

      // The source group's offsets end where the copy ended: at the planned end, all of it copied.
      const after = await offsets(from, group, topic);
      expect(after.map((o) => o.committed)).toEqual(after.map((o) => o.max));
      expect(e.queues.map((q: any) => [q.copiedUpTo, q.newOffset])).toEqual(after.map((o) => [o.max, o.max]));

      // The verification numbers are what the target holds.
      const hex = (n: number) => n.toString(16).padStart(8, '0');
      const bodyCrc = hex(bodies.reduce((s, b) => (s + crc32(b)) >>> 0, 0));
      expect(e.verification).toMatchObject({ planned: bodies.length, onTarget: bodies.length, sourceBodyCrc: bodyCrc, targetBodyCrc: bodyCrc, ok: true });
      return e;
    }

    /** A topic on `from` with messages 0 .. n-1, and an offline group that had consumed the first CONSUMED of every queue. */
    async function sourceWithBacklog(from: Side, n: number, bodyBytes?: number) {
      const topic = `XMig${from.what.replace(/\W/g, '')}${seq}`;
      const group = `XMigG${seq}`;
      expect((await createTopic(client, from.addr, topic, SOURCE_QUEUES)).code).toBe(0);
      await until(`${topic} routed by ${from.what}'s name server`, async () => ((await runCli(['topicRoute', '-n', from.namesrv, '-t', topic, '--json'])).code === 0 ? true : undefined), 60_000, 500);
      const ids = await sendBacklog(from.namesrv, from.brokerName, topic, n, SOURCE_QUEUES, { bodyBytes });
      // A 5.x broker takes offsets only for a group it knows (ConsumerManageProcessor#updateConsumerOffset).
      const sub = await runCli(['updateSubGroup', '-b', from.addr, '-g', group, '--json']);
      expect(sub.code, sub.stdout + sub.stderr).toBe(0);
      for (let queueId = 0; queueId < SOURCE_QUEUES; queueId++) {
        await request(from.addr, RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic, queueId, commitOffset: CONSUMED });
      }
      return { topic, target: `${topic}Moved`, group, ids };
    }

    async function roundTrip(from: Side, to: Side) {
      const { topic, target, group, ids } = await sourceWithBacklog(from, FIRST);
      const first = backlogOf(0, FIRST, CONSUMED);
      const e1 = await migrate(from, to, group, topic, target, first.map((i) => backlogBody(i)));
      expect(e1.targetCreated).toBe(true);
      let copies = await readTopic(to.namesrv, to.brokerName, target, TARGET_QUEUES, first.length);
      expectMigratedInKeyOrder(copies, first, SOURCE_QUEUES, { ids, where: `(${from.what} to ${to.what}, first run)` });
      expect(e1.verification.targetQueues).toEqual(copies.map((q, queueId) => ({ brokerName: to.brokerName, queueId, messages: q.length })));
      const m = copies.flat()[0]!;
      expect(m.properties).toMatchObject({ [MIGRATED_FROM.TOPIC]: topic, [MIGRATED_FROM.BROKER]: from.brokerName, [MIGRATED_FROM.GROUP]: group });
      expect(Number(m.properties[MIGRATED_WINDOW])).toBe(CONSUMED * SOURCE_QUEUES);

      // More messages on the source: a second run reads the target's tails back (invariant 4 of
      // migrate-copy.ts: nothing there is uncovered) and moves only the new ones.
      const more = await sendBacklog(from.namesrv, from.brokerName, topic, SECOND, SOURCE_QUEUES, { first: FIRST });
      const second = backlogOf(FIRST, SECOND, 0);
      const sentIds = Object.assign([...ids], more);
      const e2 = await migrate(from, to, group, topic, target, second.map((i) => backlogBody(i)));
      expect(e2.targetCreated).toBe(false);
      copies = await readTopic(to.namesrv, to.brokerName, target, TARGET_QUEUES, first.length + second.length);
      expectMigratedInKeyOrder(copies, [...first, ...second], SOURCE_QUEUES, { ids: sentIds, where: `(${from.what} to ${to.what}, second run)` });
      const perQueue = e2.verification.targetQueues.map((q: any) => q.messages);
      expect(perQueue.reduce((s: number, n: number) => s + n, 0)).toBe(SECOND);
      expect(copies.map((q, queueId) => q.length - e1.verification.targetQueues[queueId].messages)).toEqual(perQueue);

      // Messages from the Java 4.9.8 client: sync sends with 5 kB bodies (stored compressed), a
      // batch, tags, keys and user properties; a third run moves them.
      const java = sentOf(await javaDriver('Produce', { namesrv: from.namesrv, topic, mode: 'sync,batch', count: JAVA_SENDS, size: JAVA_BODY_BYTES, tags: 'TagJ', keys: 'jk-', props: 'color:red,n:1', timeoutMs: 15_000 }));
      await migrate(from, to, group, topic, target, java.map((j) => javaBody(j.i)));

      // The group's consumers, moved to the other cluster (a Java 4.9.8 push consumer), get each
      // message once, under the id it had; the Java client's as sent, the original's offsetMsgId in MIGRATED_FROM_MSG_ID.
      const all = [...first, ...second].map((i) => sentIds[i]!);
      const got = deliveriesOf(await consume({ namesrv: to.namesrv, group, topic: target, expect: all.length + java.length, graceMs: 0 }));
      const byId = byMsgId(got);
      expect([...byId.keys()].sort()).toEqual([...all, ...java.map((j) => j.msgId)].sort());
      for (const j of java) {
        const [d, ...more] = byId.get(j.msgId)!;
        expect(more).toEqual([]);
        const { MIGRATED_FROM_MSG_ID: origin, ...props } = Object.fromEntries(Object.entries(d.props as Record<string, string>).filter(([k]) => !k.startsWith('MIGRATED_') || k === 'MIGRATED_FROM_MSG_ID'));
        expect({ tags: d.tags, keys: d.keys, bodyLen: d.bodyLen, bodyMd5: d.bodyMd5, props, origin }).toEqual({ tags: j.tags, keys: j.keys, bodyLen: j.bodyLen, bodyMd5: j.bodyMd5, props: j.props, origin: j.offsetMsgId });
      }
    }

    it('from our broker to a topic it creates on the Apache cluster, then the next backlog and the Java client\'s messages to the same topic', async () => {
      const s = sides();
      await roundTrip(s.ours, s.apache);
    });

    it('from the Apache broker to a topic it creates on our cluster, then the next backlog and the Java client\'s messages to the same topic', async () => {
      const s = sides();
      await roundTrip(s.apache, s.ours);
    });

    it('from our broker to the Apache cluster across a kill -9: the rerun finds on the Apache target what the dead run stored, and copies the rest once', async () => {
      const { apache: to, ours: from } = sides();
      // 10 kB bodies: a pull of 32 is cut by the brokers' byte limit (256 KiB in memory), as pulls
      // from a large target are (Apache's DefaultMessageStore#getMessage stops at its transfer limits).
      const { topic, target, group, ids } = await sourceWithBacklog(from, FIRST, KILL_BODY_BYTES);
      const onTarget = async () => {
        let n = 0;
        for (let queueId = 0; queueId < TARGET_QUEUES; queueId++) {
          const res = await client.invoke(to.addr, makeRequest(RequestCode.GET_MAX_OFFSET, { topic: target, queueId }));
          n += res.code === 0 ? Number(res.extFields?.offset) : 0;
        }
        return n;
      };
      const kill = killWhen(async () => (await onTarget()) >= KILL_AT);
      await runCli(migrateArgs(from, to, group, topic, target), { timeoutMs: 120_000, onSpawn: kill.onSpawn });
      expect(kill.killed(), 'the first run was killed part-way').toBe(true);
      // Its lease on our broker lapses (300 ms). What it sent before dying is in the Apache commit log;
      // the consume queues follow asynchronously (ReputMessageService), so count once they stop moving.
      let stored = await onTarget();
      for (let round = 0; round < 60; round++) {
        await sleep(500);
        const now = await onTarget();
        if (now === stored && round > 0) break;
        stored = now;
      }
      const expected = backlogOf(0, FIRST, CONSUMED);
      expect(stored).toBeLessThan(expected.length);
      const e = await migrate(from, to, group, topic, target, expected.map((i) => backlogBody(i, KILL_BODY_BYTES)), { resumed: true });
      expect(e.totals.found, `the killed run had stored ${stored}`).toBe(stored);
      const copies = await readTopic(to.namesrv, to.brokerName, target, TARGET_QUEUES, expected.length);
      expectMigratedInKeyOrder(copies, expected, SOURCE_QUEUES, { ids, bodyBytes: KILL_BODY_BYTES, where: `(killed at ${stored} on the target)` });
      expect(e.verification.targetQueues).toEqual(copies.map((q, queueId) => ({ brokerName: to.brokerName, queueId, messages: q.length })));
    });
  });
}
