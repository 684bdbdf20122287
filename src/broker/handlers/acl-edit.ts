/**
 * What the three ACL-changing handlers share (AdminBrokerProcessor#updateAndCreateAccessConfig,
 * #deleteAccessConfig, #updateGlobalWhiteAddrsConfig at 4.9.8): run one edit of plain_acl.yml and
 * answer SUCCESS, or the request's *_FAILED code with Apache's remark (when the edit found nothing
 * to change) or the reason (when the change is invalid or cannot be written).
 */
import type { RemotingCommand } from '../../protocol/frame.js';
import type { BrokerContext } from './context.js';
import { errMessage, fail, ok } from './util.js';

export function aclEdit(ctx: BrokerContext, req: RemotingCommand, failedCode: number, notDone: string, edit: (text: string) => string | undefined): RemotingCommand {
  if (!ctx.acl) return fail(req, failedCode, 'ACL is not enabled on this broker (aclEnable=false)');
  try {
    if (ctx.acl.edit(edit)) return ok(req);
    ctx.logger.warn(`acl: ${notDone}`);
    return fail(req, failedCode, notDone);
  } catch (err) {
    return fail(req, failedCode, errMessage(err));
  }
}

/** UtilAll.split: a comma-separated header value as a list; absent stays absent. */
export function splitList(v: string | undefined): string[] | undefined {
  return v === undefined ? undefined : v.split(',');
}
