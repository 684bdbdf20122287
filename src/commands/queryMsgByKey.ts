import { Flags } from '@oclif/core';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { withSpinner } from '../output/spinner.js';
import { storeTimeRange, targetFlags, targetOf } from '../output/flags.js';
import { failureWarnings, type BrokerFailure } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { MessageNotFoundError, queryMsgByKey, writeBodies, type MessageView } from '../admin/messages.js';
import { renderMessageList } from '../output/progress-render.js';

export interface QueryMsgByKeyResult {
  topic: string;
  key: string;
  beginMs: number;
  endMs: number;
  messages: MessageView[];
  /** Index hits for another key or topic (hash collisions), dropped. */
  collisions: number;
  /** Some broker returned the most it returns at once (64): narrow --begin/--end to see the rest. */
  truncated: boolean;
  failures: string[];
  /** Brokers that failed, one entry each (the first failure). */
  failed: BrokerFailure[];
}

export default class QueryMsgByKey extends BaseCommand<QueryMsgByKeyResult> {
  static override summary = 'Find the messages of a topic sent with a key (KEYS), optionally within a store-time range.';

  static override description = [
    'Asks the message index of every broker of the topic (QUERY_MESSAGE) and keeps only messages of this topic whose KEYS contain the key: index hash collisions are dropped and counted. --begin/--end limit the store time (now, epoch milliseconds, or yyyy-MM-dd#HH:mm:ss:SSS); a broker returns at most 64 messages per query, which the output says.',
    'A broker that fails or does not answer is listed (a warning, and `failed` in --json) and what the others hold is still printed; the command then exits 3. Brokers are asked in parallel, so a hung broker costs about one --timeout.',
    'Not found is not success: exit 1 with code E_MESSAGE_NOT_FOUND and the reason. Exit codes: 0 found; 1 not found, unreachable broker/name server, or unknown topic; 2 bad flags; 3 found, but some brokers could not be searched; 10 bug.',
  ].join('\n\n');

  static override examples = [
    { description: 'Messages sent with key order-1234.', command: '<%= config.bin %> queryMsgByKey -t orders -k order-1234' },
    { description: 'Only those stored on one day.', command: "<%= config.bin %> queryMsgByKey -t orders -k order-1234 --begin '2024-05-01#00:00:00:000' --end '2024-05-02#00:00:00:000'" },
  ];

  static override flags = {
    topic: Flags.string({ char: 't', summary: 'Topic.', required: true }),
    msgKey: Flags.string({ char: 'k', summary: 'The key (one of the space-separated KEYS a producer set).', required: true }),
    begin: Flags.string({ summary: 'Stored at or after this time (default: the beginning).' }),
    end: Flags.string({ summary: 'Stored at or before this time (default: no limit).' }),
    'body-file': Flags.string({ char: 'f', summary: 'Write the bodies into this directory (one file per message; a file when only one is found).' }),
    ...targetFlags,
  };

  async run(): Promise<QueryMsgByKeyResult> {
    const { flags } = await this.parse(QueryMsgByKey);
    const { beginMs, endMs, text: range } = storeTimeRange(flags.begin, flags.end);
    const target = targetOf(flags);
    const r = await withSpinner('Querying the brokers', this.jsonEnabled(), () => withAdminSession(target, (s) => queryMsgByKey(s, flags.topic, flags.msgKey, beginMs, endMs)));
    const result: QueryMsgByKeyResult = { ...r, messages: r.found.map((f) => f.view) };
    delete (result as Partial<typeof r>).found;
    if (r.found.length === 0) {
      const extra = [r.collisions > 0 ? `${r.collisions} index hit(s) were other keys (hash collisions)` : '', r.failures.length > 0 ? `not searched: ${r.failures.join('; ')}` : ''].filter(Boolean).join('; ');
      throw new MessageNotFoundError(`no message of topic ${flags.topic} has key ${JSON.stringify(flags.msgKey)}${range}${extra ? ` (${extra})` : ''}`, { ...result }, [
        'keys are indexed only when the producer sets them (KEYS); a msgId is looked up with: rocketctl queryMsgByUniqueKey -i ID -t TOPIC',
        'widen --begin/--end; messages older than the broker\'s retention (fileReservedTime, 72 h by default) are gone',
      ]);
    }
    if (flags['body-file']) await writeBodies(r.found, flags['body-file']);
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (r.truncated) this.warnUser('a broker returned the most it returns per query (64): narrow --begin/--end to see the rest');
    this.render(renderMessageList(result.messages));
    if (r.collisions > 0) this.render(`\n${r.collisions} index hit(s) for other keys (hash collisions) dropped`);
    return result;
  }
}
