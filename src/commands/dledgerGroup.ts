import { Flags } from '@oclif/core';
import { dledgerGroupStatus, lagViolations, type DLedgerGroupResult } from '../admin/dledger-group.js';
import { failureWarnings } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { targetFlags, targetOf } from '../output/flags.js';
import { withSpinner } from '../output/spinner.js';

export default class DLedgerGroup extends BaseCommand<DLedgerGroupResult> {
  static override summary = 'Show each DLedger group\'s members: role, term, ledger end, committed index and lag behind the leader.';

  static override description = [
    'For every DLedger group (broker name) registered with the name server, or only -b: every member of dLegerPeers with its self id, broker address, DLedger address, role (LEADER, FOLLOWER, CANDIDATE, or UNREACHABLE), term, ledger end index, committed index, and lag = the leader\'s ledger end index - the member\'s (entries it has not received yet). A summary line per group gives the leader and how many members are up against the majority needed.',
    'State comes from each registered member\'s runtime info (the dLeger* keys rocketctl brokers with enableDLegerCommitLog=true report). A member that is not registered (a candidate, a stopped member, an Apache member) is asked METADATA on its DLedger port, which tells its known leader only: its term and indexes are then "-" (null in --json). -b is the broker name here, as in transferLeadership (mqadmin has no DLedger command; its -b is an address).',
    'Exit codes: 0 ok; 1 error (name server unreachable, -b not a DLedger group); 2 bad flags or unknown -b; 3 partial (a member or a registered broker did not answer; the rest is printed); 4 --max-lag exceeded, or no leader to measure lag against; 10 bug.',
  ].join('\n\n');

  static override examples = [
    { description: 'Every DLedger group of the cluster.', command: '<%= config.bin %> dledgerGroup -n 127.0.0.1:9876' },
    { description: 'One group, as JSON.', command: '<%= config.bin %> dledgerGroup -n 127.0.0.1:9876 -b broker-a --json' },
    { description: 'CI check: exit 4 when a member is more than 1000 entries behind its leader (3 when a member is down).', command: '<%= config.bin %> dledgerGroup -n 127.0.0.1:9876 -b broker-a --max-lag 1000' },
  ];

  static override flags = {
    brokerName: Flags.string({ char: 'b', summary: 'Broker name of the DLedger group (brokerName, shared by its members); default every group.' }),
    'max-lag': Flags.integer({ summary: 'Exit 4 when a member is more than this many entries behind its leader, or a group has no leader.', min: 0 }),
    ...targetFlags,
  };

  async run(): Promise<DLedgerGroupResult> {
    const { flags } = await this.parse(DLedgerGroup);
    const r = await withSpinner('Asking the DLedger members', this.jsonEnabled(), () => withAdminSession(targetOf(flags), (s) => dledgerGroupStatus(s, flags.brokerName)));
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    for (const g of r.groups) {
      const down = g.members.filter((m) => m.role === 'UNREACHABLE');
      if (down.length > 0) this.setStatus(ExitCode.PARTIAL, `${g.brokerName}: ${down.map((m) => `${m.selfId} (${m.dledgerAddr})`).join(', ')} did not answer${g.majorityOk ? '' : '; the group has no majority and takes no sends'}`);
    }
    const maxLag = flags['max-lag'];
    if (maxLag !== undefined) {
      for (const g of r.groups.filter((x) => x.leader === null)) this.setStatus(ExitCode.CHECK_FAILED, `${g.brokerName} has no leader: lag cannot be measured`);
      const over = lagViolations(r, maxLag);
      if (over.length > 0) this.setStatus(ExitCode.CHECK_FAILED, `${over.length} member(s) more than ${maxLag} entries behind the leader: ${over.map((v) => `${v.brokerName}/${v.selfId} ${v.lag}`).join(', ')}`);
    }
    if (!this.jsonEnabled()) this.render((await import('../output/admin-render.js')).renderDLedgerGroups(r));
    return r;
  }
}
