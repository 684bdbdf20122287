/**
 * ROCKETCTL_QUERY_AUDIT_LOG (30001, rocketctl's own; README "Audit"): the newest entries of the
 * audit log that match the header's filters, as JSON {entries, truncated, skippedLines}. Filtering
 * happens here so the answer stays small (at most AUDIT_QUERY_LIMIT_MAX entries). With ACL on, only
 * admin accounts may send it (acl/plain-acl.ts).
 */
import { ResponseCode } from '../../protocol/codes.js';
import type { RequestHandler } from '../../remoting/server.js';
import { readAudit } from '../../util/audit-log.js';
import type { BrokerContext } from './context.js';
import { fail, ok } from './util.js';

export function queryAuditLog(ctx: BrokerContext): RequestHandler {
  return (req) => {
    if (!ctx.audit) return fail(req, ResponseCode.SYSTEM_ERROR, 'the audit log is not open yet');
    const f = req.extFields ?? {};
    const num = (v: string | undefined) => (v === undefined || v === '' || !Number.isFinite(Number(v)) ? undefined : Number(v));
    const r = readAudit(ctx.audit.dir, {
      sinceMs: num(f.sinceMs),
      what: f.what ? f.what.split(',') : undefined,
      topic: f.topic || undefined,
      group: f.group || undefined,
      who: f.who || undefined,
      limit: num(f.limit),
    });
    return ok(req, undefined, Buffer.from(JSON.stringify(r), 'utf8'));
  };
}
