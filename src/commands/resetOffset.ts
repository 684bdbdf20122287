import { Flags } from '@oclif/core';
import { ExitCode, UsageError } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { withSpinner } from '../output/spinner.js';
import { withAdminSession } from '../admin/session.js';
import { targetFlags, watchMsFlag, targetOf } from '../output/flags.js';
import { defaultUndoFile, executeReset, parseTimestamp, planReset, readPlanFile, refreshPlanAddresses, writePlanFile, type ApplyResult, type ResetMode, type ResetPlan } from '../admin/reset.js';
import { renderApply, renderPlan } from '../output/progress-render.js';

export interface ResetOffsetResult {
  executed: boolean;
  plan: ResetPlan;
  /** The plan file read (--plan) or written (--out). */
  planFile: string | null;
  apply: ApplyResult | null;
  /** The undo plan written by --execute: apply it with --plan FILE --execute. */
  undoFile: string | null;
  /** Undo-plan caveats: queues it cannot restore (no committed offset before), or a failed rewrite. */
  undoSkipped: string[];
}

/** Shared by resetOffset and skipAccumulatedMessage: plan (or read one), print, maybe apply. */
export abstract class ResetCommandBase extends BaseCommand<ResetOffsetResult> {
  protected async runReset(o: RunResetOptions): Promise<ResetOffsetResult> {
    return withAdminSession(o.target, async (session) => {
      const plan = await withSpinner('Planning the reset', this.jsonEnabled(), () =>
        o.fromFile ? refreshPlanAddresses(session, o.fromFile) : planReset(session, { group: o.group, topic: o.topic, mode: o.mode!, queueId: o.queueId, force: o.force }),
      );
      if (o.out) writePlanFile(o.out, plan);
      this.render(renderPlan(plan));
      if (!o.execute) {
        this.render(`\nNothing changed. To apply: ${o.planFile ? `resetOffset --plan ${o.planFile} --execute` : 'add --execute'}`);
        return { executed: false, plan, planFile: o.planFile, apply: null, undoFile: null, undoSkipped: [] };
      }
      const undoFile = o.undoFile ?? defaultUndoFile(plan.group, plan.topic);
      const r = await withSpinner(`Resetting ${plan.queues.length} queue(s)`, this.jsonEnabled(), () => executeReset(session, plan, undoFile, { cplus: o.cplus, watchMs: o.watchMs }));
      this.render('\n' + renderApply(r.apply));
      const reverted = r.apply.queues.filter((q) => q.status === 'reverted').length;
      if (reverted > 0) {
        this.setStatus(ExitCode.PARTIAL, `${reverted} queue(s) reverted: the group's consumers wrote their old offsets back after the reset (their client does not follow resets). Stop the group's consumers, then run the reset again (it is then written directly)`);
      }
      this.render(r.undoFile ? `Undo plan: ${r.undoFile} (apply with: resetOffset --plan ${r.undoFile} --execute)` : 'No undo plan: no committed offset was changed that could be restored.');
      for (const s of r.undoSkipped) this.warnUser(`undo plan: ${s}`);
      if (r.apply.problems > reverted) this.setStatus(ExitCode.PARTIAL, `${r.apply.problems - reverted} queue(s) not reset as planned: see the status column`);
      return { executed: true, plan, planFile: o.planFile, apply: r.apply, undoFile: r.undoFile, undoSkipped: r.undoSkipped };
    });
  }
}

export default class ResetOffset extends ResetCommandBase {
  // Declared here too: the manifest reads it from the command class itself.
  static override enableJsonFlag = true;

  static override summary = "Plan, then move, a consumer group's offsets on a topic (by time, to an offset, earliest or latest).";

  static override description = [
    'By default prints the plan and changes nothing: per queue the current offset, the target, how many messages would be replayed or skipped, and the store time of the message at the target. --execute applies it.',
    'Targets are exact: -s now / --latest is the max offset; -s TIME is the first message stored at or after TIME (mqadmin uses the broker\'s closest match, which can be earlier or later); --earliest is the oldest stored message; --to-offset N is N (clamped to the stored range, and said so).',
    'Applying is compare-and-set per queue: a queue whose committed offset moved since the plan was made is reported as "moved" and left alone (exit 3). An online group is reset through the broker (INVOKE_BROKER_TO_RESET_OFFSET), which tells its consumers; an offline group\'s offsets are written directly (UPDATE_CONSUMER_OFFSET). RocketMQ 4.x brokers can reset an online group by time only: an offset plan for one is refused there (stop the consumers, then rerun).',
    'After resetting an online group the offsets are read back until its consumers had time to follow (at least 6 s, at most --watch-ms; done early once every queue followed). A consumer whose client ignores resets (ali-ons) writes its old offset back: such a queue is reported "reverted" (exit 3); stop the consumers and run again.',
    'Every --execute writes an undo plan (default ~/.rocketctl/undo/resetOffset-GROUP-TOPIC-TIME.json, or --undo-file) before changing anything; "resetOffset --plan FILE --execute" applies it. --out FILE saves a plan to apply later the same way.',
    'Exit codes: 0 ok; 1 error (unreachable broker or name server, unknown topic or group); 2 bad flags; 3 some queues not reset as planned (moved, failed, reverted by a consumer, or reset inexactly by a 4.x broker); 10 bug.',
  ].join('\n\n');

  static override examples = [
    { description: 'See what resetting to a time would do (changes nothing).', command: "<%= config.bin %> resetOffset -g orders-consumer -t orders -s '2024-05-01#12:00:00:000'" },
    { description: 'Do it, keeping an undo plan in a known place.', command: "<%= config.bin %> resetOffset -g orders-consumer -t orders -s '2024-05-01#12:00:00:000' --execute --undo-file undo.json" },
    { description: 'Undo it.', command: '<%= config.bin %> resetOffset --plan undo.json --execute' },
    { description: 'Replay one queue from offset 0.', command: '<%= config.bin %> resetOffset -g orders-consumer -t orders -q 3 --to-offset 0 --execute' },
    { description: 'Skip everything not consumed yet.', command: '<%= config.bin %> resetOffset -g orders-consumer -t orders --latest --execute' },
  ];

  static override flags = {
    group: Flags.string({ char: 'g', summary: 'Consumer group.' }),
    topic: Flags.string({ char: 't', summary: 'Topic.' }),
    timestamp: Flags.string({ char: 's', summary: 'Reset to a time: now, epoch milliseconds, or yyyy-MM-dd#HH:mm:ss:SSS (local time).' }),
    'to-offset': Flags.integer({ summary: 'Reset to this offset (per queue; clamped to the stored range).', min: 0 }),
    earliest: Flags.boolean({ summary: 'Reset to the oldest stored message of each queue.' }),
    latest: Flags.boolean({ summary: 'Reset to the end of each queue (skip the backlog).' }),
    queue: Flags.integer({ char: 'q', summary: 'Only this queue id.', min: 0 }),
    force: Flags.string({ char: 'f', summary: 'mqadmin -f: false = only move offsets backwards.', options: ['true', 'false'], default: 'true' }),
    cplus: Flags.boolean({ char: 'c', summary: 'The consumers are C++ clients (mqadmin -c: they get the list-shaped reset body).' }),
    execute: Flags.boolean({ summary: 'Apply the plan (default: print it only).' }),
    plan: Flags.string({ summary: 'Use the plan in this file (an undo plan, or one saved with --out) instead of making one.' }),
    out: Flags.string({ summary: 'Write the plan to this file.' }),
    'undo-file': Flags.string({ summary: 'Where --execute writes the undo plan (default ~/.rocketctl/undo/...).' }),
    'watch-ms': watchMsFlag,
    ...targetFlags,
  };

  async run(): Promise<ResetOffsetResult> {
    const { flags } = await this.parse(ResetOffset);
    const modes = [flags.timestamp !== undefined, flags['to-offset'] !== undefined, flags.earliest, flags.latest].filter(Boolean).length;
    let fromFile: ResetPlan | undefined;
    if (flags.plan !== undefined) {
      if (modes > 0 || flags.queue !== undefined) throw new UsageError('--plan FILE takes no -s/--to-offset/--earliest/--latest/-q: the file says what to do');
      fromFile = readPlanFile(flags.plan);
      if (flags.group && flags.group !== fromFile.group) throw new UsageError(`--plan ${flags.plan} is for group ${fromFile.group}, not ${flags.group}`);
      if (flags.topic && flags.topic !== fromFile.topic) throw new UsageError(`--plan ${flags.plan} is for topic ${fromFile.topic}, not ${flags.topic}`);
    } else {
      if (!flags.group || !flags.topic) throw new UsageError('-g GROUP and -t TOPIC are required (or --plan FILE)');
      if (modes !== 1) throw new UsageError('give exactly one of -s TIME, --to-offset N, --earliest, --latest');
    }
    return this.runReset({
      target: targetOf(flags),
      group: flags.group ?? fromFile!.group,
      topic: flags.topic ?? fromFile!.topic,
      mode: fromFile ? undefined : modeOf(flags),
      queueId: flags.queue,
      force: flags.force !== 'false',
      cplus: flags.cplus,
      execute: flags.execute,
      fromFile,
      planFile: flags.plan ?? flags.out ?? null,
      out: flags.out,
      undoFile: flags['undo-file'],
      watchMs: flags['watch-ms'],
    });
  }
}

function modeOf(flags: { timestamp?: string; 'to-offset'?: number; earliest: boolean; latest: boolean }): ResetMode {
  if (flags.earliest) return { kind: 'earliest' };
  if (flags.latest) return { kind: 'latest' };
  if (flags['to-offset'] !== undefined) return { kind: 'offset', offset: flags['to-offset'] };
  const ts = parseTimestamp(flags.timestamp!, '-s');
  return ts === 'now' ? { kind: 'latest' } : { kind: 'timestamp', timestampMs: ts };
}


export interface RunResetOptions {
  target: { namesrvAddr?: string; socket?: string; timeoutMs: number };
  group: string;
  topic: string;
  mode?: ResetMode;
  queueId?: number;
  force: boolean;
  cplus: boolean;
  execute: boolean;
  fromFile?: ResetPlan;
  planFile: string | null;
  out?: string;
  undoFile?: string;
  watchMs?: number;
}

