/**
 * migrateBacklog: move a consumer group's backlog from a topic to another one with more queues —
 * the remedy when a group already has as many consumers as the topic has queues (consumerProgress's
 * diagnosis names it). Nothing here is new machinery:
 *
 *  - the plan is resetOffset's "latest" plan (planReset): per queue the committed offset and the
 *    max offset; the backlog is what lies between;
 *  - the target is created as updateTopic creates topics, on the source's brokers;
 *  - messages are read with the tools PullConsumer (no group joined, no offset stored) and written
 *    with Producer.sendRawBatch, by the copy engine (migrate-copy.ts: batched, pipelined, ordered by
 *    sharding key, exactly once across failures);
 *  - the group's offsets move with applyReset: compare-and-set per queue, through the broker for
 *    an online group, written directly for an offline one. They are the copy's checkpoint, moved
 *    after every window (OffsetCheckpoints).
 *
 * Two runs of one group at once would copy the backlog twice: --execute plans and copies under the
 * group's lease (migrate-lease.ts).
 */
import { RocketError, TopicNotFoundError, UsageError } from '../errors/index.js';
import { topicNameProblem } from '../protocol/validate.js';
import { Prop, type Properties } from '../protocol/properties.js';
import { Perm } from '../protocol/codes.js';
import type { MessageQueue, TopicRouteData } from '../protocol/bodies.js';
import type { AdminSession } from './session.js';
import { clusterInfo, mastersOfCluster, routeOfTopic, topicBrokers, type TopicBroker } from './targets.js';
import { updateTopic } from './topics.js';
import { withAdminSession } from './session.js';
import { applyReset, planReset, type ApplyStatus, type AppliedQueue, type PlannedQueue, type ResetPlan } from './reset.js';
import { compareStrings } from '../client/allocate.js';
import { copyExactlyOnce, MIGRATED_WINDOW, type CopyOrigin, type CopyProgress, type CopyResult, type CopyVerification } from './migrate-copy.js';
import { userProperties, type MessageExt } from '../client/message.js';
import { DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX } from '../protocol/names.js';
import { Producer, type PreparedMessage } from '../client/producer.js';
import { PullConsumer } from '../client/pull-consumer.js';
import { clientOfTarget, namesrvOfTarget, type ToolTarget } from './tools.js';
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
  /** The original's born time (a batch gives all its messages the first one's). */
  BORN_TIMESTAMP: 'MIGRATED_FROM_BORN_TIMESTAMP',
  /** The copy's window label (migrate-copy.ts, invariant 3): how a rerun finds what a dead run copied. */
  WINDOW: MIGRATED_WINDOW,
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
  /** Its master's address (where a missing target is created). */
  brokerAddr: string | null;
  /** Write queues of the target on this broker (existing, or to be created). */
  queueNums: number;
}

export interface MigrateTarget {
  topic: string;
  /** The target cluster's name server (--to-namesrv); null: the source's cluster. */
  namesrvAddr: string | null;
  exists: boolean;
  /** Total write queues (existing, or to be created with --execute). */
  queueNums: number;
  brokers: MigrateTargetBroker[];
}

/** Where copies go (migrate-copy.ts, invariant 6). */
export interface MigrateOrder {
  /** Properties read for a message's key, first present wins (KEYS: all its keys, space-separated). */
  keyProperties: string[];
  /** Keyed messages: target queue |javaHash(key)| mod targetQueues, one key's messages in source order. */
  keyed: 'hash';
  /** Messages without a key: round robin over the target's queues. */
  unkeyed: 'round-robin';
  targetQueues: number;
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
  order: MigrateOrder;
  notes: string[];
}

/** The keys that keep order (migrate-copy.ts shardingKeyOf). */
const KEY_PROPERTIES = ['__SHARDINGKEY', 'SHARDING_KEY', 'KEYS'];

export interface MigrateOptions {
  group: string;
  source: string;
  target: string;
  /** Queues per broker for a target that does not exist (default: twice the source's there). */
  targetQueueNums?: number;
  /** The target's cluster, by its name server (--to-namesrv host:port), when not the source's. */
  targetNamesrv?: string;
}

/** Check names before asking anything: usage errors (exit 2). */
export function checkMigrateNames(o: MigrateOptions): void {
  for (const [flag, topic] of [['-t', o.source], ['--to', o.target]] as const) {
    const why = topicNameProblem(topic);
    if (why) throw new UsageError(`${flag} ${JSON.stringify(topic)} is not a valid topic name: ${why}`);
    if (topic.startsWith(RETRY_GROUP_TOPIC_PREFIX) || topic.startsWith(DLQ_GROUP_TOPIC_PREFIX)) {
      throw new UsageError(`${flag} ${topic}: retry and dead-letter topics are not migrated (their messages go back to the group's consumers by themselves)`);
    }
  }
  if (o.source === o.target && o.targetNamesrv === undefined) throw new UsageError(`-t and --to name the same topic (${o.source}): migrate to another topic`);
}

/** The group's backlog on the source and what would happen to the target. Changes nothing. */
export async function planMigration(session: AdminSession, o: MigrateOptions, targetSession: AdminSession = session): Promise<MigratePlan> {
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
  const target = await targetOf(targetSession, o, sourceBrokers);
  const notes: string[] = [];
  if (target.exists && o.targetQueueNums !== undefined) notes.push(`${o.target} exists with ${target.queueNums} queue(s): used as it is, -r ignored`);
  else if (target.exists) notes.push(`${o.target} exists with ${target.queueNums} queue(s): used as it is`);
  if (target.queueNums <= reset.queues.length) notes.push(`${o.target} has no more queues (${target.queueNums}) than ${o.source} (${reset.queues.length}): the backlog will not drain faster there`);
  if (reset.online) notes.push(`${o.group} is online: stop its consumers before --execute; a queue they consume from while copying keeps its offset (reported "moved") and its copied messages are consumed twice`);
  notes.push(
    `order: a message with a key (${KEY_PROPERTIES.join(', then ')}) goes to target queue |hash(key)| mod ${target.queueNums}, after the earlier messages of that key from its source queue; messages without one are spread round robin`,
    `not migrated: %RETRY%${o.group} and %DLQ%${o.group} (retried and dead messages stay with the group); a copy keeps no DELAY, REAL_TOPIC or TRAN_MSG (a message in ${o.source} is already due and committed), so none is delayed again`,
  );
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
    order: { keyProperties: KEY_PROPERTIES, keyed: 'hash', unkeyed: 'round-robin', targetQueues: target.queueNums },
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
  const perBroker = (n: number) => o.targetQueueNums ?? DEFAULT_TARGET_QUEUE_FACTOR * n;
  const brokers: MigrateTargetBroker[] = existing
    ? existing.map((b) => ({ brokerName: b.brokerName, brokerAddr: b.addr, queueNums: b.writeQueueNums }))
    : o.targetNamesrv === undefined
      ? sourceBrokers.map((b) => ({ brokerName: b.brokerName, brokerAddr: b.addr, queueNums: perBroker(b.writeQueueNums) }))
      : await otherClusterMasters(session, o, perBroker(Math.max(...sourceBrokers.map((b) => b.writeQueueNums))));
  const namesrvAddr = o.targetNamesrv ?? null;
  return { topic: o.target, namesrvAddr, exists: existing !== undefined, queueNums: brokers.reduce((s, b) => s + b.queueNums, 0), brokers };
}

/** Where a missing target is created on another cluster: every master of the one cluster its name server knows. */
async function otherClusterMasters(session: AdminSession, o: MigrateOptions, queueNums: number): Promise<MigrateTargetBroker[]> {
  const info = await clusterInfo(session);
  const clusters = Object.keys(info.clusterAddrTable).sort(compareStrings);
  if (clusters.length !== 1) {
    throw new UsageError(`${o.target} does not exist on ${o.targetNamesrv}, which knows ${clusters.length} clusters (${clusters.join(', ') || 'none'}): create it first (rocketctl updateTopic -n ${o.targetNamesrv} -c CLUSTER -t ${o.target} -r N -w N)`);
  }
  return mastersOfCluster(info, clusters[0]!).map((b) => ({ brokerName: b.brokerName ?? b.addr, brokerAddr: b.addr, queueNums }));
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
  /** Copied and acknowledged by this run. */
  copied: number;
  /** Already on the target, copied by an earlier run that died or failed before its checkpoint: skipped. */
  found: number;
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

export interface MigrateVerification {
  /** Backlog messages on the target after this run (copied now + found), and what the plan had. */
  planned: number;
  onTarget: number;
  /** Per target queue: messages this run sent there plus the earlier copies found there. */
  targetQueues: CopyVerification['targetQueues'];
  /** Sum mod 2^32 of CRC32 over the bodies read from the source, and over the same messages' bodies on the target (hex, 8 digits). */
  sourceBodyCrc: string;
  targetBodyCrc: string;
  /** Every planned message is on the target once and the checksums agree. */
  ok: boolean;
}

export interface MigrateExecution {
  targetCreated: boolean;
  queues: MigratedQueue[];
  totals: { copied: number; found: number; queuesMoved: number; problems: number };
  verification: MigrateVerification;
  /** Wall time of the execution (target creation, copy, offset moves). */
  elapsedMs: number;
}

/**
 * Create the target if needed, copy every planned message (queue by queue, in offset order), then
 * move the group's offsets of the completely copied queues to their planned end, compare-and-set.
 * Copying stops at the first failed send: later queues are reported not-started.
 */
export async function executeMigration(
  session: AdminSession,
  tool: ToolTarget,
  plan: MigratePlan,
  lease?: MigrationLease,
  onProgress?: (p: MigrateProgress) => void,
  targetSession: AdminSession = session,
): Promise<MigrateExecution> {
  const startedAt = Date.now();
  const targetCreated = !plan.target.exists;
  if (targetCreated) await createTarget(targetSession, plan);
  const queues: MigratedQueue[] = plan.queues.map((q) => ({
    brokerName: q.brokerName,
    queueId: q.queueId,
    fromOffset: q.fromOffset,
    toOffset: q.maxOffset,
    planned: q.messages,
    copied: 0,
    found: 0,
    copiedUpTo: null,
    copyStatus: q.consumerOffset === null ? 'skipped' : q.messages === 0 ? 'nothing' : 'not-started',
    offsetStatus: 'not-moved',
    newOffset: q.consumerOffset,
    via: null,
    message: q.consumerOffset === null ? 'no committed offset: skipped' : null,
  }));
  const checked = await copyBacklog({ source: session, target: targetSession }, tool, plan, queues, lease, onProgress);
  const verification = verificationOf(plan, queues, checked);
  const problems = queues.filter(isProblem).length + (verification.ok || queues.some(isProblem) ? 0 : 1);
  return {
    targetCreated,
    queues,
    totals: {
      copied: queues.reduce((s, q) => s + q.copied, 0),
      found: queues.reduce((s, q) => s + q.found, 0),
      queuesMoved: queues.filter((q) => q.offsetStatus === 'applied').length,
      problems,
    },
    verification,
    elapsedMs: Date.now() - startedAt,
  };
}

function verificationOf(plan: MigratePlan, queues: MigratedQueue[], checked: CopyVerification | null): MigrateVerification {
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const onTarget = queues.reduce((s, q) => s + q.copied + q.found, 0);
  const source = hex(checked?.sourceBodyCrc ?? 0);
  const target = hex(checked?.targetBodyCrc ?? 0);
  return { planned: plan.totals.messages, onTarget, targetQueues: checked?.targetQueues ?? [], sourceBodyCrc: source, targetBodyCrc: target, ok: onTarget === plan.totals.messages && source === target };
}

function isProblem(q: MigratedQueue): boolean {
  return q.copyStatus === 'failed' || q.copyStatus === 'not-started' || (q.offsetStatus !== 'applied' && q.offsetStatus !== 'unchanged' && q.offsetStatus !== 'not-moved');
}

/** updateTopic on each broker of the plan, then wait (bounded) for the name server's route. */
async function createTarget(session: AdminSession, plan: MigratePlan): Promise<void> {
  for (const b of plan.target.brokers) {
    const addr = b.brokerAddr;
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

/** Run `fn` with a session on the target's cluster: `source` itself without --to-namesrv. */
export async function withTargetSession<T>(source: AdminSession, namesrvAddr: string | undefined, timeoutMs: number, fn: (target: AdminSession) => Promise<T>): Promise<T> {
  return namesrvAddr === undefined ? fn(source) : withAdminSession({ namesrvAddr, timeoutMs }, fn);
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

/** What the command shows while copying (TTY only): messages done of the planned total. */
export type MigrateProgress = CopyProgress;

async function copyBacklog(
  sessions: { source: AdminSession; target: AdminSession },
  tool: ToolTarget,
  plan: MigratePlan,
  queues: MigratedQueue[],
  lease: MigrationLease | undefined,
  onProgress?: (p: MigrateProgress) => void,
): Promise<CopyVerification | null> {
  const todo = plan.queues.flatMap((q, i) => (queues[i]!.copyStatus === 'not-started' ? [{ plan: q, out: queues[i]! }] : []));
  if (todo.length === 0) return null;
  const client = (namesrvAddr: string, role: string) => ({ ...clientOfTarget(tool, `rocketctl-migrate-${role}-${process.pid}`), namesrvAddr });
  const sourceClient = client(namesrvOfTarget(tool), 'source');
  const targetClient = plan.target.namesrvAddr === null ? sourceClient : client(plan.target.namesrvAddr, 'target');
  const producer = new Producer({ ...targetClient, producerGroup: `rocketctl_migrate_${Date.now()}`, sendMsgTimeoutMs: tool.timeoutMs });
  const consumer = new PullConsumer(sourceClient);
  const targetConsumer = targetClient === sourceClient ? consumer : new PullConsumer(targetClient);
  try {
    await producer.start();
    await consumer.start();
    if (targetConsumer !== consumer) await targetConsumer.start();
    const offsets = new OffsetCheckpoints(sessions.source, plan, todo);
    const outcome = await copyExactlyOnce({
      producer,
      consumer,
      targetConsumer,
      targetQueues: writeQueuesOf(await routeOfTopic(sessions.target, plan.target.topic), plan.target.topic),
      sources: todo.map(({ plan: q }) => ({ mq: { topic: plan.source, brokerName: q.brokerName, queueId: q.queueId }, committed: q.consumerOffset!, from: q.fromOffset!, to: q.maxOffset })),
      labelBase: plan.queues.reduce((n, q, i) => n + (queues[i]!.copyStatus === 'not-started' ? 0 : (q.consumerOffset ?? 0)), 0),
      copyOf: (m, window) => copyOf(m, plan, window),
      originOf: (m) => originOf(m, plan),
      checkpoint: (ends, committed, final) => offsets.move(ends, committed, final),
      stopReason: () => {
        const lost = lease?.lostReason();
        return lost === undefined ? undefined : `${lost}: copying stopped, so that no other run copies the same messages`;
      },
      refuse: (m) => (m.bodyCodecUnsupported ? `the message at offset ${m.queueOffset} has a ${m.bodyCodecUnsupported}-compressed body, which rocketctl cannot copy` : undefined),
      onProgress,
      sendTimeoutMs: tool.timeoutMs,
    });
    todo.forEach(({ out }, i) => offsets.report(out, outcome.results[i]!, i));
    return outcome.verification;
  } finally {
    if (targetConsumer !== consumer) await targetConsumer.close();
    await consumer.close();
    await producer.close();
  }
}

/** The target's write queues, by broker name then queue id: the order keys hash into. */
export function writeQueuesOf(route: Pick<TopicRouteData, 'queueDatas'>, topic: string): MessageQueue[] {
  return [...route.queueDatas]
    .filter((d) => (d.perm & Perm.WRITE) !== 0)
    .sort((a, b) => compareStrings(a.brokerName, b.brokerName))
    .flatMap((d) => Array.from({ length: d.writeQueueNums }, (_, queueId) => ({ topic, brokerName: d.brokerName, queueId })));
}

/** Where a target message came from, when it is a copy made by this group's migration of this source. */
export function originOf(m: MessageExt, plan: Pick<MigratePlan, 'group' | 'source'>): CopyOrigin | undefined {
  const p = m.properties;
  if (p[MIGRATED_FROM.GROUP] !== plan.group || p[MIGRATED_FROM.TOPIC] !== plan.source || p[MIGRATED_WINDOW] === undefined) return undefined;
  const [queueId, queueOffset, window] = [Number(p[MIGRATED_FROM.QUEUE_ID]), Number(p[MIGRATED_FROM.QUEUE_OFFSET]), Number(p[MIGRATED_WINDOW])];
  if (![queueId, queueOffset, window].every(Number.isSafeInteger)) return undefined;
  return { group: plan.group, topic: plan.source, brokerName: p[MIGRATED_FROM.BROKER] ?? '', queueId, queueOffset, window };
}

/**
 * The copy of `m` for the target: body, flag, tags, keys and user properties as they were, the
 * same UNIQ_KEY (the source's offsetMsgId when it had none: the id its consumers saw), the
 * original born time, and the MIGRATED_FROM_* properties. System properties of the source
 * (DELAY, REAL_TOPIC, TRAN_MSG, CLUSTER, ...) are not carried: they would delay the copy again or
 * make it a half message.
 */
export function copyOf(m: MessageExt, plan: Pick<MigratePlan, 'group' | 'target'>, window?: number): PreparedMessage {
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
  properties[MIGRATED_FROM.BORN_TIMESTAMP] = String(m.bornTimestamp);
  if (window !== undefined) properties[MIGRATED_FROM.WINDOW] = String(window);
  return { topic: plan.target.topic, body: m.body, flag: m.flag, properties, uniqKey: m.msgId, bornTimestamp: m.bornTimestamp };
}

/**
 * The group's offsets as checkpoints (migrate-copy.ts, invariant 1): each window's end applied with
 * resetOffset's compare-and-set (applyReset), expected = the previous checkpoint. A queue found
 * moved by someone else (its consumers) is left alone from then on and reported.
 */
class OffsetCheckpoints {
  private readonly last = new Map<number, AppliedQueue>();
  private readonly moved = new Set<number>();

  constructor(
    private readonly session: AdminSession,
    private readonly plan: MigratePlan,
    private readonly todo: ReadonlyArray<{ plan: MigrateQueuePlan; out: MigratedQueue }>,
  ) {}

  async move(ends: Map<number, number>, committed: readonly number[], final: boolean): Promise<Map<number, number | null>> {
    const picked = [...ends].filter(([i]) => !this.moved.has(i));
    const now = new Map<number, number | null>();
    if (picked.length === 0) return now;
    const queues: PlannedQueue[] = picked.map(([i, end]) => {
      const q = this.todo[i]!.plan;
      return { topic: this.plan.source, brokerName: q.brokerName, brokerAddr: q.brokerAddr, queueId: q.queueId, minOffset: q.minOffset, maxOffset: q.maxOffset, currentOffset: committed[i]!, targetOffset: end, replay: 0, skip: end - committed[i]!, targetStoreTimestamp: null, notes: [] };
    });
    const reset: ResetPlan = {
      kind: 'rocketctl.resetOffset.plan',
      formatVersion: 1,
      group: this.plan.group,
      topic: this.plan.source,
      mode: APPLY_MODE,
      timestampMs: null,
      force: true,
      createdAt: this.plan.createdAt,
      online: this.plan.online,
      queues,
      totals: { replay: 0, skip: queues.reduce((s, q) => s + q.skip, 0), queues: queues.length },
    };
    // Watching an online group's offsets after the move (for a consumer writing its old one back) only once, at the end.
    const applied = await applyReset(this.session, reset, final ? {} : { watchMs: 0 });
    for (const a of applied.queues) {
      const i = picked.find(([j]) => this.todo[j]!.plan.brokerName === a.brokerName && this.todo[j]!.plan.queueId === a.queueId)![0];
      this.last.set(i, a);
      const ours = a.status === 'applied' || (a.status === 'unchanged' && a.expectedOffset === a.targetOffset);
      if (a.status === 'moved' || (a.status === 'unchanged' && !ours)) this.moved.add(i);
      now.set(i, ours ? a.targetOffset : null);
    }
    return now;
  }

  /** The queue's report from its copy result and its last checkpoint. */
  report(q: MigratedQueue, r: CopyResult, i: number): void {
    q.copied = r.copied;
    q.found = r.found;
    q.copiedUpTo = r.next > q.fromOffset! ? r.next : null;
    q.copyStatus = r.error !== null ? 'failed' : r.started ? 'copied' : 'not-started';
    if (r.error !== null) q.message = `copy failed after ${r.copied + r.found} message(s), at offset ${r.next}: ${r.error}`;
    else if (!r.started) q.message = 'not copied: an earlier queue failed';
    const a = this.last.get(i);
    if (!a) {
      if (q.copyStatus === 'failed') q.message = `${q.message}; offset not moved`;
      return;
    }
    q.offsetStatus = a.status;
    q.newOffset = a.resultOffset;
    q.via = a.via;
    if (q.copyStatus === 'failed' && a.status === 'applied') {
      q.message = `${q.message}; the group's offset moved to ${a.resultOffset}, after the copied messages: rerun migrateBacklog to copy the rest`;
    } else if (a.status === 'unchanged' && a.expectedOffset !== a.targetOffset) {
      // The group reached the end by itself while copying: it consumed the messages on the source too.
      q.offsetStatus = 'moved';
      q.message = `the group consumed up to ${a.foundOffset} on ${this.plan.source} while copying: its ${q.copied} copied message(s) are on ${this.plan.target.topic} too (deduplicate by UNIQ_KEY)`;
    } else if (a.message) {
      q.message = `${a.message}; its ${q.copied} copied message(s) are on ${this.plan.target.topic} too (deduplicate by UNIQ_KEY)`;
    }
  }
}

