import { Flags } from '@oclif/core';
import { transferLeadership, type TransferLeadershipResult } from '../admin/dledger.js';
import { withAdminSession } from '../admin/session.js';
import { BaseCommand } from '../output/base-command.js';
import { renderKeyValues } from '../output/table.js';
import { targetFlags, targetOf } from '../output/flags.js';
import { withSpinner } from '../output/spinner.js';

export default class TransferLeadership extends BaseCommand<TransferLeadershipResult> {
  static override summary = 'Move a DLedger group\'s leadership (and its master role) to a named member.';

  static override description = [
    'Finds the group of broker name -b through the name server, asks its leader to hand over to --to (DLedger\'s LEADERSHIP_TRANSFER, code 51005, sent to the leader\'s DLedger port as DLedger\'s own tooling does), and waits until the new leader is registered as master (brokerId 0). The leader refuses when --to is more than 1000 entries behind (FALL_BEHIND_TOO_MUCH) or cannot take over in time; the refusal is one line and exit 1.',
    'While the transfer runs (about an election\'s time) the group takes no sends: producers get a busy answer and retry. Members are found by the dLeger* keys of their runtime info, which rocketctl brokers with enableDLegerCommitLog=true report. To keep a member the leader whenever it is up, set preferredLeaderId on every member instead.',
  ].join('\n\n');

  static override examples = [
    { description: 'Make n1 the leader of broker-a\'s group.', command: '<%= config.bin %> transferLeadership -n 127.0.0.1:9876 -b broker-a --to n1' },
    { description: 'The same, as JSON (from, to, term, the new master\'s address).', command: '<%= config.bin %> transferLeadership -n 127.0.0.1:9876 -b broker-a --to n1 --json' },
  ];

  static override flags = {
    brokerName: Flags.string({ char: 'b', summary: 'Broker name of the DLedger group (brokerName, shared by its members).', required: true }),
    to: Flags.string({ summary: 'Self id of the member to lead (dLegerSelfId, e.g. n1).', required: true }),
    ...targetFlags,
  };

  async run(): Promise<TransferLeadershipResult> {
    const { flags } = await this.parse(TransferLeadership);
    const r = await withSpinner(`Moving the leadership of ${flags.brokerName} to ${flags.to}`, this.jsonEnabled(), () =>
      withAdminSession(targetOf(flags), (s) => transferLeadership(s, flags.brokerName, flags.to)),
    );
    if (!this.jsonEnabled()) {
      this.render(
        renderKeyValues([
          ['group', `${r.brokerName} (${r.group})`],
          ['leader', r.transferred ? `${r.from} -> ${r.to}` : `${r.to} (already)`],
          ['term', String(r.term)],
          ['master', r.masterAddr],
        ]),
      );
    }
    return r;
  }
}
