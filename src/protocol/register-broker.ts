/**
 * REGISTER_BROKER bodies (apache/rocketmq RegisterBrokerBody,
 * TopicConfig.encode/decode):
 *  - plain: RegisterBrokerBody JSON `{"filterServerList":[],"topicConfigSerializeWrapper":{...}}`;
 *  - compressed (header `compressed=true`): a zlib stream of big-endian length-prefixed pieces —
 *    DataVersion JSON, an int32 topic count, each topic's `TopicConfig.encode()` string
 *    ("name read write perm filterType", space separated: no topicSysFlag, no order), then the
 *    filter server list as a JSON array. RocketMQ 5 appends more pieces (topic attributes as a 6th
 *    field, queue mappings after the filter list); those are tolerated and ignored.
 * The header's `bodyCrc32` is `crc32(body as sent) & 0x7FFFFFFF`; 0 means "not checked".
 */
import zlib from 'node:zlib';
import { decodeTopicConfigWrapper, encodeJson, type DataVersion, type TopicConfig, type TopicConfigSerializeWrapper } from './bodies.js';
import { parseFastjson, parseFastjsonLarge, toFastjson } from './fastjson.js';
import { crc32 } from './hash.js';

export interface RegisterBrokerBody {
  topicConfigSerializeWrapper: TopicConfigSerializeWrapper;
  filterServerList: string[];
}

/** Bound on the inflated size of a compressed body (a broker with 100k topics inflates to ~5 MB). */
const MAX_INFLATED_REGISTER_BODY_BYTES = 64 * 1024 * 1024;
/** Each topic piece is a 4-byte length plus at least "t 1 1 6 SINGLE_TAG": bounds the count read. */
const MIN_TOPIC_PIECE_BYTES = 4 + 1;

class RegisterBrokerBodyError extends Error {}

/** The `bodyCrc32` header value for a body (UtilAll.crc32: CRC32 & 0x7FFFFFFF). */
export function registerBodyCrc32(body: Buffer): number {
  return crc32(body) & 0x7fffffff;
}

/** As DefaultRequestProcessor.checksum: a non-zero header value must match the body (a missing body counts as empty). */
export function registerBodyCrcMatches(body: Buffer | undefined, bodyCrc32: number): boolean {
  if (bodyCrc32 === 0) return true;
  return registerBodyCrc32(body ?? Buffer.alloc(0)) === bodyCrc32;
}

export function encodeRegisterBrokerBody(body: RegisterBrokerBody, compressed = false): Buffer {
  if (!compressed) return encodeJson(body);
  const pieces: Buffer[] = [];
  const int32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(n, 0);
    pieces.push(b);
  };
  const piece = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    int32(b.length);
    pieces.push(b);
  };
  const wrapper = body.topicConfigSerializeWrapper;
  piece(toFastjson({ counter: wrapper.dataVersion.counter, timestamp: wrapper.dataVersion.timestamp }));
  const topics = Object.values(wrapper.topicConfigTable);
  int32(topics.length);
  for (const t of topics) piece(encodeTopicConfigLine(t));
  piece(toFastjson(body.filterServerList));
  // Deflater(BEST_COMPRESSION) in RegisterBrokerBody.encode.
  return zlib.deflateSync(Buffer.concat(pieces), { level: zlib.constants.Z_BEST_COMPRESSION });
}

/** TopicConfig.encode(): a name with a space would split into the wrong fields on decode, so refuse it. */
export function encodeTopicConfigLine(t: TopicConfig): string {
  if (/\s/.test(t.topicName) || t.topicName === '') throw new RegisterBrokerBodyError(`topic name ${JSON.stringify(t.topicName)} cannot be sent in a compressed body`);
  return `${t.topicName} ${t.readQueueNums} ${t.writeQueueNums} ${t.perm} ${t.topicFilterType}`;
}

/** TopicConfig.decode(): at least 5 space-separated fields; the filter type must be a TopicFilterType name. */
export function decodeTopicConfigLine(line: string): TopicConfig {
  const f = line.split(' ');
  if (f.length < 5) throw new RegisterBrokerBodyError(`topic config "${line.slice(0, 200)}" has ${f.length} fields, expected 5`);
  const [name, r, w, perm, filter] = f as [string, string, string, string, string];
  if (name === '') throw new RegisterBrokerBodyError('topic config with an empty topic name');
  if (filter !== 'SINGLE_TAG' && filter !== 'MULTI_TAG') throw new RegisterBrokerBodyError(`topic ${name}: unknown topicFilterType ${filter}`);
  return {
    topicName: name,
    readQueueNums: int(r, `topic ${name} readQueueNums`),
    writeQueueNums: int(w, `topic ${name} writeQueueNums`),
    perm: int(perm, `topic ${name} perm`),
    topicFilterType: filter,
    topicSysFlag: 0,
    order: false,
  };
}

/** Throws RegisterBrokerBodyError (or a fastjson/zlib error) on anything it cannot read. */
export function decodeRegisterBrokerBody(raw: Buffer, compressed: boolean): RegisterBrokerBody {
  return compressed ? decodeCompressed(raw) : decodePlain(raw);
}

function decodePlain(raw: Buffer): RegisterBrokerBody {
  // Read field by field below (no recursive walk), so the fast parser is safe for this network body.
  const o = parseFastjsonLarge(raw.toString('utf8'));
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new RegisterBrokerBodyError('RegisterBrokerBody is not a JSON object');
  const rec = o as Record<string, unknown>;
  // Brokers older than 3.0.11 send the TopicConfigSerializeWrapper itself (DefaultRequestProcessor.registerBroker).
  const wrapperJson = rec.topicConfigSerializeWrapper ?? (rec.topicConfigTable !== undefined ? rec : undefined);
  const wrapper = wrapperJson === undefined ? emptyWrapper() : decodeTopicConfigWrapper(wrapperJson);
  for (const [key, tc] of Object.entries(wrapper.topicConfigTable)) if (!tc.topicName) tc.topicName = key;
  const list = Array.isArray(rec.filterServerList) ? rec.filterServerList.map(String) : [];
  return { topicConfigSerializeWrapper: wrapper, filterServerList: list };
}

function decodeCompressed(raw: Buffer): RegisterBrokerBody {
  const buf = zlib.inflateSync(raw, { maxOutputLength: MAX_INFLATED_REGISTER_BODY_BYTES });
  let p = 0;
  const readInt32 = (what: string): number => {
    if (p + 4 > buf.length) throw new RegisterBrokerBodyError(`compressed RegisterBrokerBody truncated before ${what}`);
    const n = buf.readInt32BE(p);
    p += 4;
    return n;
  };
  const readPiece = (what: string): string => {
    const len = readInt32(`the length of ${what}`);
    if (len < 0 || p + len > buf.length) throw new RegisterBrokerBodyError(`compressed RegisterBrokerBody: ${what} (${len} bytes) overruns the body`);
    const s = buf.toString('utf8', p, p + len);
    p += len;
    return s;
  };
  const dv = parseFastjson(readPiece('the DataVersion')) as Record<string, unknown> | null;
  if (!dv || typeof dv !== 'object' || Array.isArray(dv)) throw new RegisterBrokerBodyError('compressed RegisterBrokerBody: DataVersion is not an object');
  const count = readInt32('the topic count');
  if (count < 0 || count > (buf.length - p) / MIN_TOPIC_PIECE_BYTES) throw new RegisterBrokerBodyError(`compressed RegisterBrokerBody: bad topic count ${count}`);
  const table: Record<string, TopicConfig> = {};
  for (let i = 0; i < count; i++) {
    const tc = decodeTopicConfigLine(readPiece(`topic ${i}`));
    table[tc.topicName] = tc;
  }
  let filterServerList: string[] = [];
  // The filter list is always written by Java; tolerate its absence from other writers.
  if (p < buf.length) {
    const l = parseFastjson(readPiece('the filter server list'));
    if (!Array.isArray(l)) throw new RegisterBrokerBodyError('compressed RegisterBrokerBody: filter server list is not an array');
    filterServerList = l.map(String);
  }
  return {
    topicConfigSerializeWrapper: { dataVersion: toDataVersion(dv), topicConfigTable: table },
    filterServerList,
  };
}

function toDataVersion(dv: Record<string, unknown>): DataVersion {
  const counter = Number(dv.counter ?? 0);
  const timestamp = Number(dv.timestamp ?? 0);
  if (!Number.isFinite(counter) || !Number.isFinite(timestamp)) throw new RegisterBrokerBodyError('DataVersion has non-numeric fields');
  return { counter, timestamp };
}

function emptyWrapper(): TopicConfigSerializeWrapper {
  return { dataVersion: { counter: 0, timestamp: 0 }, topicConfigTable: {} };
}

function int(s: string, what: string): number {
  if (!/^-?\d{1,10}$/.test(s)) throw new RegisterBrokerBodyError(`${what} is not an integer: ${s.slice(0, 40)}`);
  return Number(s);
}
