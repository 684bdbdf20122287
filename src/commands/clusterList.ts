import { Flags } from '@oclif/core';
import { clusterList, type ClusterListResult } from '../admin/cluster.js';
import { failureWarnings } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { targetFlags, targetOf } from '../output/flags.js';
import { withSpinner } from '../output/spinner.js';

export default class ClusterList extends BaseCommand<ClusterListResult> {
  static override summary = 'List the brokers of every cluster with their version, load and disk use.';

  static override description = [
    'Asks the name server for its clusters (GET_BROKER_CLUSTER_INFO), then every broker address, masters and slaves, for its runtime stats (GET_BROKER_RUNTIME_INFO), as mqadmin clusterList does. A value a broker does not report is shown as "-" (null in --json), never as 0.',
    'mqadmin\'s -i/--interval (print again every N seconds, forever) is left out: one run prints one answer; repeat it with watch(1). A broker that does not answer is listed as a warning and the command exits 3 with the others printed.',
  ].join('\n\n');

  static override examples = [
    { description: 'The local broker\'s cluster.', command: '<%= config.bin %> clusterList' },
    { description: 'A RocketMQ cluster, with message totals for yesterday and today.', command: '<%= config.bin %> clusterList -n 10.0.0.1:9876 -m' },
    { description: 'As JSON, for scripts.', command: '<%= config.bin %> clusterList -n 10.0.0.1:9876 --json' },
  ];

  static override flags = {
    moreStats: Flags.boolean({ char: 'm', summary: 'Show messages in/out yesterday and today instead of TPS and load.' }),
    ...targetFlags,
  };

  async run(): Promise<ClusterListResult> {
    const { flags } = await this.parse(ClusterList);
    const target = targetOf(flags);
    const r = await withSpinner('Asking the brokers', this.jsonEnabled(), () => withAdminSession(target, (s) => clusterList(s)));
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (!this.jsonEnabled()) this.render((await import('../output/admin-render.js')).renderClusterList(r, flags.moreStats));
    return r;
  }
}
