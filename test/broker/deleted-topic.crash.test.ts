/**
 * A topic deleted before an unclean shutdown stays deleted. The broker is a real child process
 * (`rocketctl broker start`, SYNC_FLUSH) killed with SIGKILL after DELETE_TOPIC_IN_BROKER was
 * answered; the restart recovers abnormally (the `abort` file is there) and re-dispatches the
 * commit log, which holds the deleted topic's records, into consume queues. The start must drop
 * those again: no consume queue dir, no topic config, and a topic of the same name created anew
 * starts empty. A topic that was not deleted keeps every message.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RemotingClient } from '../../src/remoting/client.js';
import { decodeTopicConfigWrapper } from '../../src/protocol/bodies.js';
import { RequestCode } from '../../src/protocol/codes.js';
import { parseFastjson } from '../../src/protocol/fastjson.js';
import { bodyBuffer, makeRequest } from '../../src/protocol/frame.js';
import { encodeProperties } from '../../src/protocol/properties.js';
import { createTopic, spawnBroker, tempDir, type BrokerProcess } from '../helpers/broker.js';

const QUEUES = 4;
const PER_QUEUE = 5;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(dir: string, conf: string): Promise<BrokerProcess> {
  const p = await spawnBroker(['--store-dir', dir, '--listen-port', '0', '--namesrv-port', '0', '--flush-disk-type', 'SYNC_FLUSH', '-c', conf]);
  cleanups.push(async () => void (await p.stop('SIGKILL')));
  return p;
}

async function send(client: RemotingClient, addr: string, topic: string, queueId: number): Promise<void> {
  const res = await client.invoke(
    addr,
    makeRequest(RequestCode.SEND_MESSAGE_V2, { a: 'PG', b: topic, c: 'TBW102', d: 4, e: queueId, f: 0, g: Date.now(), h: 0, i: encodeProperties({ WAIT: 'true' }), j: 0, k: false }, Buffer.from(`${topic}-${queueId}`)),
  );
  expect(res.code, res.remark).toBe(0);
}

async function maxOffsets(client: RemotingClient, addr: string, topic: string): Promise<number[]> {
  const out: number[] = [];
  for (let q = 0; q < QUEUES; q++) {
    const res = await client.invoke(addr, makeRequest(RequestCode.GET_MAX_OFFSET, { topic, queueId: q }));
    expect(res.code).toBe(0);
    out.push(Number(res.extFields?.offset));
  }
  return out;
}

async function topicNames(client: RemotingClient, addr: string): Promise<string[]> {
  const res = await client.invoke(addr, makeRequest(RequestCode.GET_ALL_TOPIC_CONFIG));
  expect(res.code).toBe(0);
  return Object.keys(decodeTopicConfigWrapper(parseFastjson(bodyBuffer(res).toString())).topicConfigTable);
}

/** A temp store dir and a broker.conf beside it, both removed after the test. */
function storeAndConf(): { dir: string; conf: string } {
  const dir = tempDir('rocketctl-deleted-');
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const conf = path.join(dir, '..', `${path.basename(dir)}.conf`);
  // Small files: one commit log segment, so the abnormal recovery scans it all.
  fs.writeFileSync(conf, `mappedFileSizeCommitLog=${4 * 1024 * 1024}\nmappedFileSizeConsumeQueue=${1000 * 20}\nmaxHashSlotNum=1000\nmaxIndexNum=4000\n`);
  cleanups.push(() => fs.rmSync(conf, { force: true }));
  return { dir, conf };
}

function newClient(): RemotingClient {
  const client = new RemotingClient({ requestTimeoutMs: 10_000 });
  cleanups.push(() => client.close());
  return client;
}

describe('deleted topics after kill -9', () => {
  it('stay deleted: recovery does not bring back their consume queues', async () => {
    const { dir, conf } = storeAndConf();
    const client = newClient();

    const first = await start(dir, conf);
    for (const t of ['Keep', 'Gone']) {
      expect((await createTopic(client, first.ready.socket, t, QUEUES)).code).toBe(0);
      for (let q = 0; q < QUEUES; q++) for (let i = 0; i < PER_QUEUE; i++) await send(client, first.ready.broker, t, q);
    }
    const del = await client.invoke(first.ready.socket, makeRequest(RequestCode.DELETE_TOPIC_IN_BROKER, { topic: 'Gone' }));
    expect(del.code).toBe(0);
    expect(fs.existsSync(path.join(dir, 'consumequeue', 'Gone'))).toBe(false);
    expect(await first.stop('SIGKILL')).toMatchObject({ signal: 'SIGKILL' });
    expect(fs.existsSync(path.join(dir, 'abort'))).toBe(true);

    const second = await start(dir, conf);
    const names = await topicNames(client, second.ready.socket);
    expect(names).toContain('Keep');
    expect(names).not.toContain('Gone');
    expect(await maxOffsets(client, second.ready.broker, 'Keep')).toEqual(Array(QUEUES).fill(PER_QUEUE));
    expect(await maxOffsets(client, second.ready.broker, 'Gone')).toEqual(Array(QUEUES).fill(0));
    // A clean stop flushes every consume queue the broker holds: none of Gone's may be among them.
    expect(await second.stop('SIGTERM')).toMatchObject({ code: 0 });
    expect(fs.existsSync(path.join(dir, 'consumequeue', 'Keep'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'consumequeue', 'Gone'))).toBe(false);
    expect(fs.readFileSync(path.join(dir, 'config', 'topics.json'), 'utf8')).not.toContain('"Gone"');

    // Created again, the topic starts empty: none of the deleted messages come back into it.
    const third = await start(dir, conf);
    expect((await createTopic(client, third.ready.socket, 'Gone', QUEUES)).code).toBe(0);
    await send(client, third.ready.broker, 'Gone', 0);
    expect(await maxOffsets(client, third.ready.broker, 'Gone')).toEqual([1, 0, 0, 0]);
    expect(await maxOffsets(client, third.ready.broker, 'Keep')).toEqual(Array(QUEUES).fill(PER_QUEUE));
    expect(await third.stop('SIGTERM')).toMatchObject({ code: 0 });
  });

  it('a topic auto-created by an acknowledged send is on disk, so the same cleanup keeps it', async () => {
    const { dir, conf } = storeAndConf();
    const client = newClient();
    const first = await start(dir, conf);
    // Each send creates its topic and is answered only after topics.json holds it.
    for (let i = 0; i < 8; i++) await send(client, first.ready.broker, `Auto${i}`, 0);
    expect(await first.stop('SIGKILL')).toMatchObject({ signal: 'SIGKILL' });

    const second = await start(dir, conf);
    const names = await topicNames(client, second.ready.socket);
    for (let i = 0; i < 8; i++) {
      expect(names).toContain(`Auto${i}`);
      expect(await maxOffsets(client, second.ready.broker, `Auto${i}`)).toEqual([1, 0, 0, 0]);
    }
  });
});
