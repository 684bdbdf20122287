import { Flags } from '@oclif/core';
import { topicStatus, type TopicStatusResult } from '../admin/topics.js';
import { failureWarnings } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { targetFlags, targetOf, watchFlag } from '../output/flags.js';
import { topicQueuesSampler } from '../admin/watch-samplers.js';
import { watchAdmin } from '../output/watch-driver.js';
import { withSpinner } from '../output/spinner.js';

export default class TopicStatus extends BaseCommand<TopicStatusResult> {
  static override summary = 'Per queue of a topic: min and max offset and when it was last written.';

  static override description = [
    'Looks up the topic\'s route, then asks each of its brokers for GET_TOPIC_STATS_INFO, as mqadmin topicStatus does. Rows are sorted by broker name and queue id; "Last Updated" is the store time of the newest message (local time), empty for an empty queue (null in --json).',
    'An unknown topic is an error (exit 1). A broker of the route that does not answer is a warning and the command exits 3 with the other brokers\' queues printed.',
  ].join('\n\n');

  static override examples = [
    { description: 'Queues of a topic on the local broker.', command: '<%= config.bin %> topicStatus -t TopicTest' },
    { description: 'Queues of a topic in a RocketMQ cluster, as JSON.', command: '<%= config.bin %> topicStatus -n 10.0.0.1:9876 -t TopicTest --json' },
    { description: 'Watch a topic: per queue the max offset, messages written since the last sample and the measured rate (every 2 s; Ctrl-C ends it).', command: '<%= config.bin %> topicStatus -t TopicTest --watch' },
  ];

  static override flags = {
    topic: Flags.string({ char: 't', summary: 'Topic name.', required: true }),
    watch: watchFlag(),
    ...targetFlags,
  };

  /** undefined: --watch streamed its samples until Ctrl-C or SIGTERM (no envelope). */
  async run(): Promise<TopicStatusResult | undefined> {
    const { flags } = await this.parse(TopicStatus);
    const target = targetOf(flags);
    if (flags.watch !== undefined) {
      await watchAdmin(target, { command: 'topicStatus', mode: 'topic', title: `topicStatus -t ${flags.topic}`, intervalS: flags.watch, json: this.jsonEnabled(), signal: this.stopSignal(), sampler: (s) => topicQueuesSampler(s, flags.topic) });
      return undefined;
    }
    const r = await withSpinner('Asking the brokers', this.jsonEnabled(), () => withAdminSession(target, (s) => topicStatus(s, flags.topic)));
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (!this.jsonEnabled()) this.render((await import('../output/admin-render.js')).renderTopicStatus(r));
    return r;
  }
}
