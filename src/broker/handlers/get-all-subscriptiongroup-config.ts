/**
 * GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201), as AdminBrokerProcessor.getAllSubscriptionGroup (fact
 * sheet §2.10): body {"dataVersion":{...},"subscriptionGroupTable":{group: SubscriptionGroupConfig}}.
 *
 * BrokerContext has no way to list groups (only to look one up), so the broker's subscription
 * group manager is reached through `groupTable(ctx)`; a context without one answers SYSTEM_ERROR
 * rather than an empty (wrong) table.
 */
import { encodeJson, type DataVersion, type SubscriptionGroupConfig } from '../../protocol/bodies.js';
import { ResponseCode } from '../../protocol/codes.js';
import type { RequestHandler } from '../server.js';
import type { BrokerContext } from './context.js';
import { fail, ok } from './util.js';

/** What these admin handlers need of SubscriptionGroupManager / ConsumerOffsetManager. */
export interface GroupTable {
  wrapper(): { dataVersion: DataVersion; subscriptionGroupTable: Record<string, SubscriptionGroupConfig> };
  /**
   * Remove the group's config (and its committed offsets when asked), on disk when it resolves;
   * rejects when the config could not be written (nothing changed), or only the offsets.
   */
  delete(group: string, removeOffset: boolean): Promise<void>;
}

/**
 * The group table of a BrokerController (its `groups` and `offsets` managers), or undefined for
 * a context that has none. Duck-typed so this file needs no change to BrokerContext.
 */
export function groupTable(ctx: BrokerContext): GroupTable | undefined {
  const c = ctx as unknown as {
    groups?: Partial<{ wrapper: GroupTable['wrapper']; deleteDurably(group: string): Promise<boolean> }>;
    offsets?: Partial<{ removeGroupDurably(group: string): Promise<number> }>;
  };
  const groups = c.groups;
  if (!groups || typeof groups.wrapper !== 'function' || typeof groups.deleteDurably !== 'function') return undefined;
  const offsets = c.offsets;
  return {
    wrapper: () => groups.wrapper!(),
    async delete(group, removeOffset) {
      // The config first: offsets left behind by a failure after it are harmless, as in deleteTopic.
      await groups.deleteDurably!(group);
      if (!removeOffset || !offsets || typeof offsets.removeGroupDurably !== 'function') return;
      try {
        await offsets.removeGroupDurably(group);
      } catch (err) {
        throw new Error(`group ${group} deleted, but its consumer offsets were not removed: ${err instanceof Error ? err.message : String(err)}`);
      }
    },
  };
}

export function getAllSubscriptionGroupConfig(ctx: BrokerContext): RequestHandler {
  return (req) => {
    const table = groupTable(ctx);
    if (!table) return fail(req, ResponseCode.SYSTEM_ERROR, 'this broker cannot list its subscription groups');
    return ok(req, undefined, encodeJson(table.wrapper()));
  };
}
