/**
 * migrateBacklog: move a consumer group's backlog from a topic to another one with more queues —
 * the remedy when a group already has as many consumers as the topic has queues (consumerProgress's
 * diagnosis names it). Nothing here is new machinery:
 *
 *  - the plan is resetOffset's "latest" plan (planReset): per queue the committed offset and the
 *    max offset; the backlog is what lies between;
 *  - the target is created as updateTopic creates topics, on the source's brokers;
 *  - messages are read with the tools PullConsumer (no group joined, no offset stored) and written
 *    with Producer.sendRaw (synchronous, UNIQ_KEY kept, retries on another broker);
 *  - the group's offsets move with applyReset: compare-and-set per queue, through the broker for
 *    an online group, written directly for an offline one.
 *
 * Copying is at least once: a queue's offset moves only after every planned message of it was
 * stored on the target, so a failure leaves that queue's offset where it was (a rerun copies its
 * messages again; consumers deduplicate by UNIQ_KEY). Two runs of one group at once would copy the
 * backlog twice: --execute plans and copies under the group's lease (migrate-lease.ts).
 */
import { RocketError, TopicNotFoundError, UsageError } from '../errors/index.js';
import { topicNameProblem } from '../protocol/validate.js';
import { Prop, type Properties } from '../protocol/properties.js';
import type { AdminSession } from './admin-session.js';
import { routeOfTopic, updateTopic } from './admin.js';
import { applyReset, errorText, planReset, topicBrokers, type ApplyStatus, type AppliedQueue, type PlannedQueue, type ResetPlan, type TopicBroker } from './admin-offsets.js';
import { DLQ_TOPIC_PREFIX, RETRY_TOPIC_PREFIX, userProperties, type MessageExt } from './message.js';
import { Producer, type PreparedMessage } from './producer.js';
import { PullConsumer } from './pull-consumer.js';
import { clientOfTarget, type ToolTarget } from './tools.js';
import { acquireMigrationLease, type MigrationLease } from './migrate-lease.js';

/**
 * Properties added to every copy, recording where it came from (the latest hop when a message is
 * migrated twice). Not RocketMQ system names, so every client shows them as user properties.
 */
export const MIGRATED_FROM = {
  TOPIC: 'MIGRATED_FROM_TOPIC',
  BROKER: 'MIGRATED_FROM_BROKER',
  QUEUE_ID: 'MIGRATED_FROM_QUEUE_ID',
  QUEUE_OFFSET: 'MIGRATED_FROM_QUEUE_OFFSET',
  /** The source record's offsetMsgId: `queryMsgById` finds the original with it. */
  MSG_ID: 'MIGRATED_FROM_MSG_ID',
  /** The group whose backlog was migrated. */
  GROUP: 'MIGRATED_FOR_GROUP',
} as const;

/** Default queue count of a created target, per broker: this many times the source's. */
export const DEFAULT_TARGET_QUEUE_FACTOR = 2;
/** How long a created target may take to appear in the name server's route (bounded poll). */
const ROUTE_WAIT_MS = 10_000;
const ROUTE_POLL_MS = 100;
/** Offsets apply mode text (not "latest": a 4.x broker would reset past what was copied). */
const APPLY_MODE = 'end of the migrated backlog';

// ---- plan ----------------------------------------------------------------------------------------

export interface MigrateQueuePlan {
  brokerName: string;
  brokerAddr: string;
  queueId: number;
  minOffset: number;
  maxOffset: number;
  /** The group's committed offset (null: none, the queue is skipped). */
  consumerOffset: number | null;
  /** First offset copied: the consumer offset, or the min offset when older ones were deleted. */
  fromOffset: number | null;
  /** Messages to move: maxOffset − fromOffset (0 when skipped). */
  messages: number;
  notes: string[];
}

export interface MigrateTargetBroker {
  brokerName: string;
  /** Write queues of the target on this broker (existing, or to be created). */
  queueNums: number;
}

export interface MigrateTarget {
  topic: string;
  exists: boolean;
  /** Total write queues (existing, or to be created with --execute). */
  queueNums: number;
  brokers: MigrateTargetBroker[];
}

export interface MigratePlan {
  group: string;
  source: string;
  /** Read queues of the source, summed over its brokers. */
  sourceQueueNums: number;
  target: MigrateTarget;
  online: boolean;
  createdAt: number;
  queues: MigrateQueuePlan[];
  totals: { messages: number; queues: number; queuesWithBacklog: number; queuesSkipped: number };
  notes: string[];
}

export interface MigrateOptions {
  group: string;
  source: string;
  target: string;
  /** Queues per broker for a target that does not exist (default: twice the source's there). */
  targetQueueNums?: number;
}

/** Check names before asking anything: usage errors (exit 2). */
export function checkMigrateNames(o: MigrateOptions): void {
  for (const [flag, topic] of [['-t', o.source], ['--to', o.target]] as const) {
    const why = topicNameProblem(topic);
    if (why) throw new UsageError(`${flag} ${JSON.stringify(topic)} is not a valid topic name: ${why}`);
    if (topic.startsWith(RETRY_TOPIC_PREFIX) || topic.startsWith(DLQ_TOPIC_PREFIX)) {
      throw new UsageError(`${flag} ${topic}: retry and dead-letter topics are not migrated (their messages go back to the group's consumers by themselves)`);
    }
  }
  if (o.source === o.target) throw new UsageError(`-t and --to name the same topic (${o.source}): migrate to another topic`);
}

/** The group's backlog on the source and what would happen to the target. Changes nothing. */
export async function planMigration(session: AdminSession, o: MigrateOptions): Promise<MigratePlan> {
  checkMigrateNames(o);
  const sourceBrokers = await topicBrokers(session, o.source);
  const reset = await planReset(session, { group: o.group, topic: o.source, mode: { kind: 'latest' } });
  const queues = reset.queues.map(migrateQueuePlan);
  if (queues.every((q) => q.consumerOffset === null)) {
    // planReset already refused an offline group without offsets; this one is online.
    throw new RocketError(`consumer group ${o.group} has no committed offset on topic ${o.source}: there is no backlog to measure`, {
      code: 'E_GROUP_NO_OFFSETS',
      actions: [`check the group and topic: rocketctl consumerProgress -g ${o.group}`],
    });
  }
  const target = await targetOf(session, o, sourceBrokers);
  const notes: string[] = [];
  if (target.exists && o.targetQueueNums !== undefined) notes.push(`${o.target} exists with ${target.queueNums} queue(s): used as it is, -r ignored`);
  else if (target.exists) notes.push(`${o.target} exists with ${target.queueNums} queue(s): used as it is`);
  if (target.queueNums <= reset.queues.length) notes.push(`${o.target} has no more queues (${target.queueNums}) than ${o.source} (${reset.queues.length}): the backlog will not drain faster there`);
  if (reset.online) notes.push(`${o.group} is online: stop its consumers before --execute; a queue they consume from while copying keeps its offset (reported "moved") and its copied messages are consumed twice`);
  const skipped = queues.filter((q) => q.consumerOffset === null).length;
  return {
    group: o.group,
    source: o.source,
    sourceQueueNums: sourceBrokers.reduce((s, b) => s + b.readQueueNums, 0),
    target,
    online: reset.online,
    createdAt: reset.createdAt,
    queues,
    totals: {
      messages: queues.reduce((s, q) => s + q.messages, 0),
      queues: queues.length,
      queuesWithBacklog: queues.filter((q) => q.messages > 0).length,
      queuesSkipped: skipped,
    },
    notes,
  };
}

/** One queue of the plan from resetOffset's "latest" plan of it. */
export function migrateQueuePlan(p: PlannedQueue): MigrateQueuePlan {
  const base = { brokerName: p.brokerName, brokerAddr: p.brokerAddr, queueId: p.queueId, minOffset: p.minOffset, maxOffset: p.maxOffset, consumerOffset: p.currentOffset };
  if (p.currentOffset === null) {
    return { ...base, fromOffset: null, messages: 0, notes: ['no committed offset: skipped (where the group would start is up to its consumers, so no backlog is guessed)'] };
  }
  const notes: string[] = [];
  const from = Math.min(Math.max(p.currentOffset, p.minOffset), p.maxOffset);
  if (p.currentOffset < p.minOffset) notes.push(`${p.minOffset - p.currentOffset} message(s) before offset ${p.minOffset} were deleted before being consumed: copying from ${p.minOffset}`);
  if (p.currentOffset > p.maxOffset) notes.push(`the consumer offset ${p.currentOffset} is ahead of the max offset ${p.maxOffset}: nothing to copy`);
  return { ...base, fromOffset: from, messages: p.maxOffset - from, notes };
}

async function targetOf(session: AdminSession, o: MigrateOptions, sourceBrokers: TopicBroker[]): Promise<MigrateTarget> {
  let existing: TopicBroker[] | undefined;
  try {
    existing = await topicBrokers(session, o.target);
  } catch (err) {
    if (!(err instanceof TopicNotFoundError)) throw err;
  }
  const brokers = existing
    ? existing.map((b) => ({ brokerName: b.brokerName, queueNums: b.writeQueueNums }))
    : sourceBrokers.map((b) => ({ brokerName: b.brokerName, queueNums: o.targetQueueNums ?? DEFAULT_TARGET_QUEUE_FACTOR * b.writeQueueNums }));
  return { topic: o.target, exists: existing !== undefined, queueNums: brokers.reduce((s, b) => s + b.queueNums, 0), brokers };
}

// ---- execute --------------------------------------------------------------------------------------

export type CopyStatus = 'copied' | 'nothing' | 'skipped' | 'failed' | 'not-started';

export interface MigratedQueue {
  brokerName: string;
  queueId: number;
  fromOffset: number | null;
  /** The planned end (the max offset when planned): where the group's offset goes. */
  toOffset: number;
  planned: number;
  copied: number;
  /** One past the last source offset copied (null: none copied). */
  copiedUpTo: number | null;
  copyStatus: CopyStatus;
  /** The offset move (applyReset's status; to the end of the copied part when a copy failed part-way), or not-moved when nothing was copied. */
  offsetStatus: ApplyStatus | 'not-moved';
  /** The group's committed offset on the source after the run, when known. */
  newOffset: number | null;
  via: AppliedQueue['via'];
  message: string | null;
}

export interface MigrateExecution {
  targetCreated: boolean;
  queues: MigratedQueue[];
  totals: { copied: number; queuesMoved: number; problems: number };
}

/**
 * Create the target if needed, copy every planned message (queue by queue, in offset order), then
 * move the group's offsets of the completely copied queues to their planned end, compare-and-set.
 * Copying stops at the first failed send: later queues are reported not-started.
 */
export async function executeMigration(session: AdminSession, tool: ToolTarget, plan: MigratePlan, lease?: MigrationLease): Promise<MigrateExecution> {
  const targetCreated = !plan.target.exists;
  if (targetCreated) await createTarget(session, plan);
  const queues: MigratedQueue[] = plan.queues.map((q) => ({
    brokerName: q.brokerName,
    queueId: q.queueId,
    fromOffset: q.fromOffset,
    toOffset: q.maxOffset,
    planned: q.messages,
    copied: 0,
    copiedUpTo: null,
    copyStatus: q.consumerOffset === null ? 'skipped' : q.messages === 0 ? 'nothing' : 'not-started',
    offsetStatus: 'not-moved',
    newOffset: q.consumerOffset,
    via: null,
    message: q.consumerOffset === null ? 'no committed offset: skipped' : null,
  }));
  await copyBacklog(tool, plan, queues, lease);
  await moveOffsets(session, plan, queues);
  return {
    targetCreated,
    queues,
    totals: {
      copied: queues.reduce((s, q) => s + q.copied, 0),
      queuesMoved: queues.filter((q) => q.offsetStatus === 'applied').length,
      problems: queues.filter(isProblem).length,
    },
  };
}

function isProblem(q: MigratedQueue): boolean {
  return q.copyStatus === 'failed' || q.copyStatus === 'not-started' || (q.offsetStatus !== 'applied' && q.offsetStatus !== 'unchanged' && q.offsetStatus !== 'not-moved');
}

/** updateTopic on each broker of the plan, then wait (bounded) for the name server's route. */
async function createTarget(session: AdminSession, plan: MigratePlan): Promise<void> {
  for (const b of plan.target.brokers) {
    const addr = plan.queues.find((q) => q.brokerName === b.brokerName)?.brokerAddr;
    if (!addr) continue;
    // One broker per call: updateTopic throws when its only broker refused.
    await updateTopic(session, { topic: plan.target.topic, brokerAddr: addr, readQueueNums: b.queueNums, writeQueueNums: b.queueNums });
  }
  const deadline = Date.now() + ROUTE_WAIT_MS;
  for (;;) {
    const route = await routeOfTopic(session, plan.target.topic).catch(() => undefined);
    if (route && plan.target.brokers.every((b) => route.queueDatas.some((q) => q.brokerName === b.brokerName))) return;
    if (Date.now() > deadline) {
      throw new RocketError(`created ${plan.target.topic}, but the name server has no route for it after ${ROUTE_WAIT_MS} ms: nothing was copied`, {
        code: 'E_NO_ROUTE',
        actions: [`check it with: rocketctl topicRoute -t ${plan.target.topic}, then rerun`],
      });
    }
    await new Promise((r) => setTimeout(r, ROUTE_POLL_MS));
  }
}

/**
 * Run `fn` holding the group's migration lease (migrate-lease.ts), released after it. Plan inside
 * `fn`: a plan made before the lease was held may be one another run has copied meanwhile.
 */
export async function withMigrationLease<T>(session: AdminSession, o: MigrateOptions, fn: (lease: MigrationLease) => Promise<T>): Promise<T> {
  checkMigrateNames(o);
  const lease = await acquireMigrationLease(session, o.group, await topicBrokers(session, o.source));
  try {
    return await fn(lease);
  } finally {
    await lease.release();
  }
}

async function copyBacklog(tool: ToolTarget, plan: MigratePlan, queues: MigratedQueue[], lease: MigrationLease | undefined): Promise<void> {
  const todo = queues.filter((q) => q.copyStatus === 'not-started');
  if (todo.length === 0) return;
  const client = clientOfTarget(tool, `rocketctl-migrate-${process.pid}`);
  const producer = new Producer({ ...client, producerGroup: `rocketctl_migrate_${Date.now()}`, sendMsgTimeoutMs: tool.timeoutMs });
  const consumer = new PullConsumer(client);
  try {
    await producer.start();
    await consumer.start();
    for (const q of todo) {
      const mq = { topic: plan.source, brokerName: q.brokerName, queueId: q.queueId };
      try {
        for await (const m of consumer.readRange(mq, q.fromOffset!, q.toOffset)) {
          const lost = lease?.lostReason();
          if (lost !== undefined) throw new RocketError(`${lost}: copying stopped, so that no other run copies the same messages`, { code: 'E_LEASE_LOST' });
          if (m.bodyCodecUnsupported) throw new RocketError(`the message at offset ${m.queueOffset} has a ${m.bodyCodecUnsupported}-compressed body, which rocketctl cannot copy`, { code: 'E_BODY_CODEC' });
          await producer.sendRaw(copyOf(m, plan));
          q.copied++;
          q.copiedUpTo = m.queueOffset + 1;
        }
        if (q.copiedUpTo === q.toOffset) q.copyStatus = 'copied';
        else {
          q.copyStatus = 'failed';
          q.message = `reading stopped at offset ${q.copiedUpTo ?? q.fromOffset} before the planned end ${q.toOffset} (messages deleted meanwhile?)`;
        }
      } catch (err) {
        q.copyStatus = 'failed';
        q.message = `copy failed after ${q.copied} message(s), at offset ${q.copiedUpTo ?? q.fromOffset}: ${errorText(err)}`;
        break;
      }
    }
  } finally {
    await consumer.close();
    await producer.close();
  }
  for (const q of todo) if (q.copyStatus === 'not-started') q.message = 'not copied: an earlier queue failed';
}

/**
 * The copy of `m` for the target: body, flag, tags, keys and user properties as they were, the
 * same UNIQ_KEY (the source's offsetMsgId when it had none: the id its consumers saw), the
 * original born time, and the MIGRATED_FROM_* properties. System properties of the source
 * (DELAY, REAL_TOPIC, TRAN_MSG, CLUSTER, ...) are not carried: they would delay the copy again or
 * make it a half message.
 */
export function copyOf(m: MessageExt, plan: Pick<MigratePlan, 'group' | 'target'>): PreparedMessage {
  const properties: Properties = { ...userProperties(m) };
  if (m.tags !== undefined && m.tags !== '') properties[Prop.TAGS] = m.tags;
  if (m.keys.length > 0) properties[Prop.KEYS] = m.keys.join(' ');
  properties[Prop.UNIQ_KEY] = m.msgId;
  properties[Prop.WAIT] = 'true';
  properties[MIGRATED_FROM.TOPIC] = m.queue.topic;
  properties[MIGRATED_FROM.BROKER] = m.queue.brokerName;
  properties[MIGRATED_FROM.QUEUE_ID] = String(m.queueId);
  properties[MIGRATED_FROM.QUEUE_OFFSET] = String(m.queueOffset);
  properties[MIGRATED_FROM.MSG_ID] = m.offsetMsgId;
  properties[MIGRATED_FROM.GROUP] = plan.group;
  return { topic: plan.target.topic, body: m.body, flag: m.flag, properties, uniqKey: m.msgId, bornTimestamp: m.bornTimestamp };
}

/**
 * The offset a queue's group moves to after the copy: the planned end when all of it was copied,
 * the end of what was copied when a failure stopped it part-way (so a rerun copies only the rest
 * and nothing twice), null when nothing of it was copied.
 */
function copiedEnd(q: MigratedQueue): number | null {
  if (q.copyStatus === 'copied') return q.toOffset;
  return q.copyStatus === 'failed' && q.copiedUpTo !== null ? q.copiedUpTo : null;
}

/** applyReset over the queues with copied messages: each to the end of its copy, compare-and-set. */
async function moveOffsets(session: AdminSession, plan: MigratePlan, queues: MigratedQueue[]): Promise<void> {
  for (const q of queues) if (q.copyStatus === 'failed' && q.copiedUpTo === null) q.message = `${q.message}; offset not moved`;
  const done = plan.queues.flatMap((q, i) => {
    const end = copiedEnd(queues[i]!);
    return end === null ? [] : [{ ...q, end }];
  });
  if (done.length === 0) return;
  const reset: ResetPlan = {
    kind: 'rocketctl.resetOffset.plan',
    formatVersion: 1,
    group: plan.group,
    topic: plan.source,
    mode: APPLY_MODE,
    timestampMs: null,
    force: true,
    createdAt: plan.createdAt,
    online: plan.online,
    queues: done.map((q) => ({
      topic: plan.source,
      brokerName: q.brokerName,
      brokerAddr: q.brokerAddr,
      queueId: q.queueId,
      minOffset: q.minOffset,
      maxOffset: q.maxOffset,
      currentOffset: q.consumerOffset,
      targetOffset: q.end,
      replay: 0,
      skip: q.end - q.fromOffset!,
      targetStoreTimestamp: null,
      notes: [],
    })),
    totals: { replay: 0, skip: done.reduce((s, q) => s + (q.end - q.fromOffset!), 0), queues: done.length },
  };
  const applied = await applyReset(session, reset);
  for (const a of applied.queues) {
    const q = queues.find((x) => x.brokerName === a.brokerName && x.queueId === a.queueId)!;
    q.offsetStatus = a.status;
    q.newOffset = a.resultOffset;
    q.via = a.via;
    if (q.copyStatus === 'failed' && a.status === 'applied') {
      q.message = `${q.message}; the group's offset moved to ${a.resultOffset}, after the copied messages: rerun migrateBacklog to copy the rest`;
      continue;
    }
    if (a.message) q.message = `${a.message}; its ${q.copied} copied message(s) are on ${plan.target.topic} too (deduplicate by UNIQ_KEY)`;
    if (a.status === 'unchanged' && a.expectedOffset !== a.targetOffset) {
      // The group reached the end by itself while copying: it consumed the messages on the source too.
      q.offsetStatus = 'moved';
      q.message = `the group consumed up to ${a.foundOffset} on ${plan.source} while copying: its ${q.copied} copied message(s) are on ${plan.target.topic} too (deduplicate by UNIQ_KEY)`;
    }
  }
}
