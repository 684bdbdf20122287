import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RemotingServer, type RemotingServerOptions } from '../../src/remoting/server.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { encodeFrame, makeRequest, makeResponse } from '../../src/protocol/frame.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function start(opts: Partial<RemotingServerOptions> = {}) {
  const server = new RemotingServer({ name: 'test', maxFrameBytes: 64 * 1024, ...opts });
  server.register(34, (req) => makeResponse(req, 0, 'hb'));
  const addr = await server.listen({ host: '127.0.0.1', port: 0 });
  const client = new RemotingClient();
  cleanups.push(() => client.close(), () => server.close());
  return { server, addr, client };
}

/** A raw connection to `addr`, and a promise that settles when the server closes it. */
async function rawConnection(addr: string): Promise<{ sock: net.Socket; closed: Promise<void> }> {
  const [host, port] = addr.split(':');
  const sock = net.createConnection({ host, port: Number(port) });
  sock.on('error', () => {});
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  await new Promise((r) => sock.once('connect', r));
  sock.resume();
  cleanups.push(async () => void sock.destroy());
  return { sock, closed };
}

/** Requests answered on `sock` in order: does a heartbeat get its answer? */
function answers(sock: net.Socket): Promise<boolean> {
  return new Promise((resolve) => {
    sock.once('data', () => resolve(true));
    sock.once('close', () => resolve(false));
    sock.write(encodeFrame(makeRequest(34)));
  });
}

/** Wait (at most 2 s) until `cond` holds, then assert it. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

describe('RemotingServer', () => {
  it('closes connections past maxConnections at once, logs it once, and accepts again when one leaves', async () => {
    const lines: string[] = [];
    const { addr, server } = await start({ maxConnections: 3, logger: { info() {}, warn: (m) => lines.push(m), error() {} } });
    const kept = [await rawConnection(addr), await rawConnection(addr), await rawConnection(addr)];
    const over = [await rawConnection(addr), await rawConnection(addr)];
    await Promise.all(over.map((c) => c.closed));
    expect(server.refusedConnections).toBe(2);
    expect(lines).toEqual(['test: closing new connections: 3 connections open (maxConnections) (1 closed since the last line; 1 in all)']);
    for (const k of kept) expect(await answers(k.sock)).toBe(true);
    kept[0]!.sock.destroy();
    // The server sees the close a moment after the client: try again, a bounded number of times.
    let accepted = false;
    for (let i = 0; i < 100 && !accepted; i++) accepted = await answers((await rawConnection(addr)).sock);
    expect(accepted).toBe(true);
  });

  it('over maxPendingFrameBytes, closes the connection holding the largest unfinished frame', async () => {
    const { addr, server, client } = await start({ maxPendingFrameBytes: 100 * 1024 });
    /** The first `sent` bytes of a 60 KiB frame. */
    const partial = (sent: number) => {
      const b = Buffer.alloc(sent);
      b.writeInt32BE(60 * 1024, 0);
      return b;
    };
    const conns = [await rawConnection(addr), await rawConnection(addr), await rawConnection(addr)];
    const sizes = [40 * 1024, 50 * 1024, 30 * 1024];
    for (let i = 0; i < 2; i++) conns[i]!.sock.write(partial(sizes[i]!));
    // Bounded: the server has both once its total says so.
    await until(() => server.pendingFrameBytes === 90 * 1024);
    conns[2]!.sock.write(partial(sizes[2]!));
    await conns[1]!.closed;
    expect(server.evictedConnections).toBe(1);
    expect(conns[0]!.sock.destroyed).toBe(false);
    expect(conns[2]!.sock.destroyed).toBe(false);
    expect((await client.invoke(addr, makeRequest(34))).remark).toBe('hb');
    await until(() => server.pendingFrameBytes === 70 * 1024);
    for (const c of [conns[0]!, conns[2]!]) c.sock.destroy();
    await until(() => server.pendingFrameBytes === 0);
  });

  it('closes connections past maxConnectionsPerAddress from one IP address', async () => {
    const { addr, server } = await start({ maxConnectionsPerAddress: 2 });
    const kept = [await rawConnection(addr), await rawConnection(addr)];
    const over = await rawConnection(addr);
    await over.closed;
    expect(server.refusedConnections).toBe(1);
    for (const k of kept) expect(await answers(k.sock)).toBe(true);
  });

  it('answers unknown codes with REQUEST_CODE_NOT_SUPPORTED (3)', async () => {
    const { addr, client } = await start();
    const res = await client.invoke(addr, makeRequest(9999));
    expect(res.code).toBe(3);
    expect(res.remark).toContain('9999');
  });

  it('closes only the connection that sent a malformed frame', async () => {
    const { addr, client } = await start();
    const [host, port] = addr.split(':');
    const bad = net.createConnection({ host, port: Number(port) });
    await new Promise((r) => bad.once('connect', r));
    const closed = new Promise((r) => bad.once('close', r));
    const junk = Buffer.alloc(12);
    junk.writeInt32BE(8, 0);
    junk.writeInt32BE(100, 4); // header length beyond the frame
    bad.write(junk);
    await closed;
    expect((await client.invoke(addr, makeRequest(34))).remark).toBe('hb');
  });

  it('closes a connection announcing an oversized frame', async () => {
    const { addr, client } = await start();
    const [host, port] = addr.split(':');
    const bad = net.createConnection({ host, port: Number(port) });
    await new Promise((r) => bad.once('connect', r));
    const closed = new Promise((r) => bad.once('close', r));
    const big = Buffer.alloc(4);
    big.writeInt32BE(1024 * 1024, 0);
    bad.write(big);
    await closed;
    expect((await client.invoke(addr, makeRequest(34))).code).toBe(0);
  });

  it('answers SYSTEM_ERROR when a handler throws', async () => {
    const { server, addr, client } = await start();
    server.register(35, () => {
      throw new Error('boom');
    });
    const res = await client.invoke(addr, makeRequest(35));
    expect(res).toMatchObject({ code: 1, remark: 'boom' });
  });
});
