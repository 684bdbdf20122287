import { Flags } from '@oclif/core';
import { updateSubGroup, type SubGroupFields, type UpdateSubGroupResult } from '../admin/groups.js';
import { failureWarnings } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { targetFlags, targetOf } from '../output/flags.js';
import { withSpinner } from '../output/spinner.js';

const trueFalse = ['true', 'false'];
const bool = (v: string | undefined): boolean | undefined => (v === undefined ? undefined : v === 'true');

export default class UpdateSubGroup extends BaseCommand<UpdateSubGroupResult> {
  static override summary = 'Create a subscription (consumer) group, or change its settings.';

  static override description = [
    'For each target broker (-b, or every master of -c), reads the group\'s current config (GET_ALL_SUBSCRIPTIONGROUP_CONFIG), applies the flags given and writes it back (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP). Flags not given keep the broker\'s current value. mqadmin instead resets every field not on its command line to a default.',
    'A new group gets SubscriptionGroupConfig\'s defaults for fields not given, except consumeFromMinEnable and consumeBroadcastEnable, which are false (as mqadmin sets them). Flag letters are mqadmin\'s for this command (-r is retryMaxTimes here; -i brokerId). Without -b or -c, the local broker\'s cluster is meant (only when no name server is given).',
    'A broker that fails is a warning and the command exits 3; when none succeeded it is an error (exit 1).',
  ].join('\n\n');

  static override examples = [
    { description: 'Create group CG on the local broker.', command: '<%= config.bin %> updateSubGroup -g CG' },
    { description: 'Stop group CG consuming on every master of a cluster.', command: '<%= config.bin %> updateSubGroup -n 10.0.0.1:9876 -c DefaultCluster -g CG -s false' },
    { description: 'Retry at most 3 times, on one broker.', command: '<%= config.bin %> updateSubGroup -n 10.0.0.1:9876 -b 10.0.0.2:10911 -g CG -r 3' },
  ];

  static override flags = {
    groupName: Flags.string({ char: 'g', summary: 'Consumer group name.', required: true, aliases: ['group'] }),
    brokerAddr: Flags.string({ char: 'b', summary: 'On this broker (host:port); without -n, talked to directly (no name server or local broker needed).', exclusive: ['clusterName'] }),
    clusterName: Flags.string({ char: 'c', summary: 'On every master of this cluster.', exclusive: ['brokerAddr'] }),
    consumeEnable: Flags.string({ char: 's', summary: 'May the group consume at all.', options: trueFalse }),
    consumeFromMinEnable: Flags.string({ char: 'm', summary: 'Start a new consumer from the min offset.', options: trueFalse }),
    consumeBroadcastEnable: Flags.string({ char: 'd', summary: 'Allow broadcast consumption.', options: trueFalse }),
    retryQueueNums: Flags.integer({ char: 'q', summary: 'Queues of the group\'s %RETRY% topic.', min: 0 }),
    retryMaxTimes: Flags.integer({ char: 'r', summary: 'Redeliveries before a message goes to the DLQ.', min: 0 }),
    brokerId: Flags.integer({ char: 'i', summary: 'Broker id to consume from.', min: 0 }),
    whichBrokerWhenConsumeSlowly: Flags.integer({ char: 'w', summary: 'Broker id to consume from when consumption is slow.', min: 0 }),
    notifyConsumerIdsChanged: Flags.string({
      char: 'a',
      summary: 'Tell the group\'s consumers when its members change (notifyConsumerIdsChangedEnable).',
      options: trueFalse,
      aliases: ['notifyConsumerIdsChangedEnable'],
    }),
    ...targetFlags,
  };

  async run(): Promise<UpdateSubGroupResult> {
    const { flags } = await this.parse(UpdateSubGroup);
    const target = { ...targetOf(flags), brokerAddr: flags.brokerAddr };
    const fields: SubGroupFields = {
      consumeEnable: bool(flags.consumeEnable),
      consumeFromMinEnable: bool(flags.consumeFromMinEnable),
      consumeBroadcastEnable: bool(flags.consumeBroadcastEnable),
      retryQueueNums: flags.retryQueueNums,
      retryMaxTimes: flags.retryMaxTimes,
      brokerId: flags.brokerId,
      whichBrokerWhenConsumeSlowly: flags.whichBrokerWhenConsumeSlowly,
      notifyConsumerIdsChangedEnable: bool(flags.notifyConsumerIdsChanged),
    };
    const r = await withSpinner(`Updating group ${flags.groupName}`, this.jsonEnabled(), () =>
      withAdminSession(target, (s) =>
        updateSubGroup(s, { group: flags.groupName, brokerAddr: flags.brokerAddr, clusterName: flags.clusterName, local: !flags.namesrvAddr, fields }),
      ),
    );
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (!this.jsonEnabled()) this.render((await import('../output/admin-render.js')).renderUpdateSubGroup(r));
    return r;
  }
}
