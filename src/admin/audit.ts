/**
 * `rocketctl audit`: the audit log of admin changes, asked of the brokers with
 * ROCKETCTL_QUERY_AUDIT_LOG (rocketctl brokers only; an Apache broker answers
 * REQUEST_CODE_NOT_SUPPORTED), or read from a store dir on this host.
 */
import { RemoteError } from '../errors/index.js';
import { RequestCode, ResponseCode, responseCodeName } from '../protocol/codes.js';
import { bodyBuffer, makeRequest } from '../protocol/frame.js';
import { readAudit, auditDir, type AuditEntry, type AuditFilter } from '../util/audit-log.js';
import { sessionInvoke, type AdminSession } from './session.js';
import { BROKER_PARALLELISM, failureOf, mapBounded, type BrokerFailure } from './fanout.js';
import { resolveTargets, type TargetOptions } from './targets.js';

export type { AuditEntry, AuditFilter } from '../util/audit-log.js';

export interface AuditResult {
  /** Each entry with where it came from: a broker address, or the store dir read. */
  entries: Array<AuditEntry & { source: string }>;
  /** More entries matched than --limit: the oldest were left out. */
  truncated: boolean;
  /** Lines that did not parse (a torn last line after a crash). */
  skippedLines: number;
  failed: BrokerFailure[];
}

type Read = { entries: AuditEntry[]; truncated: boolean; skippedLines: number };

function merge(parts: Array<{ source: string; r: Read }>, failed: BrokerFailure[], limit: number | undefined): AuditResult {
  const all = parts.flatMap((p) => p.r.entries.map((e) => ({ ...e, source: p.source })));
  all.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  const kept = limit !== undefined && all.length > limit ? all.slice(all.length - limit) : all;
  return {
    entries: kept,
    truncated: kept.length < all.length || parts.some((p) => p.r.truncated),
    skippedLines: parts.reduce((n, p) => n + p.r.skippedLines, 0),
    failed,
  };
}

/** The audit log files under a store dir (no broker needed; it may be stopped). */
export function readStoreAudit(storeDir: string, filter: AuditFilter): AuditResult {
  return merge([{ source: storeDir, r: readAudit(auditDir(storeDir), filter) }], [], filter.limit);
}

export async function queryAudit(s: AdminSession, o: TargetOptions & { filter: AuditFilter }): Promise<AuditResult> {
  const f = o.filter;
  const header = { sinceMs: f.sinceMs, what: f.what?.join(','), topic: f.topic, group: f.group, who: f.who, limit: f.limit };
  const targets = await resolveTargets(s, o);
  const settled = await mapBounded(targets, BROKER_PARALLELISM, async (t) => {
    const res = await sessionInvoke(s, t.addr, makeRequest(RequestCode.ROCKETCTL_QUERY_AUDIT_LOG, header));
    if (res.code === ResponseCode.REQUEST_CODE_NOT_SUPPORTED) {
      throw new RemoteError(res.code, `broker ${t.addr} keeps no audit log (not a rocketctl broker)`, 'E_NOT_SUPPORTED');
    }
    if (res.code !== ResponseCode.SUCCESS) throw new RemoteError(res.code, `audit log of ${t.addr}: ${res.remark || responseCodeName(res.code)}`);
    return JSON.parse(bodyBuffer(res).toString('utf8')) as Read;
  });
  const parts: Array<{ source: string; r: Read }> = [];
  const failed: BrokerFailure[] = [];
  for (const r of settled) {
    if (r.ok) parts.push({ source: r.item.addr, r: r.value });
    else failed.push(failureOf(r.item, r.error));
  }
  if (parts.length === 0 && settled[0] && !settled[0].ok) throw settled[0].error;
  return merge(parts, failed, f.limit);
}
