/**
 * Where admin commands send their requests: name servers given with -n / NAMESRV_ADDR (ours or
 * Apache's), or by default the local rocketctl broker's Unix socket, which serves both the name
 * server and the broker request codes. Over the socket, the broker's advertised TCP address is
 * aliased to the socket, so every request stays local.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RemotingClient, ConnectionClosedError } from '../remoting/client.js';
import { makeRequest, bodyBuffer, RemotingCommand } from '../protocol/frame.js';
import { RequestCode, COMMAND_FIELD } from '../protocol/codes.js';
import { decodeKVTable } from '../protocol/bodies.js';
import type { Credentials } from '../protocol/acl-sign.js';
import { RocketError, BrokerUnreachableError, TimeoutError, UsageError } from '../errors/index.js';

/** Same default as the broker's store (`~/.rocketctl/store`); the socket lives inside it. */
export const DEFAULT_LOCAL_SOCKET = path.join(os.homedir(), '.rocketctl', 'store', 'broker.sock');

export interface AdminTargetOptions {
  /** "host:9876;host2:9876"; when set the socket is not used. */
  namesrvAddr?: string;
  /** Unix socket of a local broker (default DEFAULT_LOCAL_SOCKET, or $ROCKETCTL_SOCKET). */
  socket?: string;
  /**
   * -b host:port of a command that takes a broker address: without -n and --socket, that broker is
   * talked to directly, as mqadmin does (no name server and no local socket needed).
   */
  brokerAddr?: string;
  timeoutMs: number;
  /** Sign requests for brokers with ACL on (RocketMQ plain ACL). */
  credentials?: Credentials;
  /** The rocketctl command making the requests: named in each (COMMAND_FIELD) for the broker's audit log. */
  command?: string;
}

export interface AdminSession {
  client: RemotingClient;
  /** Addresses answering name server requests, tried in order (none for a -b session). */
  namesrvAddrs: string[];
  /** Human description of the target, for messages ("name server 10.0.0.1:9876"). */
  target: string;
  timeoutMs: number;
  /** See AdminTargetOptions.command. */
  command?: string;
  close(): Promise<void>;
}

export function parseNamesrvList(s: string): string[] {
  return s
    .split(/[;,]/)
    .map((a) => a.trim())
    .filter((a) => a.length > 0);
}

export async function openAdminSession(opts: AdminTargetOptions): Promise<AdminSession> {
  const client = new RemotingClient({ requestTimeoutMs: opts.timeoutMs, connectTimeoutMs: opts.timeoutMs, credentials: opts.credentials });
  const close = () => client.close();
  const command = opts.command;
  if (opts.namesrvAddr && opts.namesrvAddr.trim()) {
    const addrs = parseNamesrvList(opts.namesrvAddr);
    if (addrs.length === 0) throw new UsageError('empty name server address list');
    return { client, namesrvAddrs: addrs, target: `name server ${addrs.join(';')}`, timeoutMs: opts.timeoutMs, command, close };
  }
  if (opts.brokerAddr && !opts.socket) {
    return { client, namesrvAddrs: [], target: `broker ${opts.brokerAddr}`, timeoutMs: opts.timeoutMs, command, close };
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
  return { client, namesrvAddrs: [socket], target: `local broker ${socket}`, timeoutMs: opts.timeoutMs, command, close };
}

// ---- addresses that do not answer -----------------------------------------------------------------

/**
 * How long an address that gave no answer at all is not asked again in a session. A command run
 * (one session) then waits one --timeout for a dead broker, not one per group or message it asks
 * about; a long-lived session asks again after this.
 */
export const UNRESPONSIVE_MEMORY_MS = 30_000;

/** Per session: addresses that did not answer, with their first error and when. */
const unresponsive = new WeakMap<AdminSession, Map<string, { err: RocketError; at: number }>>();

/** No answer at all (as opposed to an answer that says no): asking again would wait as long. */
export function noAnswer(err: unknown): err is RocketError {
  return err instanceof TimeoutError || err instanceof BrokerUnreachableError || err instanceof ConnectionClosedError;
}

/**
 * Send `req` to `addr` with the session's timeout, unless `addr` already gave no answer in this
 * session (within UNRESPONSIVE_MEMORY_MS): then fail at once with that error. Requests in flight
 * together still wait together, once. Every admin request to a broker goes through here.
 */
export async function sessionInvoke(session: AdminSession, addr: string, req: RemotingCommand): Promise<RemotingCommand> {
  const known = unresponsive.get(session)?.get(addr);
  if (known !== undefined && Date.now() - known.at < UNRESPONSIVE_MEMORY_MS) {
    // The same kind of error (callers tell "unreachable" from "timed out" by class), marked as a repeat.
    const again: RocketError = Object.assign(Object.create(Object.getPrototypeOf(known.err) as object) as RocketError, known.err);
    again.message = `${known.err.message} (earlier; not asked again)`;
    again.stack = `${again.name}: ${again.message}`;
    throw again;
  }
  if (session.command !== undefined) req.extFields = { ...req.extFields, [COMMAND_FIELD]: session.command };
  try {
    return await session.client.invoke(addr, req, session.timeoutMs);
  } catch (e) {
    const err = noAnswer(e) ? asClusterMemberError(session, addr, e) : e;
    if (noAnswer(err)) {
      let m = unresponsive.get(session);
      if (!m) unresponsive.set(session, (m = new Map()));
      if (!m.has(addr) || Date.now() - m.get(addr)!.at >= UNRESPONSIVE_MEMORY_MS) m.set(addr, { err, at: Date.now() });
    }
    throw err;
  }
}

/**
 * A broker of a cluster reached through -n that did not answer: "start a local broker" (the hint
 * for an unreachable target) does not help there; say how to look at that broker instead.
 */
function asClusterMemberError(session: AdminSession, addr: string, err: RocketError): RocketError {
  if (!session.target.startsWith('name server') || session.namesrvAddrs.includes(addr)) return err;
  const out: RocketError = Object.assign(Object.create(Object.getPrototypeOf(err) as object) as RocketError, err);
  Object.defineProperty(out, 'message', { value: err.message, writable: true, configurable: true });
  Object.defineProperty(out, 'actions', {
    value: [
      `broker ${addr} of the cluster did not answer: see its state with rocketctl clusterList -n ${session.namesrvAddrs.join(';')}`,
      'a broker that is only slow may need a larger --timeout',
    ],
  });
  return out;
}


/** Open a session, run `fn`, and always close it (so the process can exit). */
export async function withAdminSession<T>(opts: AdminTargetOptions, fn: (s: AdminSession) => Promise<T>): Promise<T> {
  const s = await openAdminSession(opts);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}
