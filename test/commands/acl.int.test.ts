/**
 * The real CLI with credentials against a real broker with aclEnable=true (in this process, with
 * its embedded name server): keys from flags, environment variables or a credentials file (refused
 * when others can read it); refusals as E_ACL_DENIED naming what was missing; secrets never printed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBrokerExpectingExit, spawnBroker, type TestBroker } from '../helpers/broker.js';
import { expectErrorEnvelope, expectOneLineError, runCli } from '../helpers/cli.js';
import { ADMIN, APP, plainAclYaml, startAclBroker, type AclBroker } from '../helpers/acl.js';

const YAML = plainAclYaml(['defaultTopicPerm: DENY', 'topicPerms:', '  - Orders=PUB|SUB', '  - Audit=SUB']);

let acl: AclBroker;
let tb: TestBroker;
let dir: string;
beforeAll(async () => {
  acl = await startAclBroker(YAML, 'rocketctl-acl-cli-');
  ({ tb, dir } = acl);
});
afterAll(async () => {
  await acl?.cleanup();
});

const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  runCli([...args, '-n', tb.namesrv!], { env: { ROCKETCTL_ACCESS_KEY: '', ROCKETCTL_SECRET_KEY: '', ROCKETCTL_CREDENTIALS_FILE: '', ...env } });
const keysEnv = (c: typeof APP) => ({ ROCKETCTL_ACCESS_KEY: c.accessKey, ROCKETCTL_SECRET_KEY: c.secretKey });

function expectNoSecrets(r: { stdout: string; stderr: string }, ...secrets: string[]): void {
  for (const s of [ADMIN.secretKey, APP.secretKey, ...secrets]) expect(r.stdout + r.stderr).not.toContain(s);
}

describe('commands against a broker with ACL on', () => {
  it('without credentials: E_ACL_DENIED, Apache\'s reason, and what to do', async () => {
    const r = await cli(['updateTopic', '-b', tb.addr, '-t', 'NoCreds', '--json']);
    expect(r.code).toBe(1);
    expectErrorEnvelope(r.json, 1);
    expect(r.json.code).toBe('E_ACL_DENIED');
    expect(r.json.message).toContain('org.apache.rocketmq.acl.common.AclException: No accessKey is configured');
    expect(r.json.actions[0]).toMatch(/--access-key\/--secret-key, ROCKETCTL_ACCESS_KEY\/ROCKETCTL_SECRET_KEY or --credentials-file/);
  });

  it('keys from the environment sign every request (admin account creates a topic)', async () => {
    const r = await cli(['updateTopic', '-b', tb.addr, '-t', 'Orders', '-r', '2', '-w', '2', '--json'], keysEnv(ADMIN));
    expect(r.code).toBe(0);
    expect(tb.broker.topicConfig('Orders')).toMatchObject({ readQueueNums: 2 });
    expectNoSecrets(r);
  });

  it('keys from flags; a missing permission is named; a wrong secret is refused and not echoed', async () => {
    await cli(['updateTopic', '-b', tb.addr, '-t', 'Audit', '--json'], keysEnv(ADMIN));
    const sent = await cli(['sendMessage', '-t', 'Orders', '-p', 'hello', '--access-key', APP.accessKey, '--secret-key', APP.secretKey, '--json']);
    expect(sent.code).toBe(0);
    expect(sent.json.result.status).toBe('SEND_OK');

    const denied = await cli(['sendMessage', '-t', 'Audit', '-p', 'x', '--access-key', APP.accessKey, '--secret-key', APP.secretKey]);
    expect(denied.code).toBe(1);
    expectOneLineError(denied.stderr);
    expect(denied.stderr).toContain('No default permission for topic:Audit, PUB needed, accessKey=appKey01 has SUB');
    expectNoSecrets(denied);

    const wrong = await cli(['topicStatus', '-t', 'Orders', '--access-key', APP.accessKey, '--secret-key', 'not-my-secret', '--json']);
    expect(wrong.code).not.toBe(0);
    expect(JSON.stringify(wrong.json)).toContain('Check signature failed for accessKey=appKey01');
    expectNoSecrets(wrong, 'not-my-secret');
  });

  it('half a key pair is a usage error', async () => {
    const r = await cli(['topicStatus', '-t', 'Orders', '--access-key', APP.accessKey, '--json']);
    expect(r.code).toBe(2);
    expect(r.json.message).toMatch(/--secret-key is missing/);
  });

  it('a credentials file is used when no keys are given, and refused when others can read it', async () => {
    const file = path.join(dir, 'creds');
    fs.writeFileSync(file, `AccessKey=${APP.accessKey}\nSecretKey=${APP.secretKey}\n`, { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    const open = await cli(['topicStatus', '-t', 'Orders', '--credentials-file', file, '--json']);
    expect(open.code).toBe(2);
    expect(open.json.code).toBe('E_CREDENTIALS');
    expect(open.json.message).toBe(`credentials file ${file} can be read by others (mode 644): refused`);
    expect(open.json.actions).toEqual([`chmod 600 ${file}`]);
    expectNoSecrets(open);

    fs.chmodSync(file, 0o600);
    const ok = await cli(['topicStatus', '-t', 'Orders', '--json'], { ROCKETCTL_CREDENTIALS_FILE: file });
    expect(ok.code).toBe(0);
    expectNoSecrets(ok);
  });

  it('broker start -c with aclEnable=true and plainAclFile: a real process guards its port; a bad file stops the start in one line', async () => {
    const store = fs.mkdtempSync(path.join(dir, 'store-'));
    const conf = path.join(dir, 'broker-acl.conf');
    fs.writeFileSync(conf, `aclEnable=true\nplainAclFile=${path.join(dir, 'plain_acl.yml')}\n`);
    const p = await spawnBroker(['-c', conf, '--store-dir', store, '--listen-port', '0', '--namesrv-port', '0']);
    try {
      const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
        runCli([...args, '-n', p.ready.namesrv!], { env: { ROCKETCTL_ACCESS_KEY: '', ROCKETCTL_SECRET_KEY: '', ROCKETCTL_CREDENTIALS_FILE: '', ...env } });
      expect((await run(['updateTopic', '-b', p.ready.broker, '-t', 'ProcT', '--json'])).json.code).toBe('E_ACL_DENIED');
      expect((await run(['updateTopic', '-b', p.ready.broker, '-t', 'ProcT', '--json'], keysEnv(ADMIN))).code).toBe(0);
    } finally {
      await p.stop();
    }
    const bad = path.join(dir, 'bad_acl.yml');
    fs.writeFileSync(bad, 'accounts:\n  - accessKey: abcdefgh\n    secretKey: 1234\n');
    fs.writeFileSync(conf, `aclEnable=true\nplainAclFile=${bad}\n`);
    const r = await runBrokerExpectingExit(['-c', conf, '--store-dir', store, '--listen-port', '0', '--namesrv-port', '0']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${bad}: accounts[0] (accessKey abcdefgh): secretKey must be longer than 6 characters`);
    expect(r.stderr).not.toContain('1234\n');
  });
});
