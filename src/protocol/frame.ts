/**
 * RocketMQ remoting frames (fact sheet §1): `int32 length | int32 (serializeType << 24 | headerLen) |
 * header | body`, length counting everything after itself. Headers are JSON (type 0) or the
 * ROCKETMQ binary form (type 1). No sockets here: encode to buffers, decode from buffers.
 */

export type SerializeType = 'JSON' | 'ROCKETMQ';

export const FLAG_RESPONSE = 0x1;
export const FLAG_ONEWAY = 0x2;

/** Default max frame (com.rocketmq.remoting.frameMaxLength = 16 MiB). */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Headers larger than this are refused even inside a legal frame (a header is a few hundred bytes). */
export const DEFAULT_MAX_HEADER_BYTES = 1024 * 1024;

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

export function isResponse(cmd: RemotingCommand): boolean {
  return (cmd.flag & FLAG_RESPONSE) !== 0;
}

export function isOneway(cmd: RemotingCommand): boolean {
  return (cmd.flag & FLAG_ONEWAY) !== 0;
}

export function bodyLength(body: Buffer | Buffer[] | undefined): number {
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
export function encodeFrameParts(cmd: RemotingCommand): Buffer[] {
  const header = cmd.serializeType === 'ROCKETMQ' ? encodeBinaryHeader(cmd) : encodeJsonHeader(cmd);
  if (header.length > 0xffffff) throw new FrameError('header too large');
  const bodyLen = bodyLength(cmd.body);
  const prefix = Buffer.allocUnsafe(8);
  prefix.writeInt32BE(4 + header.length + bodyLen, 0);
  prefix.writeInt32BE(((cmd.serializeType === 'ROCKETMQ' ? 1 : 0) << 24) | header.length, 4);
  const parts = [prefix, header];
  if (cmd.body) {
    if (Buffer.isBuffer(cmd.body)) parts.push(cmd.body);
    else parts.push(...cmd.body);
  }
  return parts;
}

export function encodeFrame(cmd: RemotingCommand): Buffer {
  return Buffer.concat(encodeFrameParts(cmd));
}

/** fastjson writes the command's fields sorted, nulls omitted (§1.3). */
function encodeJsonHeader(cmd: RemotingCommand): Buffer {
  const h: Record<string, unknown> = { code: cmd.code };
  if (cmd.extFields) h.extFields = cmd.extFields;
  h.flag = cmd.flag;
  h.language = cmd.language;
  h.opaque = cmd.opaque;
  if (cmd.remark !== undefined && cmd.remark !== null) h.remark = cmd.remark;
  h.serializeTypeCurrentRPC = 'JSON';
  h.version = cmd.version;
  return Buffer.from(JSON.stringify(h), 'utf8');
}

function encodeBinaryHeader(cmd: RemotingCommand): Buffer {
  const remark = cmd.remark ? Buffer.from(cmd.remark, 'utf8') : undefined;
  const ext: Buffer[] = [];
  let extLen = 0;
  for (const [k, v] of Object.entries(cmd.extFields ?? {})) {
    if (v === undefined || v === null) continue;
    const kb = Buffer.from(k, 'utf8');
    const vb = Buffer.from(String(v), 'utf8');
    const e = Buffer.allocUnsafe(2 + kb.length + 4 + vb.length);
    e.writeInt16BE(kb.length, 0);
    kb.copy(e, 2);
    e.writeInt32BE(vb.length, 2 + kb.length);
    vb.copy(e, 6 + kb.length);
    ext.push(e);
    extLen += e.length;
  }
  const fixed = Buffer.allocUnsafe(2 + 1 + 2 + 4 + 4 + 4);
  fixed.writeInt16BE(cmd.code, 0);
  fixed.writeInt8(Math.max(0, LANGUAGES.indexOf(cmd.language)), 2);
  fixed.writeInt16BE(cmd.version, 3);
  fixed.writeInt32BE(cmd.opaque, 5);
  fixed.writeInt32BE(cmd.flag, 9);
  fixed.writeInt32BE(remark ? remark.length : 0, 13);
  const extLenBuf = Buffer.allocUnsafe(4);
  extLenBuf.writeInt32BE(extLen, 0);
  return Buffer.concat([fixed, ...(remark ? [remark] : []), extLenBuf, ...ext]);
}

// ---- decode ---------------------------------------------------------------------------------

export interface DecodeLimits {
  maxHeaderBytes?: number;
}

/**
 * Decode one frame WITHOUT its 4-byte length prefix (what FrameDecoder yields). Throws FrameError
 * on anything malformed; the caller closes that connection.
 */
export function decodeFrame(frame: Buffer, limits: DecodeLimits = {}): RemotingCommand {
  if (frame.length < 4) throw new FrameError('frame shorter than its header length field');
  const word = frame.readUInt32BE(0);
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
  if (o.extFields !== undefined && o.extFields !== null) {
    if (typeof o.extFields !== 'object' || Array.isArray(o.extFields)) throw new FrameError('extFields is not an object');
    const ext: Record<string, string> = Object.create(null);
    for (const [k, v] of Object.entries(o.extFields as Record<string, unknown>)) {
      // ali-ons sends numbers and booleans; Java sends strings. Keep strings (§1.3, ali-ons notes 1.3).
      if (v === null || v === undefined) continue;
      if (typeof v === 'object') throw new FrameError(`extFields.${k} is not a scalar`);
      ext[k] = String(v);
    }
    cmd.extFields = ext;
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

function decodeBinaryHeader(h: Buffer): RemotingCommand {
  if (h.length < 17) throw new FrameError('binary header too short');
  const code = h.readInt16BE(0);
  const language = LANGUAGES[h.readInt8(2)] ?? 'OTHER';
  const version = h.readInt16BE(3);
  const opaque = h.readInt32BE(5);
  const flag = h.readInt32BE(9);
  const remarkLen = h.readInt32BE(13);
  let p = 17;
  if (remarkLen < 0 || p + remarkLen + 4 > h.length) throw new FrameError('binary header remark overruns');
  const remark = remarkLen > 0 ? h.toString('utf8', p, p + remarkLen) : undefined;
  p += remarkLen;
  const extLen = h.readInt32BE(p);
  p += 4;
  if (extLen < 0 || p + extLen > h.length) throw new FrameError('binary header extFields overrun');
  const end = p + extLen;
  const ext: Record<string, string> = Object.create(null);
  while (p < end) {
    if (p + 2 > end) throw new FrameError('binary extFields key length overruns');
    const kl = h.readInt16BE(p);
    p += 2;
    if (kl < 0 || p + kl + 4 > end) throw new FrameError('binary extFields key overruns');
    const k = h.toString('utf8', p, p + kl);
    p += kl;
    const vl = h.readInt32BE(p);
    p += 4;
    if (vl < 0 || p + vl > end) throw new FrameError('binary extFields value overruns');
    ext[k] = h.toString('utf8', p, p + vl);
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
    if (this.chunks[0]!.length >= n) return this.chunks[0]!;
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  private take(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0]!;
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

// ---- builders -------------------------------------------------------------------------------

export function makeRequest(code: number, extFields?: Record<string, string | number | boolean | undefined>, body?: Buffer, version = 409): RemotingCommand {
  const cmd: RemotingCommand = { code, language: 'JAVA', version, opaque: 0, flag: 0, serializeType: 'JSON' };
  if (extFields) cmd.extFields = stringifyFields(extFields);
  if (body) cmd.body = body;
  return cmd;
}

/** A response to `req`: same opaque and serialize type, the RESPONSE flag (§1.6 rule 3). */
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

export function stringifyFields(f: Record<string, string | number | boolean | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(f)) if (v !== undefined && v !== null) out[k] = String(v);
  return out;
}
