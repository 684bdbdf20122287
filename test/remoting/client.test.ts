import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RemotingClient } from '../../src/remoting/client.js';
import { BrokerUnreachableError, TimeoutError } from '../../src/errors/index.js';
import { decodeFrame, encodeFrame, FrameDecoder, makeRequest, makeResponse, type RemotingCommand } from '../../src/protocol/frame.js';

// A minimal peer that speaks frames: answers each request with its code as the response remark,
// delaying by extFields.delayMs, so responses can come back out of order.
function startPeer(listen: net.ListenOptions, onConn?: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer((sock) => {
    const dec = new FrameDecoder();
    onConn?.(sock);
    sock.on('data', (chunk) => {
      for (const f of dec.push(chunk)) {
        const req = decodeFrame(f);
        if (req.flag & 1) continue;
        const delay = Number(req.extFields?.delayMs ?? 0);
        if (delay < 0) continue; // never answer
        setTimeout(() => sock.write(encodeFrame(makeResponse(req, 0, `echo ${req.code}`))), delay);
      }
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(listen, () => resolve(server)));
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function addrOf(s: net.Server): string {
  const a = s.address() as net.AddressInfo;
  return `127.0.0.1:${a.port}`;
}

describe('RemotingClient', () => {
  it('pipelines requests and matches out-of-order responses by opaque', async () => {
    const server = await startPeer({ port: 0, host: '127.0.0.1' });
    const client = new RemotingClient();
    cleanups.push(() => client.close(), () => void server.close());
    const [slow, fast] = await Promise.all([
      client.invoke(addrOf(server), makeRequest(11, { delayMs: 150 })),
      client.invoke(addrOf(server), makeRequest(12, { delayMs: 0 })),
    ]);
    expect(slow.remark).toBe('echo 11');
    expect(fast.remark).toBe('echo 12');
  });

  it('times out one request without breaking the connection', async () => {
    const server = await startPeer({ port: 0, host: '127.0.0.1' });
    const client = new RemotingClient();
    cleanups.push(() => client.close(), () => void server.close());
    await expect(client.invoke(addrOf(server), makeRequest(11, { delayMs: -1 }), 100)).rejects.toBeInstanceOf(TimeoutError);
    expect((await client.invoke(addrOf(server), makeRequest(14))).remark).toBe('echo 14');
  });

  it('reports an unreachable address as BrokerUnreachableError', async () => {
    const server = await startPeer({ port: 0, host: '127.0.0.1' });
    const addr = addrOf(server);
    await new Promise<void>((r) => server.close(() => r()));
    const client = new RemotingClient();
    cleanups.push(() => client.close());
    await expect(client.invoke(addr, makeRequest(105), 1000)).rejects.toBeInstanceOf(BrokerUnreachableError);
  });

  it('talks over a Unix socket path', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-'));
    const sock = path.join(dir, 'broker.sock');
    const server = await startPeer({ path: sock });
    const client = new RemotingClient();
    cleanups.push(() => client.close(), () => void server.close(), () => fs.rmSync(dir, { recursive: true, force: true }));
    expect((await client.invoke(sock, makeRequest(106))).remark).toBe('echo 106');
  });

  it('answers server-initiated requests through the hook, and unknown ones with code 3', async () => {
    let peerSock: net.Socket | undefined;
    const server = await startPeer({ port: 0, host: '127.0.0.1' }, (s) => (peerSock = s));
    const seen: RemotingCommand[] = [];
    const client = new RemotingClient({
      onServerRequest: (cmd) => {
        seen.push(cmd);
        return cmd.code === 307 ? makeResponse(cmd, 0, 'running info') : undefined;
      },
    });
    cleanups.push(() => client.close(), () => void server.close());
    await client.invoke(addrOf(server), makeRequest(34));
    const replies: RemotingCommand[] = [];
    const dec = new FrameDecoder();
    peerSock!.on('data', (c) => dec.push(c).forEach((f) => replies.push(decodeFrame(f))));
    peerSock!.write(encodeFrame({ ...makeRequest(307), opaque: 500 }));
    peerSock!.write(encodeFrame({ ...makeRequest(999), opaque: 501 }));
    for (let i = 0; i < 100 && replies.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(replies.map((r) => [r.opaque, r.code, r.flag & 1])).toEqual([
      [500, 0, 1],
      [501, 3, 1],
    ]);
    expect(seen.map((s) => s.code)).toEqual([307, 999]);
  });
});

describe('RemotingClient aliases', () => {
  it('sends requests for an aliased address to its target (TCP name → Unix socket)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-'));
    const sock = path.join(dir, 'broker.sock');
    const server = await startPeer({ path: sock });
    const client = new RemotingClient();
    cleanups.push(() => client.close(), () => void server.close(), () => fs.rmSync(dir, { recursive: true, force: true }));
    client.setAlias('127.0.0.1:1', sock); // nothing listens on port 1
    expect((await client.invoke('127.0.0.1:1', makeRequest(202))).remark).toBe('echo 202');
  });
});
