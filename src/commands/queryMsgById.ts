import { Flags } from '@oclif/core';
import { ExitCode, UsageError } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { targetFlags, targetOf } from '../output/flags.js';
import { failureWarnings, type BrokerFailure } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { checkMessageIds, MessageNotFoundError, queryMsgsById, writeBodies, type IdKind, type IdLookup, type MessageView } from '../admin/messages.js';
import { renderMessage, renderTracks } from '../output/progress-render.js';

export interface MsgLookupResult {
  id: string;
  idKind: IdKind;
  reason: string;
  searchedTopics: number;
  failures: string[];
  /** Brokers that failed (searching, or tracking the consumers of what was found): one entry each. */
  failed: BrokerFailure[];
  messages: MessageView[];
}

export interface QueryMsgByIdResult {
  lookups: MsgLookupResult[];
}

export function lookupResult(l: IdLookup): MsgLookupResult {
  return { id: l.id, idKind: l.idKind, reason: l.reason, searchedTopics: l.searchedTopics, failures: l.failures, failed: l.failed, messages: l.found.map((f) => f.view) };
}

/** One warning per failed broker over all lookups (the first failure of each address). */
export function failedBrokerWarnings(lookups: IdLookup[]): string[] {
  const seen = new Set<string>();
  const all = lookups.flatMap((l) => l.failed).filter((f) => !seen.has(f.addr) && seen.add(f.addr));
  return failureWarnings(all);
}

export default class QueryMsgById extends BaseCommand<QueryMsgByIdResult> {
  static override summary = 'Find messages by id (offsetMsgId or UNIQ_KEY), with the consumer groups that consumed them.';

  static override description = [
    'An id of 32 hex characters can be an offsetMsgId (broker address + commit log offset) or a UNIQ_KEY (the msgId producers return): they look alike. The id is read as an offsetMsgId when the address it decodes to is a broker of this cluster and that broker holds a message with exactly this offsetMsgId (VIEW_MESSAGE_BY_ID); otherwise it is looked up as a UNIQ_KEY in the message index (QUERY_MESSAGE with _UNIQUE_KEY_QUERY=true) of the topic given with -t, or — without -t — of every topic the name server knows, which is slower on big clusters. The answer says which kind the id was taken for.',
    'Prints mqadmin\'s fields (OffsetID, Topic, Tags, Keys, Queue ID, Queue Offset, CommitLog Offset, Reconsume Times, Born/Store Timestamp, Born/Store Host, System Flag, Properties, Message Body Path), then for each consumer group of the topic whether it has consumed the message (its committed offset on the message\'s queue is past it): CONSUMED or NOT_CONSUME_YET, for offline groups too (mqadmin says NOT_ONLINE for any offline group). The body is written only on request (--body-file); mqadmin always writes /tmp/rocketmq/msgbodys/.',
    'A broker that fails or does not answer is listed (a warning, and `failed` in --json) and the rest is still printed: what other brokers hold, and for consumer groups only that broker knows, tracking marked unknown; the command then exits 3. Brokers are asked in parallel, so a hung broker costs about one --timeout.',
    'Not found is not success: exit 1 with code E_MESSAGE_NOT_FOUND and the reason (which kind of id, which topics were searched). Exit codes: 0 found; 1 not found, or unreachable broker/name server, or unknown topic; 2 bad flags, or an id that cannot be a message id (not 32, 34 or 56 hex characters); 3 some ids found and some not, or some brokers failed; 10 bug.',
  ].join('\n\n');

  static override examples = [
    { description: 'Look up a message by the msgId a producer returned (a UNIQ_KEY), in its topic.', command: '<%= config.bin %> queryMsgById -i 7F000001A5F418B4AAC2649CD1E80000 -t orders' },
    { description: 'Look up by offsetMsgId and save the body.', command: '<%= config.bin %> queryMsgById -i 7F00000100002A9F0000000000000000 -f body.bin' },
    { description: 'Several ids at once, as JSON.', command: '<%= config.bin %> queryMsgById -i ID1,ID2 -t orders --json' },
  ];

  static override flags = {
    msgId: Flags.string({ char: 'i', summary: 'Message id(s): offsetMsgId or UNIQ_KEY, comma-separated.', required: true }),
    topic: Flags.string({ char: 't', summary: 'Topic to search when the id is a UNIQ_KEY (default: every topic).' }),
    'body-file': Flags.string({ char: 'f', summary: 'Write the body to this file (a directory when several messages are found).' }),
    track: Flags.boolean({ summary: 'Show whether each consumer group has consumed the message.', default: true, allowNo: true }),
    ...targetFlags,
  };

  async run(): Promise<QueryMsgByIdResult> {
    const { flags } = await this.parse(QueryMsgById);
    const ids = flags.msgId.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    if (ids.length === 0) throw new UsageError('-i needs at least one message id');
    checkMessageIds(ids);
    const target = targetOf(flags);
    const lookups = await withAdminSession(target, (s) => queryMsgsById(s, ids, { topic: flags.topic, track: flags.track }));
    const found = lookups.flatMap((l) => l.found);
    if (found.length === 0) {
      const why = lookups.map((l) => `${l.id}: ${l.reason}${l.failures.length > 0 ? ` (${l.failures.length} broker(s)/topic(s) could not be searched)` : ''}`).join('; ');
      throw new MessageNotFoundError(`no message found for ${why}`, { lookups: lookups.map(lookupResult) }, [
        'an id returned by a producer is a UNIQ_KEY: give its topic with -t to search only there',
        'messages older than the broker\'s retention (fileReservedTime, 72 h by default) are gone',
      ]);
    }
    if (flags['body-file']) await writeBodies(found, flags['body-file']);
    for (const l of lookups) if (l.found.length === 0) this.setStatus(ExitCode.PARTIAL, `${l.id}: not found: ${l.reason}`);
    for (const w of failedBrokerWarnings(lookups)) this.setStatus(ExitCode.PARTIAL, w);
    this.render(lookups.flatMap((l) => l.found.map((f) => `${renderMessage(f.view)}\n\n${renderTracks(f.view.tracks, f.view.tracksFailed)}`)).join('\n\n'));
    return { lookups: lookups.map(lookupResult) };
  }
}
