/**
 * Where admin commands send their requests: name servers given with -n / NAMESRV_ADDR (ours or
 * Apache's), or by default the local rocketctl broker's Unix socket, which serves both the name
 * server and the broker request codes. Over the socket, the broker's advertised TCP address is
 * aliased to the socket, so every request stays local.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BrokerUnreachableError, RocketError } from '../errors/index.js';
import { RequestCode } from '../protocol/codes.js';
import { decodeKVTable } from '../protocol/bodies.js';
import { makeRequest, bodyBuffer } from '../protocol/frame.js';
import { RemotingClient } from './remoting.js';

/** Same default as the broker's store (`~/.rocketctl/store`); the socket lives inside it. */
export const DEFAULT_LOCAL_SOCKET = path.join(os.homedir(), '.rocketctl', 'store', 'broker.sock');

export interface AdminTargetOptions {
  /** "host:9876;host2:9876"; when set the socket is not used. */
  namesrvAddr?: string;
  /** Unix socket of a local broker (default DEFAULT_LOCAL_SOCKET, or $ROCKETCTL_SOCKET). */
  socket?: string;
  timeoutMs: number;
}

export interface AdminSession {
  client: RemotingClient;
  /** Addresses answering name server requests, tried in order. */
  namesrvAddrs: string[];
  /** Human description of the target, for messages ("name server 10.0.0.1:9876"). */
  target: string;
  timeoutMs: number;
  close(): Promise<void>;
}

export function parseNamesrvList(s: string): string[] {
  return s
    .split(/[;,]/)
    .map((a) => a.trim())
    .filter((a) => a.length > 0);
}

export async function openAdminSession(opts: AdminTargetOptions): Promise<AdminSession> {
  const client = new RemotingClient({ requestTimeoutMs: opts.timeoutMs, connectTimeoutMs: opts.timeoutMs });
  const close = () => client.close();
  if (opts.namesrvAddr && opts.namesrvAddr.trim()) {
    const addrs = parseNamesrvList(opts.namesrvAddr);
    if (addrs.length === 0) throw new RocketError('empty name server address list', { code: 'E_USAGE', exitCode: 2 });
    return { client, namesrvAddrs: addrs, target: `name server ${addrs.join(';')}`, timeoutMs: opts.timeoutMs, close };
  }
  const socket = opts.socket || process.env.ROCKETCTL_SOCKET || DEFAULT_LOCAL_SOCKET;
  if (!fs.existsSync(socket)) {
    await close();
    throw new BrokerUnreachableError(`the local broker (no socket at ${socket})`);
  }
  // Learn the broker's advertised address so routes naming it are served over the socket too.
  try {
    const res = await client.invoke(socket, makeRequest(RequestCode.GET_BROKER_RUNTIME_INFO), opts.timeoutMs);
    if (res.code === 0 && res.body) {
      const kv = decodeKVTable(bodyBuffer(res));
      if (kv.brokerAddr) client.setAlias(kv.brokerAddr, socket);
      if (kv.brokerAddrFast) client.setAlias(kv.brokerAddrFast, socket);
    }
  } catch (err) {
    await close();
    if (err instanceof BrokerUnreachableError) throw new BrokerUnreachableError(`the local broker at ${socket}`, err.cause);
    throw err;
  }
  return { client, namesrvAddrs: [socket], target: `local broker ${socket}`, timeoutMs: opts.timeoutMs, close };
}
