/**
 * sendMessage and consumeMessage through the real CLI against a real broker in this process:
 * what sendMessage reports is what consumeMessage reads back (body, tags, keys, ids, queue), the
 * NDJSON stream ends with the envelope, and reading changes no group's offsets.
 */
import path from 'node:path';
import { Ajv } from 'ajv';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createTopic, useCliBroker } from '../helpers/broker.js';
import { ROOT, expectErrorEnvelope, expectOneLineError, expectSuccessEnvelope, runCli } from '../helpers/cli.js';

const ENV = { NAMESRV_ADDR: '' };
const TOPIC = 'SendConsumeTopic';
const cb = useCliBroker(async (tb) => {
  await createTopic(tb.client, tb.addr, TOPIC, 2);
});
const { local } = cb;

describe('sendMessage / consumeMessage', () => {
  it('sends to a chosen queue and reads exactly that message back as NDJSON', async () => {
    const sent = await local(['sendMessage', '-t', TOPIC, '-p', 'héllo wörld', '-c', 'TagA', '-k', 'k1 k2', '-b', 'broker-a', '-i', '1', '--json']);
    expect(sent.code, sent.stderr).toBe(0);
    expectSuccessEnvelope('sendMessage', sent.json);
    const r = sent.json.result;
    expect(r).toMatchObject({ status: 'SEND_OK', brokerName: 'broker-a', queueId: 1, queueOffset: 0, topic: TOPIC });

    const read = await local(['consumeMessage', '-t', TOPIC, '-b', 'broker-a', '-i', '1', '-o', '0', '--json']);
    expect(read.code, read.stderr).toBe(0);
    const lines = read.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    const msg = lines[0].message;
    const ajv = new Ajv({ strict: false });
    const schema = JSON.parse(fs.readFileSync(path.join(ROOT, 'schemas/consumeMessage.json'), 'utf8'));
    expect(ajv.validate({ ...schema.definitions.message, definitions: schema.definitions }, msg), ajv.errorsText()).toBe(true);
    expect(msg).toMatchObject({ body: 'héllo wörld', bodyEncoding: 'utf8', tags: 'TagA', keys: ['k1', 'k2'], msgId: r.msgId, offsetMsgId: r.offsetMsgId, queueId: 1, queueOffset: 0 });
    expectSuccessEnvelope('consumeMessage', lines[1]);
    expect(lines[1].result).toMatchObject({ count: 1, group: 'TOOLS_CONSUMER' });
  });

  it('reads at most -c messages across the queues; -g reads a group\'s backlog and stores nothing for it', async () => {
    for (let i = 0; i < 4; i++) expect((await local(['sendMessage', '-t', TOPIC, '-p', `m${i}`, '-b', 'broker-a', '-i', '0'])).code).toBe(0);
    const read = await local(['consumeMessage', '-t', TOPIC, '-c', '3', '--json']);
    expect(read.code, read.stderr).toBe(0);
    const lines = read.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.slice(0, -1).map((l) => l.message.body)).toEqual(['m0', 'm1', 'm2']);

    // A group that committed offset 2 on queue 0 and nothing on queue 1: its backlog is m2, m3.
    cb.tb.broker.offsets.commit('CG_reader', TOPIC, 0, 2);
    const backlog = await local(['consumeMessage', '-t', TOPIC, '-b', 'broker-a', '-g', 'CG_reader', '--json']);
    expect(backlog.code, backlog.stderr).toBe(0);
    const bl = backlog.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(bl.slice(0, -1).map((l) => l.message.body)).toEqual(['m2', 'm3']);
    expectSuccessEnvelope('consumeMessage', bl.at(-1));
    expect(bl.at(-1).result.queues[1]).toMatchObject({ queueId: 1, read: 0, note: 'CG_reader has no committed offset on this queue: skipped' });
    // Nothing stored or moved for the group it named.
    expect(cb.tb.broker.offsets.query('CG_reader', TOPIC, 0)).toBe(2);
    expect(cb.tb.broker.offsets.query('CG_reader', TOPIC, 1)).toBeUndefined();
    const human = await local(['consumeMessage', '-t', TOPIC, '-b', 'broker-a', '-g', 'CG_reader']);
    expect(human.stdout).toContain('broker-a 1: CG_reader has no committed offset on this queue: skipped');
    const mixed = await local(['consumeMessage', '-t', TOPIC, '-g', 'CG_reader', '-s', 'now']);
    expect(mixed.code).toBe(2);
    expectOneLineError(mixed.stderr);
    const one = await local(['consumeMessage', '-t', TOPIC, '-b', 'broker-a', '-i', '0', '-o', '3']);
    expect(one.stdout).toContain('BODY: m3');
    expect(one.stdout).toContain('1 message(s)');
  });

  it('gives one line and the documented exit code for bad input and an unreachable broker', async () => {
    const noBroker = await runCli(['sendMessage', '-t', TOPIC, '-p', 'x', '--socket', '/nonexistent/broker.sock'], { env: ENV });
    expect(noBroker.code).toBe(1);
    expectOneLineError(noBroker.stderr);
    expect(noBroker.stderr).toContain('rocketctl broker start');
    const qidNoBroker = await local(['sendMessage', '-t', TOPIC, '-p', 'x', '-i', '1']);
    expect(qidNoBroker.code).toBe(2);
    const noQueue = await local(['consumeMessage', '-t', TOPIC, '-b', 'no-such-broker', '--json']);
    expect(noQueue.code).toBe(1);
    expectErrorEnvelope(JSON.parse(noQueue.stdout.trim().split('\n').pop()!), 1);
    const closed = await runCli(['consumeMessage', '-t', TOPIC, '-n', '127.0.0.1:1', '--timeout', '1000'], { env: ENV });
    expect(closed.code).toBe(1);
    expectOneLineError(closed.stderr);
  });
});
