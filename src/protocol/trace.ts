/**
 * Message trace bodies (apache/rocketmq client TraceDataEncoder): the text a Java
 * client's AsyncTraceDispatcher sends to the trace topic (RMQ_SYS_TRACE_TOPIC) when it runs with
 * enableMsgTrace.
 *
 * A body is a run of records (UTF-8). Within a record the fields are separated by char 1
 * (CONTENT_SPLITOR); a record ends with char 2 (FIELD_SPLITOR). Java appends null as the text
 * `null`, so absent tags, keys or region ids arrive as "null": decoded here to null, and encoded
 * back to "null".
 *
 * Layouts (fields in order):
 *  - Pub (14): Pub, timeStamp, regionId, groupName, topic, msgId, tags, keys, storeHost,
 *    bodyLength, costTime, msgType, offsetMsgId, success. Older writers: 13 fields (no
 *    offsetMsgId); newer: a 15th field, clientHost.
 *  - SubBefore (8): SubBefore, timeStamp, regionId, groupName, requestId, msgId, retryTimes, keys.
 *  - SubAfter (9): SubAfter, requestId, msgId, costTime, success, keys, contextCode, timeStamp,
 *    groupName. Older writers stop after keys (6) or contextCode (7); AccessChannel CLOUD writes 7
 *    fields terminated by char 1 instead of char 2, so its next record follows in the same chunk.
 *  - EndTransaction (13): EndTransaction, timeStamp, regionId, groupName, topic, msgId, tags, keys,
 *    storeHost, msgType, transactionId, transactionState, fromTransactionCheck.
 */

const CONTENT_SPLITOR = '\u0001';
const FIELD_SPLITOR = '\u0002';
const TRACE_TYPES = ['Pub', 'SubBefore', 'SubAfter', 'EndTransaction'] as const;
type TraceType = (typeof TRACE_TYPES)[number];

/**
 * groupName prefix of the records a broker writes itself (brokerTraceEnable; docs/broker-trace.md):
 * `%BROKER%<producer or consumer group>`. Client records carry the client's group, and names
 * starting with '%' are the broker's own by convention (%RETRY%, %DLQ%), so none carries this.
 */
export const BROKER_TRACE_GROUP_PREFIX = '%BROKER%';

/** Did a broker (brokerTraceEnable) write this record, rather than a client? */
export function isBrokerTrace(r: TraceRecord): boolean {
  return (r.groupName ?? '').startsWith(BROKER_TRACE_GROUP_PREFIX);
}

/** Fields of the message's send, the same in Pub and EndTransaction (producer group, broker sent to). */
interface SendTraceFields {
  timeStamp: number;
  regionId: string | null;
  groupName: string;
  topic: string;
  msgId: string;
  tags: string | null;
  keys: string | null;
  storeHost: string;
}

export interface PubTrace extends SendTraceFields {
  type: 'Pub';
  bodyLength: number;
  costTime: number;
  /** MessageType ordinal (0 normal, 1 half, 2 commit, 3 delay). */
  msgType: number;
  /** null when written by a client that did not send it (13 fields). */
  offsetMsgId: string | null;
  success: boolean;
  /** The 15th field of newer writers, else null. */
  clientHost: string | null;
}

interface SubBeforeTrace {
  type: 'SubBefore';
  timeStamp: number;
  regionId: string | null;
  groupName: string;
  requestId: string;
  msgId: string;
  retryTimes: number;
  keys: string | null;
}

interface SubAfterTrace {
  type: 'SubAfter';
  requestId: string;
  msgId: string;
  costTime: number;
  success: boolean;
  keys: string | null;
  /** ConsumeReturnType ordinal; null when the writer did not send it. */
  contextCode: number | null;
  /** null when the writer did not send it (older clients, AccessChannel CLOUD). */
  timeStamp: number | null;
  groupName: string | null;
}

interface EndTransactionTrace extends SendTraceFields {
  type: 'EndTransaction';
  msgType: number;
  transactionId: string | null;
  /** COMMIT_MESSAGE, ROLLBACK_MESSAGE or UNKNOW. */
  transactionState: string;
  fromTransactionCheck: boolean;
}

export type TraceRecord = PubTrace | SubBeforeTrace | SubAfterTrace | EndTransactionTrace;

/** What decodeTraces could not read (kept out of the records, counted for the caller). */
interface TraceDecodeResult {
  records: TraceRecord[];
  /** Chunks that are not a record of a known type or have too few fields. */
  skipped: string[];
}

const TYPE_SET: ReadonlySet<string> = new Set(TRACE_TYPES);

const str = (s: string): string | null => (s === 'null' ? null : s);
const num = (s: string | undefined): number => {
  const n = Number(s);
  return Number.isFinite(n) ? n : 0;
};
const bool = (s: string | undefined): boolean => s?.toLowerCase() === 'true';
const text = (v: string | number | boolean | null | undefined): string => (v === null || v === undefined ? 'null' : String(v));

/** Minimum field counts per type (what the Java decoder reads unconditionally). */
const MIN_FIELDS: Record<TraceType, number> = { Pub: 13, SubBefore: 8, SubAfter: 6, EndTransaction: 13 };

/** Fields 1-8, the same in Pub and EndTransaction (the send of the message). */
function sendFields(f: string[]): SendTraceFields {
  return { timeStamp: num(f[1]), regionId: str(f[2]!), groupName: f[3]!, topic: f[4]!, msgId: f[5]!, tags: str(f[6]!), keys: str(f[7]!), storeHost: f[8]! };
}

function parseRecord(f: string[]): TraceRecord {
  switch (f[0] as TraceType) {
    case 'Pub': {
      const standard = f.length >= 14;
      return {
        type: 'Pub',
        ...sendFields(f),
        bodyLength: num(f[9]),
        costTime: num(f[10]),
        msgType: num(f[11]),
        offsetMsgId: standard ? str(f[12]!) : null,
        success: bool(standard ? f[13] : f[12]),
        clientHost: f.length >= 15 ? str(f[14]!) : null,
      };
    }
    case 'SubBefore':
      return { type: 'SubBefore', timeStamp: num(f[1]), regionId: str(f[2]!), groupName: f[3]!, requestId: f[4]!, msgId: f[5]!, retryTimes: num(f[6]), keys: str(f[7]!) };
    case 'SubAfter':
      return {
        type: 'SubAfter',
        requestId: f[1]!,
        msgId: f[2]!,
        costTime: num(f[3]),
        success: bool(f[4]),
        keys: str(f[5]!),
        contextCode: f.length >= 7 ? num(f[6]) : null,
        timeStamp: f.length >= 9 ? num(f[7]) : null,
        groupName: f.length >= 9 ? str(f[8]!) : null,
      };
    case 'EndTransaction':
      return {
        type: 'EndTransaction',
        ...sendFields(f),
        msgType: num(f[9]),
        transactionId: str(f[10]!),
        transactionState: f[11]!,
        fromTransactionCheck: bool(f[12]),
      };
  }
}

/** Decode a trace message body (a Buffer is read as UTF-8). */
export function decodeTraces(body: string | Buffer): TraceDecodeResult {
  const data = typeof body === 'string' ? body : body.toString('utf8');
  const records: TraceRecord[] = [];
  const skipped: string[] = [];
  for (const chunk of data.split(FIELD_SPLITOR)) {
    if (chunk === '') continue;
    let fields = chunk.split(CONTENT_SPLITOR);
    // A CLOUD SubAfter ends with char 1: drop the empty field that leaves at the end.
    if (fields.length > 1 && fields[fields.length - 1] === '') fields = fields.slice(0, -1);
    while (fields.length > 0) {
      const type = fields[0]!;
      if (!TYPE_SET.has(type) || fields.length < MIN_FIELDS[type as TraceType]) {
        skipped.push(fields.join(CONTENT_SPLITOR));
        break;
      }
      // A 7-field SubAfter (CLOUD) followed, in the same chunk, by the next record.
      if (type === 'SubAfter' && fields.length > 7 && TYPE_SET.has(fields[7]!)) {
        records.push(parseRecord(fields.slice(0, 7)));
        fields = fields.slice(7);
        continue;
      }
      records.push(parseRecord(fields));
      break;
    }
  }
  return { records, skipped };
}

/** One record as TraceDataEncoder writes it (standard layout, terminated by char 2). */
export function encodeTrace(r: TraceRecord): string {
  // Template strings, not an array joined: the broker encodes one record per traced message.
  const S = CONTENT_SPLITOR;
  switch (r.type) {
    case 'Pub': {
      const host = r.clientHost !== null ? `${S}${r.clientHost}` : '';
      return `Pub${S}${r.timeStamp}${S}${text(r.regionId)}${S}${r.groupName}${S}${r.topic}${S}${r.msgId}${S}${text(r.tags)}${S}${text(r.keys)}${S}${r.storeHost}${S}${r.bodyLength}${S}${r.costTime}${S}${r.msgType}${S}${text(r.offsetMsgId)}${S}${r.success}${host}${FIELD_SPLITOR}`;
    }
    case 'SubBefore':
      return `SubBefore${S}${r.timeStamp}${S}${text(r.regionId)}${S}${r.groupName}${S}${r.requestId}${S}${r.msgId}${S}${r.retryTimes}${S}${text(r.keys)}${FIELD_SPLITOR}`;
    case 'SubAfter':
      return `SubAfter${S}${r.requestId}${S}${r.msgId}${S}${r.costTime}${S}${r.success}${S}${text(r.keys)}${S}${r.contextCode ?? 0}${S}${r.timeStamp ?? 0}${S}${text(r.groupName)}${FIELD_SPLITOR}`;
    case 'EndTransaction':
      return `EndTransaction${S}${r.timeStamp}${S}${text(r.regionId)}${S}${r.groupName}${S}${r.topic}${S}${r.msgId}${S}${text(r.tags)}${S}${text(r.keys)}${S}${r.storeHost}${S}${r.msgType}${S}${text(r.transactionId)}${S}${r.transactionState}${S}${r.fromTransactionCheck}${FIELD_SPLITOR}`;
  }
}

/** A trace message body: the records one after the other. */
export function encodeTraces(records: readonly TraceRecord[]): string {
  return records.map(encodeTrace).join('');
}

/**
 * The KEYS a trace message is sent with: every traced msgId plus each user key of those
 * messages (split on spaces), once each, joined by single spaces — so the trace topic's index has
 * an entry `<traceTopic>#<msgId>` for every traced message.
 */
export function traceKeys(records: readonly TraceRecord[]): string {
  const keys = new Set<string>();
  for (const r of records) {
    if (r.msgId) keys.add(r.msgId);
    for (const k of (r.keys ?? '').split(' ')) if (k !== '') keys.add(k);
  }
  return [...keys].join(' ');
}
