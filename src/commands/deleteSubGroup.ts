import { Flags } from '@oclif/core';
import { deleteSubGroup, type DeleteSubGroupResult } from '../admin/groups.js';
import { failureWarnings } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { targetFlags, targetOf } from '../output/flags.js';
import { withSpinner } from '../output/spinner.js';

export default class DeleteSubGroup extends BaseCommand<DeleteSubGroupResult> {
  static override summary = 'Delete a subscription (consumer) group from a broker or cluster.';

  static override description = [
    'Sends DELETE_SUBSCRIPTIONGROUP to one broker (-b) or every master of a cluster (-c); with -r true the group\'s committed offsets are removed too. The brokers are asked first whether they have the group: when none has it, that is an error (exit 1) rather than a silent success. Without -b or -c, the local broker\'s cluster is meant (only when no name server is given).',
    'mqadmin deleteSubGroup -c also deletes the group\'s %RETRY% and %DLQ% topics; rocketctl does not (the DLQ may hold messages worth keeping): delete them with deleteTopic if wanted. A broker that fails is a warning and the command exits 3.',
  ].join('\n\n');

  static override examples = [
    { description: 'Delete group CG from the local broker.', command: '<%= config.bin %> deleteSubGroup -g CG' },
    { description: 'Delete it and its offsets from a cluster.', command: '<%= config.bin %> deleteSubGroup -n 10.0.0.1:9876 -c DefaultCluster -g CG -r true' },
  ];

  static override flags = {
    groupName: Flags.string({ char: 'g', summary: 'Consumer group name.', required: true, aliases: ['group'] }),
    brokerAddr: Flags.string({ char: 'b', summary: 'From this broker (host:port); without -n, talked to directly (no name server or local broker needed).', exclusive: ['clusterName'] }),
    clusterName: Flags.string({ char: 'c', summary: 'From every master of this cluster.', exclusive: ['brokerAddr'] }),
    removeOffset: Flags.string({ char: 'r', summary: 'Also remove the group\'s committed offsets.', options: ['true', 'false'], default: 'false' }),
    ...targetFlags,
  };

  async run(): Promise<DeleteSubGroupResult> {
    const { flags } = await this.parse(DeleteSubGroup);
    const target = { ...targetOf(flags), brokerAddr: flags.brokerAddr };
    const r = await withSpinner(`Deleting group ${flags.groupName}`, this.jsonEnabled(), () =>
      withAdminSession(target, (s) =>
        deleteSubGroup(s, {
          group: flags.groupName,
          brokerAddr: flags.brokerAddr,
          clusterName: flags.clusterName,
          local: !flags.namesrvAddr,
          removeOffset: flags.removeOffset === 'true',
        }),
      ),
    );
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (!this.jsonEnabled()) this.render((await import('../output/admin-render.js')).renderDeleteSubGroup(r));
    return r;
  }
}
