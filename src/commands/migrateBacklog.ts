import { Flags } from '@oclif/core';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { withAdminSession } from '../admin/session.js';
import { checkMigrateNames, executeMigration, planMigration, withMigrationLease, withTargetSession, type MigrateExecution, type MigrateOptions, type MigratePlan } from '../admin/migrate.js';
import type { AdminSession } from '../admin/session.js';
import type { MigrationLease } from '../admin/migrate-lease.js';
import type { ToolTarget } from '../admin/tools.js';
import { targetFlags, targetOf } from '../output/flags.js';
import { renderMigratePlan, renderMigration, throttledProgress } from '../output/progress-render.js';
import { withSpinner } from '../output/spinner.js';

export interface MigrateBacklogResult {
  executed: boolean;
  plan: MigratePlan;
  execution: MigrateExecution | null;
}

export default class MigrateBacklog extends BaseCommand<MigrateBacklogResult> {
  // Declared here too: the manifest reads it from the command class itself.
  static override enableJsonFlag = true;

  static override summary = "Move a consumer group's backlog on a topic to a topic with more queues (plan, then --execute).";

  static override description = [
    'For a backlog more consumers cannot drain: the group already has as many consumers as the topic has queues (consumerProgress -g says so). The backlog of each queue is what lies between the group\'s committed offset and the max offset when planned; a queue without a committed offset is skipped, and said so.',
    'By default prints the plan and changes nothing; the plan also says where copies go and what is not carried. --execute: (1) creates the target topic if it does not exist, on the source\'s brokers, with -r queues per broker (default twice the source\'s); an existing target is used as it is; (2) copies the planned messages, queue by queue in offset order, with pipelined pulls and batched sends (SEND_BATCH_MESSAGE, one batch in flight per target queue), keeping body, flag, tags, keys, user properties and UNIQ_KEY (message id), and adding MIGRATED_FROM_TOPIC, MIGRATED_FROM_BROKER, MIGRATED_FROM_QUEUE_ID, MIGRATED_FROM_QUEUE_OFFSET, MIGRATED_FROM_MSG_ID (the original\'s offsetMsgId), MIGRATED_FROM_BORN_TIMESTAMP (a batch has one born time), MIGRATED_FOR_GROUP and MIGRATED_WINDOW; (3) after every window of 20,000 messages the target acknowledged, moves the group\'s offsets to the end of what was copied, compare-and-set as resetOffset does (an online group through the broker, an offline one directly): the offsets are the checkpoint and end where the copy ended.',
    'Order: a message with a sharding key (__SHARDINGKEY or SHARDING_KEY, else its KEYS) goes to target queue |hash(key)| mod the target\'s queues, after the earlier messages of that key from its source queue; messages without one are spread round robin.',
    'Exactly once across failures, kill -9 included: a rerun (the same command) finds on the target what a dead or failed run copied after its last checkpoint (the copies at the end of the target queues with the newest MIGRATED_WINDOW), skips those ("found") and copies the rest; nothing is stored locally. A failed send stops the run (exit 3) without checkpointing its window; a body rocketctl cannot copy (LZ4/ZSTD) stops copying at that message, after checkpointing what came before. A queue whose offset moved while copying (stop the group\'s consumers first) is reported "moved" and not overwritten; an online group\'s offsets are read back after the move, and a queue whose consumer wrote its old offset back (ali-ons does) is "reverted". Messages sent to the source meanwhile stay there for the group. Retry (%RETRY%) and dead-letter (%DLQ%) messages are not migrated, and no DELAY, REAL_TOPIC or TRAN_MSG is carried (a message in the source topic is already due).',
    'The report ends with a verification line: planned messages now on the target (copied now + found), per target queue counts, and CRC32 sums of the bodies read from the source and of what is on the target for them; --json has the same numbers (execution.verification). On a terminal a progress line shows done/total, rate and ETA. Speed (npm run bench, part migrate: broker and CLI as separate processes, 200,000 messages of 1 KiB, 4 queues to 16, on a shared 2-core machine at load average 7.8 to 8.2, 2026-12-05): 21,500 to 22,000 msgs/s over the execution (20,500 to 20,800 including CLI start-up and planning), each process using about 23 µs of CPU per message; at load average 10 to 12 the same measured 5,900 to 12,600 msgs/s.',
    'One run per group at a time: --execute first takes a lease for the group on every broker of the source (a queue lock under the group, LOCK_BATCH_MQ, as orderly consumers take: Apache 4.x and 5.x brokers hold it too), then plans and copies. A second --execute of the group while one runs refuses with one line (exit 1, E_MIGRATION_RUNNING) and copies nothing. The lease is renewed every 20 s and released at the end; a run that dies frees it 60 s later; a broker restart drops it (the run stops copying if another run took it meanwhile).',
    'Exit codes: 0 ok; 1 error (unreachable broker or name server, unknown topic, unknown group or one without committed offsets on the topic, another run of the group holds the lease); 2 bad flags (also -t equal to --to without --to-namesrv); 3 some queues not migrated as planned (copy failed, offset moved meanwhile, or reverted by a consumer) or the verification found a difference; 10 bug.',
  ].join('\n\n');

  static override examples = [
    { description: 'See the backlog that would move (changes nothing).', command: '<%= config.bin %> migrateBacklog -g orders-consumer -t orders --to orders-wide' },
    { description: 'Move it to a new topic with 16 queues per broker.', command: '<%= config.bin %> migrateBacklog -g orders-consumer -t orders --to orders-wide -r 16 --execute' },
    { description: 'Move it to the same-named topic on another cluster (by its name server).', command: '<%= config.bin %> migrateBacklog -n 10.0.0.1:9876 -g orders-consumer -t orders --to orders --to-namesrv 10.0.1.5:9876 --execute' },
    { description: 'The same against a cluster, as JSON for a script.', command: '<%= config.bin %> migrateBacklog -n 10.0.0.1:9876 -g orders-consumer -t orders --to orders-wide --execute --json' },
  ];

  static override flags = {
    group: Flags.string({ char: 'g', summary: 'Consumer group whose backlog moves.', required: true }),
    topic: Flags.string({ char: 't', summary: 'Source topic (where the backlog is).', required: true }),
    to: Flags.string({ summary: 'Target topic (created with --execute if it does not exist).', required: true }),
    'to-namesrv': Flags.string({
      summary: 'Name server (host:port[;host:port]) of another cluster the target topic is on (default: the source\'s).',
      description: 'A missing target is created on every master of the one cluster that name server knows. The lease and the group\'s offsets stay on the source cluster.',
    }),
    readQueueNums: Flags.integer({ char: 'r', summary: 'Queues per broker of a target that does not exist yet (default: twice the source\'s).', min: 1, max: 1024 }),
    execute: Flags.boolean({ summary: 'Create the target, copy the backlog and move the offsets (default: print the plan only).' }),
    ...targetFlags,
  };

  async run(): Promise<MigrateBacklogResult> {
    const { flags } = await this.parse(MigrateBacklog);
    const options = { group: flags.group, source: flags.topic, target: flags.to, targetQueueNums: flags.readQueueNums, targetNamesrv: flags['to-namesrv'] };
    checkMigrateNames(options);
    const target = targetOf(flags);
    return withAdminSession(target, (session) =>
      withTargetSession(session, options.targetNamesrv, flags.timeout, (targetSession) => {
        const sessions = { source: session, target: targetSession };
        // --execute plans under the group's lease: a second run at once refuses (E_MIGRATION_RUNNING).
        return flags.execute ? withMigrationLease(session, options, (lease) => this.migrate(sessions, target, options, lease)) : this.migrate(sessions, target, options, undefined);
      }),
    );
  }

  /** Plan and render; with a lease (--execute), then copy and move the offsets. */
  private async migrate(sessions: { source: AdminSession; target: AdminSession }, target: ToolTarget, options: MigrateOptions, lease: MigrationLease | undefined): Promise<MigrateBacklogResult> {
    const session = sessions.source;
    const plan = await planMigration(session, options, sessions.target);
    this.render(renderMigratePlan(plan));
    if (!lease) {
      this.render('\nNothing changed. To migrate: add --execute');
      return { executed: false, plan, execution: null };
    }
    const execution = await withSpinner(`Copying ${plan.totals.messages} message(s) to ${plan.target.topic}`, this.jsonEnabled(), (spinner) =>
      executeMigration(session, target, plan, lease, throttledProgress((text) => spinner.update(text), plan.target.topic), sessions.target),
    );
    this.render('\n' + renderMigration(plan, execution));
    if (execution.totals.problems > 0) this.setStatus(ExitCode.PARTIAL, `${execution.totals.problems} queue(s) not migrated as planned: see the detail column`);
    return { executed: true, plan, execution };
  }
}
