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
  /** Remove the group's config (and its committed offsets when asked), and persist. */
  delete(group: string, removeOffset: boolean): Promise<void>;
}

interface Persistable {
  persist(): Promise<unknown>;
}

/**
 * The group table of a BrokerController (its `groups` and `offsets` managers), or undefined for
 * a context that has none. Duck-typed so this file needs no change to BrokerContext.
 */
export function groupTable(ctx: BrokerContext): GroupTable | undefined {
  const c = ctx as unknown as {
    groups?: Partial<{ wrapper: GroupTable['wrapper']; delete(group: string): boolean }> & Partial<Persistable>;
    offsets?: Partial<{ removeGroup(group: string): number }> & Partial<Persistable>;
  };
  const groups = c.groups;
  if (!groups || typeof groups.wrapper !== 'function' || typeof groups.delete !== 'function' || typeof groups.persist !== 'function') return undefined;
  const offsets = c.offsets;
  return {
    wrapper: () => groups.wrapper!(),
    async delete(group, removeOffset) {
      groups.delete!(group);
      const writes: Array<Promise<unknown>> = [groups.persist!()];
      if (removeOffset && offsets && typeof offsets.removeGroup === 'function' && typeof offsets.persist === 'function') {
        if (offsets.removeGroup(group) > 0) writes.push(offsets.persist());
      }
      await Promise.all(writes);
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
