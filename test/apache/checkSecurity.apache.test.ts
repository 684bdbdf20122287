/**
 * checkSecurity against an Apache 4.x broker with aclEnable=true: unsigned, the refusal itself says
 * ACL is on; signed with an admin account, its config says the rest (every interface, ACL on), and
 * what an Apache broker does not have (embedded name server, /metrics, audit log) is skipped.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectSuccessEnvelope, runCli } from '../helpers/cli.js';
import { ADMIN, plainAclYaml, signedEnv } from '../helpers/acl.js';
import { describeApache, startApache, type ApacheServer } from './support.js';

type Item = { id: string; status: string; current: string };

describeApache('checkSecurity against an Apache 4.x broker', () => {
  let apache: ApacheServer;
  beforeAll(async () => {
    apache = await startApache(4, { aclEnable: 'true' }, { homeFiles: { 'conf/plain_acl.yml': plainAclYaml(['defaultTopicPerm: SUB']) } });
  }, 180_000);
  afterAll(async () => apache?.cleanup());

  const check = async (env: NodeJS.ProcessEnv) => {
    const r = await runCli(['checkSecurity', '-n', apache.namesrv, '--timeout', '10000', '--json'], { env: { NAMESRV_ADDR: '', ROCKETCTL_CREDENTIALS_FILE: '', ...env }, timeoutMs: 60_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expectSuccessEnvelope('checkSecurity', r.json);
    return Object.fromEntries((r.json.result.items as Item[]).map((i) => [i.id, i]));
  };

  it('unsigned: ACL on from the refusal; signed: every interface with ACL on, Apache-only gaps skipped', async () => {
    const unsigned = await check({ ROCKETCTL_ACCESS_KEY: '', ROCKETCTL_SECRET_KEY: '' });
    expect(unsigned.acl).toMatchObject({ status: 'pass', current: 'on (GET_BROKER_CONFIG was refused by the ACL)' });
    expect(unsigned.listen!.status).toBe('skip');

    const signed = await check(signedEnv(ADMIN));
    expect(signed.acl).toMatchObject({ status: 'pass', current: 'on (aclEnable=true)' });
    expect(signed.listen!.status).toBe('pass');
    expect(signed.listen!.current).toMatch(/^every interface, port \d+ \(Apache brokers bind the wildcard address\), ACL on$/);
    for (const id of ['namesrv-listen', 'metrics-listen', 'audit-log']) expect(signed[id]!.status, id).toBe('skip');
    expect(signed['admin-socket']).toBeUndefined();
  }, 120_000);
});
