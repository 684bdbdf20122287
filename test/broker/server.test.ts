import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RemotingServer } from '../../src/broker/server.js';
import { RemotingClient } from '../../src/client/remoting.js';
import { makeRequest, makeResponse } from '../../src/protocol/frame.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function start() {
  const server = new RemotingServer({ name: 'test', maxFrameBytes: 64 * 1024 });
  server.register(34, (req) => makeResponse(req, 0, 'hb'));
  const addr = await server.listen({ host: '127.0.0.1', port: 0 });
  const client = new RemotingClient();
  cleanups.push(() => client.close(), () => server.close());
  return { server, addr, client };
}

describe('RemotingServer', () => {
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
