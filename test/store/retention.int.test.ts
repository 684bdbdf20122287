/**
 * Retention measured on a real broker process (`bin/run.js broker start -c broker.conf`) with tiny
 * segments (4 KiB, ~14 messages each) and a short retention (testOnlyFileReservedTimeMs=1500: our
 * test knob; fileReservedTime is whole hours), a pass every 100 ms at any hour (deleteWhen lists all
 * 24). A producer writes for ~4 s while a group that committed offset 0 never consumes.
 *
 * Shown: every segment but the one being written is deleted, none before it is 1.5 s old (the
 * broker's log line gives its age at deletion); each deletion is logged with the lagging group and
 * how many of its messages went, and those counts add up to exactly what the queues' min offsets
 * moved by; topicStatus shows the new min offsets; the group's consumer continues from them.
 * Measured (printed, not asserted): how long after expiry each segment went.
 * Also DELETE_EXPIRED_COMMITLOG on an in-process broker: expired segments go outside deleteWhen.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Producer } from '../../src/client/producer.js';
import { PushConsumer } from '../../src/client/push-consumer.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { RequestCode } from '../../src/protocol/codes.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { FaultyFileIO } from '../../src/broker/store/faulty-file-io.js';
import { createTopic, eventually, spawnBroker, tempDir } from '../helpers/broker.js';
import { runCli } from '../helpers/cli.js';
import { broker, defer, uniq } from '../client/support.js';

const RETENTION_MS = 1500;
const QUEUES = 2;
const PRODUCE_MS = 4000;

const DELETED = /^warning: retention deleted commit log segment (\d{20}) \(offsets \d+-\d+, last written \S+, (\d+) ms ago; older than the retention of 1500 ms; at a deleteWhen hour\): (\d+) message\(s\) deleted before being consumed by: (.*)$/;

describe('retention on a real broker process (tiny segments, short retention)', () => {
  it('deletes every expired segment but the one being written, never early, logs the lagging group, moves min offsets; the group continues from them', async () => {
    const dir = tempDir('rocketctl-retention-proc-');
    defer(() => fs.rmSync(dir, { recursive: true, force: true }));
    const conf = path.join(dir, 'broker.conf');
    const hours = Array.from({ length: 24 }, (_, h) => String(h).padStart(2, '0')).join(';');
    fs.writeFileSync(
      conf,
      [
        'mappedFileSizeCommitLog=4096',
        'mappedFileSizeConsumeQueue=200',
        'maxHashSlotNum=100',
        'maxIndexNum=400',
        `testOnlyFileReservedTimeMs=${RETENTION_MS}`,
        `deleteWhen=${hours}`,
        'cleanResourceInterval=100',
        'deleteCommitLogFilesInterval=0',
        'deleteConsumeQueueFilesInterval=0',
      ].join('\n'),
    );
    const store = path.join(dir, 'store');
    const proc = await spawnBroker(['-c', conf, '--store-dir', store, '--listen-port', '0', '--namesrv-port', '0']);
    defer(() => proc.stop('SIGKILL'));
    expect(proc.stderr()).toContain(`testOnlyFileReservedTimeMs=${RETENTION_MS}: commit log segments are kept ${RETENTION_MS} ms`);
    const ns = proc.ready.namesrv!;
    const client = new RemotingClient({ requestTimeoutMs: 10_000 });
    defer(() => client.close());
    const t = uniq('T');
    const group = uniq('LAGGING');
    expect((await createTopic(client, proc.ready.broker, t, QUEUES)).code).toBe(0);
    const socket = ['--socket', proc.ready.socket];
    expect((await runCli(['updateSubGroup', '-g', group, ...socket])).code).toBe(0);
    for (let q = 0; q < QUEUES; q++) {
      const res = await client.invoke(proc.ready.broker, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic: t, queueId: q, commitOffset: 0 }));
      expect(res.code).toBe(0);
    }

    const p = new Producer({ namesrvAddr: ns, producerGroup: uniq('PG') });
    await p.start();
    defer(() => p.close());
    const started = Date.now();
    let sent = 0;
    const segmentsOf = () => fs.readdirSync(path.join(store, 'commitlog')).filter((n) => /^\d{20}$/.test(n)).sort();
    // One message every ~20 ms for PRODUCE_MS, and on (a loaded machine sends fewer) until the log
    // has reached its 7th segment; bounded by 4 x PRODUCE_MS.
    while (Date.now() - started < PRODUCE_MS || (Number(segmentsOf().at(-1) ?? 0) / 4096 < 6 && Date.now() - started < 4 * PRODUCE_MS)) {
      await p.send({ topic: t, body: `m${sent}-${'x'.repeat(120)}` });
      sent++;
      await new Promise((r) => setTimeout(r, 20));
    }
    const newest = segmentsOf().at(-1)!;
    // Once nothing is written, every segment but the last expires within 1.5 s and is deleted.
    await eventually(() => (segmentsOf().length === 1 ? true : undefined), 'all but the segment being written deleted', 20_000);
    expect(segmentsOf()).toEqual([newest]);

    // Segments are contiguous from offset 0: all below the newest were deleted, each logged (the
    // log reaches us through a pipe, possibly after the unlink).
    const deletedCount = Number(newest) / 4096;
    const deletionLines = () => proc.stderr().split('\n').filter((l) => l.startsWith('warning: retention deleted'));
    await eventually(() => (deletionLines().length >= deletedCount ? true : undefined), `${deletedCount} deletions logged`);
    const lines = deletionLines();
    expect(lines).toHaveLength(deletedCount);
    const parsed = lines.map((l) => {
      const m = DELETED.exec(l);
      expect(m, l).not.toBeNull();
      return { file: m![1]!, ageMs: Number(m![2]), messages: Number(m![3]), groups: m![4]! };
    });
    expect(parsed.length).toBeGreaterThanOrEqual(5);
    expect(parsed.map((d) => d.file)).not.toContain(newest);
    expect(new Set(parsed.map((d) => d.file)).size).toBe(parsed.length);
    for (const d of parsed) {
      expect(d.ageMs).toBeGreaterThanOrEqual(RETENTION_MS);
      expect(d.groups).toBe(`${group} (${t}: ${d.messages})`);
    }

    // The new min offsets, as the CLI shows them (the queues are cleaned right after the segments of
    // a pass): the deleted messages logged add up to them exactly.
    const loggedTotal = parsed.reduce((n, d) => n + d.messages, 0);
    type Q = { queueId: number; minOffset: number; maxOffset: number };
    const queues = await eventually(async () => {
      const status = await runCli(['topicStatus', '-t', t, ...socket, '--json']);
      expect(status.code, status.stderr).toBe(0);
      const qs = status.json.result.queues as Q[];
      return qs.reduce((n, q) => n + q.minOffset, 0) === loggedTotal ? qs : undefined;
    }, 'min offsets moved by the logged deletions');
    const minTotal = queues.reduce((n, q) => n + q.minOffset, 0);
    const maxTotal = queues.reduce((n, q) => n + q.maxOffset, 0);
    expect(maxTotal).toBe(sent);
    expect(minTotal).toBeGreaterThan(0);

    // The group's consumer, behind every min offset, continues from them (PULL_OFFSET_MOVED).
    const got = new Map<number, number[]>();
    const c = new PushConsumer({ namesrvAddr: ns, consumerGroup: group, rebalanceIntervalMs: 1000, persistConsumerOffsetIntervalMs: 300 });
    c.subscribe(t, '*');
    defer(() => c.close());
    await c.start((m) => void got.set(m.queueId, [...(got.get(m.queueId) ?? []), m.queueOffset]));
    const distinct = (q: Q) => new Set(got.get(q.queueId) ?? []).size;
    await eventually(() => (queues.every((q) => distinct(q) >= q.maxOffset - q.minOffset) ? true : undefined), 'the rest consumed', 30_000);
    for (const q of queues) {
      const offsets = got.get(q.queueId) ?? [];
      // A queue whose every message was deleted (min = max) has nothing left to consume.
      if (q.maxOffset > q.minOffset) expect(Math.min(...offsets), `queue ${q.queueId}`).toBe(q.minOffset);
      expect(new Set(offsets).size).toBe(q.maxOffset - q.minOffset);
    }

    const lateMs = parsed.map((d) => d.ageMs - RETENTION_MS).sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        retentionMeasured: { retentionMs: RETENTION_MS, cleanResourceIntervalMs: 100, segmentsDeleted: parsed.length, messagesSent: sent, lateAfterExpiryMs: { min: lateMs[0], median: lateMs[Math.floor(lateMs.length / 2)], max: lateMs.at(-1) } },
      }),
    );
    const stopped = await proc.stop('SIGTERM');
    expect(stopped.code).toBe(0);
  });

  it('DELETE_EXPIRED_COMMITLOG (329): expired segments go outside the deleteWhen hour, young ones stay', async () => {
    const { b, segs, dir } = await agedSegmentsBroker({ fileReservedTime: '1' }, 3);
    expect(segs.length).toBeGreaterThan(4);
    const retention = b.broker.messageStore.retention;
    expect((await retention.runOnce()).segmentsDeleted).toHaveLength(0); // not the hour, disk far from full
    const res = await b.client.invoke(b.addr, makeRequest(RequestCode.DELETE_EXPIRED_COMMITLOG));
    expect(res.code).toBe(0);
    const pass = await retention.runOnce();
    expect(pass.manual).toBe(true);
    expect(pass.segmentsDeleted.map((d) => [d.file, d.trigger])).toEqual(segs.slice(0, 3).map((f) => [f, 'manual']));
    expect(segmentFiles(dir)).toEqual(segs.slice(3));
  });

  it('UPDATE_BROKER_CONFIG fileReservedTime (mqadmin updateBrokerConfig) applies at the next pass, no restart', async () => {
    const { b, segs } = await agedSegmentsBroker({}, 2);
    const retention = b.broker.messageStore.retention;
    // Manual deletion for the next 20 passes: with the default 72 h nothing has expired.
    expect((await b.client.invoke(b.addr, makeRequest(RequestCode.DELETE_EXPIRED_COMMITLOG))).code).toBe(0);
    expect((await retention.runOnce()).segmentsDeleted).toHaveLength(0);

    const update = await b.client.invoke(b.addr, makeRequest(RequestCode.UPDATE_BROKER_CONFIG, undefined, Buffer.from('fileReservedTime=1\n')));
    expect([update.code, update.remark ?? null]).toEqual([0, null]);
    const pass = await retention.runOnce();
    expect(pass.segmentsDeleted.map((d) => [d.file, d.retentionMs])).toEqual(segs.slice(0, 2).map((f) => [f, 3_600_000]));
    const cfg = await b.client.invoke(b.addr, makeRequest(RequestCode.GET_BROKER_CONFIG));
    expect(cfg.body?.toString('utf8')).toMatch(/^fileReservedTime=1$/m);
  });
});

function segmentFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => /^\d{20}$/.test(n)).sort();
}

/**
 * An in-process broker with 4 KiB segments whose first `aged` segments were last written 2 h ago,
 * deleteWhen 12 hours from now, passes run by hand, on a 1 GiB simulated disk (its use stays far
 * below diskMaxUsedSpaceRatio whatever this machine's disk is).
 */
async function agedSegmentsBroker(config: Record<string, string>, aged: number) {
  const notNow = String((new Date().getHours() + 12) % 24).padStart(2, '0');
  const io = new FaultyFileIO({ seed: 1, diskBytes: 1024 * 1024 * 1024 });
  const b = await broker({ storeIO: io, config: { mappedFileSizeCommitLog: '4096', deleteWhen: notNow, cleanResourceInterval: '3600000', deleteCommitLogFilesInterval: '0', ...config } });
  const t = uniq('T');
  expect((await createTopic(b.client, b.addr, t, 1)).code).toBe(0);
  const p = new Producer({ namesrvAddr: b.namesrv!, producerGroup: uniq('PG') });
  await p.start();
  defer(() => p.close());
  for (let i = 0; i < 60; i++) await p.send({ topic: t, body: 'x'.repeat(300) });
  await b.broker.messageStore.flush();
  const dir = path.join(b.storeDir, 'commitlog');
  const segs = segmentFiles(dir);
  const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
  for (const n of segs.slice(0, aged)) fs.utimesSync(path.join(dir, n), twoHoursAgo, twoHoursAgo);
  return { b, segs, dir };
}
