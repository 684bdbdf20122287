import { Args, Flags } from '@oclif/core';
import { ExitCode, UsageError } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { withSpinner } from '../output/spinner.js';
import { withAdminSession } from '../admin/session.js';
import { targetFlags, targetOf, watchFlag } from '../output/flags.js';
import { allGroupsSampler, groupTopicsSampler } from '../admin/watch-samplers.js';
import { watchAdmin } from '../output/watch-driver.js';
import { allGroupsProgress, consumerProgress, lagCheck, LagCheck, lagViolations, type GroupProgress, type GroupRow } from '../admin/progress.js';
import { DEFAULT_CONCURRENCY, failureWarnings, type BrokerFailure } from '../admin/fanout.js';
import { renderAllGroups, renderGroupProgress, renderViolations } from '../output/progress-render.js';


export type ConsumerProgressResult =
  | { mode: 'group'; progress: GroupProgress; check: LagCheck | null }
  | { mode: 'all'; measuredAt: number; groups: Array<Omit<GroupRow, 'queues'>>; failed: BrokerFailure[]; check: LagCheck | null };

export default class ConsumerProgress extends BaseCommand<ConsumerProgressResult> {
  static override summary = "Show a consumer group's backlog per queue (with -g), or one line per group.";

  static override description = [
    'With -g: per queue the broker offset, the consumer offset ("none" when the group never committed one), the diff, the last consume time and the lag in time — the age of the oldest message not consumed yet, read from its stored timestamp — then totals and a one-line diagnosis (e.g. "3 consumers for 8 queues: adding up to 5 more consumers will help"). When the oldest unconsumed message of a queue will be deleted by the broker\'s retention (fileReservedTime, 72 h by default) within a day, the diagnosis starts with that ("messages will be lost to retention: oldest unconsumed is 70 h old, retention 72 h: deleted in ~2 h"), and --json has it as progress.retentionWarning. An offline group is shown as OFFLINE, not dropped. A consumer offset ahead of the broker offset counts as no backlog and is explained in the queue notes.',
    'Without -g: every group — topics named %RETRY%<group> (as mqadmin) and the subscription groups of every broker (also one created with updateSubGroup that never had a consumer), built-in groups (TOOLS_CONSUMER, CID_RMQ_SYS_*, ...) left out — one row each, asked with bounded parallelism (--concurrency). A group whose requests failed is listed as FAILED, a broker whose groups could not be listed is named, and the command exits 3. --lag adds #Lag, the largest time lag among the group\'s queues (measured only for queues with backlog; it costs one read each, so it is opt-in; --max-lag-ms measures it too); in --json each row has lagMs (null when not measured or unknown) and retentionWarning (a group whose oldest unconsumed message retention deletes within a day; printed below the table).',
    'Reading changes nothing: no offset, no consumption statistic of the group. The time lag is read with a 1-message pull as TOOLS_CONSUMER that commits nothing.',
    '-s is --showClientIP here, as in mqadmin (mqadmin\'s "-s true" is accepted too); elsewhere -s is a timestamp.',
    'Exit codes: 0 ok; 1 error (unreachable broker or name server, unknown group); 2 bad flags; 3 partial (a broker or group failed); 4 --max-lag or --max-lag-ms exceeded (the queues over the limit are printed); 10 bug.',
  ].join('\n\n');

  static override examples = [
    { description: 'Backlog and time lag of one group, per queue, with a diagnosis.', command: '<%= config.bin %> consumerProgress -g orders-consumer' },
    { description: 'Also show which client consumes each queue.', command: '<%= config.bin %> consumerProgress -g orders-consumer -s' },
    { description: 'One line per group of a cluster.', command: '<%= config.bin %> consumerProgress -n 10.0.0.1:9876' },
    { description: 'The same with each group\'s time lag (#Lag).', command: '<%= config.bin %> consumerProgress -n 10.0.0.1:9876 --lag' },
    { description: 'CI check: exit 4 when a queue is over 1000 messages or 5 minutes behind.', command: '<%= config.bin %> consumerProgress -g orders-consumer --max-lag 1000 --max-lag-ms 300000 --json' },
    { description: 'Watch one group drain: per topic the backlog, its change, measured produce and consume rates, a trend line and when it will be drained (every 2 s; Ctrl-C ends it).', command: '<%= config.bin %> consumerProgress -g orders-consumer --watch' },
    { description: 'Every group every 10 s, one JSON line per sample (NDJSON; also what a pipe gets).', command: '<%= config.bin %> consumerProgress --watch 10 --json' },
  ];

  static override args = {
    // ignoreStdin: oclif otherwise reads standard input for a missing argument, which swallows
    // the input of a shell loop (`... | while read g; do rocketctl consumerProgress -g "$g"; done`).
    legacy: Args.string({ hidden: true, description: 'mqadmin\'s value of -s (true/false)', ignoreStdin: true }),
  };

  static override flags = {
    groupName: Flags.string({ char: 'g', summary: 'Consumer group to show per queue (omit for every group).' }),
    showClientIP: Flags.boolean({ char: 's', summary: 'Show the client consuming each queue (asks each client, GET_CONSUMER_RUNNING_INFO).' }),
    topic: Flags.string({ char: 't', summary: 'With -g: only this topic\'s queues.' }),
    lag: Flags.boolean({ summary: 'Without -g: add a #Lag column, each group\'s largest time lag (one read per queue with backlog; always on with --max-lag-ms).' }),
    'max-lag': Flags.integer({ summary: 'Exit 4 when any queue has more than this many messages not consumed.', min: 0 }),
    'max-lag-ms': Flags.integer({ summary: 'Exit 4 when the oldest unconsumed message of any queue is older than this (milliseconds).', min: 0 }),
    concurrency: Flags.integer({ summary: 'Requests in flight at once when asking many groups or queues.', default: DEFAULT_CONCURRENCY, min: 1, max: 256 }),
    watch: watchFlag(),
    ...targetFlags,
  };

  /** undefined: --watch streamed its samples until Ctrl-C or SIGTERM (no envelope). */
  async run(): Promise<ConsumerProgressResult | undefined> {
    const { flags, args } = await this.parse(ConsumerProgress);
    if (args.legacy !== undefined && !flags.showClientIP) throw new UsageError(`unexpected argument ${args.legacy}`, ['mqadmin\'s "-s true" form is accepted after -s only']);
    if (args.legacy !== undefined && args.legacy !== 'true' && args.legacy !== 'false') throw new UsageError(`-s takes no value here (it is --showClientIP); got ${args.legacy}`, ['mqadmin\'s "-s true" and "-s false" are accepted']);
    const showClient = flags.showClientIP && args.legacy !== 'false';
    if (flags.groupName && flags.lag) throw new UsageError('--lag is for the table of every group: -g always shows the lag per queue');
    if (!flags.groupName && (flags.topic || showClient)) throw new UsageError('-t and -s need a group: add -g GROUP');
    const maxLag = flags['max-lag'];
    const maxLagMs = flags['max-lag-ms'];
    const target = targetOf(flags);

    if (flags.watch !== undefined) {
      if (maxLag !== undefined || maxLagMs !== undefined) throw new UsageError('--max-lag and --max-lag-ms check one measurement: leave them out of --watch');
      if (showClient) throw new UsageError('--watch shows one row per topic: leave out -s');
      const common = { command: 'consumerProgress', intervalS: flags.watch, json: this.jsonEnabled(), signal: this.stopSignal() };
      const group = flags.groupName;
      if (group) {
        const title = `consumerProgress -g ${group}${flags.topic ? ` -t ${flags.topic}` : ''}`;
        await watchAdmin(target, { ...common, mode: 'group', title, sampler: (s) => groupTopicsSampler(s, { group, topic: flags.topic, concurrency: flags.concurrency }) });
      } else {
        await watchAdmin(target, { ...common, mode: 'all', title: 'consumerProgress', sampler: (s) => allGroupsSampler(s, { concurrency: flags.concurrency, withLag: flags.lag }) });
      }
      return undefined;
    }

    if (flags.groupName) {
      const group = flags.groupName;
      const progress = await withAdminSession(target, (s) => consumerProgress(s, { group, topic: flags.topic, showClient, concurrency: flags.concurrency }));
      for (const w of failureWarnings(progress.failed)) this.setStatus(ExitCode.PARTIAL, w);
      const unread = progress.failed.map((f) => `broker ${f.brokerName ?? f.addr}`);
      const check = this.reportCheck(lagCheck(lagViolations(group, progress.queues, maxLag, maxLagMs), maxLag, maxLagMs, unread));
      if (!this.jsonEnabled()) {
        this.render(renderGroupProgress(progress, showClient));
        if (check) this.render('\n' + renderViolations(check.violations, maxLag, maxLagMs, unread));
      }
      return { mode: 'group', progress, check };
    }

    // Lag costs a read per queue with backlog (+30 % or more over 1,000 groups): opt-in.
    const withLag = flags.lag || maxLagMs !== undefined;
    const all = await withSpinner('Reading every group', this.jsonEnabled(), () => withAdminSession(target, (s) => allGroupsProgress(s, { concurrency: flags.concurrency, withLag })));
    for (const f of all.failed) this.setStatus(ExitCode.PARTIAL, `broker ${f.brokerName ?? f.addr} (${f.addr}) failed: its subscription groups could not be listed (${f.message}); groups only it knows may be missing`);
    const failed = all.groups.filter((g) => g.status === 'failed');
    if (failed.length > 0) this.setStatus(ExitCode.PARTIAL, `${failed.length} group(s) could not be read: ${failed.map((g) => g.group).join(', ')}`);
    const unread = [...all.failed.map((f) => `broker ${f.brokerName ?? f.addr}`), ...failed.map((g) => `group ${g.group}`)];
    const check = this.reportCheck(lagCheck(all.groups.flatMap((g) => lagViolations(g.group, g.queues, maxLag, maxLagMs)), maxLag, maxLagMs, unread));
    if (!this.jsonEnabled()) {
      this.render(renderAllGroups(all, withLag));
      if (check) this.render('\n' + renderViolations(check.violations, maxLag, maxLagMs, unread));
    }
    return { mode: 'all', measuredAt: all.measuredAt, groups: all.groups.map(({ queues: _q, ...row }) => row), failed: all.failed, check };
  }

  /** Exit 4 (with a warning listing the first queues) when the check found queues over a limit. */
  private reportCheck(check: LagCheck | null): LagCheck | null {
    if (check && check.violations.length > 0) {
      const v = check.violations;
      const list = v.slice(0, 10).map((x) => `${x.group} ${x.topic}/${x.brokerName}/${x.queueId}`).join(', ');
      this.setStatus(ExitCode.CHECK_FAILED, `${v.length} queue(s) over the lag limit: ${list}${v.length > 10 ? ', ...' : ''}`);
    }
    return check;
  }
}
