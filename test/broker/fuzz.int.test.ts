/**
 * Fuzz: at least 100k random and mutated frames at a real broker process (seeded; the seed is in
 * every assertion message, replay with ROCKETCTL_FUZZ_SEED). The broker must never crash, must keep
 * answering well-formed requests on another connection throughout, and its memory must stay
 * bounded. Frames are of three kinds:
 *  - well-framed requests with a random known request code, random extFields and a random body,
 *    which reach the handlers and exercise their validation (most of them);
 *  - at the end of most connections, one valid frame with random bytes flipped, truncated or with
 *    a bad length field, or plain random bytes: the broker must close that connection alone.
 */
import fs from 'node:fs';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemotingClient } from '../../src/remoting/client.js';
import { RequestCode } from '../../src/protocol/codes.js';
import { encodeFrame, makeRequest, type RemotingCommand } from '../../src/protocol/frame.js';
import { spawnBroker, tempDir, type BrokerProcess } from '../helpers/broker.js';
import { connect, mulberry32, rssOf } from '../helpers/net-abuse.js';

const SEED = Number(process.env.ROCKETCTL_FUZZ_SEED ?? Date.now() % 2 ** 31);
const FRAMES = Number(process.env.ROCKETCTL_FUZZ_FRAMES ?? 100_000);
/** At most this many frames on one connection (a random 1..N), then a new connection. */
const FRAMES_PER_CONNECTION = 400;
/** The broker's RSS may not grow more than this between the warm-up sample and the end. */
const RSS_GROWTH_MAX_BYTES = 256 * 1024 * 1024;
const HEALTH_EVERY_FRAMES = 5_000;

const rand = mulberry32(SEED);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const CODES = Object.values(RequestCode);
const FIELD_NAMES = ['topic', 'queueId', 'consumerGroup', 'group', 'offset', 'queueOffset', 'maxMsgNums', 'sysFlag', 'commitOffset', 'suspendTimeoutMillis', 'subscription', 'subVersion', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'key', 'maxNum', 'beginTimestamp', 'endTimestamp', 'timestamp', 'clientID', 'producerGroup', 'brokerName', 'readQueueNums', 'writeQueueNums', 'perm', 'delayLevel', 'originMsgId', 'isForce', 'tranStateTableOffset', 'commitLogOffset', 'commitOrRollback', 'msgId'];

function randomValue(): string {
  switch (int(7)) {
    case 0: return String(int(10));
    case 1: return String(int(2 ** 31) * (rand() < 0.2 ? -1 : 1));
    case 2: return pick(['true', 'false', '', 'null', 'NaN', '-1', '9223372036854775807']);
    case 3: return pick(['FuzzTopic', '%RETRY%FuzzGroup', 'TBW102', 'SCHEDULE_TOPIC_XXXX', 'RMQ_SYS_TRANS_HALF_TOPIC', 'bad topic!', 'x'.repeat(200)]);
    case 4: return 'TAGS\u0001A\u0002KEYS\u0001k' + int(100) + (rand() < 0.3 ? '\u0002DELAY\u0001' + int(30) : '');
    case 5: return Buffer.from(Array.from({ length: int(40) }, () => int(256))).toString('latin1');
    default: return 'FuzzGroup';
  }
}

function randomRequest(): RemotingCommand {
  const fields: Record<string, string> = {};
  for (let i = int(12); i > 0; i--) fields[pick(FIELD_NAMES)] = randomValue();
  const bodyLen = rand() < 0.5 ? 0 : int(rand() < 0.9 ? 256 : 8192);
  const body = bodyLen > 0 ? Buffer.from(Array.from({ length: bodyLen }, () => int(256))) : undefined;
  const cmd = makeRequest(pick(CODES), fields, rand() < 0.1 ? Buffer.from('{"clientID":"x","consumerDataSet":[{"groupName":"FuzzGroup","subscriptionDataSet":[{"topic":"FuzzTopic","subString":"*"}]}]}') : body);
  cmd.flag = rand() < 0.1 ? 2 : 0; // some oneway
  cmd.opaque = int(2 ** 31);
  if (rand() < 0.2) cmd.serializeType = 'ROCKETMQ';
  return cmd;
}

function mutate(frame: Buffer): Buffer {
  const b = Buffer.from(frame);
  switch (int(4)) {
    case 0:
      for (let i = 1 + int(8); i > 0; i--) b[int(b.length)] = int(256);
      return b;
    case 1:
      return b.subarray(0, int(b.length)); // truncated: the rest of the stream is misaligned
    case 2:
      b.writeInt32BE(pick([-1, 0, 3, 0x7fffffff, b.length * 4, 17 * 1024 * 1024]), 0);
      return b;
    default:
      b.writeUInt32BE(((int(256) << 24) | int(0xffffff)) >>> 0, 4); // serialize type + header length
      return b;
  }
}

/** A well-framed request with random content (reaches a handler). */
function requestFrame(): Buffer {
  return encodeFrame(randomRequest());
}

/** What ends a connection: a mutated frame (most), or plain random bytes. */
function breakingFrame(): Buffer {
  if (rand() < 0.8) return mutate(encodeFrame(randomRequest()));
  return Buffer.from(Array.from({ length: 1 + int(64) }, () => int(256)));
}

/**
 * Write up to `n` frames on one connection: well-framed random requests, then (usually) one
 * breaking frame, after which the broker is expected to close the connection. Returns how many
 * frames were written.
 */
async function blast(sock: net.Socket, n: number): Promise<number> {
  let closed = false;
  sock.on('close', () => (closed = true));
  sock.on('error', () => {});
  sock.resume(); // read and drop the broker's answers so its write buffer drains
  const breakAtEnd = rand() < 0.8;
  let written = 0;
  for (; written < n && !closed; written++) {
    const last = written === n - 1;
    if (!sock.write(last && breakAtEnd ? breakingFrame() : requestFrame())) await drained(sock);
    // Let the answers flow now and then (and the close of a broken stream be noticed).
    if (written % 128 === 127) await new Promise((r) => setImmediate(r));
  }
  if (breakAtEnd) await drained(sock); // give the broker the chance to close it
  sock.destroy();
  return written;
}

/** Bounded wait for a socket's buffer to drain (or for it to close). */
function drained(sock: net.Socket): Promise<void> {
  if (sock.writableLength === 0 || sock.destroyed) return Promise.resolve();
  return new Promise<void>((r) => {
    const t = setTimeout(r, 2_000);
    const done = () => {
      clearTimeout(t);
      r();
    };
    sock.once('drain', done);
    sock.once('close', done);
  });
}

let broker: BrokerProcess;
let storeDir: string;

beforeAll(async () => {
  storeDir = tempDir('rocketctl-fuzz-');
  broker = await spawnBroker(['--store-dir', storeDir, '--listen-port', '0', '--namesrv-port', '0', '-c', writeConf(storeDir)]);
});

afterAll(async () => {
  await broker?.stop('SIGTERM');
  fs.rmSync(storeDir, { recursive: true, force: true });
});

function writeConf(dir: string): string {
  const p = `${dir}.conf`;
  // Small files: the fuzzer's sends may create topics and messages; keep the store small.
  fs.writeFileSync(p, 'mappedFileSizeCommitLog=4194304\nmappedFileSizeConsumeQueue=20000\nmaxHashSlotNum=1000\nmaxIndexNum=4000\n');
  return p;
}

describe('fuzz: random and mutated frames at a running broker', () => {
  it(`survives ${FRAMES} frames, keeps answering, and stays bounded in memory (seed ${SEED})`, async () => {
    const addr = broker.ready.broker;
    const health = new RemotingClient({ requestTimeoutMs: 10_000 });
    const pid = broker.child.pid!;
    const why = (s: string) => `${s} (seed ${SEED}; replay with ROCKETCTL_FUZZ_SEED=${SEED})`;
    try {
      let sent = 0;
      let connections = 0;
      let warmRss = 0;
      let nextHealth = 0;
      let healthChecks = 0;
      // Bounded: each round writes >= 1 frame or the connection is closed; rounds are capped.
      for (let round = 0; sent < FRAMES && round < FRAMES; round++) {
        const sock = await connect(addr);
        connections++;
        sent += Math.max(1, await blast(sock, Math.min(1 + int(FRAMES_PER_CONNECTION), FRAMES - sent)));
        if (sent >= nextHealth) {
          nextHealth += HEALTH_EVERY_FRAMES;
          const res = await health.invoke(addr, makeRequest(RequestCode.GET_BROKER_RUNTIME_INFO));
          expect(res.code, why(`runtime info after ${sent} frames`)).toBe(0);
          healthChecks++;
          expect(broker.child.exitCode, why('broker process exited')).toBeNull();
          if (!warmRss && sent >= FRAMES / 5) warmRss = rssOf(pid);
        }
      }
      expect(sent, why('frames sent')).toBeGreaterThanOrEqual(FRAMES);
      expect(connections).toBeGreaterThan(1);
      // A final well-formed round trip that touches the store: create a topic, send, read back.
      const create = await health.invoke(addr, makeRequest(RequestCode.UPDATE_AND_CREATE_TOPIC, { topic: 'AfterFuzz', defaultTopic: 'TBW102', readQueueNums: 1, writeQueueNums: 1, perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false }));
      expect(create.code, why('create topic after fuzzing')).toBe(0);
      const send = await health.invoke(addr, makeRequest(RequestCode.SEND_MESSAGE_V2, { a: 'PG', b: 'AfterFuzz', c: 'TBW102', d: 1, e: 0, f: 0, g: Date.now(), h: 0, i: '', j: 0, k: false }, Buffer.from('still here')));
      expect(send.code, why(`send after fuzzing: ${send.remark}`)).toBe(0);
      const endRss = rssOf(pid);
      expect(endRss - warmRss, why(`RSS grew from ${warmRss} to ${endRss}`)).toBeLessThan(RSS_GROWTH_MAX_BYTES);
      expect(healthChecks).toBeGreaterThanOrEqual(Math.floor(FRAMES / HEALTH_EVERY_FRAMES));
    } finally {
      await health.close();
    }
    const stopped = await broker.stop('SIGTERM');
    expect(stopped.code, why(`broker exit after fuzzing; stderr: ${broker.stderr().slice(-2000)}`)).toBe(0);
  }, 240_000);
});
