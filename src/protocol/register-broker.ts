/**
 * REGISTER_BROKER bodies (fact sheet §2.13): plain RegisterBrokerBody JSON, or — with header
 * `compressed=true` — a zlib stream of length-prefixed pieces: DataVersion JSON, a topic count,
 * each topic's `TopicConfig.encode()` string ("name read write perm filterType"), and the filter
 * server list as a JSON array. The compressed form drops topicSysFlag and order.
 */
import zlib from 'node:zlib';
import { decodeTopicConfigWrapper, encodeJson, type DataVersion, type TopicConfig, type TopicConfigSerializeWrapper } from './bodies.js';
import { parseFastjson } from './fastjson.js';

export interface RegisterBrokerBody {
  topicConfigSerializeWrapper: TopicConfigSerializeWrapper;
  filterServerList: string[];
}

/** Bound on the inflated size of a compressed body (a broker with 100k topics is ~5 MB). */
const MAX_INFLATED_BYTES = 64 * 1024 * 1024;

export function encodeRegisterBrokerBody(body: RegisterBrokerBody, compressed = false): Buffer {
  if (!compressed) return encodeJson(body);
  const pieces: Buffer[] = [];
  const piece = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeInt32BE(b.length, 0);
    pieces.push(len, b);
  };
  piece(JSON.stringify(body.topicConfigSerializeWrapper.dataVersion));
  const topics = Object.values(body.topicConfigSerializeWrapper.topicConfigTable);
  const count = Buffer.alloc(4);
  count.writeInt32BE(topics.length, 0);
  pieces.push(count);
  for (const t of topics) piece(`${t.topicName} ${t.readQueueNums} ${t.writeQueueNums} ${t.perm} ${t.topicFilterType}`);
  piece(JSON.stringify(body.filterServerList));
  return zlib.deflateSync(Buffer.concat(pieces), { level: 9 });
}

export function decodeRegisterBrokerBody(raw: Buffer, compressed: boolean): RegisterBrokerBody {
  if (!compressed) {
    const o = parseFastjson(raw.toString('utf8')) as Record<string, unknown>;
    if (!o || typeof o !== 'object') throw new Error('RegisterBrokerBody is not an object');
    const list = Array.isArray(o.filterServerList) ? o.filterServerList.map(String) : [];
    return { topicConfigSerializeWrapper: decodeTopicConfigWrapper(o.topicConfigSerializeWrapper), filterServerList: list };
  }
  const buf = zlib.inflateSync(raw, { maxOutputLength: MAX_INFLATED_BYTES });
  let p = 0;
  const readPiece = (): string => {
    if (p + 4 > buf.length) throw new Error('compressed RegisterBrokerBody truncated');
    const len = buf.readInt32BE(p);
    p += 4;
    if (len < 0 || p + len > buf.length) throw new Error('compressed RegisterBrokerBody piece overruns');
    const s = buf.toString('utf8', p, p + len);
    p += len;
    return s;
  };
  const dv = parseFastjson(readPiece()) as Partial<DataVersion>;
  if (p + 4 > buf.length) throw new Error('compressed RegisterBrokerBody truncated');
  const count = buf.readInt32BE(p);
  p += 4;
  if (count < 0 || count > buf.length / 4) throw new Error('bad topic count in compressed RegisterBrokerBody');
  const table: Record<string, TopicConfig> = {};
  for (let i = 0; i < count; i++) {
    const [name, r, w, perm, filter] = readPiece().split(' ');
    if (!name) throw new Error('empty topic in compressed RegisterBrokerBody');
    table[name] = {
      topicName: name,
      readQueueNums: Number(r),
      writeQueueNums: Number(w),
      perm: Number(perm),
      topicFilterType: filter === 'MULTI_TAG' ? 'MULTI_TAG' : 'SINGLE_TAG',
      topicSysFlag: 0,
      order: false,
    };
  }
  let filterServerList: string[] = [];
  if (p < buf.length) {
    const l = parseFastjson(readPiece());
    if (Array.isArray(l)) filterServerList = l.map(String);
  }
  return {
    topicConfigSerializeWrapper: { dataVersion: { counter: Number(dv.counter ?? 0), timestamp: Number(dv.timestamp ?? 0) }, topicConfigTable: table },
    filterServerList,
  };
}
