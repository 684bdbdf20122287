/**
 * Plain ACL interop (issue 13), both directions, with the same plain_acl.yml:
 *  - the Java client 4.9.8 with AclClientRPCHook and Apache mqadmin 4.9.8 with conf/tools.yml keys
 *    against our broker with aclEnable=true;
 *  - rocketctl with credentials against an Apache 4.x broker with aclEnable=true.
 * Right keys work; no keys (from an address outside the white list), a wrong secret, a missing
 * permission and a tampered signature are refused, by either broker, for either client.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTopic, startTestBroker, tempDir, type TestBroker } from '../helpers/broker.js';
import { runCli } from '../helpers/cli.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { signRequest } from '../../src/protocol/acl-sign.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { RequestCode, ResponseCode } from '../../src/protocol/codes.js';
import { describeApache, javaDriver, mqadmin, startApache, toolsHome, type ApacheServer } from './support.js';

const ADMIN = { accessKey: 'adminKey1', secretKey: 'admin-secret-1' };
const APP = { accessKey: 'appKey01', secretKey: 'app-secret-01' };
/** An address range this host is not in: every unsigned request misses the white list. */
const PLAIN_ACL = `globalWhiteRemoteAddresses:
  - 10.99.*.*
accounts:
  - accessKey: ${ADMIN.accessKey}
    secretKey: ${ADMIN.secretKey}
    admin: true
  - accessKey: ${APP.accessKey}
    secretKey: ${APP.secretKey}
    whiteRemoteAddress: 10.99.0.1
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - AclOrders=PUB|SUB
      - AclAudit=SUB
`;
const JVM_TEST_MS = 240_000;
const toolsYml = (c: typeof APP) => `accessKey: ${c.accessKey}\nsecretKey: ${c.secretKey}\n`;

describeApache('plain ACL: Java 4.9.8 client and mqadmin against our broker', () => {
  let ours: TestBroker;
  let dir: string;
  let admin: RemotingClient;
  beforeAll(async () => {
    dir = tempDir('rocketctl-acl-apache-');
    fs.writeFileSync(path.join(dir, 'plain_acl.yml'), PLAIN_ACL);
    ours = await startTestBroker({ config: { aclEnable: 'true', plainAclFile: path.join(dir, 'plain_acl.yml') } });
    admin = new RemotingClient({ requestTimeoutMs: 10_000, credentials: ADMIN });
    for (const t of ['AclOrders', 'AclAudit']) expect((await createTopic(admin, ours.addr, t, 2)).code).toBe(0);
  });
  afterAll(async () => {
    await admin?.close();
    await ours?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('AclClientRPCHook signatures are accepted: the Java client sends and consumes with its keys', async () => {
    const namesrv = ours.namesrv!;
    const p = await javaDriver('Produce', { namesrv, topic: 'AclOrders', count: 3, ...APP });
    expect(p.lines.at(-1), p.stderr).toMatchObject({ done: true, count: 3 });
    const c = await javaDriver('Consume', { namesrv, topic: 'AclOrders', group: 'AclOrdersG', expect: 3, timeoutMs: 90_000, ...APP });
    expect(c.lines.at(-1), c.stderr).toMatchObject({ done: true, distinct: 3, timedOut: false });
  }, JVM_TEST_MS);

  it('the Java client is refused with a wrong secret, a missing permission, or no keys', async () => {
    const namesrv = ours.namesrv!;
    const [wrong, denied, none] = [
      await javaDriver('Produce', { namesrv, topic: 'AclOrders', accessKey: APP.accessKey, secretKey: 'wrong-secret', timeoutMs: 3000 }),
      await javaDriver('Produce', { namesrv, topic: 'AclAudit', ...APP, timeoutMs: 3000 }),
      await javaDriver('Produce', { namesrv, topic: 'AclOrders', timeoutMs: 3000 }),
    ];
    for (const r of [wrong, denied, none]) expect(r.lines.some((l) => l.status === 'SEND_OK'), r.stdout).toBe(false);
    expect(wrong.stderr).toContain('AclException: Check signature failed for accessKey=appKey01');
    expect(denied.stderr).toContain('AclException: No default permission for topic:AclAudit, PUB needed');
    expect(none.stderr).toContain('AclException: No accessKey is configured');
    expect(ours.broker.acl!.stats.signatureFailures).toBeGreaterThan(0);
  }, JVM_TEST_MS);

  it('mqadmin signs with conf/tools.yml: the admin account creates a topic, the app account may not', async () => {
    const adminHome = toolsHome(path.join(dir, 'mqa-admin'), { 'conf/tools.yml': toolsYml(ADMIN) });
    const appHome = toolsHome(path.join(dir, 'mqa-app'), { 'conf/tools.yml': toolsYml(APP) });
    const n = ours.namesrv!;
    const ok = await mqadmin(['updateTopic', '-n', n, '-b', ours.addr, '-t', 'AclByMqadmin'], { home: adminHome });
    expect(ok.stdout + ok.stderr).toMatch(/create topic to .* success/);
    expect(ours.broker.topicConfig('AclByMqadmin')).toBeDefined();
    const refused = await mqadmin(['updateTopic', '-n', n, '-b', ours.addr, '-t', 'AclByApp'], { home: appHome });
    expect(refused.stdout + refused.stderr).toContain('Need admin permission for request code=17, but accessKey=appKey01 is not');
    const anonymous = await mqadmin(['updateTopic', '-n', n, '-b', ours.addr, '-t', 'AclByNobody']);
    expect(anonymous.stdout + anonymous.stderr).toContain('No accessKey is configured');
    expect(ours.broker.topicConfig('AclByApp')).toBeUndefined();
    expect(ours.broker.topicConfig('AclByNobody')).toBeUndefined();
  }, JVM_TEST_MS);

  it('mqadmin updateAclConfig, clusterAclConfigVersion, updateGlobalWhiteAddr and deleteAclConfig change our broker\'s ACL', async () => {
    const home = toolsHome(path.join(dir, 'mqa-acl-admin'), { 'conf/tools.yml': toolsYml(ADMIN) });
    const n = ours.namesrv!;
    const run = async (args: string[]) => {
      const r = await mqadmin(args, { home });
      expect(r.stdout + r.stderr, args[0]).not.toMatch(/Exception/);
      return r.stdout;
    };
    expect(await run(['updateAclConfig', '-n', n, '-b', ours.addr, '-a', 'byMqadmin1', '-s', 'mqadmin-secret', '-i', 'DENY', '-t', 'AclAudit=PUB', '-m', 'false']))
      .toContain(`create or update plain access config to ${ours.addr} success.`);
    const p = await javaDriver('Produce', { namesrv: n, topic: 'AclAudit', accessKey: 'byMqadmin1', secretKey: 'mqadmin-secret' });
    expect(p.lines.at(-1), p.stderr).toMatchObject({ done: true, count: 1 });
    const versions = await run(['clusterAclConfigVersion', '-n', n, '-c', 'DefaultCluster']);
    expect(versions).toMatch(new RegExp(`DefaultCluster\\s+broker-a\\s+${ours.addr.replace(/\./g, '\\.')}\\s+\\S+plain_acl\\.yml\\s+1\\s`));
    expect(await run(['updateGlobalWhiteAddr', '-n', n, '-b', ours.addr, '-g', '10.98.0.1,10.98.0.2'])).toContain('success');
    expect(fs.readFileSync(path.join(dir, 'plain_acl.yml'), 'utf8')).toMatch(/- 10\.98\.0\.2/);
    expect(await run(['deleteAclConfig', '-n', n, '-b', ours.addr, '-a', 'byMqadmin1'])).toContain('success');
    const gone = await javaDriver('Produce', { namesrv: n, topic: 'AclAudit', accessKey: 'byMqadmin1', secretKey: 'mqadmin-secret', timeoutMs: 3000 });
    expect(gone.stderr).toContain('No acl config for byMqadmin1');
  }, JVM_TEST_MS);
});

describeApache('plain ACL: rocketctl against an Apache 4.x broker with aclEnable=true', () => {
  let apache: ApacheServer;
  beforeAll(async () => {
    apache = await startApache(4, { aclEnable: 'true' }, { homeFiles: { 'conf/plain_acl.yml': PLAIN_ACL } });
  }, 180_000);
  afterAll(async () => apache?.cleanup());

  const cli = (args: string[], creds?: typeof APP) =>
    runCli([...args, '-n', apache.namesrv, '--timeout', '10000'], {
      env: { ROCKETCTL_ACCESS_KEY: creds?.accessKey ?? '', ROCKETCTL_SECRET_KEY: creds?.secretKey ?? '', ROCKETCTL_CREDENTIALS_FILE: '' },
      timeoutMs: 60_000,
    });

  it('signed commands work: admin creates topics, the app account sends and reads', async () => {
    for (const t of ['AclOrders', 'AclAudit']) {
      const r = await cli(['updateTopic', '-b', apache.broker, '-t', t, '-r', '2', '-w', '2', '--json'], ADMIN);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
    const sent = await cli(['sendMessage', '-t', 'AclOrders', '-p', 'from-rocketctl', '--json'], APP);
    expect(sent.code, sent.stdout + sent.stderr).toBe(0);
    expect(sent.json.result.status).toBe('SEND_OK');
    const read = await cli(['consumeMessage', '-t', 'AclOrders', '-c', '10'], APP);
    expect(read.code, read.stderr).toBe(0);
    expect(read.stdout).toContain('from-rocketctl');
    // QUERY_MESSAGE with _UNIQUE_KEY_QUERY, which Apache leaves out of what it checks: so do we when signing.
    const found = await cli(['queryMsgByUniqueKey', '-i', sent.json.result.msgId, '-t', 'AclOrders', '--json'], APP);
    expect(found.code, found.stdout + found.stderr).toBe(0);
    expect(JSON.stringify(found.json.result)).toContain(sent.json.result.msgId);
  }, 120_000);

  it('Apache refuses rocketctl without keys, with a wrong secret, without the permission; rocketctl says E_ACL_DENIED', async () => {
    const none = await cli(['updateTopic', '-b', apache.broker, '-t', 'AclNobody', '--json']);
    expect(none.json.code).toBe('E_ACL_DENIED');
    expect(none.json.message).toContain('AclException: No accessKey is configured');
    const wrong = await cli(['sendMessage', '-t', 'AclOrders', '-p', 'x', '--json'], { accessKey: APP.accessKey, secretKey: 'wrong-secret' });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stdout).toContain('Check signature failed for accessKey=appKey01');
    expect(wrong.stdout + wrong.stderr).not.toContain('wrong-secret');
    const denied = await cli(['sendMessage', '-t', 'AclAudit', '-p', 'x', '--json'], APP);
    expect(denied.code).not.toBe(0);
    expect(denied.stdout).toContain('No default permission for topic:AclAudit');
    const notAdmin = await cli(['updateTopic', '-b', apache.broker, '-t', 'AclByApp', '--json'], APP);
    expect(notAdmin.json.code).toBe('E_ACL_DENIED');
    expect(notAdmin.json.message).toContain('Need admin permission for request code=17, but accessKey=appKey01 is not');
  }, 120_000);

  it('a tampered signed request is refused by Apache as by ours', async () => {
    const plain = new RemotingClient({ requestTimeoutMs: 10_000 });
    try {
      const req = signRequest(makeRequest(RequestCode.GET_MAX_OFFSET, { topic: 'AclOrders', queueId: 0 }), APP);
      expect((await plain.invoke(apache.broker, req)).code).toBe(ResponseCode.SUCCESS);
      req.extFields!.queueId = '1';
      const res = await plain.invoke(apache.broker, req);
      expect(res.code).toBe(ResponseCode.SYSTEM_ERROR);
      expect(res.remark).toContain('org.apache.rocketmq.acl.common.AclException: Check signature failed for accessKey=appKey01');
    } finally {
      await plain.close();
    }
  }, 60_000);
});
