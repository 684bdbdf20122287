/**
 * A real broker (in this process, 127.0.0.1, port 0) with aclEnable=true and a plain_acl.yml in a
 * temp dir, and our client library with and without credentials: what is let through, what is
 * refused and how the refusal reads, failed signatures counted and logged, the file reloaded.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Producer } from '../../src/client/producer.js';
import { PushConsumer } from '../../src/client/push-consumer.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { buildBrokerConfig } from '../../src/broker/broker-config.js';
import { BrokerController } from '../../src/broker/broker.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { RequestCode, ResponseCode } from '../../src/protocol/codes.js';
import type { Logger } from '../../src/remoting/server.js';
import { createTopic, eventually } from '../helpers/broker.js';
import { broker, defer, readAll, tempDir, uniq } from '../client/support.js';
import { ADMIN, APP, plainAclYaml } from '../helpers/acl.js';

function aclYaml(extraTopicPerms: string[] = []): string {
  return plainAclYaml(['defaultTopicPerm: DENY', 'defaultGroupPerm: SUB', 'topicPerms:', '  - Orders=PUB|SUB', '  - Audit=SUB', ...extraTopicPerms.map((p) => `  - ${p}`)]);
}

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) };
}

async function aclBroker(yaml = aclYaml(), logger = recordingLogger()) {
  const dir = tempDir('rocketctl-acl-');
  const file = path.join(dir, 'plain_acl.yml');
  fs.writeFileSync(file, yaml);
  const b = await broker({ config: { aclEnable: 'true', plainAclFile: file }, logger, aclCheckIntervalMs: 100 });
  const admin = new RemotingClient({ requestTimeoutMs: 10_000, credentials: ADMIN });
  defer(() => admin.close());
  for (const t of ['Orders', 'Audit', 'Secret']) expect((await createTopic(admin, b.addr, t, 2)).code).toBe(0);
  return { b, file, logger, admin, ns: b.namesrv! };
}

async function producer(ns: string, credentials?: typeof APP): Promise<Producer> {
  const p = new Producer({ namesrvAddr: ns, producerGroup: uniq('PG'), credentials, sendMsgTimeoutMs: 5000, retryTimesWhenSendFailed: 0 });
  await p.start();
  defer(() => p.close());
  return p;
}

describe('broker with aclEnable=true', () => {
  it('a client without credentials is refused as Apache refuses it: SYSTEM_ERROR, AclException remark', async () => {
    const { b } = await aclBroker();
    const plain = new RemotingClient({ requestTimeoutMs: 10_000 });
    defer(() => plain.close());
    const res = await createTopic(plain, b.addr, 'X');
    expect(res.code).toBe(ResponseCode.SYSTEM_ERROR);
    expect(res.remark).toBe('org.apache.rocketmq.acl.common.AclException: No accessKey is configured');
    // Refused before its handler: even an unknown code gets the ACL answer, as Apache's RPC hook runs first.
    expect((await plain.invoke(b.addr, makeRequest(9999))).code).toBe(ResponseCode.SYSTEM_ERROR);
    expect(b.broker.topicConfig('X')).toBeUndefined();
    // The fast (VIP) port is guarded the same way.
    expect((await createTopic(plain, b.broker.addresses.fast, 'X')).remark).toBe('org.apache.rocketmq.acl.common.AclException: No accessKey is configured');
  });

  it('a signed producer sends to a topic it may publish to; the message is readable with SUB', async () => {
    const { ns } = await aclBroker();
    const p = await producer(ns, APP);
    const r = await p.send({ topic: 'Orders', body: 'o-1' });
    expect(r.status).toBe('SEND_OK');
    const got = await readAll(ns, 'Orders', { credentials: APP });
    expect(got.map((m) => m.body.toString())).toEqual(['o-1']);
  });

  it('a missing permission is named in the refusal, never the secret', async () => {
    const { ns, b, admin } = await aclBroker();
    const p = await producer(ns, APP);
    const err = await p.send({ topic: 'Audit', body: 'x' }).catch((e: Error) => e);
    expect(String(err)).toContain('No default permission for topic:Audit, PUB needed, accessKey=appKey01 has SUB');
    expect(String(err)).not.toContain(APP.secretKey);
    // Admin request codes need an admin account.
    const app = new RemotingClient({ requestTimeoutMs: 10_000, credentials: APP });
    defer(() => app.close());
    const res = await createTopic(app, b.addr, 'New1');
    expect(res.remark).toBe('org.apache.rocketmq.acl.common.AclException: Need admin permission for request code=17, but accessKey=appKey01 is not, UPDATE_AND_CREATE_TOPIC needs admin: true');
    expect((await createTopic(admin, b.addr, 'New1')).code).toBe(0);
  });

  it('wrong secret keys and tampered requests are refused, counted and logged without the secret', async () => {
    const { b, logger } = await aclBroker();
    const wrong = new RemotingClient({ requestTimeoutMs: 10_000, credentials: { accessKey: APP.accessKey, secretKey: 'guessed-secret' } });
    defer(() => wrong.close());
    const get = makeRequest(RequestCode.GET_MAX_OFFSET, { topic: 'Orders', queueId: 0 });
    for (let i = 0; i < 3; i++) {
      const res = await wrong.invoke(b.addr, get);
      expect(res.code).toBe(ResponseCode.SYSTEM_ERROR);
      expect(res.remark).toMatch(/^org\.apache\.rocketmq\.acl\.common\.AclException: Check signature failed for accessKey=appKey01/);
    }
    // A signed request whose header was changed on the way: the signature no longer matches.
    const { signRequest } = await import('../../src/protocol/acl-sign.js');
    const plain = new RemotingClient({ requestTimeoutMs: 10_000 });
    defer(() => plain.close());
    const tampered = signRequest(get, APP);
    tampered.extFields!.topic = 'Secret';
    expect((await plain.invoke(b.addr, tampered)).remark).toMatch(/Check signature failed/);
    expect(b.broker.acl!.stats.signatureFailures).toBe(4);
    // Visible to operators: brokerStatus (GET_BROKER_RUNTIME_INFO) of a signed admin.
    const { decodeKVTable } = await import('../../src/protocol/bodies.js');
    const admin = new RemotingClient({ requestTimeoutMs: 10_000, credentials: ADMIN });
    defer(() => admin.close());
    const info = decodeKVTable((await admin.invoke(b.addr, makeRequest(RequestCode.GET_BROKER_RUNTIME_INFO))).body as Buffer);
    expect(info).toMatchObject({ aclSignatureFailuresTotal: '4', aclRefusedTotal: '4' });
    const logged = logger.lines.filter((l) => l.includes('signature check failed'));
    expect(logged).toHaveLength(1); // one line per key per 10 s, with the count
    expect(logged[0]).toMatch(/^warn acl: signature check failed for accessKey=appKey01 from 127\.0\.0\.1:\d+/);
    expect(logger.lines.join('\n')).not.toContain(APP.secretKey);
    expect(logger.lines.join('\n')).not.toContain('guessed-secret');
  });

  it('a push consumer with credentials consumes (heartbeat, pull, offsets all signed)', async () => {
    const { ns } = await aclBroker();
    const p = await producer(ns, APP);
    await p.send({ topic: 'Orders', body: 'pc-1' });
    const seen: string[] = [];
    const c = new PushConsumer({ namesrvAddr: ns, consumerGroup: uniq('CG'), consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', rebalanceIntervalMs: 500, persistConsumerOffsetIntervalMs: 300, credentials: APP });
    c.subscribe('Orders', '*');
    await c.start(async (m) => void seen.push(m.body.toString()));
    defer(() => c.close());
    await eventually(() => (seen.includes('pc-1') ? true : undefined), 'the message consumed', 20_000);
  });

  it('reloads plain_acl.yml when it changes; a broken edit keeps the rules in force', async () => {
    const { ns, file, logger, b } = await aclBroker();
    const p = await producer(ns, APP);
    await expect(p.send({ topic: 'Secret', body: 'x' })).rejects.toThrow(/topic:Secret, PUB needed/);
    fs.writeFileSync(file, aclYaml(['Secret=PUB']));
    await eventually(() => (b.broker.acl!.stats.loads === 2 ? true : undefined), 'reloaded', 10_000);
    expect((await p.send({ topic: 'Secret', body: 'now allowed' })).status).toBe('SEND_OK');
    fs.writeFileSync(file, 'accounts: [');
    await eventually(() => (logger.lines.some((l) => l.includes('changed but is not valid')) ? true : undefined), 'the bad edit noticed', 10_000);
    expect((await p.send({ topic: 'Secret', body: 'still allowed' })).status).toBe('SEND_OK');
  });

  it('the globally white-listed address needs no credentials', async () => {
    const { b } = await aclBroker(`globalWhiteRemoteAddresses:\n  - 127.0.0.*\n${aclYaml()}`);
    const plain = new RemotingClient({ requestTimeoutMs: 10_000 });
    defer(() => plain.close());
    expect((await createTopic(plain, b.addr, 'Open')).code).toBe(0);
  });

  it('the local Unix socket (mode 0600) is not guarded', async () => {
    const { b } = await aclBroker();
    const plain = new RemotingClient({ requestTimeoutMs: 10_000 });
    defer(() => plain.close());
    expect((await createTopic(plain, b.broker.addresses.socket, 'ViaSocket')).code).toBe(0);
  });

  it('does not start without a valid plain_acl.yml, saying which file and why', async () => {
    const dir = tempDir('rocketctl-acl-');
    const start = (conf: Record<string, string>) =>
      BrokerController.start(buildBrokerConfig({ overrides: { storePathRootDir: path.join(dir, 'store'), listenPort: '0', namesrvListenPort: '0', aclEnable: 'true', ...conf } }).config);
    await expect(start({ plainAclFile: path.join(dir, 'missing.yml') })).rejects.toThrow(`aclEnable=true but ${path.join(dir, 'missing.yml')} does not exist`);
    const bad = path.join(dir, 'bad.yml');
    fs.writeFileSync(bad, 'accounts:\n  - accessKey: abcdefgh\n    secretKey: short\n');
    await expect(start({ plainAclFile: bad })).rejects.toThrow(`${bad}: accounts[0] (accessKey abcdefgh): secretKey must be longer than 6 characters`);
    const saved = process.env.ROCKETMQ_HOME;
    delete process.env.ROCKETMQ_HOME;
    try {
      await expect(start({})).rejects.toThrow(/aclEnable=true but no plain_acl\.yml: set plainAclFile=PATH/);
    } finally {
      if (saved !== undefined) process.env.ROCKETMQ_HOME = saved;
    }
    // $ROCKETMQ_HOME/conf/plain_acl.yml, where Apache looks.
    fs.mkdirSync(path.join(dir, 'home', 'conf'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'home', 'conf', 'plain_acl.yml'), aclYaml());
    process.env.ROCKETMQ_HOME = path.join(dir, 'home');
    try {
      const ok = await start({});
      expect(ok.acl!.file).toBe(path.join(dir, 'home', 'conf', 'plain_acl.yml'));
      await ok.close();
    } finally {
      if (saved === undefined) delete process.env.ROCKETMQ_HOME;
      else process.env.ROCKETMQ_HOME = saved;
    }
  });

  it('warns at start when listening beyond loopback without ACL, and not with it or on loopback', async () => {
    const open = recordingLogger();
    await broker({ config: { bindAddress: '0.0.0.0', embeddedNamesrv: 'false' }, namesrv: false, logger: open });
    expect(open.lines.filter((l) => l.includes('without ACL'))).toEqual([
      'warn broker listens on 0.0.0.0, beyond loopback, without ACL: anyone who reaches the port can send, read and administer everything (set aclEnable=true, see README "ACL")',
    ]);
    const loopback = recordingLogger();
    await broker({ namesrv: false, logger: loopback });
    const guarded = recordingLogger();
    const dir = tempDir('rocketctl-acl-');
    fs.writeFileSync(path.join(dir, 'plain_acl.yml'), aclYaml());
    await broker({ config: { bindAddress: '0.0.0.0', aclEnable: 'true', plainAclFile: path.join(dir, 'plain_acl.yml') }, namesrv: false, logger: guarded });
    for (const l of [loopback, guarded]) expect(l.lines.some((x) => x.includes('without ACL'))).toBe(false);
  });

  it('ACL admin requests change plain_acl.yml in place (comments kept, dataVersion moved on), in force at once; admin only', async () => {
    const { b, admin, ns, file } = await aclBroker(`# operator's note: keep me\n${aclYaml()}`);
    const update = (client: RemotingClient, h: Record<string, string | boolean>) => client.invoke(b.addr, makeRequest(RequestCode.UPDATE_AND_CREATE_ACL_CONFIG, h));
    const NEW = { accessKey: 'newKey01', secretKey: 'new-secret-01' };
    const created = await update(admin, { ...NEW, admin: false, defaultTopicPerm: 'DENY', topicPerms: 'Audit=PUB,Orders=SUB' });
    expect([created.code, created.remark]).toEqual([ResponseCode.SUCCESS, undefined]);
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain("# operator's note: keep me");
    expect(text).toMatch(/dataVersion:\n\s+- counter: 1\n\s+timestamp: \d+/);
    expect((await (await producer(ns, NEW)).send({ topic: 'Audit', body: 'by the new account' })).status).toBe('SEND_OK');

    const info = await admin.invoke(b.addr, makeRequest(RequestCode.GET_BROKER_CLUSTER_ACL_INFO));
    expect(JSON.parse(info.extFields!.version!)).toMatchObject({ counter: 1, stateVersion: 0 });
    expect(info.extFields).toMatchObject({ brokerName: 'broker-a', clusterName: 'DefaultCluster', brokerAddr: b.addr });

    // Not an admin: refused before the handler. A short secret: refused, file unchanged, secret not echoed.
    const app = new RemotingClient({ requestTimeoutMs: 10_000, credentials: APP });
    defer(() => app.close());
    expect((await update(app, { accessKey: 'sneaky01', secretKey: 'sneaky-secret', admin: true })).remark).toMatch(/UPDATE_AND_CREATE_ACL_CONFIG needs admin: true$/);
    const short = await update(admin, { accessKey: 'shorty01', secretKey: 'tiny' });
    expect(short.code).toBe(ResponseCode.UPDATE_AND_CREATE_ACL_CONFIG_FAILED);
    expect(short.remark).toBe('The secretKey of accessKey=shorty01 cannot be null and length should longer than 6');
    expect(fs.readFileSync(file, 'utf8')).toBe(text);

    const del = (k: string) => admin.invoke(b.addr, makeRequest(RequestCode.DELETE_ACL_CONFIG, { accessKey: k }));
    expect((await del(NEW.accessKey)).code).toBe(ResponseCode.SUCCESS);
    await expect((await producer(ns, NEW)).send({ topic: 'Audit', body: 'x' })).rejects.toThrow(/No acl config for newKey01/);
    const again = await del(NEW.accessKey);
    expect([again.code, again.remark]).toEqual([ResponseCode.DELETE_ACL_CONFIG_FAILED, 'The accesskey[newKey01] corresponding to accessConfig has been deleted failed.']);

    const white = await admin.invoke(b.addr, makeRequest(RequestCode.UPDATE_GLOBAL_WHITE_ADDRS_CONFIG, { globalWhiteAddrs: '10.1.1.1,127.0.0.1' }));
    expect(white.code).toBe(ResponseCode.SUCCESS);
    const plain = new RemotingClient({ requestTimeoutMs: 10_000 });
    defer(() => plain.close());
    expect((await createTopic(plain, b.addr, 'OpenNow')).code).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).toMatch(/globalWhiteRemoteAddresses:\n\s+- 10\.1\.1\.1\n\s+- 127\.0\.0\.1/);
  });

  it('without aclEnable the ACL admin requests say so', async () => {
    const b = await broker();
    const res = await b.client.invoke(b.addr, makeRequest(RequestCode.UPDATE_AND_CREATE_ACL_CONFIG, { accessKey: 'abcdefgh', secretKey: 'abcdefgh' }));
    expect([res.code, res.remark]).toEqual([ResponseCode.UPDATE_AND_CREATE_ACL_CONFIG_FAILED, 'ACL is not enabled on this broker (aclEnable=false)']);
  });

  it('random and malformed ACL fields are refused one by one; signed clients keep being served (seeded, bounded)', async () => {
    const { b, ns } = await aclBroker();
    let seed = 0x5eed;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const junk = () => [...Array(rnd(40))].map(() => String.fromCharCode(rnd(0x3000) + 1)).join('');
    const plain = new RemotingClient({ requestTimeoutMs: 10_000 });
    defer(() => plain.close());
    const codes = [RequestCode.SEND_MESSAGE_V2, RequestCode.PULL_MESSAGE, RequestCode.HEART_BEAT, RequestCode.UPDATE_AND_CREATE_TOPIC, RequestCode.QUERY_MESSAGE, 9999];
    const answers = await Promise.all(
      [...Array(300)].map(async (_, i) => {
        const fields: Record<string, string> = { AccessKey: rnd(3) === 0 ? APP.accessKey : junk(), Signature: junk(), a: junk(), b: junk(), topic: junk(), consumerGroup: junk() };
        if (rnd(4) === 0) fields.SecurityToken = junk();
        const req = makeRequest(codes[i % codes.length]!, fields, rnd(2) ? Buffer.from(junk()) : undefined);
        return (await plain.invoke(b.addr, req)).code;
      }),
    ).catch((err) => [`seed 0x5eed: ${String(err)}`]);
    expect(new Set<number | string>(answers), 'every junk request answered SYSTEM_ERROR (seed 0x5eed)').toEqual(new Set([ResponseCode.SYSTEM_ERROR]));
    const p = await producer(ns, APP);
    expect((await p.send({ topic: 'Orders', body: 'still served' })).status).toBe('SEND_OK');
  });
});
