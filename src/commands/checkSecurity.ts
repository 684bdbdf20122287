import { Flags } from '@oclif/core';
import { ExitCode, RocketError } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { statusWord } from '../output/colors.js';
import { targetFlags, targetOf, type TargetFlagValues } from '../output/flags.js';
import { withSpinner } from '../output/spinner.js';
import { renderKeyValues, renderTable } from '../output/table.js';
import { checkSecurity, type SecurityReport } from '../checks/security.js';
import { DEFAULT_LOCAL_SOCKET, withAdminSession } from '../admin/session.js';
import { failureWarnings } from '../admin/fanout.js';

export default class CheckSecurity extends BaseCommand<SecurityReport> {
  static override summary = 'Check a broker and this host for what is left open: ACL, listen addresses, the admin socket, key files.';

  static override description = [
    'Checks (each pass / warn / fail / skip, with what was found, why it matters and how to fix it):',
    [
      '- acl: aclEnable of the broker (GET_BROKER_CONFIG); a refused request also shows it is on. Off: warn.',
      '- listen: where the broker\'s ports accept connections (rocketctl: bindAddress; Apache brokers bind every interface). Beyond loopback without ACL: fail.',
      '- namesrv-listen: rocketctl\'s embedded name server beyond loopback: warn (name server requests are never ACL-checked, in Apache 4.x neither).',
      '- metrics-listen: rocketctl\'s /metrics beyond loopback: warn (it asks for no credentials).',
      '- audit-log: rocketctl brokers log every admin change (store/audit/); its directory open to others: warn. Apache 4.x keeps none: skip.',
      '- admin-socket: local broker only: the Unix socket must be 0600 in a directory only its owner can enter, so the kernel refuses other users; root can always connect. Otherwise: fail.',
      '- acl-file: local broker with ACL on: plain_acl.yml readable by every user, or a globalWhiteRemoteAddresses that matches any address: fail; group-readable: warn.',
      '- credentials-file: the file given with --credentials-file: readable by others: fail (it is then refused and requests go unsigned).',
    ].join('\n'),
    'The target is the local broker (its socket) by default, -b one broker, -c one cluster, or -n every broker the name servers know. Remote brokers are judged by their config alone; files are looked at only on this host (the local broker, or --store-dir naming the store of the broker checked). What cannot be known is skip with the reason, never guessed. Exit 4 when an item fails, 3 when some broker did not answer.',
  ].join('\n\n');

  static override examples = [
    { description: 'The local broker and its files.', command: '<%= config.bin %> checkSecurity' },
    { description: 'Every broker of a cluster (Apache\'s too), as JSON, signed with an admin account.', command: '<%= config.bin %> checkSecurity -n 10.0.0.1:9876 --credentials-file ~/.rocketctl/credentials --json' },
    { description: 'A broker on this host reached by address, with its store\'s files.', command: '<%= config.bin %> checkSecurity -b 127.0.0.1:10911 --store-dir /data/rocketctl/store' },
  ];

  static override flags = {
    brokerAddr: Flags.string({ char: 'b', summary: 'Check this broker (host:port); without -n, talked to directly.', exclusive: ['clusterName'] }),
    clusterName: Flags.string({ char: 'c', summary: 'Check every broker (masters and slaves) of this cluster.', exclusive: ['brokerAddr'] }),
    'store-dir': Flags.string({ summary: 'Store dir of the checked broker on this host: its admin socket, audit dir and modes are looked at (default with the local broker: its own).' }),
    ...targetFlags,
  };

  async run(): Promise<SecurityReport> {
    const { flags } = await this.parse(CheckSecurity);
    const local = !flags.namesrvAddr && !flags.brokerAddr;
    const credentialsFile = flags['access-key'] || flags['secret-key'] ? undefined : flags['credentials-file'];
    const target = { ...targetOrUnsigned(flags), brokerAddr: flags.brokerAddr };
    const r = await withSpinner('Asking the brokers', this.jsonEnabled(), () =>
      withAdminSession(target, (s) =>
        checkSecurity(s, {
          brokerAddr: flags.brokerAddr,
          clusterName: flags.clusterName,
          socket: local ? flags.socket || process.env.ROCKETCTL_SOCKET || DEFAULT_LOCAL_SOCKET : undefined,
          storeDir: flags['store-dir'],
          credentialsFile,
        }),
      ),
    );
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    const failed = r.items.filter((i) => i.status === 'fail');
    if (failed.length > 0) this.setStatus(ExitCode.CHECK_FAILED, `${failed.length} check(s) failed: ${failed.map((i) => `${i.id}${i.broker ? ` (${i.broker})` : ''}`).join(', ')}`);
    this.render(renderReport(r));
    return r;
  }
}

/** A credentials file others can read is refused by targetOf; here it is reported (credentials-file: fail) and the requests go unsigned. */
function targetOrUnsigned(flags: TargetFlagValues): ReturnType<typeof targetOf> {
  try {
    return targetOf(flags);
  } catch (err) {
    if (!(err instanceof RocketError) || err.code !== 'E_CREDENTIALS') throw err;
    return targetOf({ ...flags, 'credentials-file': undefined });
  }
}

function renderReport(r: SecurityReport): string {
  const head = renderKeyValues([
    ['target', r.target],
    ['brokers', r.brokers.map((b) => `${b.brokerName ?? '?'} (${b.addr}, ${b.rocketctl === null ? 'kind ?' : b.rocketctl ? 'rocketctl' : 'Apache'}, ACL ${b.aclEnable ? 'on' : 'off'})`).join(', ')],
    ['store dir', r.storeDir ?? '-'],
  ]);
  const rows = r.items.map((i) => [i.id, i.broker ?? '-', statusWord(i.status), i.current]);
  const details = r.items
    .filter((i) => i.status !== 'pass' && i.status !== 'skip')
    .map((i) => [`${i.id}${i.broker ? ` (${i.broker})` : ''}: ${i.status}`, `  recommended: ${i.recommended}`, `  why: ${i.why}`, ...i.fix.map((f) => `  fix: ${f}`)].join('\n'))
    .join('\n\n');
  const s = r.summary;
  const total = `${r.items.length} checks: ${s.pass} pass, ${s.warn} warn, ${s.fail} fail, ${s.skip} skip`;
  return `${head}\n\n${renderTable(['#Check', '#Broker', '#Status', '#Current'], rows)}\n\n${details ? `${details}\n\n` : ''}${total}`;
}
