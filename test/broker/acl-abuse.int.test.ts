/**
 * Abuse of a broker process with ACL on (issue 13): while a signed producer and a signed pull
 * consumer keep working, the broker gets
 *  - requests with random and malformed ACL fields (no AccessKey, a Signature that is not base64,
 *    huge values, numbers, objects, arrays and nulls where strings belong, unknown keys, random codes),
 *  - frames and headers past the limits (a frame declared over 16 MiB, a header over 1 MiB, a header
 *    length past its frame, a negative length),
 *  - 2,000 connections from 127.0.0.1 at once, twice the default serverMaxConnectionsPerAddress.
 * Every abusive request must be answered with a refusal (never SUCCESS) or get its connection
 * closed, never hang; connections past the limit are closed at once; the signed clients never
 * fail; the broker's RSS stays within a generous bound. Seeded (ROCKETCTL_ABUSE_SEED replays).
 */
import fs from 'node:fs';
import path from 'node:path';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Producer } from '../../src/client/producer.js';
import { PullConsumer } from '../../src/client/pull-consumer.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { RequestCode, ResponseCode } from '../../src/protocol/codes.js';
import { decodeFrame, encodeFrame, FrameDecoder, makeRequest, type RemotingCommand } from '../../src/protocol/frame.js';
import { DEFAULT_MAX_CONNECTIONS_PER_ADDRESS } from '../../src/remoting/server.js';
import { ADMIN, APP, plainAclYaml } from '../helpers/acl.js';
import { createTopic, spawnBroker, tempDir, type BrokerProcess } from '../helpers/broker.js';
import { connect, mulberry32, rssOf } from '../helpers/net-abuse.js';

const SEED = Number(process.env.ROCKETCTL_ABUSE_SEED ?? Date.now() % 2 ** 31);
const rand = mulberry32(SEED);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const why = (s: string) => `${s} (seed ${SEED}; replay with ROCKETCTL_ABUSE_SEED=${SEED})`;

const FLOOD_CONNECTIONS = 2 * DEFAULT_MAX_CONNECTIONS_PER_ADDRESS;
/** Connections opened at once in the flood. */
const FLOOD_BATCH = 250;
const MALFORMED_REQUESTS = 600;
/** The broker's RSS may grow at most this much over the abuse (generous: GC decides when it returns memory). */
const RSS_GROWTH_MAX_BYTES = 256 * 1024 * 1024;
/** The broker's serverMaxPendingFrameBytes here, and the connections that each send most of a large frame and stop. */
const PENDING_FRAME_BYTES_MAX = 64 * 1024 * 1024;
const STALLED_FRAMES = 120;
const STALLED_FRAME_SENT_BYTES = 1024 * 1024;
/** How long one abusive request may wait for its answer or its close. */
const ANSWER_WAIT_MS = 10_000;
const TOPIC = 'AbuseT';
const ACL_REMARK = 'org.apache.rocketmq.acl.common.AclException: ';

// ---- abusive requests ---------------------------------------------------------------------------

const CODES = [RequestCode.SEND_MESSAGE_V2, RequestCode.PULL_MESSAGE, RequestCode.UPDATE_AND_CREATE_TOPIC, RequestCode.DELETE_TOPIC_IN_BROKER, RequestCode.UPDATE_BROKER_CONFIG, RequestCode.GET_BROKER_CONFIG, RequestCode.HEART_BEAT, RequestCode.UPDATE_AND_CREATE_ACL_CONFIG, 9999];

function weirdValue(): unknown {
  switch (int(9)) {
    case 0: return 'x'.repeat(64 * 1024 + int(200 * 1024)); // huge
    case 1: return int(2 ** 31);
    case 2: return { nested: 'object' };
    case 3: return ['a', 1];
    case 4: return null;
    case 5: return true;
    case 6: return '%%%not base64%%%';
    case 7: return Buffer.from(Array.from({ length: int(64) }, () => int(256))).toString('latin1');
    default: return '';
  }
}

/** A well-framed request whose ACL fields are missing, wrong or of the wrong type. */
function malformedAclRequest(): RemotingCommand {
  const ext: Record<string, unknown> = { topic: TOPIC, b: TOPIC, a: 'PG', consumerGroup: 'CG' };
  switch (int(5)) {
    case 0: break; // no AccessKey at all
    case 1: ext.AccessKey = APP.accessKey; ext.Signature = weirdValue(); break; // a real key, a bad signature
    case 2: ext.AccessKey = weirdValue(); ext.Signature = weirdValue(); break;
    case 3: ext.AccessKey = APP.accessKey; break; // no Signature
    default: ext.AccessKey = 'unknownKey1'; ext.Signature = 'c2lnbmF0dXJl'; ext.SecurityToken = weirdValue();
  }
  const req = makeRequest(pick(CODES), {});
  req.extFields = ext as Record<string, string>; // values of any JSON type: what a hostile client can send
  if (rand() < 0.3) req.body = Buffer.from(Array.from({ length: int(2048) }, () => int(256)));
  return req;
}

/** Frames past the limits, each expected to close its connection. */
const OVERSIZED: Array<[string, () => Buffer]> = [
  ['a frame declared over 16 MiB', () => Buffer.from([0x01, 0x10, 0x00, 0x01, 0, 0, 0, 10])],
  ['a negative frame length', () => Buffer.from([0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0])],
  [
    'a header over 1 MiB',
    () => {
      const req = makeRequest(RequestCode.SEND_MESSAGE_V2, { AccessKey: 'k'.repeat(1024 * 1024 + 10), Signature: 'x' });
      return encodeFrame(req);
    },
  ],
  [
    'a header length past its frame',
    () => {
      const b = Buffer.alloc(20);
      b.writeInt32BE(16, 0);
      b.writeUInt32BE(0x00ffffff, 4);
      return b;
    },
  ],
];

type Outcome = { answer: RemotingCommand } | { closed: true };

/** Write `frame` on a fresh connection; the first answer, or the close (bounded by ANSWER_WAIT_MS). */
async function exchange(addr: string, frame: Buffer): Promise<Outcome> {
  const sock = await connect(addr);
  const decoder = new FrameDecoder();
  return new Promise<Outcome>((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(why(`no answer and no close within ${ANSWER_WAIT_MS} ms`)));
    }, ANSWER_WAIT_MS);
    const done = (o: Outcome) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(o);
    };
    sock.on('data', (d) => {
      const frames = decoder.push(d);
      if (frames.length > 0) done({ answer: decodeFrame(frames[0]!) });
    });
    sock.on('error', () => {});
    sock.on('close', () => done({ closed: true }));
    sock.write(frame);
  });
}

// ---- the broker and the signed clients ----------------------------------------------------------

let broker: BrokerProcess;
let dir: string;

beforeAll(async () => {
  dir = tempDir('rocketctl-acl-abuse-');
  const aclFile = path.join(dir, 'plain_acl.yml');
  fs.writeFileSync(aclFile, plainAclYaml(['defaultTopicPerm: PUB|SUB', 'defaultGroupPerm: SUB']), { mode: 0o600 });
  const conf = path.join(dir, 'broker.conf');
  fs.writeFileSync(conf, `aclEnable=true\nplainAclFile=${aclFile}\nmappedFileSizeCommitLog=4194304\nmappedFileSizeConsumeQueue=20000\nmaxHashSlotNum=1000\nmaxIndexNum=4000\nserverMaxPendingFrameBytes=${PENDING_FRAME_BYTES_MAX}\n`);
  broker = await spawnBroker(['--store-dir', path.join(dir, 'store'), '--listen-port', '0', '--namesrv-port', '0', '-c', conf]);
});

afterAll(async () => {
  await broker?.stop('SIGTERM');
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Sends and reads back, one message at a time, until stopped; every step must succeed. */
function signedTraffic(namesrvAddr: string) {
  const producer = new Producer({ namesrvAddr, producerGroup: 'AbusePG', credentials: APP, sendMsgTimeoutMs: 10_000, retryTimesWhenSendFailed: 0 });
  const consumer = new PullConsumer({ namesrvAddr, consumerGroup: 'AbuseCG', instanceName: 'abuse-reader', credentials: APP });
  let stop = false;
  let sent = 0;
  let received = 0;
  const errors: string[] = [];
  const step = async (i: number) => {
    const r = await producer.send({ topic: TOPIC, body: `m-${i}` });
    if (r.status !== 'SEND_OK') throw new Error(`send ${i}: ${r.status}`);
    sent++;
    const got = await consumer.pull(r.messageQueue!, r.queueOffset!, 1);
    if (got.msgs[0]?.body.toString() !== `m-${i}`) throw new Error(`pull ${i}: ${got.status}`);
    received++;
  };
  return {
    async start() {
      await producer.start();
      await consumer.start();
      await step(-1); // connections made before the flood
    },
    loop: (async () => undefined)(),
    run() {
      this.loop = (async () => {
        // Bounded: stopped by the test, and at most this many steps.
        for (let i = 0; !stop && i < 100_000; i++) {
          try {
            await step(i);
          } catch (err) {
            errors.push(err instanceof Error ? err.message : String(err));
            return;
          }
        }
      })();
    },
    async finish() {
      stop = true;
      await this.loop;
      await producer.close();
      await consumer.close();
      return { sent, received, errors };
    },
  };
}

describe('ACL abuse at a broker process', () => {
  it(`refuses or closes every abusive request, caps connections per address, keeps serving signed clients, stays bounded (seed ${SEED})`, async () => {
    const addr = broker.ready.broker;
    const pid = broker.child.pid!;
    const admin = new RemotingClient({ requestTimeoutMs: 10_000, credentials: ADMIN });
    const traffic = signedTraffic(broker.ready.namesrv!);
    const flood: net.Socket[] = [];
    try {
      expect((await createTopic(admin, addr, TOPIC, 2)).code).toBe(ResponseCode.SUCCESS);
      await traffic.start();
      const rssBefore = rssOf(pid);
      traffic.run();

      // Malformed ACL fields: always a refusal (SYSTEM_ERROR with the AclException) or a close.
      const outcomes = { refused: 0, closed: 0 };
      for (let i = 0; i < MALFORMED_REQUESTS; i++) {
        const req = malformedAclRequest();
        const o = await exchange(addr, encodeFrame(req));
        if ('closed' in o) {
          outcomes.closed++;
          continue;
        }
        expect(o.answer.code, why(`request ${i} (code ${req.code}, ext ${JSON.stringify(req.extFields).slice(0, 200)}) answered ${o.answer.remark}`)).toBe(ResponseCode.SYSTEM_ERROR);
        expect(o.answer.remark ?? '', why(`request ${i}`)).toContain(ACL_REMARK);
        expect(o.answer.remark ?? '').not.toContain(APP.secretKey);
        expect((o.answer.remark ?? '').length, why('a refusal is bounded in size')).toBeLessThan(512 * 1024);
        outcomes.refused++;
      }
      expect(outcomes.refused, why(JSON.stringify(outcomes))).toBeGreaterThan(MALFORMED_REQUESTS / 2);

      // Past the frame and header limits: the connection is closed, nothing is answered.
      for (const [what, frame] of OVERSIZED) expect(await exchange(addr, frame()), what).toEqual({ closed: true });

      const waitFor = async (cond: () => boolean, what: string) => {
        for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
        expect(cond(), why(what)).toBe(true);
      };

      // Unfinished large frames: 120 connections each send 1 MiB of a 16 MiB frame and stop. Past
      // serverMaxPendingFrameBytes the broker closes those holding the most, so at most 64 stay.
      const stalled: net.Socket[] = [];
      for (let i = 0; i < STALLED_FRAMES; i++) {
        const s = await connect(addr);
        s.on('error', () => {});
        s.resume();
        const head = Buffer.alloc(STALLED_FRAME_SENT_BYTES);
        head.writeInt32BE(16 * 1024 * 1024, 0);
        s.write(head);
        stalled.push(s);
      }
      const stalledOpen = () => stalled.filter((s) => !s.destroyed).length;
      await waitFor(() => stalledOpen() <= PENDING_FRAME_BYTES_MAX / STALLED_FRAME_SENT_BYTES, `stalled connections open ${stalledOpen()} <= ${PENDING_FRAME_BYTES_MAX / STALLED_FRAME_SENT_BYTES}`);
      const rssStalled = rssOf(pid);
      for (const s of stalled) s.destroy();

      // The flood: connections past serverMaxConnectionsPerAddress are closed by the broker at once.
      // In batches below the listen backlog (511): a burst past it leaves handshakes half done in the
      // kernel (the client sees a connection the broker has not accepted yet), which is not the point here.
      for (let i = 0; i < FLOOD_CONNECTIONS; i += FLOOD_BATCH) {
        const opened = await Promise.allSettled(Array.from({ length: Math.min(FLOOD_BATCH, FLOOD_CONNECTIONS - i) }, () => connect(addr)));
        for (const r of opened) {
          if (r.status !== 'fulfilled') continue;
          flood.push(r.value);
          r.value.on('error', () => {});
          r.value.resume(); // flowing, so the broker's close is seen (it may have come already)
        }
      }
      expect(flood.length, why('every flood connection was made (refused ones are closed after)')).toBe(FLOOD_CONNECTIONS);
      const rssFlood = rssOf(pid);
      const open = () => flood.filter((s) => !s.destroyed).length;
      // The signed clients hold connections from 127.0.0.1 as well: at most the limit stay open.
      await waitFor(() => open() <= DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, `open flood connections ${open()} <= ${DEFAULT_MAX_CONNECTIONS_PER_ADDRESS}`);
      expect(flood.length - open()).toBeGreaterThanOrEqual(FLOOD_CONNECTIONS - DEFAULT_MAX_CONNECTIONS_PER_ADDRESS);
      // A flood connection that was kept is still refused as any unsigned one is.
      const kept = flood.find((s) => !s.destroyed)!;
      const answer = await new Promise<RemotingCommand>((resolve, reject) => {
        const d = new FrameDecoder();
        const t = setTimeout(() => reject(new Error(why('no answer on a kept flood connection'))), ANSWER_WAIT_MS);
        kept.on('data', (c) => {
          const f = d.push(c);
          if (f.length > 0) {
            clearTimeout(t);
            resolve(decodeFrame(f[0]!));
          }
        });
        kept.write(encodeFrame(makeRequest(RequestCode.GET_BROKER_CONFIG)));
      });
      expect(answer.remark).toBe(`${ACL_REMARK}No accessKey is configured`);
      for (const s of flood) s.destroy();

      // Once the flood is gone, new connections are accepted again.
      const after = new RemotingClient({ requestTimeoutMs: 10_000, credentials: ADMIN });
      try {
        const res = await after.invoke(addr, makeRequest(RequestCode.GET_BROKER_RUNTIME_INFO));
        expect(res.code).toBe(ResponseCode.SUCCESS);
      } finally {
        await after.close();
      }

      const t = await traffic.finish();
      expect(t.errors, why('the signed clients never failed')).toEqual([]);
      expect(t.sent).toBeGreaterThan(0);
      expect(t.received).toBe(t.sent);
      const rssAfter = rssOf(pid);
      const grew = Math.max(rssStalled, rssFlood, rssAfter) - rssBefore;
      expect(grew, why(`RSS ${rssBefore} -> ${rssStalled} (unfinished frames) -> ${rssFlood} (flood) -> ${rssAfter}`)).toBeLessThan(RSS_GROWTH_MAX_BYTES);
      expect(broker.child.exitCode).toBeNull();
      expect(broker.stderr()).toMatch(/closing new connections: \d+ connections from 127\.0\.0\.1 open \(maxConnectionsPerAddress\)/);
      expect(broker.stderr()).toMatch(/closing 127\.0\.0\.1:\d+, which held \d+ bytes of an unfinished frame: \d+ bytes buffered \(maxPendingFrameBytes\)/);
    } finally {
      for (const s of flood) s.destroy();
      await traffic.finish().catch(() => undefined);
      await admin.close();
    }
  }, 90_000);
});
