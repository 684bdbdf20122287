/**
 * A store written without DLedger, converted in place by a DLedger member's first start
 * (apache/rocketmq 4.9.8 DLedgerCommitLog#recover): the old commit log is sealed with an
 * end-of-file BLANK and stays readable below dividedCommitlogOffset; DLedger entries continue after
 * it; consume queues, the index and consumer offsets carry on. Real brokers and stores in temp
 * dirs on 127.0.0.1; every wait is a bounded poll; nothing is asserted about durations.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BrokerController } from '../../src/broker/broker.js';
import { buildBrokerConfig } from '../../src/broker/broker-config.js';
import { NameServer } from '../../src/broker/namesrv/namesrv.js';
import { segmentFileName } from '../../src/broker/store/commitlog-files.js';
import { Producer } from '../../src/client/producer.js';
import { PullConsumer } from '../../src/client/pull-consumer.js';
import { RequestCode, ResponseCode } from '../../src/protocol/codes.js';
import { bodyBuffer, makeRequest } from '../../src/protocol/frame.js';
import { BLANK_MAGIC_CODE, decodeRecord } from '../../src/protocol/message.js';
import { RemotingClient } from '../../src/remoting/client.js';
import type { Logger } from '../../src/remoting/server.js';
import { freePort, uniq } from '../client/support.js';
import { createTopic, eventually, tempDir } from '../helpers/broker.js';
import { runCli } from '../helpers/cli.js';
import { BROKER_NAME, cleanups, QUEUES } from '../helpers/dledger-group.js';

const SEGMENT_BYTES = 4 * 1024 * 1024;
/** Election timing shortened, as test/helpers/dledger-group.ts. */
const ELECTOR = { dLegerHeartBeatTimeIntervalMs: '200', dLegerMaxHeartBeatLeak: '3', dLegerMinVoteIntervalMs: '50', dLegerMaxVoteIntervalMs: '150' };

interface Env {
  ns: NameServer;
  namesrv: string;
  client: RemotingClient;
}

async function env(): Promise<Env> {
  const ns = new NameServer();
  const namesrv = await ns.start({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => ns.close());
  const client = new RemotingClient({ requestTimeoutMs: 5000 });
  cleanups.push(() => client.close());
  return { ns, namesrv, client };
}

function storeDir(): string {
  const dir = tempDir('rocketctl-convert-');
  cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 }));
  return dir;
}

/** A broker of BROKER_NAME on `dir`: plain, or a DLedger member when `dledger` is given. */
async function startBroker(e: Env, dir: string, dledger?: { peers: string; selfId: string }, logger?: Logger): Promise<BrokerController> {
  const { config } = buildBrokerConfig({
    overrides: {
      storePathRootDir: dir,
      listenPort: '0',
      embeddedNamesrv: 'false',
      namesrvAddr: e.namesrv,
      brokerName: BROKER_NAME,
      flushDiskType: 'SYNC_FLUSH',
      mappedFileSizeCommitLog: String(SEGMENT_BYTES),
      mappedFileSizeConsumeQueue: String(1000 * 20),
      maxHashSlotNum: '1000',
      maxIndexNum: '4000',
      ...(dledger ? { enableDLegerCommitLog: 'true', dLegerPeers: dledger.peers, dLegerSelfId: dledger.selfId, ...ELECTOR } : {}),
    },
  });
  const b = await BrokerController.start(config, { slaveSyncIntervalMs: 300, logger });
  cleanups.push(() => b.close());
  return b;
}

interface Sent {
  body: string;
  queueId: number;
  queueOffset: number;
  commitLogOffset: number;
}

async function sendAll(e: Env, topic: string, bodies: string[]): Promise<Sent[]> {
  const p = new Producer({ namesrvAddr: e.namesrv, producerGroup: uniq('ConvPG') });
  await p.start();
  const out: Sent[] = [];
  try {
    for (const body of bodies) {
      const r = await p.send({ topic, body: Buffer.from(body) });
      expect(r.status).toBe('SEND_OK');
      const commitLogOffset = Number.parseInt(r.offsetMsgId!.slice(-16), 16);
      out.push({ body, queueId: r.messageQueue!.queueId, queueOffset: r.queueOffset!, commitLogOffset });
    }
  } finally {
    await p.close();
  }
  return out;
}

/** Bodies of queue `q` from `from` to its end, pulled from the broker at `addr`. */
async function pullFrom(e: Env, addr: string, topic: string, q: number, from: number): Promise<string[]> {
  const pc = new PullConsumer({ namesrvAddr: e.namesrv, instanceName: uniq('conv-reader') });
  await pc.start();
  const out: string[] = [];
  try {
    let offset = from;
    // Bounded: 1000 pulls.
    for (let round = 0; round < 1000; round++) {
      const r = await pc.pull({ topic, brokerName: BROKER_NAME, queueId: q }, offset, 32, { brokerAddr: addr });
      if (r.status !== 'FOUND') break;
      out.push(...r.msgs.map((m) => m.body.toString()));
      offset = r.nextBeginOffset;
    }
  } finally {
    await pc.close();
  }
  return out;
}

/** VIEW_MESSAGE_BY_ID: the body stored at a commit log offset. */
async function viewBody(e: Env, addr: string, commitLogOffset: number): Promise<string> {
  const res = await e.client.invoke(addr, makeRequest(RequestCode.VIEW_MESSAGE_BY_ID, { offset: commitLogOffset }));
  expect(res.code, res.remark).toBe(ResponseCode.SUCCESS);
  return decodeRecord(bodyBuffer(res), 0, { copyBody: true }).body.toString();
}

function byQueue(sent: Sent[]): Map<number, string[]> {
  const m = new Map<number, string[]>();
  for (const s of [...sent].sort((a, b) => a.queueOffset - b.queueOffset)) m.set(s.queueId, [...(m.get(s.queueId) ?? []), s.body]);
  return m;
}

function masterAddr(e: Env): string | undefined {
  return e.ns.routeInfo.getAllClusterInfo().brokerAddrTable[BROKER_NAME]?.brokerAddrs['0'];
}

/** A plain broker's store with `n` messages of `topic`; the group `group` has consumed (committed) `consumed` of each queue. */
async function plainStore(e: Env, dir: string, topic: string, group: string, n: number, consumed: number): Promise<Sent[]> {
  const plain = await startBroker(e, dir);
  expect((await createTopic(e.client, plain.addresses.broker, topic, QUEUES)).code).toBe(0);
  await eventually(() => (masterAddr(e) === plain.addresses.broker ? true : undefined), 'plain broker registered', 20_000, 50);
  const sent = await sendAll(e, topic, Array.from({ length: n }, (_, i) => `old-${i}`));
  for (let q = 0; q < QUEUES; q++) {
    // The group reads the first `consumed` of each queue and commits its offset.
    expect((await pullFrom(e, plain.addresses.broker, topic, q, 0)).slice(0, consumed)).toEqual(byQueue(sent).get(q)!.slice(0, consumed));
    const res = await e.client.invoke(plain.addresses.broker, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic, queueId: q, commitOffset: consumed }));
    expect(res.code).toBe(0);
  }
  await plain.close();
  await eventually(() => (masterAddr(e) === undefined ? true : undefined), 'plain broker unregistered', 20_000, 50);
  return sent;
}

/** Copy a closed store (its lock and socket stay behind), as an operator copies the drained master's store to the other members. */
function copyStore(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true, filter: (src) => !['lock', 'broker.sock'].includes(path.basename(src)) });
}

function collectingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`INFO ${m}`), warn: (m) => lines.push(`WARN ${m}`), error: (m) => lines.push(`ERROR ${m}`) };
}

describe('converting a store written without DLedger', () => {
  it('a group of one: old messages are pulled from the group\'s old offsets, new ones continue the queues, both readable by offset, across restarts; store verify passes (and fails on a bad old record); a plain broker then refuses it', async () => {
    const e = await env();
    const dir = storeDir();
    const topic = uniq('ConvT');
    const group = uniq('ConvG');
    const old = await plainStore(e, dir, topic, group, 40, 3);
    const oldFiles = fs.readdirSync(path.join(dir, 'commitlog'));
    expect(oldFiles).toEqual([segmentFileName(0)]);
    const oldEnd = Math.max(...old.map((s) => s.commitLogOffset)) + 1;

    const peers = `n0-127.0.0.1:${await freePort()}`;
    const log = collectingLogger();
    let b = await startBroker(e, dir, { peers, selfId: 'n0' }, log);
    await eventually(() => (masterAddr(e) === b.addresses.broker ? true : undefined), 'converted member registered as master', 20_000, 50);
    const conv = b.dledger!.commitLog!.conversion!;
    expect(conv.dividedCommitlogOffset).toBe(SEGMENT_BYTES);
    expect(conv.oldLogEnd).toBeGreaterThanOrEqual(oldEnd);
    expect(log.lines.filter((l) => l.includes('store converted to DLedger'))).toHaveLength(1);
    // The old log's last file ends in an end-of-file BLANK at its write position (needWriteMagicCode).
    const tail = Buffer.alloc(8);
    const fd = fs.openSync(path.join(dir, 'commitlog', segmentFileName(0)), 'r');
    fs.readSync(fd, tail, 0, 8, conv.oldLogEnd);
    fs.closeSync(fd);
    expect([tail.readInt32BE(0), tail.readInt32BE(4)]).toEqual([SEGMENT_BYTES - conv.oldLogEnd, BLANK_MAGIC_CODE]);
    // The DLedger log begins at the divide: its first data file is named by it.
    expect(fs.readdirSync(path.join(dir, 'dledger-n0', 'data'))).toEqual([segmentFileName(SEGMENT_BYTES)]);

    // The group goes on from its committed offsets: what it had not consumed is still there.
    const oldByQueue = byQueue(old);
    for (let q = 0; q < QUEUES; q++) {
      expect(b.queryOffset(group, topic, q)).toBe(3);
      expect(await pullFrom(e, b.addresses.broker, topic, q, 3)).toEqual(oldByQueue.get(q)!.slice(3));
    }
    const fresh = await sendAll(e, topic, Array.from({ length: 20 }, (_, i) => `new-${i}`));
    for (const s of fresh) {
      expect(s.commitLogOffset).toBeGreaterThanOrEqual(SEGMENT_BYTES);
      expect(s.queueOffset).toBeGreaterThanOrEqual(oldByQueue.get(s.queueId)!.length);
    }
    const check = async (broker: BrokerController) => {
      const all = byQueue([...old, ...fresh]);
      for (let q = 0; q < QUEUES; q++) expect(await pullFrom(e, broker.addresses.broker, topic, q, 0)).toEqual(all.get(q));
      for (const s of [old[0]!, old[old.length - 1]!, fresh[0]!, fresh[fresh.length - 1]!]) expect(await viewBody(e, broker.addresses.broker, s.commitLogOffset)).toBe(s.body);
      expect(broker.messageStore.stats().commitLogMinOffset).toBe(0);
    };
    await check(b);

    // Started again: nothing to convert; the old log stays below the divide.
    await b.close();
    await eventually(() => (masterAddr(e) === undefined ? true : undefined), 'member unregistered', 20_000, 50);
    b = await startBroker(e, dir, { peers, selfId: 'n0' });
    expect(b.dledger!.commitLog!.conversion).toBeUndefined();
    await eventually(() => (masterAddr(e) === b.addresses.broker ? true : undefined), 'member registered as master again', 20_000, 50);
    await check(b);
    for (let q = 0; q < QUEUES; q++) expect(b.queryOffset(group, topic, q)).toBe(3);
    await b.close();

    // store verify reads the mixed store: the DLedger log as the member does, and every record of the old log.
    const verify = await runCli(['store', 'verify', '--store-dir', dir, '--json']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.json.result).toMatchObject({ mode: 'clean', problem: null, queueUnitsDropped: 0, queueGaps: [] });
    expect(verify.json.result.oldCommitLog).toMatchObject({ files: 1, minOffset: 0, dividedCommitlogOffset: SEGMENT_BYTES, problem: null });
    expect(verify.json.result.oldCommitLog.recordsChecked).toBeGreaterThanOrEqual(old.length);

    // A bad record in the old log fails the check (exit 4): nothing below the divide is ever cut or rewritten.
    const oldFile = path.join(dir, 'commitlog', segmentFileName(0));
    const at = fs.readFileSync(oldFile).indexOf('old-5', old[5]!.commitLogOffset);
    expect(at).toBeGreaterThan(old[5]!.commitLogOffset);
    const wfd = fs.openSync(oldFile, 'r+');
    fs.writeSync(wfd, Buffer.from('X'), 0, 1, at);
    fs.closeSync(wfd);
    const bad = await runCli(['store', 'verify', '--store-dir', dir, '--json']);
    expect(bad.code, bad.stdout + bad.stderr).toBe(4);
    expect(bad.json.result.oldCommitLog.problem).toMatch(new RegExp(`^bad-crc at offset ${old[5]!.commitLogOffset}`));

    // The reverse stays refused, with one line.
    await expect(startBroker(e, dir)).rejects.toThrow(/holds a DLedger commit log \(dledger-n0\): start it with enableDLegerCommitLog=true/);
  });

  it('a group of three converted from copies of one drained store serves old and new messages on every member; a member on an empty store (another dividedCommitlogOffset) refuses the entries with one line and keeps nothing', async () => {
    const e = await env();
    const seed = storeDir();
    const topic = uniq('ConvT3');
    const group = uniq('ConvG3');
    const old = await plainStore(e, seed, topic, group, 24, 2);
    const dirs = [storeDir(), storeDir(), storeDir()];
    copyStore(seed, dirs[0]!);
    copyStore(seed, dirs[1]!);
    const ports = [await freePort(), await freePort(), await freePort()];
    const peers = ports.map((p, i) => `n${i}-127.0.0.1:${p}`).join(';');
    // n0 and n1 (a majority) first: they convert and elect a leader.
    const members = await Promise.all([0, 1].map((i) => startBroker(e, dirs[i]!, { peers, selfId: `n${i}` })));
    for (const m of members) expect(m.dledger!.commitLog!.conversion!.dividedCommitlogOffset).toBe(SEGMENT_BYTES);
    const master = await eventually(() => members.find((m) => m.dledger!.brokerId() === 0 && masterAddr(e) === m.addresses.broker), 'a master registered', 20_000, 50);
    const slave = members.find((m) => m !== master)!;
    const oldByQueue = byQueue(old);
    for (let q = 0; q < QUEUES; q++) expect(await pullFrom(e, master.addresses.broker, topic, q, master.queryOffset(group, topic, q))).toEqual(oldByQueue.get(q)!.slice(2));
    const fresh = await sendAll(e, topic, Array.from({ length: 12 }, (_, i) => `new-${i}`));
    for (const s of fresh) expect(s.commitLogOffset).toBeGreaterThanOrEqual(SEGMENT_BYTES);
    const all = byQueue([...old, ...fresh]);
    const stored = (b: BrokerController) => Array.from({ length: QUEUES }, (_, q) => b.messageStore.getMaxOffsetInQueue(topic, q)).reduce((x, y) => x + y, 0);
    await eventually(() => (stored(slave) === old.length + fresh.length ? true : undefined), 'the slave dispatched every committed entry', 60_000, 50);
    for (const b of [master, slave]) {
      for (let q = 0; q < QUEUES; q++) expect(await pullFrom(e, b.addresses.broker, topic, q, 0)).toEqual(all.get(q));
      for (const s of [old[0]!, fresh[fresh.length - 1]!]) expect(await viewBody(e, b.addresses.broker, s.commitLogOffset)).toBe(s.body);
    }

    // n2 on an empty store: its DLedger log begins at 0, the leader's at the divide.
    const log = collectingLogger();
    const odd = await startBroker(e, dirs[2]!, { peers, selfId: 'n2' }, log);
    const refusal = /refusing the leader's entry 0 at pos \d+: this member's DLedger log begins at 0 \(its dividedCommitlogOffset differs from the leader's/;
    await eventually(() => (log.lines.some((l) => refusal.test(l)) ? true : undefined), 'n2 refuses the leader\'s first entry', 20_000, 50);
    // The majority goes on; the leader keeps pushing to n2, which keeps refusing, logged once.
    const more = await sendAll(e, topic, ['after-0', 'after-1']);
    await eventually(() => (stored(slave) === old.length + fresh.length + more.length ? true : undefined), 'the slave has the later sends', 60_000, 50);
    expect(log.lines.filter((l) => refusal.test(l))).toHaveLength(1);
    expect(odd.dledger!.status()!.ledgerEndIndex).toBe(-1);
    expect(fs.readdirSync(path.join(dirs[2]!, 'dledger-n2', 'data'))).toEqual([]);
    expect(stored(odd)).toBe(0);
    const final = byQueue([...old, ...fresh, ...more]);
    for (let q = 0; q < QUEUES; q++) expect(await pullFrom(e, master.addresses.broker, topic, q, 0)).toEqual(final.get(q));
  });
});
