import { Flags } from '@oclif/core';
import { sendOne, type SendOneResult } from '../admin/tools.js';
import { BaseCommand } from '../output/base-command.js';
import { targetFlags, targetOf } from '../output/flags.js';
import { ExitCode } from '../errors/index.js';

export default class SendMessage extends BaseCommand<SendOneResult> {
  static override summary = 'Send one message to a topic (mqadmin sendMessage).';

  static override description = [
    'Sends with a producer group of its own (rocketctl_send_<millis>), as mqadmin does, so no real group is disturbed. Without -b/-i the producer picks a queue and retries another broker on failure; with -b and -i it sends to exactly that queue.',
    'As in mqadmin, -c means tags here (not cluster). A topic that does not exist is created from TBW102 when the broker allows auto-creation, as RocketMQ producers do; otherwise the send fails with one line.',
    'Prints the message id (UNIQ_KEY), the broker id (offsetMsgId), the queue and the queue offset. A status other than SEND_OK (e.g. FLUSH_DISK_TIMEOUT: stored but not yet flushed) exits 3.',
  ].join('\n\n');

  static override examples = [
    { description: 'Send a message with a tag and a key to the local broker.', command: '<%= config.bin %> sendMessage -t TopicTest -p "hello" -c TagA -k order-42' },
    { description: 'Send to queue 2 of broker-a, delayed by level 3 (10 s).', command: '<%= config.bin %> sendMessage -t TopicTest -p "later" -b broker-a -i 2 --delay-level 3' },
    { description: 'Send through a cluster\'s name server and read the ids as JSON.', command: '<%= config.bin %> sendMessage -n 10.0.0.1:9876 -t TopicTest -p "hi" --json' },
  ];

  static override flags = {
    topic: Flags.string({ char: 't', summary: 'Topic to send to.', required: true }),
    body: Flags.string({ char: 'p', summary: 'Message body (UTF-8 text).', required: true }),
    key: Flags.string({ char: 'k', summary: 'Message key(s), space separated (indexed: find it with queryMsgByKey).' }),
    tags: Flags.string({ char: 'c', summary: 'Message tag (mqadmin sendMessage uses -c for tags).' }),
    broker: Flags.string({ char: 'b', summary: 'Broker name to send to (with -i).' }),
    qid: Flags.integer({ char: 'i', summary: 'Queue id to send to (requires -b).', min: 0, dependsOn: ['broker'] }),
    'delay-level': Flags.integer({ summary: 'Delay level (1 = 1s, 2 = 5s, 3 = 10s, ... as the broker\'s messageDelayLevel).', min: 1, max: 64 }),
    ...targetFlags,
  };

  async run(): Promise<SendOneResult> {
    const { flags } = await this.parse(SendMessage);
    const r = await sendOne(
      targetOf(flags),
      { topic: flags.topic, body: flags.body, keys: flags.key, tags: flags.tags, brokerName: flags.broker, queueId: flags.qid, delayLevel: flags['delay-level'] },
    );
    if (r.status !== 'SEND_OK') this.setStatus(ExitCode.PARTIAL, `send status ${r.status}: the message is stored but ${r.status === 'OUTBOXED' ? 'only locally' : 'not yet as durable as asked'}`);
    if (!this.jsonEnabled()) {
      const { renderTable } = await import('../output/table.js');
      this.render(renderTable(['#Broker Name', '#QID', '#Send Result', '#MsgId', '#OffsetMsgId', '#Queue Offset'], [[r.brokerName, r.queueId, r.status, r.msgId, r.offsetMsgId, r.queueOffset]]));
    }
    return r;
  }
}
