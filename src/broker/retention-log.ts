/**
 * What the broker logs about retention (store/clean-service.ts). Apache deletes a commit log
 * segment silently, unconsumed messages included; here every deleted segment is logged with the
 * consumer groups that had not consumed all of its messages yet (a warning: that is message loss),
 * and the disk being marked full or ok again is logged as Apache's isSpaceToDelete does.
 *
 * "Had not consumed": the group's committed offset of a queue lies below the queue's first unit
 * pointing past the segment, i.e. some of the queue's units between the committed offset and that
 * unit point into the segment. Groups that never committed on a queue are not counted (where they
 * start depends on the consumer). Delayed messages not yet delivered (SCHEDULE_TOPIC_XXXX, by the
 * delivery offset of their level) count as the pseudo-group "delayed delivery".
 */
import type { Logger } from '../remoting/server.js';
import type { ConsumeQueueStore } from './store/consume-queue.js';
import type { CleanPassReport, DeletedSegment } from './store/clean-service.js';
import { splitTopicAtGroup, type ConsumerOffsetManager } from './store/config/consumer-offset.js';
import type { DelayOffsetManager } from './store/config/delay-offset.js';
import { SCHEDULE_TOPIC } from '../protocol/names.js';

interface UnconsumedInSegment {
  group: string;
  topic: string;
  /** Messages of the group's queues of `topic` stored in the segment and not consumed. */
  messages: number;
}

/** Name under which undelivered delayed messages are reported. */
const DELAYED_DELIVERY = 'delayed delivery';

/**
 * Per group and topic, the messages stored in commit log range [start, end) that the group had not
 * consumed. Must run before the consume queues are cleaned (their units still point there).
 */
function unconsumedIn(
  start: number,
  end: number,
  cqs: ConsumeQueueStore,
  offsets: ConsumerOffsetManager,
  delayOffsets: DelayOffsetManager | undefined,
): UnconsumedInSegment[] {
  const out = new Map<string, UnconsumedInSegment>();
  const count = (group: string, topic: string, queueId: number, committed: number) => {
    const cq = cqs.get(topic, queueId);
    if (!cq) return;
    const from = Math.max(committed, cq.offsetOfCommitLogOffset(start));
    const to = cq.offsetOfCommitLogOffset(end);
    if (to <= from) return;
    const key = `${group}\u0000${topic}`;
    const e = out.get(key) ?? { group, topic, messages: 0 };
    e.messages += to - from;
    out.set(key, e);
  };
  for (const key of offsets.keys()) {
    const k = splitTopicAtGroup(key);
    if (!k) continue;
    for (const [queueId, committed] of offsets.offsetsOf(k.topic, k.group) ?? []) count(k.group, k.topic, queueId, committed);
  }
  // ScheduleMessageService: level L reads queue L-1 of SCHEDULE_TOPIC_XXXX from its delivery offset.
  for (const [level, offset] of delayOffsets?.all() ?? []) count(DELAYED_DELIVERY, SCHEDULE_TOPIC, level - 1, offset);
  return [...out.values()].sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
}

/** 72 h, 90 min, 1500 ms: the retention as it was configured. */
function formatRetention(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms} ms`;
}

/** An age for a log line: 73.2 h, 12.5 min, 42.0 s, 1834 ms. */
function formatAge(ms: number): string {
  if (ms >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  if (ms >= 60_000) return `${(ms / 60_000).toFixed(1)} min`;
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms)} ms`;
}

/** The log line for one deleted segment; `warn` when some group had not consumed it. */
function deletedSegmentLine(d: DeletedSegment, unconsumed: UnconsumedInSegment[]): { level: 'info' | 'warn'; line: string } {
  const why =
    d.reason === 'expired'
      ? `older than the retention of ${formatRetention(d.retentionMs)}`
      : `before the retention of ${formatRetention(d.retentionMs)}: the disk is ${Math.round(d.diskUsedRatio * 100)}% used (cleanFileForciblyEnable)`;
  const trigger = d.trigger === 'deleteWhen' ? 'at a deleteWhen hour' : d.trigger === 'disk' ? 'disk use over diskMaxUsedSpaceRatio' : 'asked for (DELETE_EXPIRED_COMMITLOG)';
  const head = `retention deleted commit log segment ${d.file} (offsets ${d.startOffset}-${d.endOffset - 1}, last written ${new Date(d.lastModifiedMs).toISOString()}, ${formatAge(d.ageMs)} ago; ${why}; ${trigger})`;
  if (unconsumed.length === 0) return { level: 'info', line: `${head}: every group had consumed it` };
  const total = unconsumed.reduce((n, u) => n + u.messages, 0);
  const list = unconsumed.map((u) => `${u.group} (${u.topic}: ${u.messages})`).join(', ');
  return { level: 'warn', line: `${head}: ${total} message(s) deleted before being consumed by: ${list}` };
}

/** Wire the store's retention into the broker's log. */
export function logRetention(
  retention: { onSegmentDeleted(l: (d: DeletedSegment) => void): unknown; onPass(l: (r: CleanPassReport) => void): unknown },
  deps: { logger: Logger; cqs: ConsumeQueueStore; offsets: ConsumerOffsetManager; delayOffsets: DelayOffsetManager },
): void {
  retention.onSegmentDeleted((d) => {
    const { level, line } = deletedSegmentLine(d, unconsumedIn(d.startOffset, d.endOffset, deps.cqs, deps.offsets, deps.delayOffsets));
    deps.logger[level](line);
  });
  let full = false;
  let stuck = false;
  retention.onPass((r) => {
    const pct = `${Math.round(r.diskUsedRatio * 100)}%`;
    if (r.diskFull && !full) deps.logger.error(`the store's disk is ${pct} used, over 90% (diskSpaceWarningLevelRatio): sends are refused until space is freed`);
    if (!r.diskFull && full) deps.logger.warn(`the store's disk is ${pct} used again, at or below 90%: sends are accepted`);
    full = r.diskFull;
    // As Apache's "disk space will be full soon, but delete file failed", once per episode.
    const nowStuck = r.spacefull && r.segmentsDeleted.length === 0 && r.diskUsedRatio >= 0;
    if (nowStuck && !stuck) {
      deps.logger.warn(`the store's disk is ${pct} used, over diskMaxUsedSpaceRatio, but retention can delete no commit log segment (none expired${r.cleanAtOnce ? '' : ', and the disk is not over 85% or cleanFileForciblyEnable=false'})`);
    }
    stuck = nowStuck;
  });
}
