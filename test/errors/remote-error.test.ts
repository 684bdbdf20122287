/** The one response-code table: what `code` a broker's refusal carries in --json and errors. */
import { describe, expect, it } from 'vitest';
import { RemoteError, RESPONSE_ERROR_CODES } from '../../src/errors/index.js';
import { ResponseCode } from '../../src/protocol/codes.js';

describe('RemoteError codes', () => {
  it('maps well-known response codes to the typed error codes, anything else to E_REMOTE', () => {
    expect(new RemoteError(ResponseCode.TOPIC_NOT_EXIST, 'topic[x] not exist').code).toBe('E_TOPIC_NOT_FOUND');
    expect(new RemoteError(ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST, 'no group').code).toBe('E_GROUP_NOT_FOUND');
    expect(new RemoteError(ResponseCode.NO_PERMISSION, 'no perm').code).toBe('E_NO_PERMISSION');
    expect(new RemoteError(ResponseCode.REQUEST_CODE_NOT_SUPPORTED, 'not supported').code).toBe('E_NOT_SUPPORTED');
    expect(new RemoteError(9999, 'odd').code).toBe('E_REMOTE');
    expect(new RemoteError(ResponseCode.SYSTEM_ERROR, 'boom').code).toBe('E_REMOTE');
  });

  it('an explicit code and an ACL refusal win over the table', () => {
    expect(new RemoteError(ResponseCode.TOPIC_NOT_EXIST, 'x', 'E_MINE').code).toBe('E_MINE');
    expect(new RemoteError(ResponseCode.SYSTEM_ERROR, 'org.apache.rocketmq.acl.common.AclException: No accessKey is configured').code).toBe('E_ACL_DENIED');
  });

  it('every mapped code is a known ResponseCode', () => {
    const known = new Set<number>(Object.values(ResponseCode));
    for (const c of Object.keys(RESPONSE_ERROR_CODES)) expect(known.has(Number(c))).toBe(true);
  });
});
