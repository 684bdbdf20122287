/**
 * END_TRANSACTION (37), as EndTransactionProcessor: normally oneway, from the
 * producer after its local transaction or as the answer to CHECK_TRANSACTION_STATE
 * (fromTransactionCheck=true). State 0 (unknown) and anything but commit (8) / rollback (12) get
 * no reply and change nothing: the check service will ask again. Commit writes the real message
 * and an op marker; rollback only the op marker. A request sent with a reply expected gets
 * SUCCESS, or SYSTEM_ERROR with Apache's remark when the half message does not match.
 */
import { ResponseCode } from '../../protocol/codes.js';
import { makeResponse } from '../../protocol/frame.js';
import { NotAHalfMessageError } from '../transaction/half-message.js';
import { TransactionType, type EndTransactionRequest } from '../transaction/transactional-service.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { putFailureResponse } from './send-common.js';
import { fail, Header } from './util.js';

export function endTransaction(ctx: BrokerContext): RequestHandler {
  return async (req, channel) => {
    const h = new Header(req);
    const r: EndTransactionRequest = {
      producerGroup: h.str('producerGroup'),
      tranStateTableOffset: h.int('tranStateTableOffset'),
      commitLogOffset: h.int('commitLogOffset'),
      commitOrRollback: h.int('commitOrRollback'),
      fromTransactionCheck: h.bool('fromTransactionCheck'),
    };
    if (r.commitOrRollback !== TransactionType.COMMIT && r.commitOrRollback !== TransactionType.ROLLBACK) {
      // TRANSACTION_NOT_TYPE: the producer does not know yet. As Apache: no action, no reply.
      if (r.commitOrRollback !== 0) ctx.logger.warn(`END_TRANSACTION from ${channel.remoteAddress} with commitOrRollback ${r.commitOrRollback} ignored`);
      return undefined;
    }
    if (req.remark) ctx.logger.warn(`END_TRANSACTION from ${channel.remoteAddress} (${r.producerGroup}): ${req.remark}`);
    const tx = ctx.transactions;
    if (!tx) return fail(req, ResponseCode.SYSTEM_ERROR, 'this broker runs no transaction service');
    try {
      const res = await tx.end(r);
      return makeResponse(req, res.code, res.remark);
    } catch (err) {
      if (err instanceof NotAHalfMessageError) return fail(req, ResponseCode.SYSTEM_ERROR, err.message);
      // A failed put of the committed message: the send path's mapping (nothing was resolved).
      return putFailureResponse(req, err);
    }
  };
}
