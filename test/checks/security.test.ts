/**
 * checkSecurity's judging on hand-made facts (the gathering is covered by the int tests against
 * real brokers): what each config and file mode turns into.
 */
import { describe, expect, it } from 'vitest';
import { judgeSecurity, type BrokerSecurityFacts, type SecurityFacts } from '../../src/checks/security.js';

const ours = (config: Record<string, string>): BrokerSecurityFacts => ({
  clusterName: 'C',
  brokerName: 'b',
  brokerId: 0,
  addr: '10.0.0.5:10911',
  config: { embeddedNamesrv: 'false', aclEnable: 'false', bindAddress: '127.0.0.1', listenPort: '10911', metricsPort: '-1', storePathRootDir: '/s', auditFileMaxBytes: '8388608', ...config },
});
const apache = (config: Record<string, string>): BrokerSecurityFacts => ({ clusterName: 'C', brokerName: 'a', brokerId: 0, addr: '10.0.0.6:10911', config: { listenPort: '10911', ...config } });

function items(f: Partial<SecurityFacts>) {
  return Object.fromEntries(judgeSecurity({ brokers: [], failed: [], ...f }).map((i) => [i.id, i]));
}

describe('judgeSecurity', () => {
  it('an Apache broker binds every interface: fail without ACL, pass with it; rocketctl-only items skip', () => {
    const off = items({ brokers: [apache({ aclEnable: 'false' })] });
    expect(off.listen).toMatchObject({ status: 'fail', current: 'every interface, port 10911 (Apache brokers bind the wildcard address), ACL off' });
    expect(off.acl!.status).toBe('warn');
    for (const id of ['namesrv-listen', 'metrics-listen', 'audit-log']) expect(off[id]!.status, id).toBe('skip');
    expect(items({ brokers: [apache({ aclEnable: 'true' })] }).listen!.status).toBe('pass');
  });

  it('rocketctl: the embedded name server and /metrics beyond loopback warn, on loopback pass', () => {
    const wide = items({ brokers: [ours({ embeddedNamesrv: 'true', namesrvListenPort: '9876', bindAddress: '0.0.0.0', aclEnable: 'true', metricsPort: '9100', metricsHost: '0.0.0.0' })] });
    expect(wide.listen!.status).toBe('pass');
    expect(wide['namesrv-listen']).toMatchObject({ status: 'warn', current: '0.0.0.0:9876' });
    expect(wide['metrics-listen']).toMatchObject({ status: 'warn', current: 'http://0.0.0.0:9100/metrics' });
    const narrow = items({ brokers: [ours({ embeddedNamesrv: 'true', namesrvListenPort: '9876', metricsPort: '9100', metricsHost: '127.0.0.1' })] });
    expect(narrow['namesrv-listen']!.status).toBe('pass');
    expect(narrow['metrics-listen']!.status).toBe('pass');
  });

  it('local files: socket, its dir, the audit dir, the credentials file', () => {
    const f = items({
      brokers: [ours({})],
      local: {
        storeDir: '/s',
        socket: { path: '/s/broker.sock', mode: 0o600, kind: 'socket' },
        socketDir: { path: '/s', mode: 0o750, kind: 'dir' },
        auditDir: { path: '/s/audit', mode: 0o755, kind: 'dir' },
      },
      credentialsFile: { path: '/home/u/creds', mode: 0o640, kind: 'file' },
    });
    expect(f['admin-socket']).toMatchObject({ status: 'fail', fix: [expect.stringMatching(/^chmod 700 \/s /)] });
    expect(f['audit-log']).toMatchObject({ status: 'warn', fix: ['chmod 700 /s/audit'] });
    expect(f['credentials-file']).toMatchObject({ status: 'fail', fix: ['chmod 600 /home/u/creds'] });
    expect(f['acl-file']!.status).toBe('skip');
    const none = items({ brokers: [ours({})], local: { socket: { path: '/s/broker.sock', problem: 'does not exist' } } });
    expect(none['admin-socket']!.status).toBe('skip');
  });

  it('plain_acl.yml: group-readable warns, world-readable or a global white list of 10.*.*.* plus * fails, a list of private ranges passes', () => {
    const acl = (mode: number, text: string) => items({ brokers: [ours({ aclEnable: 'true', plainAclFile: '/etc/acl.yml' })], local: { aclFile: { path: '/etc/acl.yml', mode, kind: 'file', text } } })['acl-file']!;
    expect(acl(0o600, 'globalWhiteRemoteAddresses:\n  - 10.0.*.*\n').status).toBe('pass');
    expect(acl(0o640, '').status).toBe('warn');
    expect(acl(0o644, '').status).toBe('fail');
    expect(acl(0o600, 'globalWhiteRemoteAddresses:\n  - 10.0.*.*\n  - "*"\n')).toMatchObject({ status: 'fail' });
  });
});
