import { Flags } from '@oclif/core';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { withSpinner } from '../output/spinner.js';
import { storeTimeRange, targetFlags, targetOf } from '../output/flags.js';
import { failureWarnings, withAdminSession } from '../client/admin.js';
import { checkMessageIds, MessageNotFoundError } from '../client/admin-messages.js';
import { DEFAULT_TRACE_TOPIC, queryMsgTrace, type TraceLookup, type TraceRow } from '../client/admin-trace.js';
import { formatTime } from '../output/progress-render.js';

export type QueryMsgTraceResult = TraceLookup;

/** mqadmin's "%-10s %-20s %-20s %-20s %-10s %-10s" (Java printf: pads, never truncates). */
function line(cells: string[]): string {
  const widths = [10, 20, 20, 20, 10, 10];
  return cells.map((c, i) => c.padEnd(widths[i]!)).join(' ').trimEnd();
}

export function renderTraceRows(rows: TraceRow[]): string {
  const out = [line(['#Type', '#Group', '#ClientHost', '#Time', '#CostTimes', '#Status'])];
  for (const r of rows) {
    out.push(line([r.type, r.group ?? 'N/A', r.clientHost, r.timeStamp === null ? 'N/A' : formatTime(r.timeStamp), r.costTimeMs === null ? '' : `${r.costTimeMs}ms`, r.status]));
  }
  return out.join('\n');
}

export default class QueryMsgTrace extends BaseCommand<QueryMsgTraceResult> {
  static override summary = 'Show the trace of a message (sent, consumed, transaction ended) recorded by clients running with enableMsgTrace.';

  static override description = [
    'Looks the message id (UNIQ_KEY, what producers call msgId) up as a key in the trace topic\'s index on every broker of the trace topic (QUERY_MESSAGE, as mqadmin queryMsgTraceById), decodes every trace record of those trace messages and keeps the records of this id: one row per send (Pub), per consume attempt (SubBefore + SubAfter) and per transaction end (EndTransaction), sorted by time, with mqadmin\'s columns (#Type, #Group, #ClientHost = IP of the born host of the trace message, #Time, #CostTimes, #Status). --json adds every decoded field.',
    'Traces exist only when the Java clients run with enableMsgTrace (their trace topic: -t, default RMQ_SYS_TRACE_TOPIC) and the trace topic exists (broker traceTopicEnable=true, or auto-created).',
    'Exit codes: 0 found; 1 no trace found, trace topic unknown, or unreachable broker/name server; 2 bad flags; 3 found, but some brokers of the trace topic could not be searched; 10 bug.',
  ].join('\n\n');

  static override examples = [
    { description: 'The trace of a message.', command: '<%= config.bin %> queryMsgTrace -i 7F0000010B2A18B4AAC2515A8C1A0000' },
    { description: 'Clients that trace to their own topic (customizedTraceTopic).', command: '<%= config.bin %> queryMsgTrace -i 7F0000010B2A18B4AAC2515A8C1A0000 -t MyTraceTopic --json' },
  ];

  static override flags = {
    msgId: Flags.string({ char: 'i', summary: 'Message id (UNIQ_KEY) whose trace to show.', required: true }),
    traceTopic: Flags.string({ char: 't', summary: 'Trace topic the clients trace to (their customizedTraceTopic).', default: DEFAULT_TRACE_TOPIC }),
    begin: Flags.string({ summary: 'Trace messages stored at or after this time (now, epoch milliseconds, or yyyy-MM-dd#HH:mm:ss:SSS; default: the beginning).' }),
    end: Flags.string({ summary: 'Trace messages stored at or before this time (default: no limit).' }),
    ...targetFlags,
  };

  async run(): Promise<QueryMsgTraceResult> {
    const { flags } = await this.parse(QueryMsgTrace);
    const { beginMs, endMs, text: range } = storeTimeRange(flags.begin, flags.end);
    const target = targetOf(flags);
    checkMessageIds([flags.msgId]);
    const r = await withSpinner('Querying the trace topic', this.jsonEnabled(), () => withAdminSession(target, (s) => queryMsgTrace(s, flags.msgId, flags.traceTopic, beginMs, endMs)));
    if (r.rows.length === 0) {
      const notSearched = r.failures.length > 0 ? ` (not searched: ${r.failures.join('; ')})` : '';
      throw new MessageNotFoundError(
        `no trace of message ${flags.msgId} in trace topic ${flags.traceTopic}${range}: tracing may be off on its clients (enableMsgTrace), they may trace to another topic (-t), or the time range may miss it${notSearched}`,
        { ...r },
        [
          'traces are written only by clients running with enableMsgTrace; a customizedTraceTopic is given with -t',
          'widen --begin/--end; traces older than the broker\'s retention (fileReservedTime, 72 h by default) are gone',
        ],
      );
    }
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (r.truncated) this.warnUser('a broker returned the most it returns per query (64 trace messages): narrow --begin/--end to see the rest');
    if (r.undecodable > 0) this.warnUser(`${r.undecodable} part(s) of the trace messages were no trace record and were skipped`);
    this.render(renderTraceRows(r.rows));
    return r;
  }
}
