/**
 * Reads a RocketMQ store dir (ours or Apache's) into a comparable description: every file's size,
 * each commit log record decoded, each consume-queue unit, each index file's header, slots and
 * entries, the checkpoint and the config files. Also the commit log's bytes with the fields that
 * must differ between two brokers (born/store time and host) zeroed, so two stores written from the
 * same input can be compared byte for byte. Read-only; the layout is apache/rocketmq 4.9.8's
 * (CommitLog, ConsumeQueue, index/IndexFile, StoreCheckpoint, config/*.json).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseFastjson } from '../../src/protocol/fastjson.js';
import { readInt64 } from '../../src/protocol/long.js';
import { BLANK_MAGIC_CODE, decodeRecord, formatSocketAddr, storeTimestampPos, type MessageRecord } from '../../src/protocol/message.js';
import { decodeProperties } from '../../src/protocol/properties.js';
import { decodeIndexHeader, type IndexHeader } from '../../src/broker/store/index-file.js';

export interface RecordView {
  offset: number;
  size: number;
  topic: string;
  queueId: number;
  queueOffset: number;
  flag: number;
  sysFlag: number;
  bodyCrc: number;
  reconsumeTimes: number;
  preparedTransactionOffset: number;
  body: string;
  /** The properties string as stored, in its order. */
  properties: string;
  props: Record<string, string>;
  storeTimestamp: number;
  storeHost: string;
}

export interface IndexView extends IndexHeader {
  name: string;
  size: number;
  /** slot number -> newest entry number, non-empty slots only. */
  slots: Record<number, number>;
  /** entries 1..indexCount-1 */
  entries: Array<{ keyHash: number; phyOffset: number; timeDiff: number; prevIndex: number }>;
}

export interface StoreView {
  /** Path relative to the store root -> size, for commitlog/, consumequeue/, index/ and the root files. */
  files: Record<string, number>;
  records: RecordView[];
  /** Where each segment's end-of-file marker is: segment name -> [position, size field]. */
  blanks: Record<string, [number, number]>;
  /** "topic/queueId" -> units [commitLogOffset, size, tagsCode], filler units included. */
  queues: Record<string, Array<[number, number, number]>>;
  index: IndexView[];
  checkpoint: { physicMsgTimestamp: number; logicsMsgTimestamp: number; indexMsgTimestamp: number } | null;
  /** config/<name>.json parsed (fastjson text: bare integer keys allowed). */
  config: Record<string, unknown>;
  /** config/<name>.json as text. */
  configText: Record<string, string>;
}

const ROOT_FILES = ['checkpoint', 'abort', 'lock'];

function list(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

export function readStore(root: string, geometry: { maxHashSlotNum: number }): StoreView {
  const view: StoreView = { files: {}, records: [], blanks: {}, queues: {}, index: [], checkpoint: null, config: {}, configText: {} };
  for (const f of ROOT_FILES) {
    const p = path.join(root, f);
    if (fs.existsSync(p)) view.files[f] = fs.statSync(p).size;
  }
  for (const seg of list(path.join(root, 'commitlog'))) {
    const buf = fs.readFileSync(path.join(root, 'commitlog', seg));
    view.files[`commitlog/${seg}`] = buf.length;
    for (const rec of segmentRecords(buf, Number(seg), view.blanks, seg)) view.records.push(recordView(rec));
  }
  for (const topic of list(path.join(root, 'consumequeue'))) {
    for (const q of list(path.join(root, 'consumequeue', topic))) {
      const units: Array<[number, number, number]> = [];
      for (const f of list(path.join(root, 'consumequeue', topic, q))) {
        const buf = fs.readFileSync(path.join(root, 'consumequeue', topic, q, f));
        view.files[`consumequeue/${topic}/${q}/${f}`] = buf.length;
        // Bounded by the file: units until the first empty one (ConsumeQueue.recover).
        for (let pos = 0; pos + 20 <= buf.length; pos += 20) {
          const off = readInt64(buf, pos);
          const size = buf.readInt32BE(pos + 8);
          if (off < 0 || size <= 0) break;
          units.push([off, size, readInt64(buf, pos + 12)]);
        }
      }
      view.queues[`${topic}/${q}`] = units;
    }
  }
  for (const name of list(path.join(root, 'index'))) {
    const buf = fs.readFileSync(path.join(root, 'index', name));
    view.files[`index/${name}`] = buf.length;
    view.index.push(indexView(name, buf, geometry.maxHashSlotNum));
  }
  const cp = path.join(root, 'checkpoint');
  if (fs.existsSync(cp)) {
    const b = fs.readFileSync(cp);
    view.checkpoint = { physicMsgTimestamp: readInt64(b, 0), logicsMsgTimestamp: readInt64(b, 8), indexMsgTimestamp: readInt64(b, 16) };
  }
  for (const f of list(path.join(root, 'config'))) {
    if (!f.endsWith('.json')) continue;
    const text = fs.readFileSync(path.join(root, 'config', f), 'utf8');
    view.configText[f] = text;
    view.config[f] = parseFastjson(text);
  }
  return view;
}

/** The records of one segment, in order, until the first zero or end-of-file marker. */
export function segmentRecords(buf: Buffer, start: number, blanks?: Record<string, [number, number]>, name?: string): MessageRecord[] {
  const out: MessageRecord[] = [];
  // Bounded: each step moves past one record (size >= 1) or stops.
  for (let pos = 0; pos + 8 <= buf.length; ) {
    const size = buf.readInt32BE(pos);
    const magic = buf.readInt32BE(pos + 4);
    if (magic === BLANK_MAGIC_CODE) {
      if (blanks && name) blanks[name] = [pos, size];
      break;
    }
    if (size <= 0) break;
    const rec = decodeRecord(buf, pos);
    if (rec.commitLogOffset !== start + pos) throw new Error(`record at ${start + pos} claims offset ${rec.commitLogOffset}`);
    out.push(rec);
    pos += size;
  }
  return out;
}

function recordView(r: MessageRecord): RecordView {
  return {
    offset: r.commitLogOffset,
    size: r.storeSize,
    topic: r.topic,
    queueId: r.queueId,
    queueOffset: r.queueOffset,
    flag: r.flag,
    sysFlag: r.sysFlag,
    bodyCrc: r.bodyCrc,
    reconsumeTimes: r.reconsumeTimes,
    preparedTransactionOffset: r.preparedTransactionOffset,
    body: r.body.toString('utf8'),
    properties: r.properties,
    props: decodeProperties(r.properties),
    storeTimestamp: r.storeTimestamp,
    storeHost: formatSocketAddr(r.storeHost),
  };
}

function indexView(name: string, buf: Buffer, slotNum: number): IndexView {
  const v: IndexView = { name, size: buf.length, ...decodeIndexHeader(buf), slots: {}, entries: [] };
  for (let s = 0; s < slotNum; s++) {
    const n = buf.readInt32BE(40 + s * 4);
    if (n !== 0) v.slots[s] = n;
  }
  const entriesAt = 40 + slotNum * 4;
  for (let i = 1; i < v.indexCount; i++) {
    const p = entriesAt + i * 20;
    v.entries.push({ keyHash: buf.readInt32BE(p), phyOffset: readInt64(buf, p + 4), timeDiff: buf.readInt32BE(p + 12), prevIndex: buf.readInt32BE(p + 16) });
  }
  return v;
}

/**
 * A commit log segment with born/store timestamps and hosts zeroed in every record (they differ
 * between two brokers and two runs by nature), everything else as on disk.
 */
export function maskedSegment(buf: Buffer, start: number): Buffer {
  const out = Buffer.from(buf);
  for (const r of segmentRecords(buf, start)) {
    const at = r.commitLogOffset - start;
    const bornHostLen = r.sysFlag & 0x10 ? 20 : 8;
    const storeHostLen = r.sysFlag & 0x20 ? 20 : 8;
    out.fill(0, at + 40, at + 48 + bornHostLen); // BORNTIMESTAMP + BORNHOST
    const st = at + storeTimestampPos(r.sysFlag);
    out.fill(0, st, st + 8 + storeHostLen); // STORETIMESTAMP + STOREHOSTADDRESS
  }
  return out;
}
