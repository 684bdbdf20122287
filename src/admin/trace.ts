/**
 * Message traces, as mqadmin's queryMsgTraceById (tools QueryMsgTraceByIdSubCommand, 4.9.8): the
 * trace topic's index is asked for the message id as a key (QUERY_MESSAGE on every broker of the
 * trace topic, as queryMsgByKey), every record of those trace messages is decoded, and the records
 * of that message id are kept. By key (-k): the same lookup with the user key (trace messages are
 * keyed by the keys of the messages they trace, as AsyncTraceDispatcher keys them), keeping every
 * message one of whose records lists that key.
 *
 * Rows: one per Pub, per consume attempt (SubBefore + SubAfter with the same requestId) and per
 * EndTransaction, sorted by time. Client host = the born host of the trace message without its
 * port (TraceView uses MessageExt#getBornHostString); for records a broker wrote itself
 * (brokerTraceEnable, groups prefixed %BROKER%, docs/broker-trace.md) the traced client's address
 * the record carries instead, since the trace message was born at the broker.
 *
 * Timeline: one per message, client and broker records merged in time order, each step with the
 * gap since the one before (trace-timeline.ts).
 */
import { TopicNotFoundError, RocketError } from '../errors/index.js';
import { decodeTraces, isBrokerTrace, type TraceRecord } from '../protocol/trace.js';
import { RMQ_SYS_TRACE_TOPIC } from '../protocol/names.js';
import type { AdminSession } from './session.js';
import type { BrokerFailure } from './fanout.js';
import { END_OF_TIME_MS, queryMsgByKey } from './messages.js';
import { traceTimelines, type TraceTimeline } from './trace-timeline.js';

export { RMQ_SYS_TRACE_TOPIC };

export type TraceRowType = 'Pub' | 'Sub' | 'EndTransaction';

/** Who wrote a record: a traced client (enableMsgTrace), or a broker itself (brokerTraceEnable). */
export type TraceSource = 'client' | 'broker';

export interface TraceRow {
  type: TraceRowType;
  /** The traced message's id (UNIQ_KEY, or the offset msgId of a message sent without one). */
  msgId: string;
  source: TraceSource;
  /** Producer group (Pub, EndTransaction) or consumer group (Sub). */
  group: string | null;
  /**
   * Client records: born host of the trace message, the IP of the traced client's trace producer
   * (mqadmin's #ClientHost). Broker records: the address of the client the broker served.
   */
  clientHost: string;
  /** Send start (Pub), consume end (Sub; its SubBefore's time when the SubAfter has none), end (EndTransaction). */
  timeStamp: number | null;
  costTimeMs: number | null;
  success: boolean | null;
  /** success / failed; a Sub with no SubAfter: "no result"; EndTransaction: its transactionState. */
  status: string;
  /** The decoded record(s) behind the row: Pub, SubBefore and/or SubAfter, EndTransaction. */
  records: TraceRecord[];
}

/** What to look up: a message id (-i) or a message key (-k). */
export type TraceQuery = { msgId: string; key?: undefined } | { key: string; msgId?: undefined };

export interface TraceLookup {
  /** The id looked up (-i), else null. */
  msgId: string | null;
  /** The key looked up (-k), else null. */
  key: string | null;
  traceTopic: string;
  beginMs: number;
  endMs: number;
  /** mqadmin's rows, of every message found (by id: one), by time. */
  rows: TraceRow[];
  /** One per message found: its steps, client and broker records merged, with the gaps between them. */
  timelines: TraceTimeline[];
  /** Trace messages whose KEYS hold the id or key (each may carry records of other messages too). */
  traceMessages: number;
  /** Text in those messages that is no trace record. */
  undecodable: number;
  truncated: boolean;
  failures: string[];
  failed: BrokerFailure[];
}

/** The trace topic does not exist: tracing was probably never on. */
export class TraceTopicNotFoundError extends RocketError {
  constructor(topic: string) {
    super(`trace topic ${topic} does not exist: message tracing was probably never enabled`, {
      code: 'E_TOPIC_NOT_FOUND',
      actions: [
        'enable it on the broker (traceTopicEnable=true in broker.conf) or on the Java clients (enableMsgTrace; a customizedTraceTopic is given here with -t)',
        'list topics with: rocketctl topicList',
      ],
    });
  }
}

export async function queryMsgTrace(session: AdminSession, query: TraceQuery, traceTopic = RMQ_SYS_TRACE_TOPIC, beginMs = 0, endMs = END_OF_TIME_MS): Promise<TraceLookup> {
  const lookupKey = query.msgId ?? query.key;
  let r;
  try {
    r = await queryMsgByKey(session, traceTopic, lookupKey, beginMs, endMs);
  } catch (err) {
    if (err instanceof TopicNotFoundError) throw new TraceTopicNotFoundError(traceTopic);
    throw err;
  }
  let undecodable = 0;
  const all: TracedRecord[] = [];
  for (const f of r.found) {
    const d = decodeTraces(f.body);
    undecodable += d.skipped.length;
    for (const rec of d.records) all.push({ rec, host: hostOf(f.view.bornHost) });
  }
  const ids = query.msgId !== undefined ? new Set([query.msgId]) : idsWithKey(all, query.key);
  const rows = traceRows(all.filter((x) => ids.has(x.rec.msgId)));
  return {
    msgId: query.msgId ?? null,
    key: query.key ?? null,
    traceTopic,
    beginMs,
    endMs,
    rows,
    timelines: traceTimelines(rows),
    traceMessages: r.found.length,
    undecodable,
    truncated: r.truncated,
    failures: r.failures,
    failed: r.failed,
  };
}

/** A decoded record and the host of the trace message that carried it. */
export interface TracedRecord {
  rec: TraceRecord;
  host: string;
}

/** Ids of the messages one of whose records lists `key` among its keys (space separated). */
function idsWithKey(list: readonly TracedRecord[], key: string): Set<string> {
  const ids = new Set<string>();
  for (const { rec } of list) if ((rec.keys ?? '').split(' ').includes(key)) ids.add(rec.msgId);
  return ids;
}

/** "ip:port" / "[v6]:port" → the address alone, as Java's InetAddress#getHostAddress prints it. */
function hostOf(hostPort: string): string {
  const i = hostPort.lastIndexOf(':');
  const host = i > 0 ? hostPort.slice(0, i) : hostPort;
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

const TYPE_ORDER: Record<TraceRowType, number> = { Pub: 0, EndTransaction: 1, Sub: 2 };

/**
 * Records → rows (Sub = SubBefore + SubAfter of the same message and requestId), by time. A
 * broker's row shows the client it served: a Pub's clientHost field, a Sub's requestId
 * (`<n>@<address>`, trace/broker-tracer.ts).
 */
export function traceRows(list: ReadonlyArray<TracedRecord>): TraceRow[] {
  const rows: TraceRow[] = [];
  const subs = new Map<string, TraceRow>();
  const sub = (rec: TraceRecord & { requestId: string }, host: string): TraceRow => {
    const id = `${rec.msgId}\u0001${rec.requestId}`;
    let row = subs.get(id);
    if (!row) {
      row = { type: 'Sub', msgId: rec.msgId, source: 'client', group: null, clientHost: host, timeStamp: null, costTimeMs: null, success: null, status: 'no result', records: [] };
      subs.set(id, row);
      rows.push(row);
    }
    return row;
  };
  for (const { rec, host: bornHost } of list) {
    const broker = isBrokerTrace(rec);
    const source: TraceSource = broker ? 'broker' : 'client';
    switch (rec.type) {
      case 'Pub': {
        const host = broker && rec.clientHost !== null ? rec.clientHost : bornHost;
        rows.push({ type: 'Pub', msgId: rec.msgId, source, group: rec.groupName, clientHost: host, timeStamp: rec.timeStamp, costTimeMs: rec.costTime, success: rec.success, status: rec.success ? 'success' : 'failed', records: [rec] });
        break;
      }
      case 'EndTransaction':
        rows.push({ type: 'EndTransaction', msgId: rec.msgId, source, group: rec.groupName, clientHost: bornHost, timeStamp: rec.timeStamp, costTimeMs: null, success: null, status: rec.transactionState, records: [rec] });
        break;
      case 'SubBefore': {
        const row = sub(rec, broker ? servedHost(rec.requestId, bornHost) : bornHost);
        row.records.unshift(rec);
        row.group ??= rec.groupName;
        row.timeStamp ??= rec.timeStamp;
        if (broker) row.source = 'broker';
        break;
      }
      case 'SubAfter': {
        const row = sub(rec, bornHost);
        row.records.push(rec);
        if (rec.groupName !== null) row.group = rec.groupName;
        if (rec.timeStamp !== null) row.timeStamp = rec.timeStamp;
        row.clientHost = broker ? servedHost(rec.requestId, bornHost) : bornHost;
        if (broker) row.source = 'broker';
        row.costTimeMs = rec.costTime;
        row.success = rec.success;
        row.status = rec.success ? 'success' : 'failed';
        break;
      }
    }
  }
  return rows.sort((a, b) => (a.timeStamp ?? Infinity) - (b.timeStamp ?? Infinity) || TYPE_ORDER[a.type] - TYPE_ORDER[b.type]);
}

/** The consumer address in a broker record's requestId (`<n>@<address>`), else `fallback`. */
function servedHost(requestId: string, fallback: string): string {
  const at = requestId.indexOf('@');
  return at >= 0 && at < requestId.length - 1 ? requestId.slice(at + 1) : fallback;
}
