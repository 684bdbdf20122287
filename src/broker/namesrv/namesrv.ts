/**
 * The embedded name server, wire-compatible with Apache RocketMQ 4.x's (NamesrvController +
 * DefaultRequestProcessor + RouteInfoManager + KVConfigManager). It listens on
 * its own address (`start`), and/or serves its codes on a RemotingServer it is attached to (the
 * broker's local socket, so admin commands need only that socket). Several brokers — different
 * broker names, or masters and slaves of one name — register with one name server.
 *
 * Liveness, as NamesrvController: brokers re-register every 30 s; every `scanIntervalMs` (10 s)
 * brokers silent for more than `brokerExpiryMs` (120 s) are forgotten, and a broker is forgotten
 * at once when the connection it registered on closes.
 */
import type { FileIO } from '../store/file-io.js';
import { RemotingServer, silentLogger, type ClientChannel, type Logger, type RequestHandler } from '../../remoting/server.js';
import { buildNamesrvHandlers, type NamesrvContext } from './handlers.js';
import { KVConfigManager, type KvLoadReport } from './kv-config.js';
import { RouteInfoManager } from './route-info-manager.js';

/** RouteInfoManager.BROKER_CHANNEL_EXPIRED_TIME. */
const DEFAULT_BROKER_EXPIRY_MS = 120_000;
/** NamesrvController's scanNotActiveBroker period. */
const DEFAULT_SCAN_INTERVAL_MS = 10_000;
/** Shortest accepted scan period (a 0 would spin). */
const MIN_SCAN_INTERVAL_MS = 10;

export interface NameServerOptions {
  logger?: Logger;
  /** Where the KV config is persisted (Apache: ~/namesrv/kvConfig.json); memory only when absent. */
  kvConfigPath?: string;
  /** Forget a broker this long after its last registration (default 120 000). */
  brokerExpiryMs?: number;
  /** How often to look for expired brokers (default 10 000). */
  scanIntervalMs?: number;
  /**
   * Add orderTopicConf from KV namespace ORDER_TOPIC_CONFIG to routes. Apache's NamesrvConfig
   * defaults this to false; ours defaults to true, since the entry only exists when someone put it.
   */
  orderMessageEnable?: boolean;
  /** File I/O for kvConfig.json writes (tests inject faults). */
  fileIO?: FileIO;
}

export class NameServer {
  readonly routeInfo = new RouteInfoManager();
  readonly kvConfig: KVConfigManager;
  private readonly logger: Logger;
  private readonly brokerExpiryMs: number;
  private readonly scanIntervalMs: number;
  private readonly ctx: NamesrvContext;
  private readonly ownServers: RemotingServer[] = [];
  private readonly watched = new WeakSet<ClientChannel>();
  private scanTimer: NodeJS.Timeout | undefined;
  private closed = false;

  /** Throws ConfigError when kvConfig.json (and its .bak) cannot be read. */
  constructor(opts: NameServerOptions = {}) {
    this.logger = opts.logger ?? silentLogger;
    this.brokerExpiryMs = positive(opts.brokerExpiryMs ?? DEFAULT_BROKER_EXPIRY_MS, 'brokerExpiryMs');
    this.scanIntervalMs = Math.max(MIN_SCAN_INTERVAL_MS, positive(opts.scanIntervalMs ?? DEFAULT_SCAN_INTERVAL_MS, 'scanIntervalMs'));
    this.kvConfig = new KVConfigManager(opts.kvConfigPath, opts.fileIO);
    const lr = this.kvConfig.loadReport;
    if (lr.source === 'bak') this.logger.warn(`name server: ${lr.path} ${lr.problem}; loaded ${lr.path}.bak instead`);
    this.ctx = {
      routeInfo: this.routeInfo,
      kv: this.kvConfig,
      logger: this.logger,
      orderMessageEnable: opts.orderMessageEnable ?? true,
      nowMs: () => Date.now(),
      watchChannel: (ch) => this.watchChannel(ch),
    };
  }

  get kvLoadReport(): KvLoadReport {
    return this.kvConfig.loadReport;
  }

  /** Listen on a TCP address (port 0 = any) or a Unix socket; returns the bound address. */
  async start(where: { host: string; port: number } | { path: string }): Promise<string> {
    if (this.closed) throw new Error('name server is closed');
    const server = new RemotingServer({ name: 'namesrv', logger: this.logger });
    this.attach(server);
    this.ownServers.push(server);
    try {
      return await server.listen(where);
    } catch (err) {
      this.ownServers.splice(this.ownServers.indexOf(server), 1);
      await server.close();
      throw err;
    }
  }

  /** Serve the name server's codes on `server` too (its owner listens and closes it). */
  attach(server: RemotingServer): void {
    if (this.closed) throw new Error('name server is closed');
    server.registerAll(this.handlers());
    this.startScan();
  }

  /** The handler table (code → handler), for servers that merge tables themselves. */
  handlers(): Record<number, RequestHandler> {
    return buildNamesrvHandlers(this.ctx);
  }

  /** Stops the expiry scan, closes the servers `start` opened and waits for KV writes. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.scanTimer);
    this.scanTimer = undefined;
    const servers = this.ownServers.splice(0);
    await Promise.all(servers.map((s) => s.close()));
    await this.kvConfig.flush();
  }

  /** One expiry pass now (the timer calls this); returns the addresses forgotten. */
  scanNotActiveBrokers(nowMs: number = Date.now()): string[] {
    const gone = this.routeInfo.scanNotActiveBrokers(nowMs, this.brokerExpiryMs);
    for (const addr of gone) this.logger.warn(`name server: broker ${addr} expired (no registration for ${this.brokerExpiryMs} ms)`);
    return gone;
  }

  private startScan(): void {
    if (this.scanTimer) return;
    this.scanTimer = setInterval(() => this.scanNotActiveBrokers(), this.scanIntervalMs);
    this.scanTimer.unref();
  }

  private watchChannel(ch: ClientChannel): void {
    if (this.watched.has(ch)) return;
    this.watched.add(ch);
    ch.onClose(() => {
      for (const addr of this.routeInfo.onChannelDestroy(ch)) {
        this.logger.info(`name server: broker ${addr} forgotten: its connection ${ch.remoteAddress} closed`);
      }
    });
  }
}

function positive(n: number, what: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`name server: ${what} must be a positive number of milliseconds, got ${n}`);
  return n;
}
