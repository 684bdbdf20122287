/**
 * How a send the store refused is answered (send-common.ts putFailureResponse, as
 * SendMessageProcessor#handlePutMessageResult maps PutMessageStatus, 4.9.8): clients retry
 * SERVICE_NOT_AVAILABLE on another broker, back off on SYSTEM_BUSY.
 */
import { describe, expect, it } from 'vitest';
import { putFailureResponse } from '../../src/broker/handlers/send-common.js';
import { NotLeaderError } from '../../src/broker/dledger/dledger-commitlog.js';
import { RocketError } from '../../src/errors/index.js';
import { RequestCode, ResponseCode } from '../../src/protocol/codes.js';
import { makeRequest } from '../../src/protocol/frame.js';

describe('putFailureResponse', () => {
  const req = makeRequest(RequestCode.SEND_MESSAGE_V2);
  it('a DLedger node that is not the leader: SERVICE_NOT_AVAILABLE (the producer tries another broker)', () => {
    const r = putFailureResponse(req, new NotLeaderError());
    expect(r.code).toBe(ResponseCode.SERVICE_NOT_AVAILABLE);
    expect(r.remark).toMatch(/^service not available now: this broker is not the leader of its DLedger group/);
  });
  it('a store under backpressure: SYSTEM_BUSY; anything else typed: SYSTEM_ERROR with the reason', () => {
    expect(putFailureResponse(req, new RocketError('busy', { code: 'E_STORE_BUSY' })).code).toBe(ResponseCode.SYSTEM_BUSY);
    const other = putFailureResponse(req, new RocketError('boom', { code: 'E_X' }));
    expect([other.code, other.remark]).toEqual([ResponseCode.SYSTEM_ERROR, 'boom']);
  });
});
