import { Flags } from '@oclif/core';
import { brokerStatus, type BrokerStatusResult } from '../admin/cluster.js';
import { failureWarnings } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { targetFlags, targetOf, watchFlag } from '../output/flags.js';
import { brokersSampler } from '../admin/watch-samplers.js';
import { watchAdmin } from '../output/watch-driver.js';
import { withSpinner } from '../output/spinner.js';

export default class BrokerStatus extends BaseCommand<BrokerStatusResult> {
  static override summary = 'Print a broker\'s runtime stats (versions, message totals, TPS, commit log, disk).';

  static override description = [
    'Sends GET_BROKER_RUNTIME_INFO to one broker (-b) or to every master and slave of a cluster (-c) and prints every key it returns, sorted, as mqadmin brokerStatus does. Without -b or -c, the local broker\'s cluster is meant (only when no name server is given).',
    'A broker of the cluster that does not answer is listed as a warning and the command exits 3 with the others printed.',
  ].join('\n\n');

  static override examples = [
    { description: 'The local broker.', command: '<%= config.bin %> brokerStatus' },
    { description: 'One broker of a RocketMQ cluster.', command: '<%= config.bin %> brokerStatus -n 10.0.0.1:9876 -b 10.0.0.2:10911' },
    { description: 'Every broker of a cluster, as JSON.', command: '<%= config.bin %> brokerStatus -n 10.0.0.1:9876 -c DefaultCluster --json' },
    { description: 'Watch the local broker every 5 s: messages put and got per second, measured between samples.', command: '<%= config.bin %> brokerStatus --watch 5' },
  ];

  static override flags = {
    brokerAddr: Flags.string({ char: 'b', summary: 'Broker address (host:port); without -n, talked to directly (no name server or local broker needed).', exclusive: ['clusterName'] }),
    clusterName: Flags.string({ char: 'c', summary: 'Cluster name: every master and slave of it.', exclusive: ['brokerAddr'] }),
    watch: watchFlag(),
    ...targetFlags,
  };

  /** undefined: --watch streamed its samples until Ctrl-C or SIGTERM (no envelope). */
  async run(): Promise<BrokerStatusResult | undefined> {
    const { flags } = await this.parse(BrokerStatus);
    const target = { ...targetOf(flags), brokerAddr: flags.brokerAddr };
    if (flags.watch !== undefined) {
      await watchAdmin(target, { command: 'brokerStatus', mode: 'broker', title: `brokerStatus${flags.brokerAddr ? ` -b ${flags.brokerAddr}` : ''}${flags.clusterName ? ` -c ${flags.clusterName}` : ''}`, intervalS: flags.watch, json: this.jsonEnabled(), signal: this.stopSignal(), sampler: (s) => brokersSampler(s, { brokerAddr: flags.brokerAddr, clusterName: flags.clusterName, local: !flags.namesrvAddr }) });
      return undefined;
    }
    const r = await withSpinner('Asking the brokers', this.jsonEnabled(), () =>
      withAdminSession(target, (s) => brokerStatus(s, { brokerAddr: flags.brokerAddr, clusterName: flags.clusterName, local: !flags.namesrvAddr })),
    );
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (!this.jsonEnabled()) this.render((await import('../output/admin-render.js')).renderBrokerStatus(r));
    return r;
  }
}
