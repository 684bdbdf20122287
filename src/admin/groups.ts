/** Subscription groups: updateSubGroup, deleteSubGroup (apache/rocketmq tools UpdateSubGroupSubCommand, DeleteSubscriptionGroupCommand). */

import { UsageError, GroupNotFoundError } from '../errors/index.js';
import { SubscriptionGroupConfig } from '../protocol/bodies.js';
import { groupNameProblem } from '../protocol/validate.js';
import { BrokerFailure, mapBounded, BROKER_PARALLELISM, partition, failureOf } from './fanout.js';
import { getAllSubscriptionGroups, newSubGroupConfig, definedOnly, createOrUpdateSubscriptionGroup, deleteSubscriptionGroupOn } from './requests.js';
import { AdminSession } from './session.js';
import { BrokerTarget, TargetOptions, resolveTargets } from './targets.js';

/** Fields of SubscriptionGroupConfig a caller may set; unset ones keep the broker's current value. */
export type SubGroupFields = Partial<Omit<SubscriptionGroupConfig, 'groupName'>>;

export interface SubGroupOnBroker extends BrokerTarget {
  /** False when the group was created by this call. */
  existed: boolean;
  config: SubscriptionGroupConfig;
}

export interface UpdateSubGroupResult {
  group: string;
  brokers: SubGroupOnBroker[];
  failed: BrokerFailure[];
}

/**
 * Per target broker: read its current config of the group (GET_ALL_SUBSCRIPTIONGROUP_CONFIG),
 * apply the given fields, write it back (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP). mqadmin instead
 * sends the given fields over defaults, silently resetting every field not on the command line.
 */
export async function updateSubGroup(s: AdminSession, o: TargetOptions & { group: string; fields: SubGroupFields }): Promise<UpdateSubGroupResult> {
  const why = groupNameProblem(o.group);
  if (why) throw new UsageError(`invalid group name ${JSON.stringify(o.group)}: ${why}`);
  const targets = await resolveTargets(s, o);
  const settled = await mapBounded(targets, BROKER_PARALLELISM, async (t) => {
    const current = (await getAllSubscriptionGroups(s, t.addr))[o.group];
    const config: SubscriptionGroupConfig = { ...(current ?? newSubGroupConfig(o.group)), ...definedOnly(o.fields), groupName: o.group };
    await createOrUpdateSubscriptionGroup(s, t.addr, config);
    return { existed: current !== undefined, config };
  });
  const { ok, failed } = partition(settled, { throwIfAllFailed: true });
  return { group: o.group, brokers: ok.map(({ item, value }) => ({ ...item, ...value })), failed };
}

export interface DeleteSubGroupResult {
  group: string;
  removeOffset: boolean;
  /** Brokers the delete was sent to, and whether each had the group. */
  brokers: Array<BrokerTarget & { existed: boolean }>;
  failed: BrokerFailure[];
}

/**
 * DELETE_SUBSCRIPTIONGROUP on -b or each master of -c. The brokers are asked first
 * (GET_ALL_SUBSCRIPTIONGROUP_CONFIG): when none that answered has the group, GroupNotFoundError
 * (a broker deletes an unknown group "successfully", which would hide a typo).
 */
export async function deleteSubGroup(s: AdminSession, o: TargetOptions & { group: string; removeOffset: boolean }): Promise<DeleteSubGroupResult> {
  const targets = await resolveTargets(s, o);
  const known = await mapBounded(targets, BROKER_PARALLELISM, async (t) => (await getAllSubscriptionGroups(s, t.addr))[o.group] !== undefined);
  const first = partition(known, { throwIfAllFailed: true });
  if (!first.ok.some((r) => r.value)) throw new GroupNotFoundError(o.group);
  const settled = await mapBounded(first.ok, BROKER_PARALLELISM, async (r) => {
    await deleteSubscriptionGroupOn(s, r.item.addr, o.group, o.removeOffset);
    return r.value;
  });
  const failed = [...first.failed];
  const brokers: DeleteSubGroupResult['brokers'] = [];
  for (const r of settled) {
    if (r.ok) brokers.push({ ...r.item.item, existed: r.value });
    else failed.push(failureOf(r.item.item, r.error));
  }
  return { group: o.group, removeOffset: o.removeOffset, brokers, failed };
}
