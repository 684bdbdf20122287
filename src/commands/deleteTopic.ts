import { Flags } from '@oclif/core';
import { deleteTopic, type DeleteTopicResult } from '../admin/topics.js';
import { failureWarnings } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { targetFlags, targetOf } from '../output/flags.js';
import { withSpinner } from '../output/spinner.js';

export default class DeleteTopic extends BaseCommand<DeleteTopicResult> {
  static override summary = 'Delete a topic from the masters of a cluster and from the name servers.';

  static override description = [
    'Sends DELETE_TOPIC_IN_BROKER to every master of the cluster (its config, consume queues and offsets go; its messages stay in the commit log until that rolls away), then DELETE_TOPIC_IN_NAMESRV to every name server. mqadmin also sends it to slaves, which refuse topic changes; rocketctl sends to masters only.',
    'Without -c, the local broker\'s cluster is meant (only when no name server is given). An unknown topic is an error (exit 1) and nothing is deleted. A broker or name server that fails is a warning and the command exits 3.',
  ].join('\n\n');

  static override examples = [
    { description: 'Delete a topic from the local broker.', command: '<%= config.bin %> deleteTopic -t TopicTest' },
    { description: 'Delete it from a cluster.', command: '<%= config.bin %> deleteTopic -n 10.0.0.1:9876 -c DefaultCluster -t TopicTest' },
  ];

  static override flags = {
    topic: Flags.string({ char: 't', summary: 'Topic name.', required: true }),
    clusterName: Flags.string({ char: 'c', summary: 'Delete from every master of this cluster.' }),
    ...targetFlags,
  };

  async run(): Promise<DeleteTopicResult> {
    const { flags } = await this.parse(DeleteTopic);
    const target = targetOf(flags);
    const r = await withSpinner(`Deleting topic ${flags.topic}`, this.jsonEnabled(), () =>
      withAdminSession(target, (s) => deleteTopic(s, { topic: flags.topic, clusterName: flags.clusterName, local: !flags.namesrvAddr })),
    );
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (!this.jsonEnabled()) this.render((await import('../output/admin-render.js')).renderDeleteTopic(r));
    return r;
  }
}
