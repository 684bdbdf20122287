import { Flags } from '@oclif/core';
import { checkUpdateTopicOptions, updateTopic, updateTopicWarnings, type UpdateTopicResult } from '../admin/topics.js';
import { failureWarnings } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { targetFlags, targetOf } from '../output/flags.js';
import { withSpinner } from '../output/spinner.js';

const trueFalse = ['true', 'false'] as const;
const bool = (v: string | undefined): boolean | undefined => (v === undefined ? undefined : v === 'true');

export default class UpdateTopic extends BaseCommand<UpdateTopicResult> {
  static override summary = 'Create a topic, or change its queue counts and permission.';

  static override description = [
    'Sends UPDATE_AND_CREATE_TOPIC to one broker (-b) or to every master of a cluster (-c), as mqadmin updateTopic does; the brokers register the change with their name servers at once. Without -b or -c, the local broker\'s cluster is meant (only when no name server is given).',
    'On a topic a broker already has, only the flags given change: first each target broker\'s current config is read (GET_ALL_TOPIC_CONFIG) and every field not on the command line (read/write queue counts, perm, order, topicFilterType, topicSysFlag bits) keeps that broker\'s value, per broker, since brokers can differ. A new topic gets mqadmin\'s defaults (8 read and 8 write queues, perm 6). mqadmin instead resets every field not given to those defaults (its `-p 4` alone turns a 16-queue topic into 8/8, leaving queues 8-15 unreadable).',
    '-r and -w must be at least 1. More write than read queues is allowed but warned about (messages written to the extra queues are never read), and so is cutting the read queues of a broker while the dropped queues still hold messages (named with their message counts: not deleted, but unreadable until -r is raised again). --json lists per broker the config before (null for a new topic) and after.',
    'With -o true the order config is also written to every name server (KV namespace ORDER_TOPIC_CONFIG, "brokerName:writeQueueNums" per broker; with -b merged into the value already there). -o false leaves an existing order config in place, as mqadmin does. Without -o, an ordered topic whose write queue count changes gets its order config rewritten too.',
    'A broker that refuses or does not answer is a warning and the command exits 3; when none succeeded it is an error (exit 1).',
  ].join('\n\n');

  static override examples = [
    { description: 'Create TopicTest with 8 queues on the local broker.', command: '<%= config.bin %> updateTopic -t TopicTest' },
    { description: 'Create it on every master of a cluster with 16 queues.', command: '<%= config.bin %> updateTopic -n 10.0.0.1:9876 -c DefaultCluster -t TopicTest -r 16 -w 16' },
    { description: 'Make it read-only on one broker (queue counts stay as they are).', command: '<%= config.bin %> updateTopic -n 10.0.0.1:9876 -b 10.0.0.2:10911 -t TopicTest -p 4' },
    { description: 'An ordered topic across a cluster.', command: '<%= config.bin %> updateTopic -n 10.0.0.1:9876 -c DefaultCluster -t OrderTopic -o true' },
  ];

  static override flags = {
    topic: Flags.string({ char: 't', summary: 'Topic name.', required: true }),
    brokerAddr: Flags.string({ char: 'b', summary: 'Create on this broker (host:port); without -n, talked to directly (no name server or local broker needed).', exclusive: ['clusterName'] }),
    clusterName: Flags.string({ char: 'c', summary: 'Create on every master of this cluster.', exclusive: ['brokerAddr'] }),
    readQueueNums: Flags.integer({ char: 'r', summary: 'Read queue count (at least 1; default: kept, 8 for a new topic).' }),
    writeQueueNums: Flags.integer({ char: 'w', summary: 'Write queue count (at least 1; default: kept, 8 for a new topic).' }),
    perm: Flags.string({ char: 'p', summary: 'Permission: 2 write, 4 read, 6 read and write (default: kept, 6 for a new topic).', options: ['2', '4', '6'] }),
    order: Flags.string({ char: 'o', summary: 'Ordered topic: also write its order config to the name servers (default: kept, false for a new topic).', options: [...trueFalse] }),
    unit: Flags.string({ char: 'u', summary: 'Unit topic (topicSysFlag bit 0; default: kept).', options: [...trueFalse] }),
    hasUnitSub: Flags.string({ char: 's', summary: 'Has unit subscriptions (topicSysFlag bit 1; default: kept).', options: [...trueFalse] }),
    ...targetFlags,
  };

  async run(): Promise<UpdateTopicResult> {
    const { flags } = await this.parse(UpdateTopic);
    const target = { ...targetOf(flags), brokerAddr: flags.brokerAddr };
    checkUpdateTopicOptions({ topic: flags.topic, readQueueNums: flags.readQueueNums, writeQueueNums: flags.writeQueueNums });
    const r = await withSpinner(`Updating topic ${flags.topic}`, this.jsonEnabled(), () =>
      withAdminSession(target, (s) =>
        updateTopic(s, {
          topic: flags.topic,
          brokerAddr: flags.brokerAddr,
          clusterName: flags.clusterName,
          local: !flags.namesrvAddr,
          readQueueNums: flags.readQueueNums,
          writeQueueNums: flags.writeQueueNums,
          perm: flags.perm === undefined ? undefined : Number(flags.perm),
          order: bool(flags.order),
          unit: bool(flags.unit),
          hasUnitSub: bool(flags.hasUnitSub),
        }),
      ),
    );
    for (const w of updateTopicWarnings(r)) this.warnUser(w);
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (!this.jsonEnabled()) this.render((await import('../output/admin-render.js')).renderUpdateTopic(r));
    return r;
  }
}
