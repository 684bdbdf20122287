/**
 * RocketMQ remoting frames (apache/rocketmq RemotingCommand.encode/decode): `int32 length | int32 (serializeType << 24 | headerLen) |
 * header | body`, length counting everything after itself. Headers are JSON (type 0) or the
 * ROCKETMQ binary form (type 1). No sockets here: encode to buffers, decode from buffers.
 */

export type SerializeType = 'JSON' | 'ROCKETMQ';

export const FLAG_RESPONSE = 0x1;
export const FLAG_ONEWAY = 0x2;

/** Default max frame (com.rocketmq.remoting.frameMaxLength = 16 MiB). */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Headers larger than this are refused even inside a legal frame (a header is a few hundred bytes). */
const DEFAULT_MAX_HEADER_BYTES = 1024 * 1024;

export interface RemotingCommand {
  code: number;
  /** LanguageCode name, e.g. "JAVA". */
  language: string;
  version: number;
  opaque: number;
  flag: number;
  remark?: string;
  /** Header fields, always strings once decoded (ali-ons sends numbers/booleans; we coerce). */
  extFields?: Record<string, string>;
  /** One buffer, or several sent back to back (pull bodies are many records). */
  body?: Buffer | Buffer[];
  serializeType: SerializeType;
}

const LANGUAGES = ['JAVA', 'CPP', 'DOTNET', 'PYTHON', 'DELPHI', 'ERLANG', 'RUBY', 'OTHER', 'HTTP', 'GO', 'PHP', 'OMS', 'RUST'];

export class FrameError extends Error {}

export function isOneway(cmd: RemotingCommand): boolean {
  return (cmd.flag & FLAG_ONEWAY) !== 0;
}

function bodyLength(body: Buffer | Buffer[] | undefined): number {
  if (!body) return 0;
  if (Buffer.isBuffer(body)) return body.length;
  let n = 0;
  for (const b of body) n += b.length;
  return n;
}

export function bodyBuffer(cmd: RemotingCommand): Buffer {
  if (!cmd.body) return Buffer.alloc(0);
  return Buffer.isBuffer(cmd.body) ? cmd.body : Buffer.concat(cmd.body);
}

// ---- encode ---------------------------------------------------------------------------------

/** Encode to the buffers of one frame (prefix+header, then body pieces), for socket writes. */
function encodeFrameParts(cmd: RemotingCommand): Buffer[] {
  const bodyLen = bodyLength(cmd.body);
  let head: Buffer;
  if (cmd.serializeType === 'ROCKETMQ') {
    head = writeBinaryHeader(cmd, 8);
    const headerLen = head.length - 8;
    if (headerLen > 0xffffff) throw new FrameError('header too large');
    head.writeInt32BE(4 + headerLen + bodyLen, 0);
    head.writeInt32BE((1 << 24) | headerLen, 4);
  } else {
    // Prefix and JSON header in one buffer: the header is written straight after the prefix.
    const json = jsonHeaderText(cmd);
    const headerLen = Buffer.byteLength(json, 'utf8');
    if (headerLen > 0xffffff) throw new FrameError('header too large');
    head = Buffer.allocUnsafe(8 + headerLen);
    head.write(json, 8, headerLen, 'utf8');
    head.writeInt32BE(4 + headerLen + bodyLen, 0);
    head.writeInt32BE(headerLen, 4);
  }
  if (!cmd.body) return [head];
  if (Buffer.isBuffer(cmd.body)) return [head, cmd.body];
  return [head, ...cmd.body];
}

export function encodeFrame(cmd: RemotingCommand): Buffer {
  return Buffer.concat(encodeFrameParts(cmd));
}

/** fastjson writes the command's fields sorted, nulls omitted. */
function jsonHeaderText(cmd: RemotingCommand): string {
  const { code, flag, opaque, version, language, remark, extFields } = cmd;
  // Usual shape: the same text as JSON.stringify of the object below, without building it.
  if (
    Number.isFinite(code) &&
    Number.isFinite(flag) &&
    Number.isFinite(opaque) &&
    Number.isFinite(version) &&
    typeof language === 'string' &&
    (remark === undefined || remark === null || typeof remark === 'string') &&
    (extFields === undefined || extFields === null || typeof extFields === 'object')
  ) {
    let s = '{"code":' + String(code);
    if (extFields) s += ',"extFields":' + JSON.stringify(extFields);
    s += ',"flag":' + String(flag) + ',"language":' + JSON.stringify(language) + ',"opaque":' + String(opaque);
    if (remark !== undefined && remark !== null) s += ',"remark":' + JSON.stringify(remark);
    return s + ',"serializeTypeCurrentRPC":"JSON","version":' + String(version) + '}';
  }
  const h: Record<string, unknown> = { code: cmd.code };
  if (cmd.extFields) h.extFields = cmd.extFields;
  h.flag = cmd.flag;
  h.language = cmd.language;
  h.opaque = cmd.opaque;
  if (cmd.remark !== undefined && cmd.remark !== null) h.remark = cmd.remark;
  h.serializeTypeCurrentRPC = 'JSON';
  h.version = cmd.version;
  return JSON.stringify(h);
}

/**
 * RocketMQSerializable's header in a buffer of its own after `offset` spare bytes (the frame
 * prefix goes there); the result is cut to the bytes written.
 */
function writeBinaryHeader(cmd: RemotingCommand, offset: number): Buffer {
  const out = Buffer.allocUnsafe(offset + binaryHeaderMaxLength(cmd));
  return out.subarray(0, offset + writeBinaryHeaderAt(cmd, out, offset));
}

/** An upper bound of cmd's binary header length: every UTF-16 unit counted as 3 UTF-8 bytes. */
function binaryHeaderMaxLength(cmd: RemotingCommand): number {
  let n = 21 + (cmd.remark ? 3 * cmd.remark.length : 0);
  const fields = cmd.extFields;
  if (fields) {
    for (const k in fields) {
      const v = fields[k];
      if (v === undefined || v === null) continue;
      n += 6 + 3 * (k.length + (typeof v === 'string' ? v : String(v)).length);
    }
  }
  return n;
}

/**
 * Write cmd's binary header (RocketMQSerializable: fixed fields, remark, then each extField as
 * int16 key length, key, int32 value length, value) into `out` at `p`, which has room for
 * binaryHeaderMaxLength; returns the bytes written. One pass, nothing allocated per field: ASCII
 * text (nearly every key and value) is copied by a JS loop, each length written once known.
 */
function writeBinaryHeaderAt(cmd: RemotingCommand, out: Buffer, p: number): number {
  const start = p;
  const remark = cmd.remark;
  w16(out, p, cmd.code);
  out[p + 2] = Math.max(0, LANGUAGES.indexOf(cmd.language));
  w16(out, p + 3, cmd.version);
  w32(out, p + 5, cmd.opaque);
  w32(out, p + 9, cmd.flag);
  const remarkLen = remark ? writeText(out, p + 17, remark) : 0;
  w32(out, p + 13, remarkLen);
  p += 17 + remarkLen;
  const extAt = p;
  p += 4;
  const fields = cmd.extFields;
  if (fields) {
    for (const k in fields) {
      const v = fields[k];
      if (v === undefined || v === null) continue;
      const kl = writeText(out, p + 2, k);
      w16(out, p, kl);
      p += 2 + kl;
      const vl = writeText(out, p + 4, typeof v === 'string' ? v : String(v));
      w32(out, p, vl);
      p += 4 + vl;
    }
  }
  w32(out, extAt, p - extAt - 4);
  return p - start;
}

function w32(out: Buffer, p: number, v: number): void {
  out[p] = v >>> 24;
  out[p + 1] = v >>> 16;
  out[p + 2] = v >>> 8;
  out[p + 3] = v;
}

function w16(out: Buffer, p: number, v: number): void {
  out[p] = v >>> 8;
  out[p + 1] = v;
}

/** Write `s` as UTF-8 at `p`; returns the bytes written. */
function writeText(out: Buffer, p: number, s: string): number {
  if (s.length > 64) return out.write(s, p, 'utf8');
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return out.write(s, p, 'utf8');
    out[p + i] = c;
  }
  return s.length;
}

/**
 * The UTF-8 text of h[start, end). Short ASCII runs are decoded by a JS loop and interned: most
 * header values repeat from request to request (group, topic, flags, broker name), so a small
 * direct-mapped table of recent strings, checked char by char, returns the same string without
 * allocating. Longer or non-ASCII text is decoded natively.
 */
function readText(h: Buffer, start: number, end: number): string {
  const n = end - start;
  if (n === 0) return '';
  if (n === 1 && h[start]! < 0x80) return ONE_CHAR[h[start]!]!;
  if (n > INTERN_MAX_CHARS) return h.toString('utf8', start, end);
  let hash = n;
  for (let i = start; i < end; i++) {
    const c = h[i]!;
    if (c > 0x7f) return h.toString('utf8', start, end);
    hash = (Math.imul(hash, 31) + c) | 0;
  }
  const slot = (hash ^ (hash >>> 13)) & (INTERN_SLOTS - 1);
  const seen = interned[slot];
  if (seen !== undefined && seen.length === n) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (seen.charCodeAt(i) !== h[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return seen;
  }
  // Built by concatenation when very short; beyond that one native slice is cheaper (ASCII: Latin-1 is the same text).
  let s = '';
  if (n <= 8) for (let i = start; i < end; i++) s += ONE_CHAR[h[i]!]!;
  else s = h.toString('latin1', start, end);
  interned[slot] = s;
  return s;
}

const INTERN_MAX_CHARS = 32;
const INTERN_SLOTS = 1024;
const interned: (string | undefined)[] = new Array<string | undefined>(INTERN_SLOTS).fill(undefined);

const ONE_CHAR: readonly string[] = Array.from({ length: 128 }, (_, c) => String.fromCharCode(c));

// ---- decode ---------------------------------------------------------------------------------

interface DecodeLimits {
  maxHeaderBytes?: number;
}

/**
 * Decode one frame WITHOUT its 4-byte length prefix (what FrameDecoder yields). Throws FrameError
 * on anything malformed; the caller closes that connection.
 */
export function decodeFrame(frame: Buffer, limits: DecodeLimits = {}): RemotingCommand {
  if (frame.length < 4) throw new FrameError('frame shorter than its header length field');
  const word = i32(frame, 0);
  const type = word >>> 24;
  const headerLen = word & 0xffffff;
  if (headerLen > frame.length - 4) throw new FrameError(`header length ${headerLen} exceeds frame`);
  if (headerLen > (limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES)) throw new FrameError(`header length ${headerLen} over the limit`);
  const header = frame.subarray(4, 4 + headerLen);
  const body = frame.length > 4 + headerLen ? frame.subarray(4 + headerLen) : undefined;
  let cmd: RemotingCommand;
  if (type === 0) cmd = decodeJsonHeader(header);
  else if (type === 1) cmd = decodeBinaryHeader(header);
  else throw new FrameError(`unknown serialize type ${type}`);
  if (body) cmd.body = body;
  return cmd;
}

function decodeJsonHeader(header: Buffer): RemotingCommand {
  let h: unknown;
  try {
    h = JSON.parse(header.toString('utf8'));
  } catch {
    throw new FrameError('header is not valid JSON');
  }
  if (!h || typeof h !== 'object' || Array.isArray(h)) throw new FrameError('header is not a JSON object');
  const o = h as Record<string, unknown>;
  const cmd: RemotingCommand = {
    code: int(o.code, 'code'),
    language: typeof o.language === 'string' ? o.language : 'JAVA',
    version: o.version === undefined ? 0 : int(o.version, 'version'),
    opaque: o.opaque === undefined ? 0 : int(o.opaque, 'opaque'),
    flag: o.flag === undefined ? 0 : int(o.flag, 'flag'),
    serializeType: 'JSON',
  };
  if (typeof o.remark === 'string') cmd.remark = o.remark;
  const x = o.extFields;
  if (x !== undefined && x !== null) {
    if (typeof x !== 'object' || Array.isArray(x)) throw new FrameError('extFields is not an object');
    // The parsed object is used as is (no copy): a null prototype, so a field named like an
    // Object.prototype member reads as absent, and values coerced to strings in place.
    const ext = x as Record<string, unknown>;
    Object.setPrototypeOf(ext, null);
    for (const k in ext) {
      const v = ext[k];
      if (typeof v === 'string') continue;
      // ali-ons sends numbers and booleans; Java sends strings. Keep strings (ali-ons lib/protocol/command/remoting_command.js sends extFields as they are).
      if (v === null) delete ext[k];
      else if (typeof v === 'object') throw new FrameError(`extFields.${k} is not a scalar`);
      else ext[k] = String(v);
    }
    cmd.extFields = ext as Record<string, string>;
  }
  return cmd;
}

function int(v: unknown, name: string): number {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < -2147483648 || n > 2147483647) {
    throw new FrameError(`header field ${name} is not a 32-bit integer`);
  }
  return n;
}

/** Big-endian int32 / int16 at p (bounds checked by the caller: Buffer's readers validate again per call). */
function i32(h: Buffer, p: number): number {
  return (h[p]! << 24) | (h[p + 1]! << 16) | (h[p + 2]! << 8) | h[p + 3]!;
}
function i16(h: Buffer, p: number): number {
  return ((h[p]! << 24) | (h[p + 1]! << 16)) >> 16;
}

function decodeBinaryHeader(h: Buffer): RemotingCommand {
  if (h.length < 17) throw new FrameError('binary header too short');
  const code = i16(h, 0);
  const language = LANGUAGES[(h[2]! << 24) >> 24] ?? 'OTHER';
  const version = i16(h, 3);
  const opaque = i32(h, 5);
  const flag = i32(h, 9);
  const remarkLen = i32(h, 13);
  let p = 17;
  if (remarkLen < 0 || p + remarkLen + 4 > h.length) throw new FrameError('binary header remark overruns');
  const remark = remarkLen > 0 ? h.toString('utf8', p, p + remarkLen) : undefined;
  p += remarkLen;
  const extLen = i32(h, p);
  p += 4;
  if (extLen < 0 || p + extLen > h.length) throw new FrameError('binary header extFields overrun');
  const end = p + extLen;
  const ext: Record<string, string> = {};
  while (p < end) {
    if (p + 2 > end) throw new FrameError('binary extFields key length overruns');
    const kl = i16(h, p);
    p += 2;
    if (kl < 0 || p + kl + 4 > end) throw new FrameError('binary extFields key overruns');
    const k = readText(h, p, p + kl);
    p += kl;
    const vl = i32(h, p);
    p += 4;
    if (vl < 0 || p + vl > end) throw new FrameError('binary extFields value overruns');
    // A plain object (fast property access later); "__proto__" would set its prototype instead.
    if (k !== '__proto__') ext[k] = readText(h, p, p + vl);
    p += vl;
  }
  const cmd: RemotingCommand = { code, language, version, opaque, flag, serializeType: 'ROCKETMQ' };
  if (remark !== undefined) cmd.remark = remark;
  if (extLen > 0) cmd.extFields = ext;
  return cmd;
}

/**
 * Splits a byte stream into frames (without the length prefix). Bounded: a frame whose declared
 * length is below 4 or above maxFrameBytes is a protocol error (the connection must be closed).
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  /** Feed bytes; returns the complete frames now available. Throws FrameError on a bad length. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const head = this.peek(4);
      const len = head.readInt32BE(0);
      if (len < 4 || len > this.maxFrameBytes) throw new FrameError(`frame length ${len} out of range (4..${this.maxFrameBytes})`);
      if (this.buffered < 4 + len) break;
      const all = this.take(4 + len);
      out.push(all.subarray(4));
    }
    return out;
  }

  get pendingBytes(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.gather(n);
    return this.chunks[0]!;
  }

  private take(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.gather(n);
    const first = this.chunks[0]!;
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }

  /**
   * Make the first chunk at least n bytes long (n <= buffered) by copying exactly n bytes of the
   * leading chunks into a buffer of their own; the rest of the last chunk copied from stays a view.
   * A frame that spans socket reads so becomes a buffer of its own size, instead of one view of
   * everything that had arrived (which held later frames' bytes too, and copied them).
   */
  private gather(n: number): void {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let i = 0;
    // Bounded by the chunk count: each step copies one whole chunk, the last one part of one.
    while (filled < n) {
      const c = this.chunks[i]!;
      const k = Math.min(c.length, n - filled);
      c.copy(out, filled, 0, k);
      filled += k;
      if (k < c.length) this.chunks[i] = c.subarray(k);
      else i++;
    }
    this.chunks.splice(0, i, out);
  }
}

/** What FrameWriter writes to (a net.Socket). */
interface FrameSink {
  readonly destroyed: boolean;
  write(chunk: Buffer): boolean;
  cork(): void;
  uncork(): void;
}

/** Staging buffers grow up to this size (a bigger frame gets a buffer of its own). */
const STAGE_MAX_BYTES = 64 * 1024;
const STAGE_MIN_BYTES = 1024;
/** Body pieces at least this big are queued by reference instead of copied into the stage. */
const COPY_BODY_MAX_BYTES = 64 * 1024;
/**
 * Queued bytes at which a write flushes at once instead of waiting for the tick's end. Without it
 * a peer answering a burst of requests (or a client sending one per response) holds the whole burst
 * until it has handled all of it, and the two sides take turns: each waits while the other works
 * through one big batch. Flushing every ~16 KiB lets the other side start on the first part, so
 * both run at once. Measured with bench:compare (200k x 1 KiB sends, 256 in flight, broker and
 * client in their own processes; alternated): produce 56-58k -> 72-74k msgs/s under ASYNC_FLUSH,
 * 48k -> 55-56k under SYNC_FLUSH, with no more CPU per message; 4 KiB cost more client CPU, and
 * 32-64 KiB gained less.
 */
export const EARLY_FLUSH_BYTES = 16 * 1024;

/**
 * Queues frames and writes everything queued in one tick with one socket write (one syscall for
 * many frames, instead of a cork/uncork per frame), or earlier once EARLY_FLUSH_BYTES are queued.
 * Frames are encoded straight into a staging buffer (no buffer per frame), sized from the previous tick's volume and dropped at each flush
 * (an idle connection holds none); large bodies are passed by reference. Frames keep their order;
 * the flush runs on process.nextTick, so a frame is on the socket before any timer or I/O callback.
 */
export class FrameWriter {
  /** Full buffers (stage slices and large bodies) waiting for the flush. */
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private stage: Buffer | undefined;
  private stageStart = 0;
  private stagePos = 0;
  /** Bytes written in the last flushed tick: the size of the next tick's first stage. */
  private lastTickBytes = 0;
  private scheduled = false;
  private readonly flushFn = (): void => this.flush();

  constructor(private readonly sink: FrameSink) {}

  /** Bytes queued here and not yet handed to the socket. */
  get queuedBytes(): number {
    return this.partsBytes + (this.stagePos - this.stageStart);
  }

  /** Encode and queue one frame (throws FrameError for an unencodable command, queueing nothing). */
  write(cmd: RemotingCommand): void {
    const body = cmd.body;
    const bodyLen = bodyLength(body);
    if (cmd.serializeType === 'ROCKETMQ') {
      // Written straight into the stage (room for its upper bound reserved), then the prefix.
      const at = this.reserve(8 + binaryHeaderMaxLength(cmd), bodyLen);
      const st = this.stage!;
      const headerLen = writeBinaryHeaderAt(cmd, st, at + 8);
      if (headerLen > 0xffffff) throw new FrameError('header too large');
      w32(st, at, 4 + headerLen + bodyLen);
      w32(st, at + 4, (1 << 24) | headerLen);
      this.stagePos = at + 8 + headerLen;
    } else {
      const json = jsonHeaderText(cmd);
      // UTF-16 units * 3 bounds the UTF-8 length: reserve that, write, then use the real length.
      const max = 8 + json.length * 3;
      const at = this.reserve(max, bodyLen);
      const st = this.stage!;
      const headerLen = st.write(json, at + 8, 'utf8');
      if (headerLen > 0xffffff) throw new FrameError('header too large');
      st.writeInt32BE(4 + headerLen + bodyLen, at);
      st.writeInt32BE(headerLen, at + 4);
      this.stagePos = at + 8 + headerLen;
    }
    if (body) {
      if (Buffer.isBuffer(body)) this.appendBody(body);
      else for (const b of body) this.appendBody(b);
    }
    if (this.queuedBytes >= EARLY_FLUSH_BYTES) {
      this.flush();
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flushFn);
    }
  }

  /** Room for `n` bytes at the stage's write position (a new stage if needed); returns it. */
  private reserve(n: number, bodyLen: number): number {
    if (this.stage && this.stagePos + n <= this.stage.length) return this.stagePos;
    const used = this.partsBytes + (this.stagePos - this.stageStart);
    this.sealStage();
    const want = Math.min(STAGE_MAX_BYTES, Math.max(STAGE_MIN_BYTES, this.lastTickBytes, used * 2));
    const size = Math.max(want, n + (bodyLen < COPY_BODY_MAX_BYTES ? bodyLen : 0));
    this.stage = Buffer.allocUnsafe(size);
    this.stageStart = 0;
    this.stagePos = 0;
    return 0;
  }

  private appendBody(b: Buffer): void {
    if (b.length === 0) return;
    const st = this.stage!;
    if (b.length < COPY_BODY_MAX_BYTES && this.stagePos + b.length <= st.length) {
      this.stagePos += b.copy(st, this.stagePos);
      return;
    }
    if (b.length < COPY_BODY_MAX_BYTES) {
      this.reserve(b.length, 0);
      this.stagePos += b.copy(this.stage!, this.stagePos);
      return;
    }
    this.sealStage();
    this.parts.push(b);
    this.partsBytes += b.length;
  }

  /** Move the staged bytes to the parts list (the rest of the stage stays usable). */
  private sealStage(): void {
    if (!this.stage || this.stagePos === this.stageStart) return;
    this.parts.push(this.stage.subarray(this.stageStart, this.stagePos));
    this.partsBytes += this.stagePos - this.stageStart;
    this.stageStart = this.stagePos;
  }

  flush(): void {
    this.scheduled = false;
    this.sealStage();
    this.stage = undefined;
    const parts = this.parts;
    if (parts.length === 0) return;
    this.lastTickBytes = this.partsBytes;
    this.parts = [];
    this.partsBytes = 0;
    if (this.sink.destroyed) return;
    if (parts.length === 1) {
      this.sink.write(parts[0]!);
    } else {
      this.sink.cork();
      for (const p of parts) this.sink.write(p);
      this.sink.uncork();
    }
  }
}

// ---- builders -------------------------------------------------------------------------------

export function makeRequest(code: number, extFields?: Record<string, string | number | boolean | undefined>, body?: Buffer, version = 409): RemotingCommand {
  const cmd: RemotingCommand = { code, language: 'JAVA', version, opaque: 0, flag: 0, serializeType: 'JSON' };
  if (extFields) cmd.extFields = stringifyFields(extFields);
  if (body) cmd.body = body;
  return cmd;
}

/** A response to `req`: same opaque and serialize type, the RESPONSE flag. */
export function makeResponse(
  req: RemotingCommand,
  code: number,
  remark?: string,
  extFields?: Record<string, string | number | boolean | undefined>,
  body?: Buffer | Buffer[],
): RemotingCommand {
  const cmd: RemotingCommand = {
    code,
    language: 'JAVA',
    version: 409,
    opaque: req.opaque,
    flag: FLAG_RESPONSE,
    serializeType: req.serializeType,
  };
  if (remark !== undefined) cmd.remark = remark;
  // Java clients read response extFields unconditionally on some paths: always send a map.
  cmd.extFields = stringifyFields(extFields ?? {});
  if (body) cmd.body = body;
  return cmd;
}

function stringifyFields(f: Record<string, string | number | boolean | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in f) {
    if (!Object.prototype.hasOwnProperty.call(f, k)) continue;
    const v = f[k];
    if (v === undefined || v === null) continue;
    out[k] = typeof v === 'string' ? v : String(v);
  }
  return out;
}
