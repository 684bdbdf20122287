/**
 * DLedger's RPC as it travels over RocketMQ remoting (openmessaging/dledger 0.3.1.2).
 *
 * DLedgerRpcNettyService: a request is RemotingCommand.createRequestCommand(code, null) (no
 * extFields) whose body is JSON.toJSONBytes(request); the answer is
 * RemotingCommand.createResponseCommand(DLedgerResponseCode.SUCCESS = 200, null) with the
 * request's opaque and body JSON.toJSONBytes(response). The remoting code of the answer is always
 * 200 and nobody reads it: the DLedger result is the body's own `code`. A peer that cannot be
 * reached is reported by the caller's side (NETWORK_ERROR, or a VoteResponse left UNKNOWN).
 *
 * Bodies are fastjson of the Java objects: one member per public getter (getX / isX), keys
 * sorted, null members left out, enums by name, byte[] as a base64 string, longs as numbers.
 * Each schema below lists the getters of one class; `derived` members are getters without a
 * field behind them (PushEntryRequest#getCount, #isBatch, ...), written as Java writes them and
 * ignored when read (fastjson finds no setter for them either).
 */
import type { RemotingCommand } from '../frame.js';
import { FLAG_RESPONSE } from '../frame.js';
import { BodyFormatError, parseFastjsonLarge, RawJson, toFastjson } from '../fastjson.js';
import { MQ_VERSION_V4_9_8 } from '../codes.js';
import type { DLedgerEntry } from './entry.js';

/** DLedgerRequestCode. */
export const DLedgerRequestCode = {
  METADATA: 50000,
  APPEND: 50001,
  GET: 50002,
  VOTE: 51001,
  HEART_BEAT: 51002,
  PULL: 51003,
  PUSH: 51004,
  LEADERSHIP_TRANSFER: 51005,
} as const;
export type DLedgerRequestCodeName = keyof typeof DLedgerRequestCode;

/** DLedgerResponseCode. */
export const DLedgerResponseCode = {
  UNKNOWN: -1,
  SUCCESS: 200,
  TIMEOUT: 300,
  METADATA_ERROR: 301,
  NETWORK_ERROR: 302,
  UNSUPPORTED: 303,
  UNKNOWN_GROUP: 400,
  UNKNOWN_MEMBER: 401,
  UNEXPECTED_MEMBER: 402,
  EXPIRED_TERM: 403,
  NOT_LEADER: 404,
  NOT_FOLLOWER: 405,
  INCONSISTENT_STATE: 406,
  INCONSISTENT_TERM: 407,
  INCONSISTENT_INDEX: 408,
  INCONSISTENT_LEADER: 409,
  INDEX_OUT_OF_RANGE: 410,
  UNEXPECTED_ARGUMENT: 411,
  REPEATED_REQUEST: 412,
  REPEATED_PUSH: 413,
  DISK_ERROR: 414,
  DISK_FULL: 415,
  TERM_NOT_READY: 416,
  FALL_BEHIND_TOO_MUCH: 417,
  TAKE_LEADERSHIP_FAILED: 418,
  INDEX_LESS_THAN_LOCAL_BEGIN: 419,
  REQUEST_WITH_EMPTY_BODYS: 420,
  PUSH_REQUEST_IS_FULL: 421,
  INTERNAL_ERROR: 500,
  TERM_CHANGED: 501,
  WAIT_QUORUM_ACK_TIMEOUT: 502,
  LEADER_PENDING_FULL: 503,
  ILLEGAL_MEMBER_STATE: 504,
  LEADER_NOT_READY: 505,
  LEADER_TRANSFERRING: 506,
} as const;

/** The name of a DLedger response code (DLedgerResponseCode#valueOf: unknown codes are UNKNOWN). */
export function dledgerCodeName(code: number): string {
  for (const [k, v] of Object.entries(DLedgerResponseCode)) if (v === code) return k;
  return 'UNKNOWN';
}

/** VoteResponse.RESULT, in declaration order (fastjson also accepts the ordinal). */
export const VOTE_RESULTS = [
  'UNKNOWN',
  'ACCEPT',
  'REJECT_UNKNOWN_LEADER',
  'REJECT_UNEXPECTED_LEADER',
  'REJECT_EXPIRED_VOTE_TERM',
  'REJECT_ALREADY_VOTED',
  'REJECT_ALREADY_HAS_LEADER',
  'REJECT_TERM_NOT_READY',
  'REJECT_TERM_SMALL_THAN_LEDGER',
  'REJECT_EXPIRED_LEDGER_TERM',
  'REJECT_SMALL_LEDGER_END_INDEX',
  'REJECT_TAKING_LEADERSHIP',
] as const;
export type VoteResult = (typeof VOTE_RESULTS)[number];

/** PushEntryRequest.Type. */
export const PUSH_ENTRY_TYPES = ['APPEND', 'COMMIT', 'COMPARE', 'TRUNCATE'] as const;
export type PushEntryType = (typeof PUSH_ENTRY_TYPES)[number];

// ---- the objects ------------------------------------------------------------------------------

/** RequestOrResponse: code defaults to SUCCESS, term to -1, the ids and group to null. */
export interface RequestOrResponse {
  group?: string;
  remoteId?: string;
  localId?: string;
  code: number;
  leaderId?: string;
  term: number;
}
export type HeartBeatRequest = RequestOrResponse;
export type HeartBeatResponse = RequestOrResponse;
export type MetadataRequest = RequestOrResponse;
export type LeadershipTransferResponse = RequestOrResponse;

export interface VoteRequest extends RequestOrResponse {
  ledgerEndIndex: number;
  ledgerEndTerm: number;
}
export interface VoteResponse extends RequestOrResponse {
  voteResult: VoteResult;
}
export interface PushEntryRequest extends RequestOrResponse {
  commitIndex: number;
  type: PushEntryType;
  entry?: DLedgerEntry;
  batchEntry: DLedgerEntry[];
}
export interface PushEntryResponse extends RequestOrResponse {
  /** A java.lang.Long: absent when null. */
  index?: number;
  beginIndex: number;
  endIndex: number;
  count: number;
}
export interface AppendEntryRequest extends RequestOrResponse {
  body?: Buffer;
}
export interface AppendEntryResponse extends RequestOrResponse {
  index: number;
  pos: number;
}
export interface GetEntriesRequest extends RequestOrResponse {
  beginIndex?: number;
  maxSize: number;
  indexList?: number[];
}
export interface GetEntriesResponse extends RequestOrResponse {
  entries: DLedgerEntry[];
}
export interface MetadataResponse extends RequestOrResponse {
  peers?: Record<string, string>;
}
export interface LeadershipTransferRequest extends RequestOrResponse {
  transferId?: string;
  transfereeId?: string;
  takeLeadershipLedgerIndex: number;
}

// ---- member codecs ----------------------------------------------------------------------------

/** How one member is read from parsed fastjson and written back (undefined = left out). */
export interface Member<V> {
  read(raw: unknown, name: string): V;
  write(v: V): unknown;
}

export type Schema<T> = { readonly [K in keyof T]-?: Member<T[K]> };

function bad(name: string, what: string, raw: unknown): never {
  throw new BodyFormatError(`DLedger body: ${name} ${what} (got ${JSON.stringify(raw)?.slice(0, 60)})`);
}

/** A Java long/int: a number (fastjson also takes a numeric string); absent is the field's default. */
function integer(def: number, bits: 32 | 64): Member<number> {
  return {
    read(raw, name) {
      if (raw === undefined || raw === null) return def;
      const n = typeof raw === 'string' && /^-?\d+$/.test(raw) ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isSafeInteger(n)) return bad(name, 'is not an integer', raw);
      if (bits === 32 && (n < -0x80000000 || n > 0x7fffffff)) return bad(name, 'is out of int range', raw);
      return n;
    },
    write: (v) => v,
  };
}
const long = (def: number): Member<number> => integer(def, 64);
const int = (def: number): Member<number> => integer(def, 32);

/** A nullable member (String, java.lang.Long, a list left null). */
function nullable<V>(m: Member<V>): Member<V | undefined> {
  return {
    read: (raw, name) => (raw === undefined || raw === null ? undefined : m.read(raw, name)),
    write: (v) => (v === undefined ? undefined : m.write(v)),
  };
}

const string: Member<string> = {
  read: (raw, name) => (typeof raw === 'string' ? raw : bad(name, 'is not a string', raw)),
  write: (v) => v,
};

/**
 * byte[]: fastjson writes base64 (standard alphabet, padded); it also reads a number array.
 * Node's decoder skips characters outside the alphabet, so a string that is not whole base64
 * decodes to fewer bytes than its length promises: that is the check (a regular expression over
 * every body cost more than the decoding).
 */
const bytes: Member<Buffer> = {
  read(raw, name) {
    if (typeof raw === 'string') {
      const buf = Buffer.from(raw, 'base64');
      const pad = raw.endsWith('==') ? 2 : raw.endsWith('=') ? 1 : 0;
      if (raw.length % 4 !== 0 || buf.length !== (raw.length / 4) * 3 - pad || raw.includes('-') || raw.includes('_')) return bad(name, 'is not base64', raw);
      return buf;
    }
    if (Array.isArray(raw) && raw.every((b) => Number.isInteger(b) && (b as number) >= -128 && (b as number) <= 255)) return Buffer.from(raw.map((b) => (b as number) & 0xff));
    return bad(name, 'is not a byte[]', raw);
  },
  // Base64 needs no JSON escaping.
  write: (v) => new RawJson(`"${v.toString('base64')}"`),
};

/** An enum by name (WriteEnumUsingName); fastjson also reads the ordinal. */
function enumOf<E extends string>(values: readonly E[], def: E): Member<E> {
  return {
    read(raw, name) {
      if (raw === undefined || raw === null) return def;
      if (typeof raw === 'number' && values[raw] !== undefined) return values[raw]!;
      if (typeof raw === 'string' && (values as readonly string[]).includes(raw)) return raw as E;
      return bad(name, `is not one of ${values.join('|')}`, raw);
    },
    write: (v) => v,
  };
}

function listOf<V>(m: Member<V>): Member<V[]> {
  return {
    read(raw, name) {
      if (raw === undefined || raw === null) return [];
      if (!Array.isArray(raw)) return bad(name, 'is not a list', raw);
      return raw.map((x, i) => m.read(x, `${name}[${i}]`));
    },
    write: (v) => v.map((x) => m.write(x)),
  };
}

const stringMap: Member<Record<string, string>> = {
  read(raw, name) {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return bad(name, 'is not a map', raw);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) out[k] = string.read(v, `${name}.${k}`);
    return out;
  },
  write: (v) => v,
};

function object<T>(schema: Schema<T>): Member<T> {
  return {
    read(raw, name) {
      if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return bad(name, 'is not an object', raw);
      return readObject(schema, raw as Record<string, unknown>, name);
    },
    write: (v) => writeObject(schema, v),
  };
}

function readObject<T>(schema: Schema<T>, raw: Record<string, unknown>, where: string): T {
  const out = {} as T;
  for (const k of Object.keys(schema) as Array<keyof T & string>) {
    const v = schema[k].read(raw[k], `${where}.${k}`);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

function writeObject<T>(schema: Schema<T>, v: T): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(schema) as Array<keyof T & string>) {
    const w = schema[k].write(v[k]);
    if (w !== undefined && w !== null) out[k] = w;
  }
  return out;
}

// ---- the schemas (getters of each Java class) ---------------------------------------------------

/** RequestOrResponse#getGroup, #getRemoteId, #getLocalId, #getCode, #getLeaderId, #getTerm. */
const BASE: Schema<RequestOrResponse> = {
  group: nullable(string),
  remoteId: nullable(string),
  localId: nullable(string),
  code: int(DLedgerResponseCode.SUCCESS),
  leaderId: nullable(string),
  term: long(-1),
};

/** DLedgerEntry's getters (computeSizeInBytes is not one). */
export const ENTRY_SCHEMA: Schema<DLedgerEntry> = {
  magic: int(0),
  size: int(0),
  index: long(0),
  term: long(0),
  pos: long(0),
  channel: int(0),
  chainCrc: int(0),
  bodyCrc: int(0),
  body: {
    // Java builds an entry without a body only when it reads a header alone; none travels so.
    read: (raw, name) => (raw === undefined || raw === null ? bad(name, 'is missing', raw) : bytes.read(raw, name)),
    write: (v) => bytes.write(v),
  },
};
/**
 * An entry is written once per object: the leader pushes the same entry (the store's object) to
 * every follower, and its body dominates the cost of a push.
 */
const writtenEntries = new WeakMap<DLedgerEntry, { text: RawJson; bytes?: Buffer }>();
const entryObject = object(ENTRY_SCHEMA);

function writtenEntry(v: DLedgerEntry): { text: RawJson; bytes?: Buffer } {
  let w = writtenEntries.get(v);
  if (!w) writtenEntries.set(v, (w = { text: new RawJson(toFastjson(entryObject.write(v))) }));
  return w;
}

/** An entry's JSON as UTF-8 bytes (JSON is ASCII here: base64, numbers), made once per entry. */
function entryBytes(v: DLedgerEntry): Buffer {
  const w = writtenEntry(v);
  return (w.bytes ??= Buffer.from(w.text.json, 'latin1'));
}

const entryMember: Member<DLedgerEntry> = {
  read: entryObject.read,
  write: (v) => writtenEntry(v).text,
};

export const VOTE_REQUEST_SCHEMA: Schema<VoteRequest> = { ...BASE, ledgerEndIndex: long(-1), ledgerEndTerm: long(-1) };
/** VoteResponse: `voteResult` (a public field with a getter; one member). */
export const VOTE_RESPONSE_SCHEMA: Schema<VoteResponse> = { ...BASE, voteResult: enumOf(VOTE_RESULTS, 'UNKNOWN') };
export const HEART_BEAT_REQUEST_SCHEMA: Schema<HeartBeatRequest> = BASE;
export const HEART_BEAT_RESPONSE_SCHEMA: Schema<HeartBeatResponse> = BASE;
export const METADATA_REQUEST_SCHEMA: Schema<MetadataRequest> = BASE;
export const METADATA_RESPONSE_SCHEMA: Schema<MetadataResponse> = { ...BASE, peers: nullable(stringMap) };
export const PUSH_ENTRY_REQUEST_SCHEMA: Schema<PushEntryRequest> = {
  ...BASE,
  commitIndex: long(-1),
  type: enumOf(PUSH_ENTRY_TYPES, 'APPEND'),
  entry: nullable(entryMember),
  batchEntry: listOf(entryMember),
};
export const PUSH_ENTRY_RESPONSE_SCHEMA: Schema<PushEntryResponse> = { ...BASE, index: nullable(long(0)), beginIndex: long(0), endIndex: long(0), count: int(0) };
export const APPEND_ENTRY_REQUEST_SCHEMA: Schema<AppendEntryRequest> = { ...BASE, body: nullable(bytes) };
export const APPEND_ENTRY_RESPONSE_SCHEMA: Schema<AppendEntryResponse> = { ...BASE, index: long(-1), pos: long(-1) };
export const GET_ENTRIES_REQUEST_SCHEMA: Schema<GetEntriesRequest> = { ...BASE, beginIndex: nullable(long(0)), maxSize: int(0), indexList: nullable(listOf(long(0))) };
export const GET_ENTRIES_RESPONSE_SCHEMA: Schema<GetEntriesResponse> = { ...BASE, entries: listOf(entryMember) };
export const LEADERSHIP_TRANSFER_REQUEST_SCHEMA: Schema<LeadershipTransferRequest> = {
  ...BASE,
  transferId: nullable(string),
  transfereeId: nullable(string),
  takeLeadershipLedgerIndex: long(0),
};
export const LEADERSHIP_TRANSFER_RESPONSE_SCHEMA: Schema<LeadershipTransferResponse> = BASE;

/**
 * PushEntryRequest's getters without a field of their own: #getFirstEntryIndex,
 * #getLastEntryIndex, #getCount, #isBatch, and #getTotalSize (the sum of the batch's sizes, as
 * #addEntry keeps it; 0 for a single entry).
 */
function pushDerived(v: PushEntryRequest): Record<string, unknown> {
  const batch = v.batchEntry;
  const first = batch.length > 0 ? batch[0]!.index : (v.entry?.index ?? -1);
  const last = batch.length > 0 ? batch[batch.length - 1]!.index : (v.entry?.index ?? -1);
  return {
    batch: batch.length > 0,
    count: batch.length > 0 ? batch.length : v.entry ? 1 : 0,
    firstEntryIndex: first,
    lastEntryIndex: last,
    totalSize: batch.reduce((n, e) => n + e.size, 0),
  };
}

// ---- bodies -------------------------------------------------------------------------------------

/** The defaults a Java constructor leaves (RequestOrResponse: code SUCCESS, term -1). */
export function baseDefaults(): RequestOrResponse {
  return { code: DLedgerResponseCode.SUCCESS, term: -1 };
}

/** JSON.toJSONBytes(object) of a DLedger request or response. */
export function encodeBody<T>(schema: Schema<T>, v: T): Buffer {
  if ((schema as unknown) === PUSH_ENTRY_REQUEST_SCHEMA) return Buffer.concat(encodePushEntryRequest(v as PushEntryRequest));
  return encodeBodyGeneric(schema, v);
}

/**
 * JSON.toJSONBytes(PushEntryRequest) as pieces for the frame writer, the leader's hot path: the
 * same bytes encodeBodyGeneric writes (members sorted, nulls left out, derived getters), with each
 * entry's JSON bytes made once and shared by the pushes to every follower instead of a string
 * built and converted per push.
 */
export function encodePushEntryRequest(v: PushEntryRequest): Buffer[] {
  const d = pushDerived(v);
  const str = (k: string, x: string | undefined): string => (x === undefined || x === null ? '' : `"${k}":${JSON.stringify(x)},`);
  const parts: Buffer[] = [Buffer.from(`{"batch":${d.batch},"batchEntry":[`, 'latin1')];
  v.batchEntry.forEach((e, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(entryBytes(e));
  });
  let rest = `],"code":${v.code},"commitIndex":${v.commitIndex},"count":${d.count},`;
  if (v.entry) {
    parts.push(Buffer.from(`${rest}"entry":`, 'latin1'), entryBytes(v.entry));
    rest = ',';
  }
  rest += `"firstEntryIndex":${d.firstEntryIndex},${str('group', v.group)}"lastEntryIndex":${d.lastEntryIndex},${str('leaderId', v.leaderId)}${str('localId', v.localId)}${str('remoteId', v.remoteId)}"term":${v.term},"totalSize":${d.totalSize},"type":"${v.type}"}`;
  parts.push(Buffer.from(rest, 'utf8'));
  return parts;
}
const COMMA = Buffer.from(',');

/** encodeBody through the schema (every body; tests hold the push fast path to it). */
export function encodeBodyGeneric<T>(schema: Schema<T>, v: T): Buffer {
  const o = writeObject(schema, v);
  if ((schema as unknown) === PUSH_ENTRY_REQUEST_SCHEMA) Object.assign(o, pushDerived(v as PushEntryRequest));
  return Buffer.from(toFastjson(o), 'utf8');
}

/** JSON.parseObject(body, Class): members not in the schema are ignored, missing ones take the defaults. */
export function decodeBody<T>(schema: Schema<T>, body: Buffer | undefined): T {
  if (!body || body.length === 0) throw new BodyFormatError('DLedger body: empty');
  // Java writes standard JSON here: V8's parser first (readObject walks by schema, so depth is bounded).
  const raw = parseFastjsonLarge(body.toString('utf8'));
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new BodyFormatError('DLedger body: not a JSON object');
  return readObject(schema, raw as Record<string, unknown>, 'body');
}

/** The schemas by request code: what a request with that code carries and what answers it. */
export const RPC_SCHEMAS = {
  [DLedgerRequestCode.METADATA]: { request: METADATA_REQUEST_SCHEMA, response: METADATA_RESPONSE_SCHEMA },
  [DLedgerRequestCode.APPEND]: { request: APPEND_ENTRY_REQUEST_SCHEMA, response: APPEND_ENTRY_RESPONSE_SCHEMA },
  [DLedgerRequestCode.GET]: { request: GET_ENTRIES_REQUEST_SCHEMA, response: GET_ENTRIES_RESPONSE_SCHEMA },
  [DLedgerRequestCode.VOTE]: { request: VOTE_REQUEST_SCHEMA, response: VOTE_RESPONSE_SCHEMA },
  [DLedgerRequestCode.HEART_BEAT]: { request: HEART_BEAT_REQUEST_SCHEMA, response: HEART_BEAT_RESPONSE_SCHEMA },
  [DLedgerRequestCode.PUSH]: { request: PUSH_ENTRY_REQUEST_SCHEMA, response: PUSH_ENTRY_RESPONSE_SCHEMA },
  [DLedgerRequestCode.LEADERSHIP_TRANSFER]: { request: LEADERSHIP_TRANSFER_REQUEST_SCHEMA, response: LEADERSHIP_TRANSFER_RESPONSE_SCHEMA },
} as const;

// ---- remoting commands --------------------------------------------------------------------------

/** RemotingCommand.createRequestCommand(code, null) with the JSON body (DLedgerRpcNettyService#vote, ...). */
export function dledgerRequestCommand(code: number, body: Buffer | Buffer[]): RemotingCommand {
  return { code, language: 'JAVA', version: MQ_VERSION_V4_9_8, opaque: 0, flag: 0, serializeType: 'JSON', body };
}

/** DLedgerRpcNettyService#handleResponse: remoting code 200, the request's opaque, no extFields. */
export function dledgerResponseCommand(req: RemotingCommand, body: Buffer): RemotingCommand {
  return {
    code: DLedgerResponseCode.SUCCESS,
    language: 'JAVA',
    version: MQ_VERSION_V4_9_8,
    opaque: req.opaque,
    flag: FLAG_RESPONSE,
    serializeType: req.serializeType,
    body,
  };
}
