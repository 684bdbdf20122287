/**
 * The name server's request handlers, one function per request code and one table at the end
 * (apache/rocketmq namesrv DefaultRequestProcessor). Codes not in the table are
 * answered REQUEST_CODE_NOT_SUPPORTED by the RemotingServer.
 *
 * Header checks come first. Java decodes headers leniently and then trips over the nulls
 * (SYSTEM_ERROR with an exception text); here a missing or malformed required field is answered
 * SYSTEM_ERROR with a remark naming it, and a body that cannot be parsed likewise.
 */
import { encodeClusterInfo, encodeJson, encodeTopicRouteData, type DataVersion } from '../../protocol/bodies.js';
import { MQ_VERSION_V4_9_4, RequestCode, ResponseCode, requestCodeName } from '../../protocol/codes.js';
import { parseFastjson } from '../../protocol/fastjson.js';
import { bodyBuffer, makeResponse, type RemotingCommand } from '../../protocol/frame.js';
import { decodeRegisterBrokerBody, registerBodyCrcMatches, type RegisterBrokerBody } from '../../protocol/register-broker.js';
import type { ClientChannel, Logger, RequestHandler } from '../../remoting/server.js';
import { ORDER_TOPIC_CONFIG_NAMESPACE, type KVConfigManager } from './kv-config.js';
import type { RouteInfoManager } from './route-info-manager.js';

export interface NamesrvContext {
  routeInfo: RouteInfoManager;
  kv: KVConfigManager;
  logger: Logger;
  /** NamesrvConfig.orderMessageEnable: add orderTopicConf from the KV config to routes. */
  orderMessageEnable: boolean;
  nowMs(): number;
  /** Forget the brokers registered on this connection when it closes (hooked once per connection). */
  watchChannel(ch: ClientChannel): void;
}

/** A request we refuse with SYSTEM_ERROR: a client mistake, not a server failure (not logged). */
class BadRequest extends Error {}

type Handler = (ctx: NamesrvContext, req: RemotingCommand, ch: ClientChannel) => RemotingCommand | Promise<RemotingCommand>;

// ---- header and body helpers ----------------------------------------------------------------

/** The named fields, each present and non-empty. */
function need<K extends string>(req: RemotingCommand, ...keys: K[]): Record<K, string> {
  const f = req.extFields ?? {};
  const out = {} as Record<K, string>;
  for (const k of keys) {
    const v = f[k];
    if (v === undefined || v === '') throw new BadRequest(`${requestCodeName(req.code)}: missing header field ${k}`);
    out[k] = v;
  }
  return out;
}

/** A non-empty optional field, or undefined. */
function opt(req: RemotingCommand, key: string): string | undefined {
  const v = req.extFields?.[key];
  return v === undefined || v === '' ? undefined : v;
}

/** A Java long field (brokerId): a non-negative safe integer. */
function idField(req: RemotingCommand, key: string, v: string): number {
  const n = /^\d{1,16}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw new BadRequest(`${requestCodeName(req.code)}: header field ${key} is not a broker id: ${v.slice(0, 40)}`);
  return n;
}

/** An optional Java int field; absent = 0 (as the primitive default). */
function intField(req: RemotingCommand, key: string): number {
  const v = opt(req, key);
  if (v === undefined) return 0;
  const n = /^-?\d{1,10}$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < -2147483648 || n > 2147483647) throw new BadRequest(`${requestCodeName(req.code)}: header field ${key} is not an int: ${v.slice(0, 40)}`);
  return n;
}

/** Java Boolean.parseBoolean: "true" in any case. */
function boolField(req: RemotingCommand, key: string): boolean {
  return (req.extFields?.[key] ?? '').toLowerCase() === 'true';
}

/** The body, or undefined when there is none (a zero-length body travels as "no body"). */
function body(req: RemotingCommand): Buffer | undefined {
  const b = bodyBuffer(req);
  return b.length > 0 ? b : undefined;
}

function ok(req: RemotingCommand, extFields?: Record<string, string | number | boolean | undefined>, b?: Buffer): RemotingCommand {
  return makeResponse(req, ResponseCode.SUCCESS, undefined, extFields, b);
}

function topicListBody(topics: string[], brokerAddr?: string): Buffer {
  return encodeJson({ topicList: topics, brokerAddr });
}

/** KVTable body of the order topic configs (REGISTER_BROKER answer), or none. */
function orderTopicConfigBody(ctx: NamesrvContext): Buffer | undefined {
  const table = ctx.kv.list(ORDER_TOPIC_CONFIG_NAMESPACE);
  return table ? encodeJson({ table }) : undefined;
}

/**
 * fastjson BrowserCompatible writes every non-ASCII character as \uXXXX (standard-JSON routes).
 * Non-ASCII can only occur inside JSON strings, so escaping the whole text is safe.
 */
function escapeNonAscii(json: Buffer): Buffer {
  const s = json.toString('utf8');
  if (!/[^\x00-\x7f]/.test(s)) return json;
  return Buffer.from(s.replace(/[^\x00-\x7f]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')), 'utf8');
}

// ---- brokers ----------------------------------------------------------------------------------

/** REGISTER_BROKER (103), as registerBrokerWithFilterServer. */
const registerBroker: Handler = (ctx, req, ch) => {
  const f = need(req, 'brokerName', 'brokerAddr', 'clusterName', 'brokerId');
  const brokerId = idField(req, 'brokerId', f.brokerId);
  const raw = body(req);
  if (!registerBodyCrcMatches(raw, intField(req, 'bodyCrc32'))) {
    ctx.logger.warn(`name server: REGISTER_BROKER from ${ch.remoteAddress}: crc32 not match`);
    return makeResponse(req, ResponseCode.SYSTEM_ERROR, 'crc32 not match');
  }
  let decoded: RegisterBrokerBody | undefined;
  if (raw) {
    try {
      decoded = decodeRegisterBrokerBody(raw, boolField(req, 'compressed'));
    } catch (err) {
      throw new BadRequest(`REGISTER_BROKER: failed to decode RegisterBrokerBody: ${errText(err)}`);
    }
  }
  const result = ctx.routeInfo.registerBroker({
    clusterName: f.clusterName,
    brokerAddr: f.brokerAddr,
    brokerName: f.brokerName,
    brokerId,
    haServerAddr: opt(req, 'haServerAddr') ?? '',
    topicConfigWrapper: decoded?.topicConfigSerializeWrapper,
    filterServerList: decoded?.filterServerList,
    channel: ch,
    nowMs: ctx.nowMs(),
  });
  // After registering: a connection already closed forgets the broker at once.
  ctx.watchChannel(ch);
  if (result.newlyLive) ctx.logger.info(`name server: broker ${f.brokerName}[${brokerId}] ${f.brokerAddr} of cluster ${f.clusterName} registered`);
  return ok(req, { haServerAddr: result.haServerAddr, masterAddr: result.masterAddr }, orderTopicConfigBody(ctx));
};

/** UNREGISTER_BROKER (104). */
const unregisterBroker: Handler = (ctx, req) => {
  const f = need(req, 'brokerName', 'brokerAddr', 'clusterName', 'brokerId');
  ctx.routeInfo.unregisterBroker(f.clusterName, f.brokerAddr, f.brokerName, idField(req, 'brokerId', f.brokerId));
  ctx.logger.info(`name server: broker ${f.brokerName}[${f.brokerId}] ${f.brokerAddr} unregistered`);
  return ok(req);
};

/**
 * QUERY_DATA_VERSION (322): is the broker's topic DataVersion (body) different from the one we
 * hold? An unchanged answer also counts as a heartbeat (the broker then skips REGISTER_BROKER).
 */
const queryDataVersion: Handler = (ctx, req) => {
  const f = need(req, 'brokerName', 'brokerAddr', 'clusterName', 'brokerId');
  idField(req, 'brokerId', f.brokerId);
  const dv = parseDataVersion(body(req));
  const changed = ctx.routeInfo.isBrokerTopicConfigChanged(f.brokerAddr, dv);
  if (!changed) ctx.routeInfo.updateBrokerInfoUpdateTimestamp(f.brokerAddr, ctx.nowMs());
  const held = ctx.routeInfo.queryBrokerTopicConfig(f.brokerAddr);
  return ok(req, { changed }, held ? encodeJson(held) : undefined);
};

function parseDataVersion(raw: Buffer | undefined): DataVersion {
  if (!raw) throw new BadRequest('QUERY_DATA_VERSION: no DataVersion body');
  let o: unknown;
  try {
    o = parseFastjson(raw.toString('utf8'));
  } catch (err) {
    throw new BadRequest(`QUERY_DATA_VERSION: DataVersion body is not JSON: ${errText(err)}`);
  }
  const r = (o ?? {}) as Record<string, unknown>;
  const counter = Number(r.counter ?? 0);
  const timestamp = Number(r.timestamp ?? 0);
  if (typeof o !== 'object' || !Number.isFinite(counter) || !Number.isFinite(timestamp)) throw new BadRequest('QUERY_DATA_VERSION: DataVersion body has no numeric counter/timestamp');
  return { counter, timestamp };
}

/** WIPE_WRITE_PERM_OF_BROKER (205) and ADD_WRITE_PERM_OF_BROKER (327). */
const wipeWritePerm: Handler = (ctx, req) => {
  const { brokerName } = need(req, 'brokerName');
  const n = ctx.routeInfo.operateWritePermOfBroker(brokerName, 'wipe');
  ctx.logger.info(`name server: wiped write perm of broker ${brokerName} (${n} topics)`);
  return ok(req, { wipeTopicCount: n });
};

const addWritePerm: Handler = (ctx, req) => {
  const { brokerName } = need(req, 'brokerName');
  const n = ctx.routeInfo.operateWritePermOfBroker(brokerName, 'add');
  ctx.logger.info(`name server: added write perm to broker ${brokerName} (${n} topics)`);
  return ok(req, { addTopicCount: n });
};

// ---- routes and topics ------------------------------------------------------------------------

/**
 * GET_ROUTEINFO_BY_TOPIC (105). Standard JSON (quoted numeric keys, non-ASCII escaped) for
 * requesters at V4_9_4 or later or that send acceptStandardJsonOnly=true; fastjson's bare numeric
 * keys otherwise.
 */
const getRouteInfoByTopic: Handler = (ctx, req) => {
  const { topic } = need(req, 'topic');
  const route = ctx.routeInfo.pickupTopicRouteData(topic);
  if (!route) return makeResponse(req, ResponseCode.TOPIC_NOT_EXIST, `No topic route info in name server for the topic: ${topic}`);
  if (ctx.orderMessageEnable) {
    const conf = ctx.kv.get(ORDER_TOPIC_CONFIG_NAMESPACE, topic);
    if (conf !== undefined) route.orderTopicConf = conf;
  }
  const standard = req.version >= MQ_VERSION_V4_9_4 || boolField(req, 'acceptStandardJsonOnly');
  const encoded = encodeTopicRouteData(route, standard);
  return ok(req, undefined, standard ? escapeNonAscii(encoded) : encoded);
};

/** GET_BROKER_CLUSTER_INFO (106): always default fastjson (bare numeric keys). */
const getBrokerClusterInfo: Handler = (ctx, req) => ok(req, undefined, encodeClusterInfo(ctx.routeInfo.getAllClusterInfo()));

/** GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206). */
const getAllTopicList: Handler = (ctx, req) => ok(req, undefined, topicListBody(ctx.routeInfo.getAllTopicList()));

/** GET_TOPICS_BY_CLUSTER (224). */
const getTopicsByCluster: Handler = (ctx, req) => {
  const { cluster } = need(req, 'cluster');
  return ok(req, undefined, topicListBody(ctx.routeInfo.getTopicsByCluster(cluster)));
};

/** GET_SYSTEM_TOPIC_LIST_FROM_NS (304): cluster and broker names (each is a system topic), one broker address. */
const getSystemTopicList: Handler = (ctx, req) => {
  const { topicList, brokerAddr } = ctx.routeInfo.getSystemTopicList();
  return ok(req, undefined, topicListBody(topicList, brokerAddr));
};

/** DELETE_TOPIC_IN_NAMESRV (216): with clusterName (4.9.x), only that cluster's queue datas. */
const deleteTopicInNamesrv: Handler = (ctx, req) => {
  const { topic } = need(req, 'topic');
  const cluster = opt(req, 'clusterName');
  ctx.routeInfo.deleteTopic(topic, cluster);
  ctx.logger.info(`name server: deleted topic ${topic}${cluster ? ` in cluster ${cluster}` : ''}`);
  return ok(req);
};

// ---- KV config ----------------------------------------------------------------------------------

/** PUT_KV_CONFIG (100). Answered once persisted; a failed write is SYSTEM_ERROR (Java only logs it). */
const putKVConfig: Handler = async (ctx, req) => {
  const { namespace, key } = need(req, 'namespace', 'key');
  const value = req.extFields?.value;
  if (value === undefined) throw new BadRequest('PUT_KV_CONFIG: missing header field value');
  try {
    await ctx.kv.put(namespace, key, value);
  } catch (err) {
    return kvNotSaved(ctx, req, err);
  }
  return ok(req);
};

/** GET_KV_CONFIG (101): header `value`, or QUERY_NOT_FOUND. */
const getKVConfig: Handler = (ctx, req) => {
  const { namespace, key } = need(req, 'namespace', 'key');
  const value = ctx.kv.get(namespace, key);
  if (value === undefined) return makeResponse(req, ResponseCode.QUERY_NOT_FOUND, `No config item, Namespace: ${namespace} Key: ${key}`);
  return ok(req, { value });
};

/** DELETE_KV_CONFIG (102): SUCCESS whether or not the key existed. */
const deleteKVConfig: Handler = async (ctx, req) => {
  const { namespace, key } = need(req, 'namespace', 'key');
  try {
    await ctx.kv.delete(namespace, key);
  } catch (err) {
    return kvNotSaved(ctx, req, err);
  }
  return ok(req);
};

/** GET_KVLIST_BY_NAMESPACE (219): KVTable body, or QUERY_NOT_FOUND for a namespace never written. */
const getKVListByNamespace: Handler = (ctx, req) => {
  const { namespace } = need(req, 'namespace');
  const table = ctx.kv.list(namespace);
  if (!table) return makeResponse(req, ResponseCode.QUERY_NOT_FOUND, `No config item, Namespace: ${namespace}`);
  return ok(req, undefined, encodeJson({ table }));
};

function kvNotSaved(ctx: NamesrvContext, req: RemotingCommand, err: unknown): RemotingCommand {
  const msg = `${requestCodeName(req.code)}: applied in memory but not saved: ${errText(err)}`;
  ctx.logger.error(`name server: ${msg}`);
  return makeResponse(req, ResponseCode.SYSTEM_ERROR, msg);
}

// ---- the table ------------------------------------------------------------------------------------

const TABLE: ReadonlyArray<readonly [number, Handler]> = [
  [RequestCode.PUT_KV_CONFIG, putKVConfig],
  [RequestCode.GET_KV_CONFIG, getKVConfig],
  [RequestCode.DELETE_KV_CONFIG, deleteKVConfig],
  [RequestCode.QUERY_DATA_VERSION, queryDataVersion],
  [RequestCode.REGISTER_BROKER, registerBroker],
  [RequestCode.UNREGISTER_BROKER, unregisterBroker],
  [RequestCode.GET_ROUTEINFO_BY_TOPIC, getRouteInfoByTopic],
  [RequestCode.GET_BROKER_CLUSTER_INFO, getBrokerClusterInfo],
  [RequestCode.WIPE_WRITE_PERM_OF_BROKER, wipeWritePerm],
  [RequestCode.ADD_WRITE_PERM_OF_BROKER, addWritePerm],
  [RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER, getAllTopicList],
  [RequestCode.DELETE_TOPIC_IN_NAMESRV, deleteTopicInNamesrv],
  [RequestCode.GET_KVLIST_BY_NAMESPACE, getKVListByNamespace],
  [RequestCode.GET_TOPICS_BY_CLUSTER, getTopicsByCluster],
  [RequestCode.GET_SYSTEM_TOPIC_LIST_FROM_NS, getSystemTopicList],
];

/** One RemotingServer handler per code, bound to `ctx`; BadRequest becomes SYSTEM_ERROR with its message. */
export function buildNamesrvHandlers(ctx: NamesrvContext): Record<number, RequestHandler> {
  const out: Record<number, RequestHandler> = {};
  for (const [code, h] of TABLE) {
    out[code] = async (req, ch) => {
      try {
        return await h(ctx, req, ch);
      } catch (err) {
        if (err instanceof BadRequest) return makeResponse(req, ResponseCode.SYSTEM_ERROR, err.message);
        throw err;
      }
    };
  }
  return out;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
