import { Flags } from '@oclif/core';
import { DEFAULT_QUEUE_NUMS, updateTopic, failureWarnings, withAdminSession, type UpdateTopicResult } from '../client/admin.js';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { targetFlags } from '../output/flags.js';
import { withSpinner } from '../output/spinner.js';

const trueFalse = ['true', 'false'] as const;

export default class UpdateTopic extends BaseCommand<UpdateTopicResult> {
  static override summary = 'Create a topic, or change its queue counts and permission.';

  static override description = [
    'Sends UPDATE_AND_CREATE_TOPIC to one broker (-b) or to every master of a cluster (-c), as mqadmin updateTopic does; the brokers register the change with their name servers at once. Without -b or -c, the local broker\'s cluster is meant (only when no name server is given).',
    'With -o true the order config is also written to every name server (KV namespace ORDER_TOPIC_CONFIG, "brokerName:writeQueueNums" per broker; with -b merged into the value already there). -o false leaves an existing order config in place, as mqadmin does.',
    'A broker that refuses or does not answer is a warning and the command exits 3; when none succeeded it is an error (exit 1).',
  ].join('\n\n');

  static override examples = [
    { description: 'Create TopicTest with 8 queues on the local broker.', command: '<%= config.bin %> updateTopic -t TopicTest' },
    { description: 'Create it on every master of a cluster with 16 queues.', command: '<%= config.bin %> updateTopic -n 10.0.0.1:9876 -c DefaultCluster -t TopicTest -r 16 -w 16' },
    { description: 'Make it read-only on one broker.', command: '<%= config.bin %> updateTopic -n 10.0.0.1:9876 -b 10.0.0.2:10911 -t TopicTest -p 4' },
    { description: 'An ordered topic across a cluster.', command: '<%= config.bin %> updateTopic -n 10.0.0.1:9876 -c DefaultCluster -t OrderTopic -o true' },
  ];

  static override flags = {
    topic: Flags.string({ char: 't', summary: 'Topic name.', required: true }),
    brokerAddr: Flags.string({ char: 'b', summary: 'Create on this broker (host:port).', exclusive: ['clusterName'] }),
    clusterName: Flags.string({ char: 'c', summary: 'Create on every master of this cluster.', exclusive: ['brokerAddr'] }),
    readQueueNums: Flags.integer({ char: 'r', summary: 'Read queue count.', default: DEFAULT_QUEUE_NUMS, min: 0 }),
    writeQueueNums: Flags.integer({ char: 'w', summary: 'Write queue count.', default: DEFAULT_QUEUE_NUMS, min: 0 }),
    perm: Flags.string({ char: 'p', summary: 'Permission: 2 write, 4 read, 6 read and write.', options: ['2', '4', '6'], default: '6' }),
    order: Flags.string({ char: 'o', summary: 'Ordered topic: also write its order config to the name servers.', options: [...trueFalse] }),
    unit: Flags.string({ char: 'u', summary: 'Unit topic (topicSysFlag bit 0).', options: [...trueFalse] }),
    hasUnitSub: Flags.string({ char: 's', summary: 'Has unit subscriptions (topicSysFlag bit 1).', options: [...trueFalse] }),
    ...targetFlags,
  };

  async run(): Promise<UpdateTopicResult> {
    const { flags } = await this.parse(UpdateTopic);
    const target = { namesrvAddr: flags.namesrvAddr, socket: flags.socket, timeoutMs: flags.timeout };
    const r = await withSpinner(`Updating topic ${flags.topic}`, this.jsonEnabled(), () =>
      withAdminSession(target, (s) =>
        updateTopic(s, {
          topic: flags.topic,
          brokerAddr: flags.brokerAddr,
          clusterName: flags.clusterName,
          local: !flags.namesrvAddr,
          readQueueNums: flags.readQueueNums,
          writeQueueNums: flags.writeQueueNums,
          perm: Number(flags.perm),
          order: flags.order === 'true',
          unit: flags.unit === 'true',
          hasUnitSub: flags.hasUnitSub === 'true',
        }),
      ),
    );
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (!this.jsonEnabled()) this.render((await import('../output/admin-render.js')).renderUpdateTopic(r));
    return r;
  }
}
