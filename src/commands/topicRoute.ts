import { Flags } from '@oclif/core';
import { topicRoute, type TopicRouteResult } from '../admin/topics.js';
import { withAdminSession } from '../admin/session.js';
import { BaseCommand } from '../output/base-command.js';
import { targetFlags, targetOf } from '../output/flags.js';

export default class TopicRoute extends BaseCommand<TopicRouteResult> {
  static override summary = 'Print a topic\'s route: its brokers, their addresses and queue counts.';

  static override description = [
    'Sends GET_ROUTEINFO_BY_TOPIC to the name server. The table is mqadmin\'s topicRoute -l listing (cluster, broker, addresses by broker id, read/write queues, perm) with totals; --json gives the whole route (brokerDatas, queueDatas, orderTopicConf) instead of mqadmin\'s fastjson print.',
    'An unknown topic is an error (exit 1).',
  ].join('\n\n');

  static override examples = [
    { description: 'Route of a topic on the local broker.', command: '<%= config.bin %> topicRoute -t TopicTest' },
    { description: 'Route from a RocketMQ name server, as JSON.', command: '<%= config.bin %> topicRoute -n 10.0.0.1:9876 -t TopicTest --json' },
  ];

  static override flags = {
    topic: Flags.string({ char: 't', summary: 'Topic name.', required: true }),
    list: Flags.boolean({ char: 'l', summary: 'Accepted for mqadmin compatibility: the table is always the list form.' }),
    ...targetFlags,
  };

  async run(): Promise<TopicRouteResult> {
    const { flags } = await this.parse(TopicRoute);
    const target = targetOf(flags);
    const r = await withAdminSession(target, (s) => topicRoute(s, flags.topic));
    if (!this.jsonEnabled()) this.render((await import('../output/admin-render.js')).renderTopicRoute(r));
    return r;
  }
}
