import { Flags } from '@oclif/core';
import { parseTimestamp } from '../admin/reset.js';
import { consumeRange, type ConsumeRangeSummary, type ConsumedMessage } from '../admin/tools.js';
import { BaseCommand } from '../output/base-command.js';
import { targetFlags, targetOf } from '../output/flags.js';

export default class ConsumeMessage extends BaseCommand<ConsumeRangeSummary> {
  static override summary = 'Print messages of a topic or queue without consuming them for any group (mqadmin consumeMessage).';

  static override description = [
    'Reads with pulls as the tools group TOOLS_CONSUMER: it joins no rebalance and stores no offset, so no group\'s progress changes, and rocketctl\'s broker counts TOOLS_CONSUMER\'s pulls in no statistic. Queues are read in order (broker name, queue id), from -o, or the offset closest to -s, or the start of the queue; up to the offset closest to -e, or the end of the queue when the command starts.',
    '-g GROUP reads that group\'s backlog instead: each queue from the group\'s committed offset (a queue where it has none is skipped and noted), still as TOOLS_CONSUMER, so the group\'s offsets and consume TPS do not change. mqadmin\'s -g only names the group in the pulls (they count towards its TPS) and reads from the start of each queue.',
    'As in mqadmin, -c means the number of messages here (default 128, in total).',
    'With --json the output is NDJSON: one line {"message":{...}} per message as it is read, then one last line with the usual envelope ({"status":0,"result":{count, queues},...}). Bodies are UTF-8 text, or base64 when they are not valid UTF-8 (bodyEncoding says which).',
  ].join('\n\n');

  static override examples = [
    { description: 'The first 10 messages of a topic on the local broker.', command: '<%= config.bin %> consumeMessage -t TopicTest -c 10' },
    { description: 'Queue 3 of broker-a from offset 1000, as NDJSON.', command: '<%= config.bin %> consumeMessage -t TopicTest -b broker-a -i 3 -o 1000 --json' },
    { description: 'The first 20 messages a consumer group has not consumed yet (its backlog), without disturbing it.', command: '<%= config.bin %> consumeMessage -t TopicTest -g orders-consumer -c 20' },
    { description: 'Messages stored in a time range (local time).', command: '<%= config.bin %> consumeMessage -t TopicTest -s 2026-11-25#09:00:00:000 -e 2026-11-25#10:00:00:000' },
  ];

  static override flags = {
    topic: Flags.string({ char: 't', summary: 'Topic to read.', required: true }),
    brokerName: Flags.string({ char: 'b', summary: 'Only queues of this broker.' }),
    queueId: Flags.integer({ char: 'i', summary: 'Only this queue (requires -b).', min: 0, dependsOn: ['brokerName'] }),
    offset: Flags.integer({ char: 'o', summary: 'Start at this queue offset (requires -i).', min: 0, dependsOn: ['queueId'] }),
    consumerGroup: Flags.string({ char: 'g', summary: "Read this group's backlog: each queue from its committed offset (its offsets and statistics do not change).", exclusive: ['offset', 'beginTimestamp'] }),
    beginTimestamp: Flags.string({ char: 's', summary: 'Start at the message stored closest to this time: epoch millis or yyyy-MM-dd#HH:mm:ss:SSS.' }),
    endTimestamp: Flags.string({ char: 'e', summary: 'Stop at the message stored closest to this time: epoch millis or yyyy-MM-dd#HH:mm:ss:SSS.' }),
    count: Flags.integer({ char: 'c', summary: 'How many messages at most, in total (mqadmin consumeMessage uses -c for this).', default: 128, min: 1, max: 1_000_000 }),
    ...targetFlags,
  };

  override logJson(json: unknown): void {
    // NDJSON: the closing envelope is one line too.
    process.stdout.write(JSON.stringify(json) + '\n');
  }

  async run(): Promise<ConsumeRangeSummary> {
    const { flags } = await this.parse(ConsumeMessage);
    const time = (v: string | undefined, name: string): number | undefined => {
      if (v === undefined) return undefined;
      const t = parseTimestamp(v, name);
      return t === 'now' ? Date.now() : t;
    };
    const json = this.jsonEnabled();
    const onMessage = (m: ConsumedMessage): void => {
      if (json) process.stdout.write(JSON.stringify({ message: m }) + '\n');
      else process.stdout.write(formatMessage(m));
    };
    const summary = await consumeRange(
      targetOf(flags),
      {
        topic: flags.topic,
        group: flags.consumerGroup,
        brokerName: flags.brokerName,
        queueId: flags.queueId,
        offset: flags.offset,
        beginTimestampMs: time(flags.beginTimestamp, '-s'),
        endTimestampMs: time(flags.endTimestamp, '-e'),
        count: flags.count,
      },
      onMessage,
    );
    if (!json) {
      for (const q of summary.queues) if (q.note) this.render(`${q.brokerName} ${q.queueId}: ${q.note}`);
      this.render(`${summary.count} message(s) from ${summary.queues.length} queue(s) of ${summary.topic}; no offsets were stored.`);
    }
    return summary;
  }
}

function formatMessage(m: ConsumedMessage): string {
  const head = `MSGID: ${m.msgId} queue=${m.brokerName}/${m.queueId} offset=${m.queueOffset} tags=${m.tags ?? ''} keys=${m.keys.join(' ')} stored=${new Date(m.storeTimestamp).toISOString()}`;
  return `${head}\nBODY${m.bodyEncoding === 'base64' ? ' (base64)' : ''}: ${m.body}\n`;
}
