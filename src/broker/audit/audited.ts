/**
 * Which requests are audited, what each one targets and what state of the target is recorded
 * before and after it. Every mutating admin request code the broker serves is here; sends, pulls
 * and consumers' oneway offset commits are not (they are traffic, not administration).
 */
import { RequestCode, requestCodeName, responseCodeName, COMMAND_FIELD } from '../../protocol/codes.js';
import { bodyBuffer, isOneway, type RemotingCommand } from '../../protocol/frame.js';
import { ACCESS_KEY } from '../../protocol/acl-sign.js';
import { parseProperties } from '../../protocol/java-properties.js';
import { brokerConfigProperties } from '../handlers/get-broker-config.js';
import type { BrokerContext } from '../handlers/context.js';
import { decodeGroupConfig } from '../handlers/update-and-create-subscriptiongroup.js';
import type { ClientChannel, RequestHandler } from '../../remoting/server.js';
import type { AuditEntry } from '../../util/audit-log.js';

type Target = AuditEntry['target'];

interface AuditSpec {
  target(req: RemotingCommand): Target;
  /** The target's state as the broker knows it (undefined: the broker does not keep one). */
  state?(ctx: BrokerContext, t: Target): unknown;
  /** Requests of this code that are not administration. */
  skip?(req: RemotingCommand, ctx: BrokerContext, channel: ClientChannel): boolean;
  /** The change asked for, when the broker keeps no state to show (ACL edits; never a secret). */
  asked?(req: RemotingCommand): unknown;
}

const field = (req: RemotingCommand, k: string): string | undefined => req.extFields?.[k];

const topicSpec: AuditSpec = {
  target: (req) => ({ topic: field(req, 'topic') }),
  state: (ctx, t) => (t.topic !== undefined ? ctx.topicConfig(t.topic) ?? null : null),
};

const groupState = (ctx: BrokerContext, t: Target) => (t.group !== undefined ? ctx.subscriptionGroup(t.group) ?? null : null);

/** The group's committed offsets on the topic's queues ({queueId: offset}; -1 none). */
function offsetsState(ctx: BrokerContext, t: Target): Record<string, number> | null {
  if (t.topic === undefined || t.group === undefined) return null;
  const tc = ctx.topicConfig(t.topic);
  if (!tc) return null;
  const queueIds = t.queueId !== undefined ? [t.queueId] : Array.from({ length: Math.max(tc.readQueueNums, tc.writeQueueNums) }, (_, i) => i);
  return Object.fromEntries(queueIds.map((q) => [String(q), ctx.queryOffset(t.group!, t.topic!, q)]));
}

function configKeys(req: RemotingCommand): string[] {
  return parseProperties(bodyBuffer(req).toString('utf8')).map((e) => e.key);
}

function configState(ctx: BrokerContext, t: Target): Record<string, string | null> {
  const all = new Map(parseProperties(brokerConfigProperties(ctx.config)).map((e) => [e.key, e.value]));
  return Object.fromEntries((t.keys ?? []).map((k) => [k, all.get(k) ?? null]));
}

/** The ACL file's data version: ACL edits keep no other state the log may show. */
const aclState = (ctx: BrokerContext) => (ctx.acl ? { dataVersion: ctx.acl.dataVersion().counter } : null);

/** The header of an ACL edit without its secret (and without the signature fields). */
function aclAsked(req: RemotingCommand): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.extFields ?? {})) {
    if (k === 'secretKey' || k === ACCESS_KEY || k === 'Signature' || k === 'OnsChannel' || k === COMMAND_FIELD) continue;
    out[k] = v;
  }
  if (req.extFields?.secretKey !== undefined) out.secretKey = '(set, not recorded)';
  return out;
}

/** The connection is one a consumer of `group` registered with (HEART_BEAT). */
function ownConsumer(ctx: BrokerContext, group: string | undefined, channel: ClientChannel): boolean {
  return group !== undefined && ctx.clients.consumerGroup(group)?.channels.has(channel.id) === true;
}

function groupOfBody(req: RemotingCommand): string | undefined {
  try {
    return decodeGroupConfig(bodyBuffer(req)).groupName;
  } catch {
    return undefined; // the handler answers the bad body; the entry still records the attempt
  }
}

const AUDITED: Readonly<Record<number, AuditSpec>> = {
  [RequestCode.UPDATE_AND_CREATE_TOPIC]: topicSpec,
  [RequestCode.DELETE_TOPIC_IN_BROKER]: topicSpec,
  [RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP]: { target: (req) => ({ group: groupOfBody(req) }), state: groupState },
  [RequestCode.DELETE_SUBSCRIPTIONGROUP]: { target: (req) => ({ group: field(req, 'groupName') }), state: groupState },
  [RequestCode.INVOKE_BROKER_TO_RESET_OFFSET]: { target: (req) => ({ topic: field(req, 'topic'), group: field(req, 'group') }), state: offsetsState },
  [RequestCode.UPDATE_CONSUMER_OFFSET]: {
    target: (req) => ({ topic: field(req, 'topic'), group: field(req, 'consumerGroup'), queueId: Number(field(req, 'queueId')) }),
    state: offsetsState,
    // A group's own consumers committing their progress is traffic: oneway every few seconds (as
    // RemoteBrokerOffsetStore#persistAll), or acknowledged when a rocketctl consumer closes, on the
    // connection it registered in the group with. An acknowledged write from any other connection is
    // an admin write (resetOffset, migrateBacklog), as the broker persists it before answering.
    skip: (req, ctx, channel) => isOneway(req) || ownConsumer(ctx, field(req, 'consumerGroup'), channel),
  },
  [RequestCode.UPDATE_BROKER_CONFIG]: { target: (req) => ({ keys: configKeys(req) }), state: configState },
  [RequestCode.DELETE_EXPIRED_COMMITLOG]: { target: () => ({}) },
  [RequestCode.UPDATE_AND_CREATE_ACL_CONFIG]: { target: (req) => ({ accessKey: field(req, 'accessKey') }), state: aclState, asked: aclAsked },
  [RequestCode.DELETE_ACL_CONFIG]: { target: (req) => ({ accessKey: field(req, 'accessKey') }), state: aclState },
  [RequestCode.UPDATE_GLOBAL_WHITE_ADDRS_CONFIG]: { target: () => ({}), state: aclState, asked: aclAsked },
};

/** Wrap `handler` so that each request of `code` it handles is appended to ctx.audit. */
export function audited(ctx: BrokerContext, code: number, handler: RequestHandler): RequestHandler {
  const spec = AUDITED[code];
  const log = ctx.audit;
  if (!spec || !log) return handler;
  return async (req, channel) => {
    if (spec.skip?.(req, ctx, channel)) return handler(req, channel);
    let target: Target;
    try {
      target = spec.target(req);
    } catch {
      target = {}; // a malformed request: its handler answers it; the log still says who sent what
    }
    const before = spec.state?.(ctx, target) ?? null;
    const res = await handler(req, channel);
    const changed = res !== undefined && res.code === 0;
    const after = spec.asked && changed ? { ...((spec.state?.(ctx, target) as object | null) ?? {}), asked: spec.asked(req) } : changed ? spec.state?.(ctx, target) ?? null : before;
    log.append({
      time: new Date().toISOString(),
      who: whoOf(req, channel),
      code,
      what: requestCodeName(code),
      target: dropUndefined(target),
      before,
      after,
      result: res ? { code: res.code, name: responseCodeName(res.code), remark: res.remark ?? null } : { code: -1, name: 'NOT_ANSWERED', remark: null },
    });
    return res;
  };
}

/** The "who" of an entry; the rocketctl command that sent it when it named itself (bounded: a name, not a payload). */
function whoOf(req: RemotingCommand, channel: ClientChannel): AuditEntry['who'] {
  const who: AuditEntry['who'] = { addr: channel.remoteAddress, accessKey: req.extFields?.[ACCESS_KEY] ?? null };
  const command = req.extFields?.[COMMAND_FIELD];
  if (typeof command === 'string' && command !== '') who.command = command.slice(0, COMMAND_CHARS_MAX);
  return who;
}

const COMMAND_CHARS_MAX = 64;

function dropUndefined(t: Target): Target {
  return Object.fromEntries(Object.entries(t).filter(([, v]) => v !== undefined && !(typeof v === 'number' && Number.isNaN(v)))) as Target;
}
