/**
 * The embedded name server, wire-compatible with Apache RocketMQ 4.x's (DefaultRequestProcessor;
 * fact sheet §2.13). It can listen on its own port, and its handlers can also be attached to
 * another RemotingServer (the broker's local Unix socket serves both, so admin commands need only
 * the socket).
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from '../../protocol/hash.js';
import { encodeClusterInfo, encodeJson, encodeTopicRouteData, type DataVersion } from '../../protocol/bodies.js';
import { MQ_VERSION_V4_9_4, RequestCode, ResponseCode } from '../../protocol/codes.js';
import { bodyBuffer, makeResponse, type RemotingCommand } from '../../protocol/frame.js';
import { parseFastjson, toFastjson } from '../../protocol/fastjson.js';
import { decodeRegisterBrokerBody } from '../../protocol/register-broker.js';
import { RemotingServer, silentLogger, type ClientChannel, type Logger, type RequestHandler } from '../server.js';
import { RouteInfoManager } from './route-info.js';

/** Brokers re-register every 30 s; one silent for this long is forgotten (BROKER_CHANNEL_EXPIRED_TIME). */
export const DEFAULT_BROKER_EXPIRY_MS = 120_000;
/** How often the live table is scanned for expired brokers (scanNotActiveBroker period). */
export const DEFAULT_SCAN_INTERVAL_MS = 10_000;
export const ORDER_TOPIC_CONFIG_NAMESPACE = 'ORDER_TOPIC_CONFIG';

export interface NameServerOptions {
  logger?: Logger;
  /** Where KV config is persisted (`kvConfig.json`); in memory only when absent. */
  kvConfigPath?: string;
  brokerExpiryMs?: number;
  scanIntervalMs?: number;
}

export class NameServer {
  readonly routeInfo = new RouteInfoManager();
  private readonly kv = new Map<string, Map<string, string>>();
  private readonly logger: Logger;
  private readonly expiryMs: number;
  private readonly servers: RemotingServer[] = [];
  private scanTimer: NodeJS.Timeout | undefined;
  private kvWrite: Promise<void> = Promise.resolve();
  /** Channels we already watch for close (one close hook each). */
  private readonly watched = new WeakSet<ClientChannel>();

  constructor(private readonly opts: NameServerOptions = {}) {
    this.logger = opts.logger ?? silentLogger;
    this.expiryMs = opts.brokerExpiryMs ?? DEFAULT_BROKER_EXPIRY_MS;
    this.loadKv();
    const scanMs = opts.scanIntervalMs ?? DEFAULT_SCAN_INTERVAL_MS;
    this.scanTimer = setInterval(() => {
      for (const addr of this.routeInfo.scanNotActive(Date.now(), this.expiryMs)) {
        this.logger.warn(`name server: broker ${addr} expired (no registration for ${this.expiryMs} ms)`);
      }
    }, scanMs);
    this.scanTimer.unref();
  }

  /** Listen on its own address; returns the bound address. */
  async start(where: { host: string; port: number } | { path: string }): Promise<string> {
    const server = new RemotingServer({ name: 'namesrv', logger: this.logger });
    this.attach(server);
    this.servers.push(server);
    return server.listen(where);
  }

  /** Serve the name server codes on an existing server too. */
  attach(server: RemotingServer): void {
    server.registerAll(this.handlers());
  }

  async close(): Promise<void> {
    clearInterval(this.scanTimer);
    this.scanTimer = undefined;
    await Promise.all(this.servers.map((s) => s.close()));
    this.servers.length = 0;
    await this.kvWrite;
  }

  handlers(): Record<number, RequestHandler> {
    return {
      [RequestCode.REGISTER_BROKER]: (req, ch) => this.registerBroker(req, ch),
      [RequestCode.UNREGISTER_BROKER]: (req) => this.unregisterBroker(req),
      [RequestCode.GET_ROUTEINFO_BY_TOPIC]: (req) => this.getRoute(req),
      [RequestCode.GET_BROKER_CLUSTER_INFO]: (req) => makeResponse(req, ResponseCode.SUCCESS, undefined, undefined, encodeClusterInfo(this.routeInfo.clusterInfo())),
      [RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER]: (req) => topicList(req, this.routeInfo.allTopics()),
      [RequestCode.GET_TOPICS_BY_CLUSTER]: (req) => {
        const cluster = need(req, 'cluster');
        return typeof cluster === 'string' ? topicList(req, this.routeInfo.topicsOfCluster(cluster)) : cluster;
      },
      [RequestCode.GET_SYSTEM_TOPIC_LIST_FROM_NS]: (req) => this.systemTopics(req),
      [RequestCode.DELETE_TOPIC_IN_NAMESRV]: (req) => {
        const topic = need(req, 'topic');
        if (typeof topic !== 'string') return topic;
        this.routeInfo.deleteTopic(topic, req.extFields?.clusterName || undefined);
        return makeResponse(req, ResponseCode.SUCCESS);
      },
      [RequestCode.PUT_KV_CONFIG]: (req) => this.putKv(req),
      [RequestCode.GET_KV_CONFIG]: (req) => this.getKv(req),
      [RequestCode.DELETE_KV_CONFIG]: (req) => this.deleteKv(req),
      [RequestCode.GET_KVLIST_BY_NAMESPACE]: (req) => {
        const ns = need(req, 'namespace');
        if (typeof ns !== 'string') return ns;
        const table = this.kv.get(ns);
        if (!table || table.size === 0) return makeResponse(req, ResponseCode.QUERY_NOT_FOUND, `No config item, Namespace: ${ns}`);
        return makeResponse(req, ResponseCode.SUCCESS, undefined, undefined, encodeJson({ table: Object.fromEntries(table) }));
      },
      [RequestCode.QUERY_DATA_VERSION]: (req) => this.queryDataVersion(req),
      [RequestCode.WIPE_WRITE_PERM_OF_BROKER]: (req) => {
        const name = need(req, 'brokerName');
        if (typeof name !== 'string') return name;
        return makeResponse(req, ResponseCode.SUCCESS, undefined, { wipeTopicCount: this.routeInfo.setWritePerm(name, false) });
      },
      [RequestCode.ADD_WRITE_PERM_OF_BROKER]: (req) => {
        const name = need(req, 'brokerName');
        if (typeof name !== 'string') return name;
        return makeResponse(req, ResponseCode.SUCCESS, undefined, { addTopicCount: this.routeInfo.setWritePerm(name, true) });
      },
    };
  }

  private registerBroker(req: RemotingCommand, ch: ClientChannel): RemotingCommand {
    const f = req.extFields ?? {};
    for (const k of ['brokerName', 'brokerAddr', 'clusterName', 'brokerId']) {
      if (!f[k]) return makeResponse(req, ResponseCode.SYSTEM_ERROR, `REGISTER_BROKER: missing header field ${k}`);
    }
    const brokerId = Number(f.brokerId);
    if (!Number.isInteger(brokerId) || brokerId < 0) return makeResponse(req, ResponseCode.SYSTEM_ERROR, `REGISTER_BROKER: bad brokerId ${f.brokerId}`);
    const body = bodyBuffer(req);
    const crc = Number(f.bodyCrc32 ?? 0);
    // As DefaultRequestProcessor.checksum: a non-zero bodyCrc32 must match.
    if (crc !== 0 && body.length > 0 && (crc32(body) & 0x7fffffff) !== crc) return makeResponse(req, ResponseCode.SYSTEM_ERROR, 'crc32 not match');
    let topics: { dataVersion: DataVersion; table: Record<string, import('../../protocol/bodies.js').TopicConfig> } | undefined;
    if (body.length > 0) {
      try {
        const decoded = decodeRegisterBrokerBody(body, String(f.compressed).toLowerCase() === 'true');
        topics = { dataVersion: decoded.topicConfigSerializeWrapper.dataVersion, table: decoded.topicConfigSerializeWrapper.topicConfigTable };
      } catch (err) {
        return makeResponse(req, ResponseCode.SYSTEM_ERROR, `REGISTER_BROKER: bad body: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (!this.watched.has(ch)) {
      this.watched.add(ch);
      ch.onClose(() => {
        for (const addr of this.routeInfo.onChannelClosed(ch.id)) this.logger.info(`name server: broker ${addr} disconnected`);
      });
    }
    const out = this.routeInfo.registerBroker({
      cluster: f.clusterName!,
      brokerAddr: f.brokerAddr!,
      brokerName: f.brokerName!,
      brokerId,
      haServerAddr: f.haServerAddr ?? '',
      topics,
      channelId: ch.id,
      nowMs: Date.now(),
    });
    const order = this.kv.get(ORDER_TOPIC_CONFIG_NAMESPACE);
    const orderBody = order && order.size > 0 ? encodeJson({ table: Object.fromEntries(order) }) : undefined;
    return makeResponse(req, ResponseCode.SUCCESS, undefined, { masterAddr: out.masterAddr, haServerAddr: out.haServerAddr }, orderBody);
  }

  private unregisterBroker(req: RemotingCommand): RemotingCommand {
    const f = req.extFields ?? {};
    for (const k of ['brokerName', 'brokerAddr', 'clusterName', 'brokerId']) {
      if (!f[k]) return makeResponse(req, ResponseCode.SYSTEM_ERROR, `UNREGISTER_BROKER: missing header field ${k}`);
    }
    this.routeInfo.unregisterBroker(f.clusterName!, f.brokerAddr!, f.brokerName!, Number(f.brokerId));
    return makeResponse(req, ResponseCode.SUCCESS);
  }

  private getRoute(req: RemotingCommand): RemotingCommand {
    const topic = need(req, 'topic');
    if (typeof topic !== 'string') return topic;
    const route = this.routeInfo.routeOf(topic);
    if (!route) return makeResponse(req, ResponseCode.TOPIC_NOT_EXIST, `No topic route info in name server for the topic: ${topic}`);
    const conf = this.kv.get(ORDER_TOPIC_CONFIG_NAMESPACE)?.get(topic);
    if (conf) route.orderTopicConf = conf;
    // 4.9.4+: standard JSON for new clients or on request; bare numeric keys for old ones (§2.13).
    const standard = req.version >= MQ_VERSION_V4_9_4 || String(req.extFields?.acceptStandardJsonOnly).toLowerCase() === 'true';
    return makeResponse(req, ResponseCode.SUCCESS, undefined, undefined, encodeTopicRouteData(route, standard));
  }

  private systemTopics(req: RemotingCommand): RemotingCommand {
    const info = this.routeInfo.clusterInfo();
    const topics = [...Object.keys(info.clusterAddrTable), ...Object.keys(info.brokerAddrTable)];
    const anyBroker = Object.values(info.brokerAddrTable)[0];
    const brokerAddr = anyBroker ? (anyBroker.brokerAddrs['0'] ?? Object.values(anyBroker.brokerAddrs)[0]) : undefined;
    return makeResponse(req, ResponseCode.SUCCESS, undefined, undefined, encodeJson({ topicList: topics, brokerAddr }));
  }

  private queryDataVersion(req: RemotingCommand): RemotingCommand {
    const addr = req.extFields?.brokerAddr;
    if (!addr) return makeResponse(req, ResponseCode.SYSTEM_ERROR, 'QUERY_DATA_VERSION: missing header field brokerAddr');
    const held = this.routeInfo.dataVersionOf(addr);
    let changed = true;
    try {
      const sent = parseFastjson(bodyBuffer(req).toString('utf8')) as Partial<DataVersion>;
      changed = !held || held.counter !== Number(sent.counter) || held.timestamp !== Number(sent.timestamp);
    } catch {
      changed = true;
    }
    // As RouteInfoManager.isBrokerTopicConfigChanged + updateBrokerInfoUpdateTimestamp.
    if (!changed) this.routeInfo.touch(addr, Date.now());
    return makeResponse(req, ResponseCode.SUCCESS, undefined, { changed }, held ? encodeJson(held) : undefined);
  }

  // ---- KV config (KVConfigManager) ------------------------------------------------------------

  private putKv(req: RemotingCommand): RemotingCommand {
    const f = req.extFields ?? {};
    if (!f.namespace || !f.key || f.value === undefined) return makeResponse(req, ResponseCode.SYSTEM_ERROR, 'PUT_KV_CONFIG: namespace, key and value are required');
    let table = this.kv.get(f.namespace);
    if (!table) this.kv.set(f.namespace, (table = new Map()));
    table.set(f.key, f.value);
    this.persistKv();
    return makeResponse(req, ResponseCode.SUCCESS);
  }

  private getKv(req: RemotingCommand): RemotingCommand {
    const f = req.extFields ?? {};
    const v = f.namespace && f.key ? this.kv.get(f.namespace)?.get(f.key) : undefined;
    if (v === undefined) return makeResponse(req, ResponseCode.QUERY_NOT_FOUND, `No config item, Namespace: ${f.namespace} Key: ${f.key}`);
    return makeResponse(req, ResponseCode.SUCCESS, undefined, { value: v });
  }

  private deleteKv(req: RemotingCommand): RemotingCommand {
    const f = req.extFields ?? {};
    if (f.namespace && f.key && this.kv.get(f.namespace)?.delete(f.key)) this.persistKv();
    return makeResponse(req, ResponseCode.SUCCESS);
  }

  private loadKv(): void {
    const p = this.opts.kvConfigPath;
    if (!p || !fs.existsSync(p)) return;
    try {
      const o = parseFastjson(fs.readFileSync(p, 'utf8')) as { configTable?: Record<string, Record<string, unknown>> };
      for (const [ns, table] of Object.entries(o.configTable ?? {})) {
        this.kv.set(ns, new Map(Object.entries(table ?? {}).map(([k, v]) => [k, String(v)])));
      }
    } catch (err) {
      this.logger.warn(`name server: ignoring unreadable ${p}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Writes are chained so two never overlap; each is tmp + fsync + rename (atomic). */
  private persistKv(): void {
    const p = this.opts.kvConfigPath;
    if (!p) return;
    const configTable: Record<string, Record<string, string>> = {};
    for (const [ns, table] of this.kv) configTable[ns] = Object.fromEntries(table);
    const text = toFastjson({ configTable }, { pretty: true });
    this.kvWrite = this.kvWrite.then(async () => {
      try {
        await fs.promises.mkdir(path.dirname(p), { recursive: true });
        const tmp = `${p}.tmp`;
        const fh = await fs.promises.open(tmp, 'w', 0o644);
        try {
          await fh.writeFile(text);
          await fh.sync();
        } finally {
          await fh.close();
        }
        await fs.promises.rename(tmp, p);
      } catch (err) {
        this.logger.error(`name server: cannot persist ${p}: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
  }
}

function need(req: RemotingCommand, field: string): string | RemotingCommand {
  const v = req.extFields?.[field];
  if (!v) return makeResponse(req, ResponseCode.SYSTEM_ERROR, `missing header field ${field}`);
  return v;
}

function topicList(req: RemotingCommand, topics: string[]): RemotingCommand {
  return makeResponse(req, ResponseCode.SUCCESS, undefined, undefined, encodeJson({ topicList: topics }));
}
