import { Flags } from '@oclif/core';
import { consumerConnection, type ConsumerConnectionResult } from '../admin/connections.js';
import { failureWarnings } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { targetFlags, targetOf } from '../output/flags.js';
import { withSpinner } from '../output/spinner.js';

export default class ConsumerConnection extends BaseCommand<ConsumerConnectionResult> {
  static override summary = 'List the clients of a consumer group, its subscriptions and consume settings.';

  static override description = [
    'Asks every broker of the group\'s %RETRY% topic (or only -b) for GET_CONSUMER_CONNECTION_LIST and merges the answers by client id; mqadmin asks one broker picked at random.',
    'A group that has never been online (no %RETRY% topic) is an error, and so is a group with no client connected now (CONSUMER_NOT_ONLINE): one line each, exit 1. A broker that does not answer is a warning and the command exits 3.',
  ].join('\n\n');

  static override examples = [
    { description: 'Clients of group CG on the local broker.', command: '<%= config.bin %> consumerConnection -g CG' },
    { description: 'Ask one broker of a RocketMQ cluster, as JSON.', command: '<%= config.bin %> consumerConnection -n 10.0.0.1:9876 -g CG -b 10.0.0.2:10911 --json' },
  ];

  static override flags = {
    consumerGroup: Flags.string({ char: 'g', summary: 'Consumer group name.', required: true, aliases: ['group'] }),
    brokerAddr: Flags.string({ char: 'b', summary: 'Ask only this broker (host:port); without -n, talked to directly (no name server or local broker needed).' }),
    ...targetFlags,
  };

  async run(): Promise<ConsumerConnectionResult> {
    const { flags } = await this.parse(ConsumerConnection);
    const target = { ...targetOf(flags), brokerAddr: flags.brokerAddr };
    const r = await withSpinner('Asking the brokers', this.jsonEnabled(), () =>
      withAdminSession(target, (s) => consumerConnection(s, { group: flags.consumerGroup, brokerAddr: flags.brokerAddr })),
    );
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (!this.jsonEnabled()) this.render((await import('../output/admin-render.js')).renderConsumerConnection(r));
    return r;
  }
}
