/**
 * The remoting client: one connection per address (TCP "host:port", "[v6]:port", or a Unix socket
 * path), requests pipelined and matched by opaque, a timeout per request, reconnect with bounded
 * backoff, and a hook for requests the broker initiates (NOTIFY_CONSUMER_IDS_CHANGED, ...).
 *
 * Per connection: frames written in one tick go out in one socket write (FrameWriter), and one
 * timer, armed for the earliest deadline among the requests in flight, enforces every timeout.
 */
import net from 'node:net';
import {
  decodeFrame,
  FLAG_ONEWAY,
  FLAG_RESPONSE,
  FrameDecoder,
  FrameWriter,
  isOneway,
  type RemotingCommand,
  type SerializeType,
  DEFAULT_MAX_FRAME_BYTES,
} from '../protocol/frame.js';
import { requestCodeName, MQ_VERSION_V4_9_8 } from '../protocol/codes.js';
import { BrokerUnreachableError, ProtocolError, RocketError, TimeoutError, UsageError } from '../errors/index.js';
import { signRequest, type Credentials } from '../protocol/acl-sign.js';

type ServerRequestHandler = (
  cmd: RemotingCommand,
  address: string,
) => RemotingCommand | undefined | Promise<RemotingCommand | undefined>;

interface RemotingClientOptions {
  connectTimeoutMs?: number;
  /** Default per-request timeout (mqClientApiTimeout 3000). */
  requestTimeoutMs?: number;
  maxFrameBytes?: number;
  /** Requests the server sends us (broker → client). */
  onServerRequest?: ServerRequestHandler;
  version?: number;
  language?: string;
  /** Called when a connection to an address closes (consumers re-route on it). */
  onDisconnect?: (address: string) => void;
  /**
   * Header encoding of the requests sent (responses come back in the same one): JSON (Java's
   * default) or ROCKETMQ binary (RocketMQSerializable; cheaper to encode and decode).
   */
  serializeType?: SerializeType;
  /**
   * Sign every request with these (RocketMQ plain ACL, as AclClientRPCHook), for brokers running
   * with aclEnable=true. Name servers ignore the extra header fields.
   */
  credentials?: Credentials;
}

/** Backoff between reconnect attempts to one address: 100 ms doubling up to this cap. */
const RECONNECT_BACKOFF_MAX_MS = 5_000;

export class ConnectionClosedError extends RocketError {
  constructor(address: string) {
    super(`connection to ${address} closed before the response arrived`, { code: 'E_CONNECTION_CLOSED' });
  }
}

export class RemotingClient {
  private readonly conns = new Map<string, Connection>();
  private readonly failures = new Map<string, { count: number; at: number }>();
  /** address → where to actually connect (e.g. our broker's TCP address → its local Unix socket). */
  private readonly aliases = new Map<string, string>();
  private opaque = 1;
  private closed = false;
  readonly opts: Required<Omit<RemotingClientOptions, 'onServerRequest' | 'onDisconnect' | 'serializeType' | 'credentials'>> &
    Pick<RemotingClientOptions, 'onServerRequest' | 'onDisconnect' | 'serializeType'>;
  /** Kept out of `opts` (which callers may log or print); never shown. */
  readonly #credentials: Credentials | undefined;

  constructor(opts: RemotingClientOptions = {}) {
    this.opts = {
      connectTimeoutMs: opts.connectTimeoutMs ?? 3000,
      requestTimeoutMs: opts.requestTimeoutMs ?? 3000,
      maxFrameBytes: opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      version: opts.version ?? MQ_VERSION_V4_9_8,
      language: opts.language ?? 'JAVA',
      onServerRequest: opts.onServerRequest,
      onDisconnect: opts.onDisconnect,
      serializeType: opts.serializeType,
    };
    this.#credentials = opts.credentials;
  }

  /**
   * Route requests for `address` to `target` instead. Admin commands use it to reach a local
   * broker over its Unix socket even when routes name the broker's TCP address.
   */
  setAlias(address: string, target: string): void {
    if (address !== target) this.aliases.set(address, target);
  }

  resolve(address: string): string {
    return this.aliases.get(address) ?? address;
  }

  nextOpaque(): number {
    // Keep opaque a positive int32; wrap long before overflow.
    const o = this.opaque;
    this.opaque = this.opaque >= 0x7fffffff ? 1 : this.opaque + 1;
    return o;
  }

  /** Send a request and wait for its response (any response code; callers check `code`). */
  invoke(address: string, req: RemotingCommand, timeoutMs = this.opts.requestTimeoutMs): Promise<RemotingCommand> {
    // Fast path: an open connection, no promise until the request's own.
    const conn = this.closed ? undefined : this.conns.get(this.resolve(address));
    if (conn && conn.isOpen()) return conn.request(this.prepare(req, req.flag & ~FLAG_RESPONSE & ~FLAG_ONEWAY), Math.max(1, timeoutMs));
    return this.invokeConnecting(address, req, timeoutMs);
  }

  private async invokeConnecting(address: string, req: RemotingCommand, timeoutMs: number): Promise<RemotingCommand> {
    const deadline = Date.now() + timeoutMs;
    const conn = await this.connection(address, deadline);
    return conn.request(this.prepare(req, req.flag & ~FLAG_RESPONSE & ~FLAG_ONEWAY), Math.max(1, deadline - Date.now()));
  }

  /** The request as sent: its opaque, flag, version, header encoding, and signature. */
  private prepare(req: RemotingCommand, flag: number): RemotingCommand {
    const cmd: RemotingCommand = { ...req, opaque: this.nextOpaque(), flag };
    cmd.version = req.version || this.opts.version;
    if (this.opts.serializeType) cmd.serializeType = this.opts.serializeType;
    return this.#credentials ? signRequest(cmd, this.#credentials) : cmd;
  }

  /** Send a oneway request (no response expected). Resolves once written to the socket. */
  async invokeOneway(address: string, req: RemotingCommand, timeoutMs = this.opts.requestTimeoutMs): Promise<void> {
    const conn = await this.connection(address, Date.now() + timeoutMs);
    conn.send(this.prepare(req, (req.flag | FLAG_ONEWAY) & ~FLAG_RESPONSE));
  }

  /** Is there an open connection to this address right now? */
  isConnected(address: string): boolean {
    return this.conns.get(address)?.isOpen() ?? false;
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.conns.values()];
    this.conns.clear();
    await Promise.all(all.map((c) => c.close()));
  }

  private async connection(requested: string, deadline: number): Promise<Connection> {
    const address = this.resolve(requested);
    if (this.closed) throw new RocketError('the client is closed', { code: 'E_CLIENT_CLOSED' });
    const existing = this.conns.get(address);
    if (existing && !existing.isDead()) return existing.ready(deadline);
    // Bounded backoff after failures: wait (within the caller's deadline) before dialling again.
    const f = this.failures.get(address);
    if (f) {
      const waitMs = Math.min(RECONNECT_BACKOFF_MAX_MS, 100 * 2 ** Math.min(f.count - 1, 6)) - (Date.now() - f.at);
      if (waitMs > 0) {
        if (Date.now() + waitMs > deadline) throw new BrokerUnreachableError(address);
        await sleep(waitMs);
      }
    }
    const conn = new Connection(address, this);
    this.conns.set(address, conn);
    try {
      await conn.ready(Math.min(deadline, Date.now() + this.opts.connectTimeoutMs));
      this.failures.delete(address);
      return conn;
    } catch (err) {
      if (this.conns.get(address) === conn) this.conns.delete(address);
      const prev = this.failures.get(address);
      this.failures.set(address, { count: (prev?.count ?? 0) + 1, at: Date.now() });
      throw err;
    }
  }

  /** @internal */
  forget(address: string, conn: Connection): void {
    if (this.conns.get(address) === conn) this.conns.delete(address);
    this.opts.onDisconnect?.(address);
  }
}

interface Pending {
  resolve: (c: RemotingCommand) => void;
  reject: (e: Error) => void;
  /** Date.now() at which the request times out. */
  deadline: number;
  timeoutMs: number;
  code: number;
}

/** Is this address a Unix socket path rather than host:port? */
export function isSocketPath(address: string): boolean {
  return address.includes('/') || address.endsWith('.sock');
}

function parseHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  let host = i > 0 ? address.slice(0, i) : address;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const port = Number(address.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new UsageError(`not a broker address: ${address} (expected host:port or a socket path)`);
  }
  return { host, port };
}

class Connection {
  private readonly socket: net.Socket;
  private readonly decoder: FrameDecoder;
  private readonly writer: FrameWriter;
  /** In flight, by opaque (insertion order: roughly by deadline). */
  private readonly pending = new Map<number, Pending>();
  /** The one timeout timer, and the deadline it is armed for. */
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private connected = false;
  private dead = false;
  /** Why the connection was cut by us: the peer sent something that is not RocketMQ remoting. */
  private protocolError: ProtocolError | undefined;
  private readonly connectPromise: Promise<void>;

  constructor(
    readonly address: string,
    private readonly client: RemotingClient,
  ) {
    this.decoder = new FrameDecoder(client.opts.maxFrameBytes);
    this.socket = isSocketPath(address) ? net.createConnection({ path: address }) : net.createConnection(parseHostPort(address));
    this.socket.setNoDelay(true);
    this.writer = new FrameWriter(this.socket);
    this.connectPromise = new Promise<void>((resolve, reject) => {
      this.socket.once('connect', () => {
        this.connected = true;
        resolve();
      });
      this.socket.once('error', (err) => {
        if (!this.connected) reject(new BrokerUnreachableError(address, err));
      });
    });
    this.connectPromise.catch(() => {});
    this.socket.on('data', (chunk) => this.onData(chunk));
    this.socket.on('error', () => {});
    this.socket.on('close', () => this.onClose());
  }

  isOpen(): boolean {
    return this.connected && !this.dead;
  }

  isDead(): boolean {
    return this.dead;
  }

  async ready(deadline: number): Promise<this> {
    if (this.connected) return this;
    const waitMs = deadline - Date.now();
    if (waitMs <= 0) throw new BrokerUnreachableError(this.address, { code: 'ETIMEDOUT' });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.connectPromise,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new BrokerUnreachableError(this.address, { code: 'ETIMEDOUT' })), waitMs);
        }),
      ]);
    } catch (err) {
      this.socket.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return this;
  }

  request(cmd: RemotingCommand, timeoutMs: number): Promise<RemotingCommand> {
    return new Promise<RemotingCommand>((resolve, reject) => {
      if (this.dead) return reject(new ConnectionClosedError(this.address));
      this.send(cmd);
      const deadline = Date.now() + timeoutMs;
      this.pending.set(cmd.opaque, { resolve, reject, deadline, timeoutMs, code: cmd.code });
      if (deadline < this.timerAt) this.armTimer(deadline);
    });
  }

  send(cmd: RemotingCommand): void {
    if (this.dead) throw new ConnectionClosedError(this.address);
    this.writer.write(cmd);
  }

  private armTimer(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.onTimer, Math.max(1, at - Date.now()));
  }

  private disarmTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  /** Reject every request past its deadline; re-arm for the earliest one left. */
  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = Date.now();
    let next = Infinity;
    const expired: Pending[] = [];
    for (const [opaque, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(opaque);
        expired.push(p);
      } else if (p.deadline < next) {
        next = p.deadline;
      }
    }
    if (next !== Infinity) this.armTimer(next);
    for (const p of expired) p.reject(new TimeoutError(`${requestCodeName(p.code)} to ${this.address}`, p.timeoutMs));
  };

  private onData(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.cut(err);
      return;
    }
    for (const f of frames) {
      let cmd: RemotingCommand;
      try {
        cmd = decodeFrame(f);
      } catch (err) {
        this.cut(err);
        return;
      }
      if (cmd.flag & FLAG_RESPONSE) {
        const p = this.pending.get(cmd.opaque);
        if (!p) continue; // late answer after a timeout: dropped, as Java does
        this.pending.delete(cmd.opaque);
        // Nothing left in flight: no timer keeps the process alive.
        if (this.pending.size === 0) this.disarmTimer();
        p.resolve(cmd);
      } else {
        void this.serveRequest(cmd);
      }
    }
  }

  /** Close after bytes that are not a RocketMQ frame; requests in flight fail with why. */
  private cut(err: unknown): void {
    const why = err instanceof Error ? err.message : String(err);
    this.protocolError = new ProtocolError(`${this.address} sent something that is not RocketMQ remoting (${why})`, err);
    this.socket.destroy();
  }

  private async serveRequest(cmd: RemotingCommand): Promise<void> {
    const handler = this.client.opts.onServerRequest;
    let res: RemotingCommand | undefined;
    try {
      res = handler ? await handler(cmd, this.address) : undefined;
    } catch {
      res = undefined;
    }
    if (isOneway(cmd) || this.dead) return;
    const reply: RemotingCommand = res ?? {
      code: 3, // REQUEST_CODE_NOT_SUPPORTED
      language: 'JAVA',
      version: this.client.opts.version,
      opaque: cmd.opaque,
      flag: FLAG_RESPONSE,
      remark: ` request type ${cmd.code} not supported`,
      extFields: {},
      serializeType: cmd.serializeType,
    };
    reply.opaque = cmd.opaque;
    reply.flag |= FLAG_RESPONSE;
    this.send(reply);
  }

  private onClose(): void {
    this.dead = true;
    this.disarmTimer();
    for (const [, p] of this.pending) {
      p.reject(this.protocolError ?? (this.connected ? new ConnectionClosedError(this.address) : new BrokerUnreachableError(this.address)));
    }
    this.pending.clear();
    this.client.forget(this.address, this);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      this.writer.flush();
      this.socket.destroy();
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
