/**
 * The plain ACL's pieces without a broker: the signature (bytes signed, HmacSHA1, base64), the
 * plain_acl.yml reading, white-list patterns, and PlainPermissionManager#validate's decisions.
 */
import { describe, expect, it } from 'vitest';
import { signature, signedContent, signRequest } from '../../src/protocol/acl-sign.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { RequestCode } from '../../src/protocol/codes.js';
import { encodeJson } from '../../src/protocol/bodies.js';
import { AclConfigError, checkRequest, parsePlainAcl } from '../../src/broker/acl/plain-acl.js';
import { addressMatcher } from '../../src/broker/acl/remote-address.js';

const ACL = `
globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.*

accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
    groupPerms:
      # the group should convert to retry topic
      - groupA=DENY
      - groupB=PUB|SUB
      - groupC=SUB

  - accessKey: rocketmq2
    secretKey: 12345678
    whiteRemoteAddress: 192.168.1.*
    # if it is admin, it could access all resources
    admin: true
`;

const user = { accessKey: 'RocketMQ', secretKey: '12345678' };
const admin = { accessKey: 'rocketmq2', secretKey: '12345678' };
const IP = '127.0.0.1';

function sendV2(topic: string, group = 'PG') {
  return makeRequest(RequestCode.SEND_MESSAGE_V2, { a: group, b: topic, c: 'TBW102', d: 4, e: 0, f: 0, g: Date.now(), h: 0, i: '', j: 0, k: false, m: false }, Buffer.from('body'));
}

describe('signature (AclClientRPCHook / AclUtils)', () => {
  it('is HmacSHA1 over the bytes, base64', () => {
    // openssl: printf RocketMQ | openssl dgst -sha1 -hmac 12345678 -binary | base64
    expect(signature(Buffer.from('RocketMQ'), '12345678')).toBe('IUc8rrO/0gDch8CjObLQsW2rsiA=');
  });

  it('signs the header values in key order (upper case first, as Java TreeMap), then the body; never Signature', () => {
    const content = signedContent({ b: 'value-b', Signature: 'ignored', a: 'value-a', AccessKey: 'rocketmq2' }, Buffer.from('body'));
    expect(content.toString()).toBe('rocketmq2value-avalue-bbody');
    // openssl: printf rocketmq2value-avalue-bbody | openssl dgst -sha1 -hmac secret-xyz -binary | base64
    expect(signature(content, 'secret-xyz')).toBe('wAVJhi8QTI9078EA6sT/EqbcHFQ=');
  });

  it('signRequest adds AccessKey and Signature and leaves the request otherwise as it was', () => {
    const req = sendV2('topicB');
    const signed = signRequest(req, user);
    expect(signed.extFields!.AccessKey).toBe('RocketMQ');
    expect(signed.extFields!.Signature).toBe(signature(signedContent(signed.extFields, signed.body), '12345678'));
    expect(req.extFields!.AccessKey).toBeUndefined();
    expect(JSON.stringify(signed)).not.toContain('12345678');
  });
});

describe('plain_acl.yml', () => {
  it('reads accounts, perms (groups as retry topics) and white lists in Apache\'s format', () => {
    const acl = parsePlainAcl(ACL);
    expect([...acl.accounts.keys()]).toEqual(['RocketMQ', 'rocketmq2']);
    const a = acl.accounts.get('RocketMQ')!;
    expect(a.secretKey).toBe('12345678'); // a YAML number, read as the string Apache reads
    expect(a.admin).toBe(false);
    expect(a.perms.get('topicB')).toBe(4 | 8);
    expect(a.perms.get('%RETRY%groupC')).toBe(8);
    expect(acl.globalWhite).toHaveLength(2);
    expect(acl.accounts.get('rocketmq2')!.admin).toBe(true);
  });

  it('refuses short keys and malformed entries, naming the account but never the secret', () => {
    expect(() => parsePlainAcl('accounts:\n  - accessKey: shortkeyok\n    secretKey: s3cr3t\n')).toThrow(AclConfigError);
    try {
      parsePlainAcl('accounts:\n  - accessKey: shortkeyok\n    secretKey: s3cr3t\n');
    } catch (err) {
      expect((err as Error).message).toContain('accessKey shortkeyok');
      expect((err as Error).message).toContain('secretKey must be longer than 6');
      expect((err as Error).message).not.toContain('s3cr3t');
    }
    expect(() => parsePlainAcl('accounts:\n  - accessKey: abcdefg\n    secretKey: abcdefgh\n    topicPerms:\n      - topicA\n')).toThrow(/not NAME=PERM/);
    expect(() => parsePlainAcl('globalWhiteRemoteAddresses:\n  - 10.0.0.300-400\n')).toThrow(/range/);
    expect(() => parsePlainAcl('accounts: [')).toThrow(/not YAML/);
  });

  it('reads an unknown permission as DENY, as Apache does, and says so', () => {
    const acl = parsePlainAcl('accounts:\n  - accessKey: abcdefg\n    secretKey: abcdefgh\n    defaultTopicPerm: PUBSUB\n');
    expect(acl.accounts.get('abcdefg')!.defaultTopicPerm).toBe(1);
    expect(acl.notes.join('\n')).toMatch(/"PUBSUB" is not PUB, SUB, PUB\|SUB or DENY; read as DENY/);
  });

  it('an empty file has no accounts (everything is refused)', () => {
    expect(parsePlainAcl('').accounts.size).toBe(0);
  });
});

describe('white-list patterns (RemoteAddressStrategyFactory)', () => {
  const cases: Array<[string, string, boolean]> = [
    ['*', '8.8.8.8', true],
    ['', '127.0.0.1', false],
    ['192.168.0.1', '192.168.0.1', true],
    ['192.168.0.1', '192.168.0.2', false],
    ['192.168.*.*', '192.168.77.3', true],
    ['192.168.*', '192.169.0.1', false],
    ['192.168.1.10-20', '192.168.1.15', true],
    ['192.168.1.10-20', '192.168.1.21', false],
    ['192.168.1.{1,2,3}', '192.168.1.2', true],
    ['192.168.1.{1,2,3}', '192.168.1.4', false],
    ['10.0.0.1,10.0.0.2', '10.0.0.2', true],
    ['::1', '0:0:0:0:0:0:0:1', true],
    ['2001:db8:*', '2001:db8:ffff::1', true],
    ['127.0.0.1', '::ffff:127.0.0.1', true],
  ];
  it.each(cases)('%s matches %s: %s', (pattern, ip, want) => {
    expect(addressMatcher(pattern)(ip)).toBe(want);
  });
});

describe('checkRequest (PlainPermissionManager#validate)', () => {
  const acl = parsePlainAcl(ACL);
  const check = (req: ReturnType<typeof makeRequest>, ip = IP) => checkRequest(acl, req, ip)?.message;

  it('unsigned requests are refused unless the address is globally white-listed', () => {
    expect(check(sendV2('topicB'))).toBe('No accessKey is configured');
    expect(check(sendV2('topicB'), '10.10.103.7')).toBeUndefined();
  });

  it('an unknown access key and a wrong or tampered signature are refused', () => {
    expect(check(signRequest(sendV2('topicB'), { accessKey: 'nobody00', secretKey: 'whatever' }))).toBe('No acl config for nobody00');
    const wrong = checkRequest(acl, signRequest(sendV2('topicB'), { ...user, secretKey: 'not-the-secret' }), IP)!;
    expect(wrong.badSignature).toBe(true);
    expect(wrong.message).toMatch(/^Check signature failed for accessKey=RocketMQ/);
    const tampered = signRequest(sendV2('topicB'), user);
    tampered.extFields!.b = 'topicC';
    expect(check(tampered)).toMatch(/^Check signature failed/);
    const body = signRequest(sendV2('topicB'), user);
    body.body = Buffer.from('other');
    expect(check(body)).toMatch(/^Check signature failed/);
  });

  it('topic and group permissions, and the defaults for the rest', () => {
    expect(check(signRequest(sendV2('topicB'), user))).toBeUndefined();
    expect(check(signRequest(sendV2('topicC'), user))).toBe('No default permission for topic:topicC, PUB needed, accessKey=RocketMQ has SUB');
    expect(check(signRequest(sendV2('topicA'), user))).toMatch(/^No default permission for topic:topicA, PUB needed/);
    expect(check(signRequest(sendV2('other'), user))).toMatch(/^No default permission for topic:other, PUB needed, accessKey=RocketMQ has DENY/);
    const pull = (topic: string, group: string) => makeRequest(RequestCode.PULL_MESSAGE, { consumerGroup: group, topic, queueId: 0, queueOffset: 0, maxMsgNums: 32, sysFlag: 0, commitOffset: 0, suspendTimeoutMillis: 0, subVersion: 0 });
    expect(check(signRequest(pull('topicC', 'groupC'), user))).toBeUndefined();
    expect(check(signRequest(pull('topicC', 'groupA'), user))).toBe('No default permission for group:groupA, SUB needed, accessKey=RocketMQ has DENY');
    expect(check(signRequest(pull('topicC', 'anyGroup'), user))).toBeUndefined(); // defaultGroupPerm: SUB
  });

  it('heartbeats need SUB on each consumer group and subscribed topic', () => {
    const hb = (topic: string) =>
      makeRequest(RequestCode.HEART_BEAT, {}, encodeJson({ clientID: 'c', producerDataSet: [], consumerDataSet: [{ groupName: 'groupC', consumeType: 'CONSUME_PASSIVELY', messageModel: 'CLUSTERING', consumeFromWhere: 'CONSUME_FROM_LAST_OFFSET', unitMode: false, subscriptionDataSet: [{ topic, subString: '*', tagsSet: [], codeSet: [], subVersion: 0, classFilterMode: false }] }] }));
    expect(check(signRequest(hb('topicC'), user))).toBeUndefined();
    expect(check(signRequest(hb('topicA'), user))).toMatch(/^No default permission for topic:topicA, SUB needed/);
  });

  it('admin request codes need admin: true; an admin with no perms listed may do anything', () => {
    const create = makeRequest(RequestCode.UPDATE_AND_CREATE_TOPIC, { topic: 'T', defaultTopic: 'TBW102', readQueueNums: 1, writeQueueNums: 1, perm: 6 });
    expect(check(signRequest(create, user))).toBe('Need admin permission for request code=17, but accessKey=RocketMQ is not, UPDATE_AND_CREATE_TOPIC needs admin: true');
    expect(check(signRequest(create, admin))).toBeUndefined();
    expect(check(signRequest(sendV2('anything'), admin))).toBeUndefined();
  });

  it('an account\'s own white list skips the signature, as in Apache', () => {
    const unsignedButNamed = makeRequest(RequestCode.SEND_MESSAGE_V2, { a: 'PG', b: 'topicB', AccessKey: 'rocketmq2' });
    expect(check(unsignedButNamed, '192.168.1.9')).toBeUndefined();
    expect(check(unsignedButNamed, '192.168.2.9')).toMatch(/^Check signature failed/);
  });

  it('unique-key queries: signed without _UNIQUE_KEY_QUERY (as Apache checks) by us, with it by Java clients; both accepted', () => {
    const query = makeRequest(RequestCode.QUERY_MESSAGE, { topic: 'topicC', key: 'K', maxNum: 32, beginTimestamp: 0, endTimestamp: 1, _UNIQUE_KEY_QUERY: true });
    const ours = signRequest(query, user);
    const { _UNIQUE_KEY_QUERY: _flag, Signature: _sig, ...rest } = ours.extFields!;
    expect(ours.extFields!.Signature).toBe(signature(signedContent(rest, undefined), '12345678'));
    expect(check(ours)).toBeUndefined();
    const javaFields: Record<string, string> = { ...ours.extFields!, Signature: signature(signedContent(ours.extFields, undefined), '12345678') };
    const java = { ...ours, extFields: javaFields };
    expect(check(java)).toBeUndefined();
    java.extFields.topic = 'topicA';
    expect(check(java)).toMatch(/^Check signature failed/);
  });

  it('PUB to the trace topic is never refused to a signed account', () => {
    expect(check(signRequest(sendV2('RMQ_SYS_TRACE_TOPIC'), user))).toBeUndefined();
  });

  it('a batch send needs PUB too (stricter than Apache, which checks no topic for it)', () => {
    const batch = { ...sendV2('topicC'), code: RequestCode.SEND_BATCH_MESSAGE };
    expect(check(signRequest(batch, user))).toMatch(/^No default permission for topic:topicC, PUB needed/);
  });
});
