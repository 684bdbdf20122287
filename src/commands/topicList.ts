import { Flags } from '@oclif/core';
import { topicList, type TopicListResult } from '../admin/topics.js';
import { failureWarnings } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { targetFlags, targetOf } from '../output/flags.js';
import { withSpinner } from '../output/spinner.js';

export default class TopicList extends BaseCommand<TopicListResult> {
  static override summary = 'List the topics the name server knows.';

  static override description = [
    'Plain: every topic of GET_ALL_TOPIC_LIST_FROM_NAMESERVER, sorted (system, retry and DLQ topics included, as mqadmin prints them).',
    'With -c/--clusterModel: for each topic except %RETRY% and %DLQ% ones, its cluster(s) and the consumer groups of it (QUERY_TOPIC_CONSUME_BY_WHO, asked of every broker of the topic; mqadmin asks the first only). A broker that does not answer is a warning and the command exits 3.',
  ].join('\n\n');

  static override examples = [
    { description: 'Topics of the local broker.', command: '<%= config.bin %> topicList' },
    { description: 'Topics of a cluster with their clusters and consumer groups.', command: '<%= config.bin %> topicList -n 10.0.0.1:9876 -c' },
  ];

  static override flags = {
    clusterModel: Flags.boolean({ char: 'c', summary: 'Also print each topic\'s cluster and consumer groups.' }),
    ...targetFlags,
  };

  async run(): Promise<TopicListResult> {
    const { flags } = await this.parse(TopicList);
    const target = targetOf(flags);
    const r = await withSpinner('Listing topics', this.jsonEnabled(), () => withAdminSession(target, (s) => topicList(s, { clusterModel: flags.clusterModel })));
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (!this.jsonEnabled()) this.render((await import('../output/admin-render.js')).renderTopicList(r));
    return r;
  }
}
