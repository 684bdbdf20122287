import { Flags } from '@oclif/core';
import { producerConnection, type ProducerConnectionResult } from '../admin/connections.js';
import { failureWarnings } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { targetFlags, targetOf } from '../output/flags.js';
import { withSpinner } from '../output/spinner.js';

export default class ProducerConnection extends BaseCommand<ProducerConnectionResult> {
  static override summary = 'List the clients of a producer group connected to the brokers of a topic.';

  static override description = [
    'Asks every broker of the topic\'s route for GET_PRODUCER_CONNECTION_LIST and merges the answers by client id; mqadmin asks one broker picked at random.',
    'An unknown topic is an error (exit 1), and so is a group with no producer connected to those brokers. A broker that does not answer is a warning and the command exits 3.',
  ].join('\n\n');

  static override examples = [
    { description: 'Producers of group PG sending to TopicTest on the local broker.', command: '<%= config.bin %> producerConnection -g PG -t TopicTest' },
    { description: 'The same on a RocketMQ cluster, as JSON.', command: '<%= config.bin %> producerConnection -n 10.0.0.1:9876 -g PG -t TopicTest --json' },
  ];

  static override flags = {
    producerGroup: Flags.string({ char: 'g', summary: 'Producer group name.', required: true, aliases: ['group'] }),
    topic: Flags.string({ char: 't', summary: 'A topic the producers send to (its brokers are asked).', required: true }),
    ...targetFlags,
  };

  async run(): Promise<ProducerConnectionResult> {
    const { flags } = await this.parse(ProducerConnection);
    const target = targetOf(flags);
    const r = await withSpinner('Asking the brokers', this.jsonEnabled(), () =>
      withAdminSession(target, (s) => producerConnection(s, { group: flags.producerGroup, topic: flags.topic })),
    );
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (!this.jsonEnabled()) this.render((await import('../output/admin-render.js')).renderProducerConnection(r));
    return r;
  }
}
