/**
 * Reader and writer for the JSON dialect RocketMQ's fastjson produces (apache/rocketmq RemotingSerializable.encode, which serializes with fastjson):
 * bare numeric map keys (`{0:"addr"}`), whole objects as map keys (MessageQueue-keyed maps),
 * pretty-printed files with tabs. Standard JSON is a subset, so this reads both.
 *
 * Reading: non-string keys become string keys of a plain object: a number key `0` becomes "0";
 * an object key becomes its canonical JSON (members sorted), so `JSON.parse(key)` recovers it
 * (see messageQueueKey()). Writing: plain objects get quoted, sorted keys (fastjson SortField);
 * `FjMap` writes its keys as JSON values (bare numbers, objects), which is what Java expects.
 */

/** Nesting limit: bodies come from the network, so recursion must be bounded. */
const MAX_DEPTH = 256;

/**
 * Text the writer puts out as it is: a value already rendered (a base64 string, which needs no
 * escaping; an object written once and sent to several peers). The caller vouches that it is
 * what the writer would have produced (compact form).
 */
export class RawJson {
  constructor(readonly json: string) {}
}

/** A body that is not the RocketMQ JSON expected of it: bad syntax, or not the shape decoded. */
export class BodyFormatError extends Error {}

class FastjsonSyntaxError extends BodyFormatError {}

export function parseFastjson(text: string): unknown {
  const p = new Parser(text);
  p.ws();
  const v = p.value(0);
  p.ws();
  if (p.i < text.length) p.fail('trailing characters');
  return v;
}

/**
 * parseFastjson for large texts whose fields the caller reads by name (topics.json, REGISTER_BROKER
 * bodies: megabytes with tens of thousands of topics): standard JSON goes through V8's JSON.parse,
 * several times faster; anything else (bare numeric keys, single quotes, ...) through
 * parseFastjson. Same result, except that JSON.parse puts no bound on nesting, so the caller must
 * not walk the value recursively.
 */
export function parseFastjsonLarge(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return parseFastjson(text);
  }
}

class Parser {
  i = 0;
  constructor(readonly s: string) {}

  fail(what: string): never {
    throw new FastjsonSyntaxError(`fastjson: ${what} at position ${this.i}`);
  }

  ws(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.i++;
      else break;
    }
  }

  value(depth: number): unknown {
    if (depth > MAX_DEPTH) this.fail('nesting too deep');
    const c = this.s[this.i];
    switch (c) {
      case '{':
        return this.object(depth);
      case '[':
        return this.array(depth);
      case '"':
      case "'":
        return this.string(c);
      case 't':
        return this.word('true', true);
      case 'f':
        return this.word('false', false);
      case 'n':
        return this.word('null', null);
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
        return this.fail(c === undefined ? 'unexpected end' : `unexpected ${JSON.stringify(c)}`);
    }
  }

  word<T>(w: string, v: T): T {
    if (this.s.startsWith(w, this.i)) {
      this.i += w.length;
      return v;
    }
    return this.fail(`expected ${w}`);
  }

  number(): number {
    const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(this.s.slice(this.i, this.i + 64));
    if (!m) return this.fail('bad number');
    this.i += m[0].length;
    return Number(m[0]);
  }

  string(q: string): string {
    const s = this.s;
    let out = '';
    let start = ++this.i;
    while (this.i < s.length) {
      const c = s[this.i]!;
      if (c === q) {
        out += s.slice(start, this.i++);
        return out;
      }
      if (c === '\\') {
        out += s.slice(start, this.i);
        const e = s[this.i + 1];
        this.i += 2;
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'u': {
            const hex = s.slice(this.i, this.i + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape');
            out += String.fromCharCode(parseInt(hex, 16));
            this.i += 4;
            break;
          }
          case 'x': {
            const hex = s.slice(this.i, this.i + 2);
            if (!/^[0-9a-fA-F]{2}$/.test(hex)) this.fail('bad \\x escape');
            out += String.fromCharCode(parseInt(hex, 16));
            this.i += 2;
            break;
          }
          case undefined:
            return this.fail('unterminated string');
          default:
            out += e;
        }
        start = this.i;
      } else {
        this.i++;
      }
    }
    return this.fail('unterminated string');
  }

  key(depth: number): string {
    const c = this.s[this.i];
    if (c === '"' || c === "'") return this.string(c);
    if (c === '{' || c === '[') return canonicalJson(this.value(depth + 1));
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return String(this.number());
    // fastjson also accepts unquoted identifiers as field names
    const m = /^[A-Za-z_$][\w$]*/.exec(this.s.slice(this.i, this.i + 256));
    if (!m) return this.fail('bad object key');
    this.i += m[0].length;
    return m[0];
  }

  object(depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.i++;
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      const k = this.key(depth);
      this.ws();
      if (this.s[this.i] !== ':') this.fail('expected :');
      this.i++;
      this.ws();
      const v = this.value(depth + 1);
      // defineProperty: a key such as "__proto__" must not change the prototype
      Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      this.ws();
      const c = this.s[this.i++];
      if (c === '}') return out;
      if (c !== ',') this.fail('expected , or }');
    }
  }

  array(depth: number): unknown[] {
    const out: unknown[] = [];
    this.i++;
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i++];
      if (c === ']') return out;
      if (c !== ',') this.fail('expected , or ]');
    }
  }
}

/** Standard JSON with object members sorted: the canonical string form of an object map key. */
function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map(canonicalJson).join(',') + ']';
  const o = v as Record<string, unknown>;
  return '{' + Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => JSON.stringify(k) + ':' + canonicalJson(o[k])).join(',') + '}';
}

// ---- writer ---------------------------------------------------------------------------------

/** A Java map whose keys are not strings (Integer, Long, MessageQueue): keys written as values. */
export class FjMap {
  constructor(readonly entries: Array<[unknown, unknown]>) {}
}

interface WriteOptions {
  /** fastjson PrettyFormat: tabs and newlines (config files on disk). */
  pretty?: boolean;
  /** Quote numeric map keys ({"0":..}), as 4.9.4+ name servers do for new clients. */
  quoteNumericKeys?: boolean;
}

export function toFastjson(v: unknown, opts: WriteOptions = {}): string {
  return write(v, opts, 0);
}

function write(v: unknown, o: WriteOptions, depth: number): string {
  if (depth > MAX_DEPTH) throw new Error('fastjson writer: nesting too deep');
  if (v === null || v === undefined) return 'null';
  if (v instanceof RawJson) return v.json;
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return fjString(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v instanceof FjMap) {
    const items = v.entries.filter(([, val]) => val !== undefined).map(([k, val]) => [writeKey(k, o, depth), write(val, o, depth + 1)] as const);
    return block('{', '}', items.map(([k, val]) => `${k}:${val}`), o, depth);
  }
  if (v instanceof Map) return write(new FjMap([...v.entries()]), o, depth);
  if (v instanceof Set) return write([...v], o, depth);
  if (Array.isArray(v)) return block('[', ']', v.map((x) => write(x, o, depth + 1)), o, depth);
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined && obj[k] !== null).sort();
  return block('{', '}', keys.map((k) => `${fjString(k)}:${write(obj[k], o, depth + 1)}`), o, depth);
}

function writeKey(k: unknown, o: WriteOptions, depth: number): string {
  if (typeof k === 'number' || typeof k === 'bigint') return o.quoteNumericKeys ? `"${k}"` : String(k);
  if (typeof k === 'string') return fjString(k);
  return write(k, { ...o, pretty: false }, depth + 1);
}

function block(open: string, close: string, items: string[], o: WriteOptions, depth: number): string {
  if (!o.pretty || items.length === 0) return open + items.join(',') + close;
  const ind = '\t'.repeat(depth + 1);
  return `${open}\n${ind}${items.join(`,\n${ind}`)}\n${'\t'.repeat(depth)}${close}`;
}

function fjString(s: string): string {
  // JSON.stringify escapes quotes, backslashes and control characters (\u0001 stays \u0001).
  return JSON.stringify(s);
}

// ---- MessageQueue-keyed maps ------------------------------------------------------------------

export interface MessageQueue {
  topic: string;
  brokerName: string;
  queueId: number;
}

/** The string key a parsed MessageQueue-keyed map uses for `mq`. */
export function messageQueueKey(mq: MessageQueue): string {
  return canonicalJson({ brokerName: mq.brokerName, queueId: mq.queueId, topic: mq.topic });
}

/** Entries of a parsed MessageQueue-keyed map (accepts object keys and JSON-string keys). */
export function messageQueueEntries<V>(map: unknown): Array<[MessageQueue, V]> {
  if (!map || typeof map !== 'object') return [];
  const out: Array<[MessageQueue, V]> = [];
  for (const [k, v] of Object.entries(map as Record<string, V>)) {
    let mq: unknown;
    try {
      mq = JSON.parse(k);
    } catch {
      continue;
    }
    if (mq && typeof mq === 'object' && 'topic' in mq && 'queueId' in mq) {
      const m = mq as Record<string, unknown>;
      out.push([{ topic: String(m.topic), brokerName: String(m.brokerName ?? ''), queueId: Number(m.queueId) }, v]);
    }
  }
  return out;
}

/** Write a MessageQueue-keyed map in fastjson's object-key form. */
export function messageQueueMap<V>(entries: Array<[MessageQueue, V]>): FjMap {
  return new FjMap(entries.map(([mq, v]) => [{ brokerName: mq.brokerName, queueId: mq.queueId, topic: mq.topic }, v]));
}
