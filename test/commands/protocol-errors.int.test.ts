/**
 * Peers that do not speak RocketMQ, on 127.0.0.1: one answers every request SUCCESS with a body that
 * is not RocketMQ JSON, others send bytes that are not remoting frames. Those are the peer's fault:
 * one line naming the peer, exit 1 (E_PROTOCOL), never "internal error, this is a bug" (exit 10).
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BodyFormatError } from '../../src/protocol/fastjson.js';
import { FrameDecoder, decodeFrame, encodeFrame, makeResponse } from '../../src/protocol/frame.js';
import { toRocketError } from '../../src/output/base-command.js';
import { expectErrorEnvelope, expectOneLineError, runCli } from '../helpers/cli.js';

type Answer = (req: Buffer, socket: net.Socket) => void;

const peers: net.Server[] = [];

async function peer(answer: Answer): Promise<string> {
  const server = net.createServer((s) => {
    const decoder = new FrameDecoder();
    s.on('error', () => undefined);
    s.on('data', (d) => {
      for (const f of decoder.push(d)) answer(f, s);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  peers.push(server);
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

let notJson: string;
let http: string;
let badHeader: string;

beforeAll(async () => {
  notJson = await peer((f, s) => s.write(encodeFrame(makeResponse(decodeFrame(f), 0, undefined, {}, Buffer.from('<html>hello</html>')))));
  http = await peer((_f, s) => s.write('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
  // A frame of plausible length whose header is not JSON.
  badHeader = await peer((_f, s) => {
    const header = Buffer.from('this is not a header');
    const frame = Buffer.alloc(8 + header.length);
    frame.writeInt32BE(4 + header.length, 0);
    frame.writeInt32BE(header.length, 4);
    header.copy(frame, 8);
    s.write(frame);
  });
});

afterAll(async () => {
  for (const s of peers) await new Promise<void>((r) => s.close(() => r()));
});

describe('a peer that answers SUCCESS with a body that is not RocketMQ JSON', () => {
  it.each([
    ['clusterList', (a: string) => ['clusterList', '-n', a]],
    ['topicList', (a: string) => ['topicList', '-n', a]],
    ['topicStatus', (a: string) => ['topicStatus', '-t', 'T', '-n', a]],
    ['consumerProgress', (a: string) => ['consumerProgress', '-n', a]],
    ['brokerStatus -b', (a: string) => ['brokerStatus', '-n', a, '-b', a]],
  ])('%s: "not a RocketMQ reply", exit 1', async (_name, args) => {
    const r = await runCli(args(notJson));
    expect(r.code, r.stderr).toBe(1);
    expectOneLineError(r.stderr);
    expect(r.stderr).toContain(`the answer of ${notJson} is not a RocketMQ reply`);
    expect(r.stderr).not.toContain('bug');
    const j = await runCli([...args(notJson), '--json']);
    expectErrorEnvelope(j.json, 1);
    expect(j.json.code).toBe('E_PROTOCOL');
  });

  it('where the peer is not known, the answer is still not a bug', () => {
    const e = toRocketError(new BodyFormatError('ConsumeStats: fastjson: unexpected "<" at position 0'));
    expect([e.code, e.exitCode, e.message]).toEqual(['E_PROTOCOL', 1, 'an answer is not a RocketMQ reply (ConsumeStats: fastjson: unexpected "<" at position 0)']);
  });
});

describe('a peer that sends bytes that are not RocketMQ remoting frames', () => {
  it.each([
    ['an HTTP answer', () => http],
    ['a frame whose header is not JSON', () => badHeader],
  ])('%s: "not RocketMQ remoting", exit 1', async (_name, addr) => {
    for (const args of [['clusterList', '-n', addr()], ['brokerStatus', '-n', addr(), '-b', addr()]]) {
      const r = await runCli(args);
      expect(r.code, r.stderr).toBe(1);
      expectOneLineError(r.stderr);
      expect(r.stderr).toContain(`${addr()} sent something that is not RocketMQ remoting`);
      const j = await runCli([...args, '--json']);
      expectErrorEnvelope(j.json, 1);
      expect(j.json.code).toBe('E_PROTOCOL');
    }
  });
});
