/**
 * DELETE_EXPIRED_COMMITLOG (329), as AdminBrokerProcessor.deleteExpiredCommitLog (4.9.8): the
 * store's next 20 retention passes delete expired commit log segments whatever the hour
 * (DefaultMessageStore.executeDeleteFilesManually); nothing younger than fileReservedTime goes.
 * Answers at once; the deletions follow on the retention timer (cleanResourceInterval).
 */
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { ok } from './util.js';

export function deleteExpiredCommitLog(ctx: BrokerContext): RequestHandler {
  return (req) => {
    ctx.logger.warn('retention: deleting expired commit log segments on request (DELETE_EXPIRED_COMMITLOG), the next 20 passes');
    ctx.deleteExpiredCommitLog();
    return ok(req);
  };
}
