/**
 * A full disk is recoverable without a restart: a real in-process broker whose store (commit log,
 * consume queues, index, config files) lives on FaultyFileIO's simulated small disk (tmpfs-like:
 * 4 KiB pages allocated as written, unlink frees them; see faulty-file-io.ts). Sends go over TCP
 * as SEND_MESSAGE_V2, the CLI over the broker's socket.
 *
 *  1. The disk fills: sends are refused with SERVICE_NOT_AVAILABLE (ENOSPC, or the store marked full
 *     over 90 %). `rocketctl deleteTopic` of a topic with many queues frees its consume-queue files;
 *     the next retention pass finds the disk below 90 % and sends succeed again, every acknowledged
 *     message readable.
 *  2. Another program fills the disk to 100 %: sends fail; the retention pass, over 85 %, deletes
 *     the oldest segments though young (cleanFileForciblyEnable), logs each with the group that had
 *     not consumed it, and sends succeed again; that group's consumer continues from the new min.
 */
import { describe, expect, it } from 'vitest';
import { FaultyFileIO } from '../../src/broker/store/faulty-file-io.js';
import { PushConsumer } from '../../src/client/push-consumer.js';
import { RequestCode, ResponseCode } from '../../src/protocol/codes.js';
import { makeRequest, type RemotingCommand } from '../../src/protocol/frame.js';
import { encodeProperties } from '../../src/protocol/properties.js';
import type { RemotingClient } from '../../src/remoting/client.js';
import type { Logger } from '../../src/remoting/server.js';
import { createTopic, eventually, type TestBroker } from '../helpers/broker.js';
import { runCli } from '../helpers/cli.js';
import { broker, defer, maxOffset, namesrvOf, readAll, uniq } from '../client/support.js';

const SEGMENT_BYTES = 64 * 1024;
const BODY = Buffer.alloc(2048, 0x61);
/** Bound on sends while filling a disk (a few MiB of 2 KiB messages). */
const MAX_FILL_SENDS = 5000;

function sendV2(client: RemotingClient, addr: string, topic: string, body: Buffer, queueId = 0): Promise<RemotingCommand> {
  return client.invoke(
    addr,
    makeRequest(
      RequestCode.SEND_MESSAGE_V2,
      { a: 'PG_FULL', b: topic, c: 'TBW102', d: 4, e: queueId, f: 0, g: Date.now(), h: 0, i: encodeProperties({ WAIT: 'true' }), j: 0, k: false },
      body,
    ),
  );
}

function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { lines, logger: { info: (m) => lines.push(`info: ${m}`), warn: (m) => lines.push(`warn: ${m}`), error: (m) => lines.push(`error: ${m}`) } };
}

async function smallDiskBroker(diskBytes: number, config: Record<string, string>) {
  const io = new FaultyFileIO({ seed: 1, diskBytes });
  const { logger, lines } = captureLogger();
  const b = await broker({ storeIO: io, logger, config: { mappedFileSizeCommitLog: String(SEGMENT_BYTES), deleteCommitLogFilesInterval: '0', deleteConsumeQueueFilesInterval: '0', ...config } });
  return { b, io, lines };
}

/** Send until the broker refuses; returns how many were acknowledged and the refusal. */
async function fillUntilRefused(b: TestBroker, topic: string): Promise<{ acked: number; refusal: RemotingCommand }> {
  for (let acked = 0; acked < MAX_FILL_SENDS; acked++) {
    const res = await sendV2(b.client, b.addr, topic, BODY);
    if (res.code !== ResponseCode.SUCCESS) return { acked, refusal: res };
  }
  throw new Error(`the disk did not fill within ${MAX_FILL_SENDS} sends`);
}

async function commit(b: TestBroker, group: string, topic: string, queueId: number, offset: number): Promise<void> {
  const res = await b.client.invoke(b.addr, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic, queueId, commitOffset: offset }));
  expect(res.code).toBe(0);
}

describe('a full disk is recoverable without a restart (simulated small disk)', () => {
  it('deleteTopic frees space: sends refused on the full disk succeed again, nothing acknowledged lost', async () => {
    const DISK = 2 * 1024 * 1024;
    // Nothing deleted by retention here: only deleting the topic frees space.
    const { b, io, lines } = await smallDiskBroker(DISK, { cleanFileForciblyEnable: 'false', cleanResourceInterval: '100' });
    const big = uniq('BIG');
    const fill = uniq('FILL');
    expect((await createTopic(b.client, b.addr, big, 192)).code).toBe(0);
    expect((await createTopic(b.client, b.addr, fill, 1)).code).toBe(0);
    // One page per consume-queue file: 192 queues hold 768 KiB of the 2 MiB disk (enough that
    // deleting them brings the disk under the 90 % mark even when the fill ran into ENOSPC).
    const base = io.diskUsedBytes();
    for (let q = 0; q < 192; q++) expect((await sendV2(b.client, b.addr, big, Buffer.from('x'), q)).code).toBe(0);
    // Consume queues reach the disk at their flush (flushConsumeQueueInterval), not at the put.
    await eventually(async () => (io.diskUsedBytes() - base >= 192 * 4096 ? true : undefined), 'the 192 consume-queue files flushed');

    const { acked, refusal } = await fillUntilRefused(b, fill);
    expect(acked).toBeGreaterThan(100);
    expect(refusal.code).toBe(ResponseCode.SERVICE_NOT_AVAILABLE);
    expect(refusal.remark).toMatch(/no space left on device|disk is \d+% used/);
    // Still full a moment later: refusals are not a one-off.
    expect((await sendV2(b.client, b.addr, fill, BODY)).code).toBe(ResponseCode.SERVICE_NOT_AVAILABLE);
    const usedFull = io.diskUsedBytes();

    const del = await runCli(['deleteTopic', '-t', big, '-c', b.broker.config.brokerClusterName, '--socket', b.broker.addresses.socket, '--json']);
    expect(del.code, del.stderr + del.stdout).toBe(0);
    expect(io.diskUsedBytes()).toBeLessThan(usedFull - 300 * 1024);

    // The next pass (cleanResourceInterval 100 ms) finds the disk at or below 90 %: sends work again.
    await eventually(async () => ((await sendV2(b.client, b.addr, fill, BODY)).code === ResponseCode.SUCCESS ? true : undefined), 'a send after deleteTopic');
    let more = 1;
    for (; more < 20; more++) expect((await sendV2(b.client, b.addr, fill, BODY)).code).toBe(ResponseCode.SUCCESS);
    expect(await maxOffset(b, fill, 0)).toBe(acked + more);
    const stored = await readAll(namesrvOf(b), fill);
    expect(stored).toHaveLength(acked + more);
    expect(stored.every((m) => m.body.equals(BODY))).toBe(true);
    // Refused by the store's full mark (over 90 %, usual) or by ENOSPC itself (when the disk filled
    // between two passes): a mark is logged, and so is its end.
    if (/disk is \d+% used/.test(refusal.remark ?? '')) {
      expect(lines.some((l) => /^error: the store's disk is \d+% used, over 90%/.test(l))).toBe(true);
      expect(lines.some((l) => /^warn: the store's disk is \d+% used again, at or below 90%: sends are accepted/.test(l))).toBe(true);
    }
  });

  it('retention frees space near a full disk: the oldest segments go (logged with the group that had not consumed them), sends succeed, the group continues from the new min', async () => {
    const DISK = 4 * 1024 * 1024;
    // The pass is run by hand so the full state is observed before anything frees it.
    const { b, io, lines } = await smallDiskBroker(DISK, { cleanResourceInterval: '3600000' });
    const t = uniq('T');
    const group = uniq('LAGGING');
    expect((await createTopic(b.client, b.addr, t, 1)).code).toBe(0);
    expect((await runCli(['updateSubGroup', '-g', group, '--socket', b.broker.addresses.socket])).code).toBe(0);
    await commit(b, group, t, 0, 0);
    for (let i = 0; i < 700; i++) expect((await sendV2(b.client, b.addr, t, BODY)).code).toBe(ResponseCode.SUCCESS);
    await b.broker.messageStore.flush();

    // Another program takes the rest of the disk.
    io.otherUsedBytes = DISK - io.diskUsedBytes();
    // A send or two may still fit the page the last one began; then ENOSPC.
    const { acked: fitted, refusal } = await fillUntilRefused(b, t);
    expect(fitted).toBeLessThanOrEqual(2);
    expect(refusal.code).toBe(ResponseCode.SERVICE_NOT_AVAILABLE);
    expect(refusal.remark).toMatch(/no space left on device/);

    const pass = await b.broker.messageStore.retention.runOnce();
    expect(pass.cleanAtOnce).toBe(true);
    expect(pass.segmentsDeleted.length).toBe(10);
    expect(pass.segmentsDeleted.every((d) => d.reason === 'forced' && d.ageMs < 72 * 3_600_000)).toBe(true);
    expect(pass.diskFull).toBe(true); // measured before the deletions
    const logged = lines.filter((l) => l.startsWith('warn: retention deleted commit log segment'));
    expect(logged).toHaveLength(10);
    for (const l of logged) expect(l).toMatch(new RegExp(`the disk is 100% used \\(cleanFileForciblyEnable\\).*: \\d+ message\\(s\\) deleted before being consumed by: ${group} \\(${t}: \\d+\\)$`));
    expect(lines.some((l) => /^error: the store's disk is 100% used, over 90%/.test(l))).toBe(true);

    // The next pass finds room (10 × 64 KiB freed): no longer full, sends are accepted again.
    expect((await b.broker.messageStore.retention.runOnce()).diskFull).toBe(false);
    const ok = await sendV2(b.client, b.addr, t, BODY);
    expect(ok.code, ok.remark).toBe(ResponseCode.SUCCESS);

    // The lagging group: PULL at its offset 0 is moved to the new min, and a consumer continues there.
    const min = b.broker.messageStore.getMinOffsetInQueue(t, 0);
    const max = b.broker.messageStore.getMaxOffsetInQueue(t, 0);
    expect(min).toBeGreaterThan(0);
    const progress = await runCli(['consumerProgress', '-g', group, '--socket', b.broker.addresses.socket, '--json']);
    expect(progress.json.result.progress.queues[0].notes.join(' ')).toContain(`${min} message(s) before offset ${min} were deleted before being consumed`);
    const offsets: number[] = [];
    const c = new PushConsumer({ namesrvAddr: namesrvOf(b), consumerGroup: group, rebalanceIntervalMs: 1000, persistConsumerOffsetIntervalMs: 300 });
    c.subscribe(t, '*');
    defer(() => c.close());
    await c.start((m) => void offsets.push(m.queueOffset));
    await eventually(() => (offsets.length >= max - min ? true : undefined), `${max - min} messages from the new min`);
    expect(Math.min(...offsets)).toBe(min);
    expect(new Set(offsets).size).toBe(max - min);
  });
});
