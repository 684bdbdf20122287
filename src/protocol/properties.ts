/**
 * Message properties string: name \u0001 value \u0002 ..., without a trailing \u0002 (apache/rocketmq MessageDecoder.messageProperties2String).
 * Parsing splits on \u0002 then at the first \u0001; empty names/values are skipped, as Java does.
 */
import { javaHashCode } from './hash.js';

const NAME_VALUE_SEPARATOR = '\u0001';
export const PROPERTY_SEPARATOR = '\u0002';

export type Properties = Record<string, string>;

export function encodeProperties(props: Properties | undefined): string {
  if (!props) return '';
  let out = '';
  for (const k of Object.keys(props)) {
    const v = props[k];
    if (v === undefined || v === null) continue;
    if (out) out += PROPERTY_SEPARATOR;
    out += k + NAME_VALUE_SEPARATOR + v;
  }
  return out;
}

export function decodeProperties(s: string): Properties {
  const out: Properties = {};
  if (!s) return out;
  scanProperties(s, (start, sep, end) => {
    out[s.slice(start, sep)] = s.slice(sep + 1, end);
  });
  return out;
}

/**
 * Each valid item of a properties string, in order, as the positions of its name [start, sep) and
 * value (sep, end): decodeProperties' reading without building the map (a repeated name comes as
 * often as it is there).
 */
export function scanProperties(s: string, item: (start: number, sep: number, end: number) => void): void {
  // s.split(PROPERTY_SEPARATOR), then each item split at its first NAME_VALUE_SEPARATOR, without
  // the intermediate arrays and strings.
  const n = s.length;
  let start = 0;
  // Next NAME_VALUE_SEPARATOR at or after `start` (n when none): each search runs once, so a long
  // string of items without one stays linear.
  let i = -1;
  while (start <= n) {
    let end = s.indexOf(PROPERTY_SEPARATOR, start);
    if (end < 0) end = n;
    if (i < start) {
      i = s.indexOf(NAME_VALUE_SEPARATOR, start);
      if (i < 0) i = n;
    }
    // A name needs at least one character and a value after the separator, inside this item.
    if (i > start && i < end - 1) item(start, i, end);
    start = end + 1;
  }
}

/**
 * The values of `names` in a properties string (absent ones undefined), found without building the
 * whole map or slicing the names: the send and trace paths want a few properties of each message.
 * Same reading as decodeProperties (the last of a repeated name wins).
 */
export function pickProperties<N extends string>(s: string, names: readonly N[]): Partial<Record<N, string>> {
  const out: Partial<Record<N, string>> = {};
  const n = s.length;
  let start = 0;
  // Bounded by the string length: each step moves past one \u0002-separated item.
  while (start < n) {
    let end = s.indexOf(PROPERTY_SEPARATOR, start);
    if (end < 0) end = n;
    const sep = s.indexOf(NAME_VALUE_SEPARATOR, start);
    if (sep > start && sep < end - 1) {
      for (const name of names) {
        if (name.length === sep - start && s.startsWith(name, start)) {
          out[name] = s.slice(sep + 1, end);
          break;
        }
      }
    }
    start = end + 1;
  }
  return out;
}

/** Well-known property names (MessageConst). */
export const Prop = {
  KEYS: 'KEYS',
  TAGS: 'TAGS',
  WAIT: 'WAIT',
  DELAY: 'DELAY',
  RETRY_TOPIC: 'RETRY_TOPIC',
  REAL_TOPIC: 'REAL_TOPIC',
  REAL_QID: 'REAL_QID',
  TRAN_MSG: 'TRAN_MSG',
  PGROUP: 'PGROUP',
  MIN_OFFSET: 'MIN_OFFSET',
  MAX_OFFSET: 'MAX_OFFSET',
  ORIGIN_MESSAGE_ID: 'ORIGIN_MESSAGE_ID',
  RECONSUME_TIME: 'RECONSUME_TIME',
  MAX_RECONSUME_TIMES: 'MAX_RECONSUME_TIMES',
  MSG_REGION: 'MSG_REGION',
  TRACE_ON: 'TRACE_ON',
  UNIQ_KEY: 'UNIQ_KEY',
  CONSUME_START_TIME: 'CONSUME_START_TIME',
  TRAN_PREPARED_QUEUE_OFFSET: 'TRAN_PREPARED_QUEUE_OFFSET',
  TRANSACTION_CHECK_TIMES: 'TRANSACTION_CHECK_TIMES',
  CHECK_IMMUNITY_TIME_IN_SECONDS: 'CHECK_IMMUNITY_TIME_IN_SECONDS',
  CLUSTER: 'CLUSTER',
} as const;

/** KEYS holds several keys separated by one space. */
export function splitKeys(keys: string | undefined): string[] {
  if (!keys) return [];
  if (!keys.includes(' ')) return [keys];
  return keys.split(' ').filter((k) => k.length > 0);
}

/** java.util.HashMap: first table size, load factor, and the bucket length that forces growth. */
const JAVA_MAP_FIRST_TABLE = 16;
/** Sort key of an entry in toString: bucket * this + put sequence (sequences stay far below it). */
const JAVA_MAP_SEQ_SPAN = 2 ** 24;
/** toString sorts this many names or fewer by insertion (quadratic), more with Array.prototype.sort. */
const JAVA_MAP_INSERTION_SORT_MAX = 32;
const JAVA_MAP_LOAD_FACTOR = 0.75;
/** A put that makes a bucket this long resizes a table smaller than 64 (HashMap.treeifyBin). */
const JAVA_MAP_LONG_BUCKET = 9;
const JAVA_MAP_MIN_TREEIFY_TABLE = 64;

/**
 * A message's properties as an Apache broker holds them while storing it: the java.util.HashMap of
 * MessageDecoder.string2messageProperties, changed by put/remove, written by messageProperties2String.
 * The written order is the map's iteration order: by bucket ((h ^ h >>> 16) & (table size - 1), h =
 * String.hashCode of the name), then by insertion within a bucket (a name removed and put again goes
 * last). The table starts at 16 buckets and doubles when the map outgrows 3/4 of it (or a bucket of a
 * table below 64 reaches 9 entries); it never shrinks. So the same puts and removes give the same
 * bytes Apache stores. Not modelled: the red-black bins of a table of 64+ buckets with 9+ names in
 * one bucket (their order differs), which no real property set reaches.
 */
export class JavaPropertiesMap {
  private readonly entries = new Map<string, { value: string; seq: number; hash: number }>();
  private tableSize = 0;
  private seq = 0;

  /** MessageDecoder.string2messageProperties: items of fewer than 3 chars or without a name/value are skipped. */
  static parse(s: string): JavaPropertiesMap {
    const m = new JavaPropertiesMap();
    const props = decodeProperties(s);
    // decodeProperties keeps the first position of a repeated name and its last value, as put does.
    for (const k of Object.keys(props)) m.set(k, props[k]!);
    return m;
  }

  get size(): number {
    return this.entries.size;
  }

  get(name: string): string | undefined {
    return this.entries.get(name)?.value;
  }

  /** HashMap.put: a present name keeps its place; a new one goes last in its bucket. */
  set(name: string, value: string): this {
    const e = this.entries.get(name);
    if (e) {
      e.value = value;
      return this;
    }
    if (this.tableSize === 0) this.tableSize = JAVA_MAP_FIRST_TABLE;
    const h = javaHashCode(name);
    const hash = h ^ (h >>> 16);
    this.entries.set(name, { value, seq: this.seq++, hash });
    if (this.tableSize < JAVA_MAP_MIN_TREEIFY_TABLE && this.bucketLength(hash) >= JAVA_MAP_LONG_BUCKET) this.tableSize *= 2;
    if (this.entries.size > this.tableSize * JAVA_MAP_LOAD_FACTOR) this.tableSize *= 2;
    return this;
  }

  /** HashMap.remove: the value removed, if any. */
  delete(name: string): string | undefined {
    const e = this.entries.get(name);
    if (!e) return undefined;
    this.entries.delete(name);
    return e.value;
  }

  /** MessageDecoder.messageProperties2String. */
  toString(): string {
    const mask = this.tableSize - 1;
    if (this.entries.size > JAVA_MAP_INSERTION_SORT_MAX) {
      // Many names (a producer may send thousands within the 32 KiB limit): an O(n log n) sort.
      const all = [...this.entries].sort((a, b) => (a[1].hash & mask) - (b[1].hash & mask) || a[1].seq - b[1].seq);
      return all.map(([k, e]) => k + NAME_VALUE_SEPARATOR + e.value).join(PROPERTY_SEPARATOR);
    }
    // Bucket order, then put order within a bucket: an insertion sort of the few names (a send
    // has a handful), without the pair arrays and comparator calls of [...entries].sort().
    const items: string[] = [];
    const keys: number[] = [];
    for (const [k, e] of this.entries) {
      const key = (e.hash & mask) * JAVA_MAP_SEQ_SPAN + e.seq;
      let i = items.length;
      while (i > 0 && keys[i - 1]! > key) {
        items[i] = items[i - 1]!;
        keys[i] = keys[i - 1]!;
        i--;
      }
      items[i] = k + NAME_VALUE_SEPARATOR + e.value;
      keys[i] = key;
    }
    let out = items.length > 0 ? items[0]! : '';
    for (let i = 1; i < items.length; i++) out += PROPERTY_SEPARATOR + items[i]!;
    return out;
  }

  toObject(): Properties {
    const out: Properties = {};
    for (const [k, e] of this.entries) out[k] = e.value;
    return out;
  }

  private bucketLength(hash: number): number {
    const mask = this.tableSize - 1;
    let n = 0;
    for (const e of this.entries.values()) if ((e.hash & mask) === (hash & mask)) n++;
    return n;
  }
}

