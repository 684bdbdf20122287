/**
 * User-facing message types and the conversions between them and the wire: the properties a
 * producer sends, body compression (zlib container, sysFlag bit 0), batch bodies
 *, and decoding of pulled records into MessageExt (body inflated, topic restored from
 * RETRY_TOPIC for retry messages, msgId = UNIQ_KEY when present).
 */
import zlib from 'node:zlib';
import type { MessageQueue } from '../protocol/bodies.js';
import {
  createOffsetMsgId,
  decodeRecord,
  formatSocketAddr,
  SysFlag,
  type MessageRecord,
} from '../protocol/message.js';
import { decodeProperties, encodeProperties, Prop, splitKeys, type Properties } from '../protocol/properties.js';
import { RocketError } from '../errors/index.js';
import { retryTopic } from '../protocol/names.js';

/** Producers compress non-batch bodies of at least this many bytes (compressMsgBodyOverHowmuch). */
export const DEFAULT_COMPRESS_OVER_BYTES = 4096;
/** zlib level Java producers use (rocketmq.message.compressLevel). */
const COMPRESS_LEVEL = 5;
/** Producer-side body limit (DefaultMQProducer.maxMessageSize, 4 MiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Bits 8..10 of sysFlag name the codec of a compressed body (4.9.x+); 0 or ZLIB means zlib. */
const COMPRESSION_TYPE_MASK = 0x700;
const COMPRESSION_LZ4 = 0x100;
const COMPRESSION_ZSTD = 0x200;

/** A message to send. */
export interface Message {
  topic: string;
  body: Buffer | Uint8Array | string;
  tags?: string;
  /** One key, or several (sent space-separated in KEYS); keys are indexed by the broker. */
  keys?: string | string[];
  /** User properties. Names reserved by RocketMQ (TAGS, KEYS, UNIQ_KEY, ...) are refused. */
  properties?: Record<string, string>;
  /** Delay level 1..18 (1s 5s 10s 30s 1m ... 2h by default on the broker); 0 = none. */
  delayLevel?: number;
  /** Opaque user int carried with the message. */
  flag?: number;
  /** WAIT property: wait for the store's flush/replication (default true). */
  waitStoreMsgOk?: boolean;
}

/** A message as consumed (or looked up): a decoded stored record plus convenient views. */
export interface MessageExt {
  /** Topic the message was sent to (restored from RETRY_TOPIC for retry messages). */
  topic: string;
  body: Buffer;
  tags?: string;
  keys: string[];
  /** Every property, system ones included. */
  properties: Properties;
  /** UNIQ_KEY when present (what producers return as msgId), else the offsetMsgId. */
  msgId: string;
  /** Broker-side id: store host + commit log offset (decodable). */
  offsetMsgId: string;
  /** Queue the message was read from (for retry messages: the %RETRY% queue). */
  queue: MessageQueue;
  queueId: number;
  queueOffset: number;
  commitLogOffset: number;
  reconsumeTimes: number;
  bornTimestamp: number;
  bornHost: string;
  storeTimestamp: number;
  storeHost: string;
  sysFlag: number;
  flag: number;
  storeSize: number;
  bodyCrc: number;
  preparedTransactionOffset: number;
  delayLevel: number;
  /** Set when the body is compressed with a codec this client cannot inflate (LZ4/ZSTD). */
  bodyCodecUnsupported?: 'LZ4' | 'ZSTD';
}

export class MessageIllegalError extends RocketError {
  constructor(message: string) {
    super(message, { code: 'E_MESSAGE_ILLEGAL', exitCode: 2 });
  }
}

/** Property names Java reserves (MessageConst.STRING_HASH_SET): not allowed as user properties. */
const RESERVED_PROPERTY_NAMES: ReadonlySet<string> = new Set([
  'TRACE_ON', 'MSG_REGION', 'KEYS', 'TAGS', 'WAIT', 'DELAY', 'RETRY_TOPIC', 'REAL_TOPIC', 'REAL_QID',
  'TRAN_MSG', 'PGROUP', 'MIN_OFFSET', 'MAX_OFFSET', 'BUYER_ID', 'ORIGIN_MESSAGE_ID', 'TRANSFER_FLAG',
  'CORRECTION_FLAG', 'MQ2_FLAG', 'RECONSUME_TIME', 'UNIQ_KEY', 'MAX_RECONSUME_TIMES', 'CONSUME_START_TIME',
  'TRAN_PREPARED_QUEUE_OFFSET', 'TRANSACTION_CHECK_TIMES', 'CHECK_IMMUNITY_TIME_IN_SECONDS', 'INSTANCE_ID',
  'CORRELATION_ID', 'REPLY_TO_CLIENT', 'TTL', 'ARRIVE_TIME', 'PUSH_REPLY_TIME', 'CLUSTER', 'MSG_TYPE',
  'INNER_MULTI_DISPATCH', 'INNER_MULTI_QUEUE_OFFSET', '__transactionId__',
]);

const TOPIC_RE = /^[%|a-zA-Z0-9_-]+$/;
const MAX_TOPIC_CHARS = 127;

function bodyToBuffer(body: Message['body']): Buffer {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** Validators.checkMessage: topic name, non-empty body, size limit, user property names. */
export function validateMessage(msg: Message, maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES): Buffer {
  if (!msg || typeof msg.topic !== 'string' || msg.topic.length === 0) throw new MessageIllegalError('the message has no topic');
  if (msg.topic.length > MAX_TOPIC_CHARS || !TOPIC_RE.test(msg.topic)) {
    throw new MessageIllegalError(`invalid topic name ${JSON.stringify(msg.topic)}: topic names match ^[%|a-zA-Z0-9_-]+$ and have at most 127 characters`);
  }
  const body = bodyToBuffer(msg.body ?? '');
  if (body.length === 0) throw new MessageIllegalError('the message body is empty');
  if (body.length > maxMessageBytes) {
    throw new MessageIllegalError(`the message body is ${body.length} bytes, over the limit of ${maxMessageBytes} bytes`);
  }
  for (const name of Object.keys(msg.properties ?? {})) {
    if (RESERVED_PROPERTY_NAMES.has(name)) throw new MessageIllegalError(`property name ${name} is reserved by RocketMQ`);
    if (name.includes('\u0001') || name.includes('\u0002')) throw new MessageIllegalError(`property name ${JSON.stringify(name)} contains a separator character`);
  }
  if (msg.delayLevel !== undefined && (!Number.isInteger(msg.delayLevel) || msg.delayLevel < 0)) {
    throw new MessageIllegalError(`delay level must be a non-negative integer, got ${msg.delayLevel}`);
  }
  return body;
}

function keysOf(msg: Pick<Message, 'keys'>): string[] {
  if (msg.keys === undefined) return [];
  return (Array.isArray(msg.keys) ? msg.keys : [msg.keys]).flatMap((k) => splitKeys(k));
}

/** The properties a producer sends for `msg` (user properties first, then system ones). */
export function buildSendProperties(msg: Message, uniqKey: string): Properties {
  const p: Properties = { ...(msg.properties ?? {}) };
  p[Prop.UNIQ_KEY] = uniqKey;
  p[Prop.WAIT] = msg.waitStoreMsgOk === false ? 'false' : 'true';
  if (msg.tags !== undefined && msg.tags !== '') p[Prop.TAGS] = msg.tags;
  const keys = keysOf(msg);
  if (keys.length > 0) p[Prop.KEYS] = keys.join(' ');
  if (msg.delayLevel && msg.delayLevel > 0) p[Prop.DELAY] = String(msg.delayLevel);
  return p;
}

interface CompressedBody {
  body: Buffer;
  compressed: boolean;
}

/** zlib container (java.util.zip.Deflater), level 5, for bodies of at least `overBytes`. */
export function compressBody(body: Buffer, overBytes = DEFAULT_COMPRESS_OVER_BYTES): CompressedBody {
  if (overBytes < 0 || body.length < overBytes) return { body, compressed: false };
  const z = zlib.deflateSync(body, { level: COMPRESS_LEVEL });
  return { body: z, compressed: true };
}

/** Inflate a stored body according to its sysFlag; unsupported codecs are reported, not thrown. */
export function inflateBody(body: Buffer, sysFlag: number): { body: Buffer; unsupported?: 'LZ4' | 'ZSTD' } {
  if ((sysFlag & SysFlag.COMPRESSED) === 0) return { body };
  const codec = sysFlag & COMPRESSION_TYPE_MASK;
  if (codec === COMPRESSION_LZ4) return { body, unsupported: 'LZ4' };
  if (codec === COMPRESSION_ZSTD) return { body, unsupported: 'ZSTD' };
  return { body: zlib.inflateSync(body) };
}

/**
 * SEND_BATCH_MESSAGE body: per message
 * `int32 totalSize | int32 magic 0 | int32 bodyCRC 0 | int32 flag | int32 bodyLen | body | int16 propsLen | props`.
 */
export function encodeBatchBody(items: Array<{ body: Buffer; flag: number; properties: string }>): Buffer {
  // One allocation for the whole body (migrateBacklog sends hundreds of messages per batch).
  const propLens = items.map((it) => Buffer.byteLength(it.properties, 'utf8'));
  let size = 0;
  items.forEach((it, i) => {
    if (propLens[i]! > 32767) throw new MessageIllegalError(`message properties are ${propLens[i]} bytes (max 32767)`);
    size += 4 + 4 + 4 + 4 + 4 + it.body.length + 2 + propLens[i]!;
  });
  const out = Buffer.allocUnsafe(size);
  let p = 0;
  items.forEach((it, i) => {
    const total = 4 + 4 + 4 + 4 + 4 + it.body.length + 2 + propLens[i]!;
    p = out.writeInt32BE(total, p);
    p = out.writeInt32BE(0, p); // magic: the broker does not check it in a batch
    p = out.writeInt32BE(0, p); // body CRC: computed by the broker
    p = out.writeInt32BE(it.flag | 0, p);
    p = out.writeInt32BE(it.body.length, p);
    p += it.body.copy(out, p);
    p = out.writeInt16BE(propLens[i]!, p);
    p += out.write(it.properties, p, 'utf8');
  });
  return out;
}

/** Inverse of encodeBatchBody (tests and brokers). */
export function decodeBatchBody(buf: Buffer): Array<{ body: Buffer; flag: number; properties: string }> {
  const out: Array<{ body: Buffer; flag: number; properties: string }> = [];
  let p = 0;
  while (p + 20 <= buf.length) {
    const total = buf.readInt32BE(p);
    const flag = buf.readInt32BE(p + 12);
    const bodyLen = buf.readInt32BE(p + 16);
    const body = buf.subarray(p + 20, p + 20 + bodyLen);
    const propsLen = buf.readInt16BE(p + 20 + bodyLen);
    const properties = buf.toString('utf8', p + 22 + bodyLen, p + 22 + bodyLen + propsLen);
    out.push({ body, flag, properties });
    p += total;
  }
  return out;
}

interface ToMessageExtOptions {
  brokerName?: string;
  /** Consumer group: a record from %RETRY%<group> gets its topic back from RETRY_TOPIC. */
  restoreRetryTopicForGroup?: string;
}

/** A decoded record as the user sees it. */
export function toMessageExt(rec: MessageRecord, opts: ToMessageExtOptions = {}): MessageExt {
  const properties = decodeProperties(rec.properties);
  const inflated = inflateBody(rec.body, rec.sysFlag);
  const offsetMsgId = createOffsetMsgId(rec.storeHost, rec.commitLogOffset);
  let topic = rec.topic;
  if (opts.restoreRetryTopicForGroup !== undefined && rec.topic === retryTopic(opts.restoreRetryTopicForGroup)) {
    const original = properties[Prop.RETRY_TOPIC];
    if (original) topic = original;
  }
  const msg: MessageExt = {
    topic,
    body: inflated.body,
    keys: splitKeys(properties[Prop.KEYS]),
    properties,
    msgId: properties[Prop.UNIQ_KEY] || offsetMsgId,
    offsetMsgId,
    queue: { topic: rec.topic, brokerName: opts.brokerName ?? '', queueId: rec.queueId },
    queueId: rec.queueId,
    queueOffset: rec.queueOffset,
    commitLogOffset: rec.commitLogOffset,
    reconsumeTimes: rec.reconsumeTimes,
    bornTimestamp: rec.bornTimestamp,
    bornHost: formatSocketAddr(rec.bornHost),
    storeTimestamp: rec.storeTimestamp,
    storeHost: formatSocketAddr(rec.storeHost),
    sysFlag: rec.sysFlag,
    flag: rec.flag,
    storeSize: rec.storeSize,
    bodyCrc: rec.bodyCrc,
    preparedTransactionOffset: rec.preparedTransactionOffset,
    delayLevel: Number(properties[Prop.DELAY] ?? 0) || 0,
  };
  const tags = properties[Prop.TAGS];
  if (tags !== undefined) msg.tags = tags;
  if (inflated.unsupported) msg.bodyCodecUnsupported = inflated.unsupported;
  return msg;
}

/**
 * Decode a PULL/QUERY/VIEW body (concatenated stored records). The messages' bodies may be views
 * of `body`'s memory (when it is most of its buffer): do not reuse that buffer afterwards.
 */
export function decodeMessages(body: Buffer, opts: ToMessageExtOptions = {}): MessageExt[] {
  const out: MessageExt[] = [];
  // The messages' bodies are views of `own`. When the body is a small part of a bigger buffer (a
  // socket read holding other frames too), one copy of it keeps them from holding that buffer;
  // when it is most of its buffer, the views keep at most twice their bytes alive, without a copy.
  const own = body.length * 2 >= body.buffer.byteLength ? body : Buffer.from(body);
  let p = 0;
  while (p < own.length) {
    const rec = decodeRecord(own, p, { copyBody: false });
    out.push(toMessageExt(rec, opts));
    p += rec.storeSize;
  }
  return out;
}

/** User properties only (system names removed). */
export function userProperties(msg: Pick<MessageExt, 'properties'>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(msg.properties)) if (!RESERVED_PROPERTY_NAMES.has(k)) out[k] = v;
  return out;
}

export { encodeProperties, decodeProperties };
