import { Flags } from '@oclif/core';
import { ExitCode, UsageError } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { withSpinner } from '../output/spinner.js';
import { storeTimeRange, targetFlags, targetOf } from '../output/flags.js';
import { failureWarnings } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { checkMessageIds, MessageNotFoundError } from '../admin/messages.js';
import { queryMsgTrace, type TraceLookup } from '../admin/trace.js';
import { RMQ_SYS_TRACE_TOPIC } from '../protocol/names.js';
import { renderTrace } from '../output/trace-render.js';

export type QueryMsgTraceResult = TraceLookup;

export default class QueryMsgTrace extends BaseCommand<QueryMsgTraceResult> {
  static override summary = 'Show the trace of a message, by id or by key: sent, stored, delivered, consumed, retried, committed, as clients (enableMsgTrace) and brokers (brokerTraceEnable) recorded it.';

  static override description = [
    'Looks the message id (-i: UNIQ_KEY, what producers call msgId; the offset msgId for clients that send none, as ali-ons) or a message key (-k) up as a key in the trace topic\'s index on every broker of the trace topic (QUERY_MESSAGE, as mqadmin queryMsgTraceById; trace messages are keyed by the ids and keys of the messages they trace), decodes every trace record of those trace messages and keeps the records of that message (by key: of every message one of whose records lists the key).',
    'Prints, per message, mqadmin\'s table: one row per send or store (Pub), per consume attempt or delivery (SubBefore + SubAfter) and per transaction end (EndTransaction), sorted by time, with the columns #Type, #Group, #ClientHost, #Time, #CostTimes, #Status. Then a timeline merging client and broker records: sent → stored → delivered → consumed / consume failed → retried / DLQ → committed, each step with its time in ms, the gap since the step before, who recorded it (#By: client or broker) and the client address. --json keeps every decoded record (rows[].records) plus the timelines.',
    'Where traces come from: clients running with enableMsgTrace (trace topic: -t, default RMQ_SYS_TRACE_TOPIC), and brokers started with brokerTraceEnable=true (broker start --broker-trace), which record every message they store, deliver and see committed, whatever the client; their records have groups prefixed %BROKER% and show the address of the client served (docs/broker-trace.md).',
    'Exit codes: 0 found; 1 no trace found, trace topic unknown, or unreachable broker/name server; 2 bad flags; 3 found, but some brokers of the trace topic could not be searched; 10 bug.',
  ].join('\n\n');

  static override examples = [
    { description: 'The trace of a message.', command: '<%= config.bin %> queryMsgTrace -i 7F0000010B2A18B4AAC2515A8C1A0000' },
    { description: 'The traces of the messages with key order-42 (mqadmin has no such lookup).', command: '<%= config.bin %> queryMsgTrace -k order-42' },
    { description: 'Clients that trace to their own topic (customizedTraceTopic).', command: '<%= config.bin %> queryMsgTrace -i 7F0000010B2A18B4AAC2515A8C1A0000 -t MyTraceTopic --json' },
  ];

  static override flags = {
    msgId: Flags.string({ char: 'i', summary: 'Message id (UNIQ_KEY, or the offset msgId of a message sent without one) whose trace to show.', exactlyOne: ['msgId', 'msgKey'] }),
    msgKey: Flags.string({ char: 'k', summary: 'Message key: show the traces of every message with this key.', exactlyOne: ['msgId', 'msgKey'] }),
    traceTopic: Flags.string({ char: 't', summary: 'Trace topic the clients trace to (their customizedTraceTopic).', default: RMQ_SYS_TRACE_TOPIC }),
    begin: Flags.string({ summary: 'Trace messages stored at or after this time (now, epoch milliseconds, or yyyy-MM-dd#HH:mm:ss:SSS; default: the beginning).' }),
    end: Flags.string({ summary: 'Trace messages stored at or before this time (default: no limit).' }),
    ...targetFlags,
  };

  async run(): Promise<QueryMsgTraceResult> {
    const { flags } = await this.parse(QueryMsgTrace);
    const { beginMs, endMs, text: range } = storeTimeRange(flags.begin, flags.end);
    const target = targetOf(flags);
    if (flags.msgId !== undefined) checkMessageIds([flags.msgId]);
    if (flags.msgKey !== undefined && flags.msgKey.trim() === '') throw new UsageError('-k needs a key: it is empty');
    const query = flags.msgId !== undefined ? { msgId: flags.msgId } : { key: flags.msgKey! };
    const r = await withSpinner('Querying the trace topic', this.jsonEnabled(), () => withAdminSession(target, (s) => queryMsgTrace(s, query, flags.traceTopic, beginMs, endMs)));
    if (r.rows.length === 0) {
      const notSearched = r.failures.length > 0 ? ` (not searched: ${r.failures.join('; ')})` : '';
      const what = query.msgId !== undefined ? `message ${query.msgId}` : `a message with key ${query.key}`;
      throw new MessageNotFoundError(
        `no trace of ${what} in trace topic ${flags.traceTopic}${range}: tracing may be off on its clients (enableMsgTrace) and its broker (brokerTraceEnable), they may trace to another topic (-t), or the time range may miss it${notSearched}`,
        { ...r },
        [
          'traces are written only by clients running with enableMsgTrace (a customizedTraceTopic is given with -t) or by brokers with brokerTraceEnable=true',
          'widen --begin/--end; traces older than the broker\'s retention (fileReservedTime, 72 h by default) are gone',
        ],
      );
    }
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (r.truncated) this.warnUser('a broker returned the most it returns per query (64 trace messages): narrow --begin/--end to see the rest');
    if (r.undecodable > 0) this.warnUser(`${r.undecodable} part(s) of the trace messages were no trace record and were skipped`);
    this.render(renderTrace(r));
    return r;
  }
}
