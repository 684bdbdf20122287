/**
 * RemotingServer: the transport shared by the name server and the broker. One handler per request
 * code in one table (as aedes dispatches packets); unknown codes are answered
 * REQUEST_CODE_NOT_SUPPORTED (apache/rocketmq NettyRemotingAbstract.processRequestCommand — sent even for oneway requests, as Java does);
 * a malformed or oversized frame closes only that connection, with one log line.
 */
import fs from 'node:fs';
import net from 'node:net';
import {
  decodeFrame,
  FLAG_ONEWAY,
  FLAG_RESPONSE,
  FrameDecoder,
  FrameWriter,
  FrameError,
  isOneway,
  makeResponse,
  DEFAULT_MAX_FRAME_BYTES,
  type RemotingCommand,
} from '../protocol/frame.js';
import { requestCodeName, ResponseCode } from '../protocol/codes.js';
import { TimeoutError } from '../errors/index.js';

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/** A client connection as handlers see it. */
export interface ClientChannel {
  readonly id: number;
  /** "ip:port" for TCP, "unix:<n>" for the local socket. */
  readonly remoteAddress: string;
  /** From the last request's header (clients declare language/version on every frame). */
  language: string;
  version: number;
  isOpen(): boolean;
  /** Write a response (or a oneway request) now. */
  send(cmd: RemotingCommand): void;
  /** Broker → client request that expects an answer (e.g. GET_CONSUMER_RUNNING_INFO). */
  invoke(cmd: RemotingCommand, timeoutMs: number): Promise<RemotingCommand>;
  onClose(cb: () => void): void;
}

/**
 * Returns the response, or undefined for "no reply now" (oneway requests; long polling, where the
 * handler calls channel.send(makeResponse(req, ...)) later). Throwing answers SYSTEM_ERROR.
 */
export type RequestHandler = (
  req: RemotingCommand,
  channel: ClientChannel,
) => RemotingCommand | undefined | Promise<RemotingCommand | undefined>;

/**
 * Runs before every request, before its handler is looked up (as a server RPCHook's
 * doBeforeRequest): a response refuses the request (sent unless it is oneway), undefined lets it on.
 */
export type RequestGuard = (req: RemotingCommand, channel: ClientChannel) => RemotingCommand | undefined;

export interface RemotingServerOptions {
  name: string;
  guard?: RequestGuard;
  logger?: Logger;
  /** Largest frame accepted (default 16 MiB, com.rocketmq.remoting.frameMaxLength). */
  maxFrameBytes?: number;
  /** Requests being processed per connection before we stop reading from it (backpressure). */
  maxInFlightPerConnection?: number;
  /** Close connections idle this long (serverChannelMaxIdleTimeSeconds = 120 s). */
  idleTimeoutMs?: number;
  /** Bytes queued for a slow reader before the connection is dropped. */
  maxWriteBufferBytes?: number;
  /** Called once per request handled, with the response code sent, or a NOT_ANSWERED value. */
  onAnswered?: (requestCode: number, responseCode: number) => void;
  /** Connections this listener holds at most (DEFAULT_MAX_CONNECTIONS); one more is closed at once. */
  maxConnections?: number;
  /** Connections from one IP address this listener holds at most (DEFAULT_MAX_CONNECTIONS_PER_ADDRESS); not for a Unix socket. */
  maxConnectionsPerAddress?: number;
  /** Bytes of unfinished frames this listener buffers over all connections (DEFAULT_MAX_PENDING_FRAME_BYTES). */
  maxPendingFrameBytes?: number;
}

/**
 * Connection limits (rocketctl's; Apache's NettyRemotingServer accepts until the process runs out of
 * descriptors). Each connection costs a descriptor and its buffers, so a flood from one address
 * (or many) is cut off here instead of starving everyone: a Java client instance holds one
 * connection per broker, so a thousand from one address is far past any client's need, and ten
 * thousand per port is past what one broker serves well. Broker keys serverMaxConnections and
 * serverMaxConnectionsPerAddress change them.
 */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 1_000;
/**
 * A frame is buffered until it is whole, up to maxFrameBytes (16 MiB) per connection: without a
 * bound over all connections, a thousand connections each sending most of a large frame and then
 * nothing would hold gigabytes until the idle timeout. Past this many bytes of unfinished frames,
 * the connection holding the largest one is closed (a slow sender of a real large message may be
 * that one; it reconnects and resends). 64 producers each halfway through a 4 MiB message (Apache's
 * maxMessageSize) fit. Broker key serverMaxPendingFrameBytes changes it.
 */
export const DEFAULT_MAX_PENDING_FRAME_BYTES = 256 * 1024 * 1024;
/** At most one log line per listener this often about refused connections (with the count since). */
const CONNECTION_REFUSAL_LOG_INTERVAL_MS = 10_000;

/** onAnswered's response code when nothing was sent: a oneway request, or one parked (a long-polling pull, answered later). */
export const NOT_ANSWERED = { oneway: -1, suspended: -2 } as const;

export class RemotingServer {
  private readonly handlers = new Map<number, RequestHandler>();
  private readonly servers: net.Server[] = [];
  private readonly socketPaths: string[] = [];
  private readonly live = new Set<Channel>();
  /** Open TCP connections by remote IP (for maxConnectionsPerAddress). */
  private readonly perAddress = new Map<string, number>();
  /** Connections closed at accept for a limit, since start; and the last log line's time and count. */
  refusedConnections = 0;
  /** The last log line's time and the count since, per kind of closing (rate-limited apart). */
  private readonly closingLog = { refused: { at: 0, since: 0 }, evicted: { at: 0, since: 0 } };
  /** @internal Bytes of unfinished frames buffered over all connections (Channel keeps it current). */
  pendingFrameBytes = 0;
  /** Connections closed for holding the largest unfinished frame when over maxPendingFrameBytes. */
  evictedConnections = 0;
  private nextId = 1;
  readonly logger: Logger;
  readonly opts: Required<Omit<RemotingServerOptions, 'logger' | 'onAnswered' | 'guard'>>;
  private readonly onAnswered: (requestCode: number, responseCode: number) => void;
  private readonly guard: RequestGuard | undefined;

  constructor(opts: RemotingServerOptions) {
    this.logger = opts.logger ?? silentLogger;
    this.onAnswered = opts.onAnswered ?? (() => undefined);
    this.guard = opts.guard;
    this.opts = {
      name: opts.name,
      maxFrameBytes: opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      maxInFlightPerConnection: opts.maxInFlightPerConnection ?? 4096,
      idleTimeoutMs: opts.idleTimeoutMs ?? 120_000,
      maxWriteBufferBytes: opts.maxWriteBufferBytes ?? 64 * 1024 * 1024,
      maxConnections: opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      maxConnectionsPerAddress: opts.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
      maxPendingFrameBytes: opts.maxPendingFrameBytes ?? DEFAULT_MAX_PENDING_FRAME_BYTES,
    };
  }

  register(code: number, handler: RequestHandler): void {
    if (this.handlers.has(code)) throw new Error(`${this.opts.name}: handler for ${requestCodeName(code)} registered twice`);
    this.handlers.set(code, handler);
  }

  registerAll(table: Record<number, RequestHandler>): void {
    for (const [code, h] of Object.entries(table)) this.register(Number(code), h);
  }

  /** Listen on TCP (`{host, port}`, port 0 = any free port) or a Unix socket (`{path}`, mode 0600). Returns the bound address. */
  async listen(where: { host: string; port: number } | { path: string }): Promise<string> {
    const server = net.createServer({ noDelay: true }, (sock) => this.accept(sock, 'path' in where));
    server.on('error', (err) => this.logger.error(`${this.opts.name}: server error: ${err.message}`));
    if ('path' in where) {
      await removeStaleSocket(where.path);
      await listenOn(server, { path: where.path });
      fs.chmodSync(where.path, 0o600);
      this.socketPaths.push(where.path);
      this.servers.push(server);
      return where.path;
    }
    await listenOn(server, { host: where.host, port: where.port });
    this.servers.push(server);
    const a = server.address() as net.AddressInfo;
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  channels(): Iterable<ClientChannel> {
    return this.live;
  }

  async close(): Promise<void> {
    for (const ch of this.live) ch.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers.length = 0;
    for (const p of this.socketPaths) fs.rmSync(p, { force: true });
  }

  private accept(sock: net.Socket, local: boolean): void {
    const ip = local ? undefined : formatRemote(sock).replace(/:\d+$/, '');
    const fromIp = ip === undefined ? 0 : this.perAddress.get(ip) ?? 0;
    if (this.live.size >= this.opts.maxConnections || fromIp >= this.opts.maxConnectionsPerAddress) {
      sock.on('error', () => {});
      sock.destroy();
      this.connectionRefused(this.live.size >= this.opts.maxConnections ? `${this.live.size} connections open (maxConnections)` : `${fromIp} connections from ${ip} open (maxConnectionsPerAddress)`);
      return;
    }
    const id = this.nextId++;
    const remote = local ? `unix:${id}` : formatRemote(sock);
    const ch = new Channel(id, remote, sock, this);
    this.live.add(ch);
    if (ip !== undefined) this.perAddress.set(ip, fromIp + 1);
    sock.on('close', () => {
      this.live.delete(ch);
      if (ip === undefined) return;
      const n = (this.perAddress.get(ip) ?? 1) - 1;
      if (n > 0) this.perAddress.set(ip, n);
      else this.perAddress.delete(ip);
    });
  }

  /**
   * @internal Over maxPendingFrameBytes: close connections holding the largest unfinished frames
   * until under it again. Bounded: each round closes one connection (its bytes leave the total).
   */
  shedPendingFrames(): void {
    while (this.pendingFrameBytes > this.opts.maxPendingFrameBytes) {
      let largest: Channel | undefined;
      for (const ch of this.live) if (ch.pendingFrameBytes > (largest?.pendingFrameBytes ?? 0)) largest = ch;
      if (!largest) return;
      this.evictedConnections++;
      this.logClosing('evicted', this.evictedConnections, `closing ${largest.remoteAddress}, which held ${largest.pendingFrameBytes} bytes of an unfinished frame: ${this.pendingFrameBytes} bytes buffered (maxPendingFrameBytes)`);
      largest.releasePending();
      largest.destroy();
    }
  }

  /** Counted always; logged at most once per CONNECTION_REFUSAL_LOG_INTERVAL_MS with the count since. */
  private connectionRefused(why: string): void {
    this.refusedConnections++;
    this.logClosing('refused', this.refusedConnections, `closing new connections: ${why}`);
  }

  private logClosing(kind: 'refused' | 'evicted', total: number, what: string): void {
    const log = this.closingLog[kind];
    log.since++;
    const now = Date.now();
    if (now - log.at < CONNECTION_REFUSAL_LOG_INTERVAL_MS) return;
    this.logger.warn(`${this.opts.name}: ${what} (${log.since} closed since the last line; ${total} in all)`);
    log.at = now;
    log.since = 0;
  }

  /**
   * @internal Run the request's handler and send its answer; `done` runs once it is handled
   * (exactly once, never throwing). A handler that answers synchronously is answered without a
   * promise in between.
   */
  dispatch(ch: Channel, req: RemotingCommand, done: () => void): void {
    ch.language = req.language;
    ch.version = req.version;
    const refusal = this.guard?.(req, ch);
    if (refusal) {
      this.reply(ch, req, refusal, false);
      done();
      return;
    }
    const handler = this.handlers.get(req.code);
    if (!handler) {
      this.reply(ch, req, makeResponse(req, ResponseCode.REQUEST_CODE_NOT_SUPPORTED, ` request type ${req.code} not supported`), true);
      done();
      return;
    }
    let r: RemotingCommand | undefined | Promise<RemotingCommand | undefined>;
    try {
      r = handler(req, ch);
    } catch (err) {
      this.answerFailure(ch, req, err);
      done();
      return;
    }
    if (r && typeof (r as PromiseLike<unknown>).then === 'function') {
      Promise.resolve(r).then(
        (res) => {
          this.reply(ch, req, res, false);
          done();
        },
        (err: unknown) => {
          this.answerFailure(ch, req, err);
          done();
        },
      );
      return;
    }
    this.reply(ch, req, r as RemotingCommand | undefined, false);
    done();
  }

  /** Send a handler's answer (none for oneway requests, unless `always`); a failure is logged. */
  private reply(ch: Channel, req: RemotingCommand, res: RemotingCommand | undefined, always: boolean): void {
    const oneway = !always && isOneway(req);
    this.onAnswered(req.code, oneway ? NOT_ANSWERED.oneway : res ? res.code : NOT_ANSWERED.suspended);
    if (!res || oneway) return;
    try {
      ch.send(res);
    } catch (err) {
      this.logger.warn(`${this.opts.name}: cannot answer ${requestCodeName(req.code)} from ${ch.remoteAddress}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private answerFailure(ch: Channel, req: RemotingCommand, err: unknown): void {
    if (isOneway(req)) return this.onAnswered(req.code, NOT_ANSWERED.oneway);
    const msg = err instanceof Error ? err.message : String(err);
    this.logger.warn(`${this.opts.name}: ${requestCodeName(req.code)} from ${ch.remoteAddress} failed: ${msg}`);
    this.reply(ch, req, makeResponse(req, ResponseCode.SYSTEM_ERROR, msg), false);
  }
}

interface PendingInvoke {
  resolve: (c: RemotingCommand) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

class Channel implements ClientChannel {
  language = 'JAVA';
  version = 0;
  private readonly decoder: FrameDecoder;
  /** Responses written in one tick leave in one socket write. */
  private readonly writer: FrameWriter;
  private inFlight = 0;
  private paused = false;
  private countedPending = 0;
  private readonly closeCbs: Array<() => void> = [];
  private readonly pending = new Map<number, PendingInvoke>();
  private opaque = 1;

  constructor(
    readonly id: number,
    readonly remoteAddress: string,
    private readonly sock: net.Socket,
    private readonly server: RemotingServer,
  ) {
    this.decoder = new FrameDecoder(server.opts.maxFrameBytes);
    this.writer = new FrameWriter(sock);
    sock.setTimeout(server.opts.idleTimeoutMs, () => sock.destroy());
    sock.on('data', (chunk) => this.onData(chunk));
    sock.on('error', () => {});
    sock.on('close', () => this.handleClose());
  }

  isOpen(): boolean {
    return !this.sock.destroyed;
  }

  send(cmd: RemotingCommand): void {
    if (this.sock.destroyed) return;
    // A reader that stops reading must not make us buffer without bound: drop it instead.
    const unread = this.sock.writableLength + this.writer.queuedBytes;
    if (unread > this.server.opts.maxWriteBufferBytes) {
      this.server.logger.warn(`${this.server.opts.name}: dropping ${this.remoteAddress}: ${unread} bytes unread`);
      this.sock.destroy();
      return;
    }
    this.writer.write(cmd);
  }

  invoke(cmd: RemotingCommand, timeoutMs: number): Promise<RemotingCommand> {
    return new Promise((resolve, reject) => {
      if (this.sock.destroyed) return reject(new Error(`client ${this.remoteAddress} disconnected`));
      const opaque = this.opaque++;
      const timer = setTimeout(() => {
        this.pending.delete(opaque);
        reject(new TimeoutError(`${requestCodeName(cmd.code)} to client ${this.remoteAddress}`, timeoutMs));
      }, timeoutMs);
      this.pending.set(opaque, { resolve, reject, timer });
      this.send({ ...cmd, opaque, flag: cmd.flag & ~FLAG_RESPONSE & ~FLAG_ONEWAY });
    });
  }

  onClose(cb: () => void): void {
    if (this.sock.destroyed) cb();
    else this.closeCbs.push(cb);
  }

  destroy(): void {
    // What is queued for this tick (e.g. answers to parked pulls at shutdown) goes out first.
    this.writer.flush();
    this.sock.destroy();
  }

  private readonly requestDone = (): void => {
    this.inFlight--;
    if (this.paused && this.inFlight < this.server.opts.maxInFlightPerConnection / 2) {
      this.paused = false;
      this.sock.resume();
    }
  };

  /** Bytes of this connection's unfinished frame counted in the server's pendingFrameBytes. */
  get pendingFrameBytes(): number {
    return this.countedPending;
  }

  /** Take this connection's unfinished frame out of the server's total (closing; idempotent). */
  releasePending(): void {
    this.server.pendingFrameBytes -= this.countedPending;
    this.countedPending = 0;
  }

  private countPending(): void {
    if (this.sock.destroyed) return;
    this.server.pendingFrameBytes += this.decoder.pendingBytes - this.countedPending;
    this.countedPending = this.decoder.pendingBytes;
  }

  private onData(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
      this.countPending();
      if (this.server.pendingFrameBytes > this.server.opts.maxPendingFrameBytes) {
        this.server.shedPendingFrames();
        if (this.sock.destroyed) return;
      }
      for (const f of frames) {
        const cmd = decodeFrame(f);
        if (cmd.flag & FLAG_RESPONSE) {
          const p = this.pending.get(cmd.opaque);
          if (p) {
            this.pending.delete(cmd.opaque);
            clearTimeout(p.timer);
            p.resolve(cmd);
          }
          continue;
        }
        this.inFlight++;
        if (this.inFlight >= this.server.opts.maxInFlightPerConnection && !this.paused) {
          this.paused = true;
          this.sock.pause();
        }
        this.server.dispatch(this, cmd, this.requestDone);
      }
    } catch (err) {
      const why = err instanceof FrameError ? err.message : String(err);
      this.server.logger.warn(`${this.server.opts.name}: closing ${this.remoteAddress}: malformed frame (${why})`);
      this.sock.destroy();
    }
  }

  private handleClose(): void {
    this.releasePending();
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error(`client ${this.remoteAddress} disconnected`));
    }
    this.pending.clear();
    for (const cb of this.closeCbs.splice(0)) {
      try {
        cb();
      } catch {
        // a close callback must not break the others
      }
    }
  }
}

function formatRemote(sock: net.Socket): string {
  const host = sock.remoteAddress ?? '0.0.0.0';
  const ip = host.startsWith('::ffff:') ? host.slice(7) : host;
  return ip.includes(':') ? `[${ip}]:${sock.remotePort}` : `${ip}:${sock.remotePort}`;
}

function listenOn(server: net.Server, opts: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onErr = (err: Error) => reject(err);
    server.once('error', onErr);
    server.listen(opts, () => {
      server.off('error', onErr);
      resolve();
    });
  });
}

/** A socket file left by a killed broker blocks listen(); remove it if nobody answers on it. */
async function removeStaleSocket(p: string): Promise<void> {
  if (!fs.existsSync(p)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const s = net.createConnection({ path: p });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) {
    const err = new Error(`socket ${p} is in use by a running broker`) as NodeJS.ErrnoException;
    err.code = 'EADDRINUSE';
    throw err;
  }
  fs.rmSync(p, { force: true });
}

export { FLAG_ONEWAY };
