/**
 * Delay levels on the way in (CommitLog.asyncPutMessage): a normal or committed
 * message with property DELAY > 0 is stored in SCHEDULE_TOPIC_XXXX, queue level-1, with its real
 * topic and queue kept in REAL_TOPIC / REAL_QID. The store then files it under its delivery time
 * (tagsCode), and the ScheduleMessageService moves it back when due.
 */
import { SysFlag, transactionType } from '../../protocol/message.js';
import { JavaPropertiesMap, Prop } from '../../protocol/properties.js';
import { SCHEDULE_TOPIC } from '../../protocol/names.js';
import type { PutInput } from './context.js';

/**
 * Rewrite `input` in place when it carries a delay level; returns the level applied (0 = none).
 * `props` is the message's property map when the caller holds it (a send: it still has WAIT, which
 * Apache's rewrite stores again); otherwise the stored string is parsed.
 */
export function applyDelayLevel(input: PutInput, maxLevel: number, props?: JavaPropertiesMap): number {
  const t = transactionType(input.sysFlag);
  if (t !== SysFlag.TRANSACTION_NOT_TYPE && t !== SysFlag.TRANSACTION_COMMIT_TYPE) return 0;
  if (!input.properties.includes(Prop.DELAY + '\u0001')) return 0;
  const map = props ?? JavaPropertiesMap.parse(input.properties);
  let level = Number.parseInt(map.get(Prop.DELAY) ?? '', 10);
  if (!Number.isFinite(level) || level <= 0 || maxLevel <= 0) return 0;
  // Levels above the table clamp to the last one (ScheduleMessageService.getMaxDelayLevel).
  if (level > maxLevel) {
    level = maxLevel;
    map.set(Prop.DELAY, String(level));
  }
  map.set(Prop.REAL_TOPIC, input.topic);
  map.set(Prop.REAL_QID, String(input.queueId));
  input.properties = map.toString();
  input.topic = SCHEDULE_TOPIC;
  input.queueId = level - 1;
  return level;
}
