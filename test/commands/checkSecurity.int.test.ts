/**
 * checkSecurity against real brokers: the local broker through its socket (and its files), a broker
 * listening beyond loopback without ACL (fail, exit 4), a broker with ACL on asked unsigned and
 * signed, and the local files made too open (socket, store dir, plain_acl.yml, credentials file).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, plainAclYaml, signedEnv, startAclBroker, type AclBroker } from '../helpers/acl.js';
import { startTestBroker, tempDir, type TestBroker } from '../helpers/broker.js';
import { expectOneLineError, expectSuccessEnvelope, runCli } from '../helpers/cli.js';

type Item = { id: string; broker: string | null; status: string; current: string; fix: string[] };
const NO_CREDS = { ROCKETCTL_ACCESS_KEY: '', ROCKETCTL_SECRET_KEY: '', ROCKETCTL_CREDENTIALS_FILE: '', NAMESRV_ADDR: '' };

async function check(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = await runCli(['checkSecurity', ...args, '--json'], { env: { ...NO_CREDS, ...env } });
  expect(r.json, r.stderr).toBeDefined();
  if (r.code === 0 || r.code === 4) expectSuccessEnvelope('checkSecurity', r.json);
  const items = (r.json?.result?.items ?? []) as Item[];
  return { r, items, item: (id: string) => items.find((i) => i.id === id)! };
}

describe('checkSecurity: the local broker (loopback, ACL off)', () => {
  let tb: TestBroker;
  beforeAll(async () => {
    tb = await startTestBroker();
  });
  afterAll(async () => tb?.cleanup());

  it('passes what is closed, warns that ACL is off, and looks at the socket and store dir', async () => {
    const { r, item } = await check(['--socket', tb.broker.addresses.socket]);
    expect(r.code).toBe(0);
    expect(r.json.result.storeDir).toBe(tb.storeDir);
    expect(item('acl')).toMatchObject({ status: 'warn', current: 'off (aclEnable=false)' });
    expect(item('listen')).toMatchObject({ status: 'pass' });
    expect(item('listen').current).toContain('loopback only');
    expect(item('namesrv-listen').status).toBe('pass');
    expect(item('metrics-listen')).toMatchObject({ status: 'pass', current: 'off (metricsPort=-1)' });
    expect(item('audit-log').status).toBe('pass');
    expect(item('admin-socket')).toMatchObject({ status: 'pass' });
    expect(item('admin-socket').current).toContain('mode 600, directory mode 700');
    expect(item('credentials-file').status).toBe('skip');

    const human = await runCli(['checkSecurity', '--socket', tb.broker.addresses.socket], { env: NO_CREDS });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/acl\s+\S+\s+warn/);
    expect(human.stdout).toContain('fix: set aclEnable=true');
  });

  it('a socket or store dir others may open fails (exit 4) and says how to fix it', async () => {
    const sock = tb.broker.addresses.socket;
    fs.chmodSync(tb.storeDir, 0o755);
    fs.chmodSync(sock, 0o666);
    try {
      const { r, item } = await check(['--socket', sock]);
      expect(r.code).toBe(4);
      expect(item('admin-socket')).toMatchObject({ status: 'fail' });
      expect(item('admin-socket').fix).toEqual([`chmod 600 ${sock}`, expect.stringContaining(`chmod 700 ${tb.storeDir}`)]);
      expect(r.json.warnings.join('\n')).toContain('admin-socket');
    } finally {
      fs.chmodSync(tb.storeDir, 0o700);
      fs.chmodSync(sock, 0o600);
    }
  });

  it('a credentials file others can read: fail, and the requests went unsigned', async () => {
    const dir = tempDir('rocketctl-checksec-creds-');
    try {
      const file = path.join(dir, 'credentials');
      fs.writeFileSync(file, `AccessKey=${ADMIN.accessKey}\nSecretKey=${ADMIN.secretKey}\n`, { mode: 0o644 });
      fs.chmodSync(file, 0o644);
      const { r, item } = await check(['--socket', tb.broker.addresses.socket, '--credentials-file', file]);
      expect(r.code).toBe(4);
      expect(item('credentials-file')).toMatchObject({ status: 'fail', fix: [`chmod 600 ${file}`] });
      expect(JSON.stringify(r.json)).not.toContain(ADMIN.secretKey);
      fs.chmodSync(file, 0o600);
      expect((await check(['--socket', tb.broker.addresses.socket, '--credentials-file', file])).item('credentials-file').status).toBe('pass');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('checkSecurity: a broker beyond loopback without ACL', () => {
  let tb: TestBroker;
  beforeAll(async () => {
    tb = await startTestBroker({ config: { bindAddress: '0.0.0.0', brokerIP1: '127.0.0.1' } });
  });
  afterAll(async () => tb?.cleanup());

  it('-b: listen fails (exit 4), the embedded name server warns; -n finds the same broker', async () => {
    const port = tb.addr.split(':')[1];
    const { r, item } = await check(['-b', `127.0.0.1:${port}`]);
    expect(r.code).toBe(4);
    expect(item('listen')).toMatchObject({ status: 'fail' });
    expect(item('listen').current).toBe(`0.0.0.0:${port} (every interface), ACL off`);
    expect(item('namesrv-listen').status).toBe('warn');
    expect(r.json.result.storeDir).toBeNull();
    expect(r.json.result.items.map((i: Item) => i.id)).not.toContain('admin-socket');

    const viaNamesrv = await check(['-n', tb.namesrv!]);
    expect(viaNamesrv.r.code).toBe(4);
    expect(viaNamesrv.item('listen')).toMatchObject({ status: 'fail', broker: tb.addr });

    const human = await runCli(['checkSecurity', '-b', `127.0.0.1:${port}`], { env: NO_CREDS });
    expect(human.code).toBe(4);
    expect(human.stderr).toContain('warning: 1 check(s) failed: listen');
  });
});

describe('checkSecurity: a broker with ACL on', () => {
  let acl: AclBroker;
  beforeAll(async () => {
    acl = await startAclBroker(plainAclYaml(['defaultTopicPerm: SUB']), 'rocketctl-checksec-acl-');
  });
  afterAll(async () => acl?.cleanup());

  it('unsigned: ACL on (the request was refused), the rest of the config unknown', async () => {
    const { r, item } = await check(['-b', acl.tb.addr]);
    expect(r.code).toBe(0);
    expect(item('acl')).toMatchObject({ status: 'pass', current: 'on (GET_BROKER_CONFIG was refused by the ACL)' });
    expect(item('listen').status).toBe('skip');
    expect(r.json.result.brokers[0]).toMatchObject({ aclEnable: true, rocketctl: null });
  });

  it('signed, with its store dir: plain_acl.yml every user can read, or a global white list of *, fails', async () => {
    fs.chmodSync(acl.aclFile, 0o600);
    const ok = await check(['-b', acl.tb.addr, '--store-dir', acl.tb.storeDir], signedEnv(ADMIN));
    expect(ok.r.code).toBe(0);
    expect(ok.item('acl').current).toBe('on (aclEnable=true)');
    expect(ok.item('acl-file')).toMatchObject({ status: 'pass', current: `${acl.aclFile} mode 600` });

    fs.chmodSync(acl.aclFile, 0o644);
    const open = await check(['-b', acl.tb.addr, '--store-dir', acl.tb.storeDir], signedEnv(ADMIN));
    expect(open.r.code).toBe(4);
    expect(open.item('acl-file')).toMatchObject({ status: 'fail', fix: [`chmod 600 ${acl.aclFile}`] });

    fs.writeFileSync(acl.aclFile, `globalWhiteRemoteAddresses:\n  - '*'\n${fs.readFileSync(acl.aclFile, 'utf8')}`);
    fs.chmodSync(acl.aclFile, 0o600);
    const white = await check(['-b', acl.tb.addr, '--store-dir', acl.tb.storeDir], signedEnv(ADMIN));
    expect(white.r.code).toBe(4);
    expect(white.item('acl-file').status).toBe('fail');
    expect(white.item('acl-file').current).toContain('globalWhiteRemoteAddresses matches any address');
    expect(JSON.stringify(white.r.json)).not.toContain(ADMIN.secretKey);
  });
});

describe('checkSecurity: bad input', () => {
  it('no local broker: one error line, exit 1, no stack', async () => {
    const dir = tempDir('rocketctl-checksec-none-');
    try {
      const r = await runCli(['checkSecurity', '--socket', path.join(dir, 'broker.sock')], { env: NO_CREDS });
      expect(r.code).toBe(1);
      expectOneLineError(r.stderr);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('-b and -c together: usage error, exit 2', async () => {
    const r = await runCli(['checkSecurity', '-b', '127.0.0.1:1', '-c', 'X'], { env: NO_CREDS });
    expect(r.code).toBe(2);
    expectOneLineError(r.stderr);
  });
});
