/**
 * Message traces, as mqadmin's queryMsgTraceById (fact sheet §7.3): the trace topic's index is
 * asked for the message id as a key (QUERY_MESSAGE on every broker of the trace topic, as
 * queryMsgByKey), every record of those trace messages is decoded, and the records of that
 * message id are kept. Rows: one per Pub, per consume attempt (SubBefore + SubAfter with the same
 * requestId) and per EndTransaction, sorted by time. Client host = the born host of the trace
 * message without its port (what mqadmin shows: TraceView uses MessageExt#getBornHostString, 4.9.8).
 */
import { TopicNotFoundError, RocketError } from '../errors/index.js';
import { decodeTraces, DEFAULT_TRACE_TOPIC, type TraceRecord } from '../protocol/trace.js';
import type { AdminSession } from './admin-session.js';
import type { BrokerFailure } from './admin.js';
import { END_OF_TIME_MS, queryMsgByKey } from './admin-messages.js';

export { DEFAULT_TRACE_TOPIC };

export type TraceRowType = 'Pub' | 'Sub' | 'EndTransaction';

export interface TraceRow {
  type: TraceRowType;
  /** Producer group (Pub, EndTransaction) or consumer group (Sub). */
  group: string | null;
  /** Born host of the trace message: the IP of the traced client's trace producer (mqadmin's #ClientHost). */
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

export interface TraceLookup {
  msgId: string;
  traceTopic: string;
  beginMs: number;
  endMs: number;
  rows: TraceRow[];
  /** Trace messages whose KEYS hold the id (each may carry records of other messages too). */
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

export async function queryMsgTrace(session: AdminSession, msgId: string, traceTopic = DEFAULT_TRACE_TOPIC, beginMs = 0, endMs = END_OF_TIME_MS): Promise<TraceLookup> {
  let r;
  try {
    r = await queryMsgByKey(session, traceTopic, msgId, beginMs, endMs);
  } catch (err) {
    if (err instanceof TopicNotFoundError) throw new TraceTopicNotFoundError(traceTopic);
    throw err;
  }
  let undecodable = 0;
  const mine: Array<{ rec: TraceRecord; host: string }> = [];
  for (const f of r.found) {
    const d = decodeTraces(f.body);
    undecodable += d.skipped.length;
    for (const rec of d.records) if (rec.msgId === msgId) mine.push({ rec, host: hostOf(f.view.bornHost) });
  }
  return { msgId, traceTopic, beginMs, endMs, rows: traceRows(mine), traceMessages: r.found.length, undecodable, truncated: r.truncated, failures: r.failures, failed: r.failed };
}

/** "ip:port" / "[v6]:port" → the address alone, as Java's InetAddress#getHostAddress prints it. */
function hostOf(hostPort: string): string {
  const i = hostPort.lastIndexOf(':');
  const host = i > 0 ? hostPort.slice(0, i) : hostPort;
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

const TYPE_ORDER: Record<TraceRowType, number> = { Pub: 0, EndTransaction: 1, Sub: 2 };

/** Records of one message → rows (Sub = SubBefore + SubAfter of the same requestId), by time. */
export function traceRows(list: ReadonlyArray<{ rec: TraceRecord; host: string }>): TraceRow[] {
  const rows: TraceRow[] = [];
  const subs = new Map<string, TraceRow>();
  const sub = (requestId: string, host: string): TraceRow => {
    let row = subs.get(requestId);
    if (!row) {
      row = { type: 'Sub', group: null, clientHost: host, timeStamp: null, costTimeMs: null, success: null, status: 'no result', records: [] };
      subs.set(requestId, row);
      rows.push(row);
    }
    return row;
  };
  for (const { rec, host } of list) {
    switch (rec.type) {
      case 'Pub':
        rows.push({ type: 'Pub', group: rec.groupName, clientHost: host, timeStamp: rec.timeStamp, costTimeMs: rec.costTime, success: rec.success, status: rec.success ? 'success' : 'failed', records: [rec] });
        break;
      case 'EndTransaction':
        rows.push({ type: 'EndTransaction', group: rec.groupName, clientHost: host, timeStamp: rec.timeStamp, costTimeMs: null, success: null, status: rec.transactionState, records: [rec] });
        break;
      case 'SubBefore': {
        const row = sub(rec.requestId, host);
        row.records.unshift(rec);
        row.group ??= rec.groupName;
        row.timeStamp ??= rec.timeStamp;
        break;
      }
      case 'SubAfter': {
        const row = sub(rec.requestId, host);
        row.records.push(rec);
        if (rec.groupName !== null) row.group = rec.groupName;
        if (rec.timeStamp !== null) row.timeStamp = rec.timeStamp;
        row.clientHost = host;
        row.costTimeMs = rec.costTime;
        row.success = rec.success;
        row.status = rec.success ? 'success' : 'failed';
        break;
      }
    }
  }
  return rows.sort((a, b) => (a.timeStamp ?? Infinity) - (b.timeStamp ?? Infinity) || TYPE_ORDER[a.type] - TYPE_ORDER[b.type]);
}
