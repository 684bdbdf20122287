/**
 * Small helpers shared by the handlers: typed access to extFields (which arrive as strings from
 * Java and as coerced numbers/booleans from ali-ons), RocketMQ's tag-expression parsing
 * (FilterAPI.buildSubscriptionData), and response shorthands.
 */
import { makeResponse, type RemotingCommand } from '../../protocol/frame.js';
import { ResponseCode } from '../../protocol/codes.js';
import { javaHashCode } from '../../protocol/hash.js';
import type { SubscriptionData } from '../../protocol/bodies.js';
import { recordStoreTimestamp } from '../../protocol/message.js';
import type { BrokerContext } from './context.js';

/** A required header field is missing or not a number: answered SYSTEM_ERROR, as Java's decoder does. */
class HeaderError extends Error {}

export class Header {
  private readonly f: Record<string, string>;
  constructor(req: RemotingCommand) {
    this.f = req.extFields ?? {};
  }

  has(name: string): boolean {
    return this.f[name] !== undefined && this.f[name] !== '';
  }

  /** Required string (CommandCustomHeader @CFNotNull: "the custom field <x> is null"). */
  str(name: string): string {
    const v = this.f[name];
    if (v === undefined || v === '') throw new HeaderError(`the custom field <${name}> is null`);
    return v;
  }

  optStr(name: string): string | undefined {
    const v = this.f[name];
    return v === undefined || v === '' ? undefined : v;
  }

  /** Required integer (int or long; JS numbers hold every offset we can reach). */
  int(name: string): number {
    return parseIntField(name, this.str(name));
  }

  /**
   * Required Java long of milliseconds used as a time bound: beyond 2^53 it clamps to the nearest
   * safe integer, so Long.MAX_VALUE ("no end", what mqadmin queryMsgByKey sends) stays "no end".
   */
  timeMs(name: string): number {
    const v = this.str(name).trim();
    if (!/^-?\d+$/.test(v)) throw new HeaderError(`the custom field <${name}> is not a number: ${v}`);
    return Math.max(Number.MIN_SAFE_INTEGER, Math.min(Number.MAX_SAFE_INTEGER, Number(v)));
  }

  optInt(name: string, dflt: number): number {
    const v = this.optStr(name);
    return v === undefined ? dflt : parseIntField(name, v);
  }

  /** Java Boolean.parseBoolean: "true" (any case) is true, anything else false. */
  bool(name: string, dflt = false): boolean {
    const v = this.optStr(name);
    return v === undefined ? dflt : v.toLowerCase() === 'true';
  }
}

function parseIntField(name: string, v: string): number {
  // Fast path: an optional '-' and up to 15 digits (what clients send), read without a regex or
  // a string per field; always a safe integer, the same value Number(v) gives.
  const len = v.length;
  const neg = len > 1 && v.charCodeAt(0) === 45;
  if (len > 0 && len <= 16 - (neg ? 0 : 1)) {
    let x = 0;
    let i = neg ? 1 : 0;
    for (; i < len; i++) {
      const d = v.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      x = x * 10 + d;
    }
    if (i === len) return neg ? -x : x;
  }
  if (!/^-?\d+$/.test(v.trim())) throw new HeaderError(`the custom field <${name}> is not a number: ${v}`);
  const n = Number(v.trim());
  if (!Number.isSafeInteger(n)) throw new HeaderError(`the custom field <${name}> is out of range: ${v}`);
  return n;
}

const SUB_ALL = '*';

/**
 * FilterAPI.buildSubscriptionData for TAG expressions: `*` (or empty) = all, else tags separated by
 * `||`, trimmed; codeSet = Java hashCode of each tag.
 */
export function buildSubscriptionData(topic: string, subString: string | undefined, subVersion = Date.now()): SubscriptionData {
  const sub: SubscriptionData = { topic, subString: SUB_ALL, tagsSet: [], codeSet: [], subVersion, expressionType: 'TAG' };
  if (!subString || subString.trim() === '' || subString.trim() === SUB_ALL) return sub;
  sub.subString = subString;
  for (const raw of subString.split('||')) {
    const tag = raw.trim();
    if (tag === '' || sub.tagsSet.includes(tag)) continue;
    sub.tagsSet.push(tag);
    sub.codeSet.push(javaHashCode(tag));
  }
  if (sub.tagsSet.length === 0) sub.subString = SUB_ALL;
  return sub;
}

/**
 * ExpressionMessageFilter.isMatchedByConsumeQueue for TAG subscriptions: `*` matches everything,
 * otherwise the consume-queue tags code (a sign-extended int hash) must be in codeSet.
 */
export function tagFilter(sub: SubscriptionData | undefined): ((tagsCode: number) => boolean) | undefined {
  if (!sub || sub.subString === SUB_ALL || sub.subString === '' || sub.codeSet.length === 0) return undefined;
  if (sub.expressionType && sub.expressionType !== 'TAG') return undefined;
  const codes = new Set(sub.codeSet.map((c) => c | 0));
  return (tagsCode: number) => codes.has(tagsCode | 0);
}

export function ok(req: RemotingCommand, extFields?: Record<string, string | number | boolean | undefined>, body?: Buffer | Buffer[]): RemotingCommand {
  return makeResponse(req, ResponseCode.SUCCESS, undefined, extFields, body);
}

export function fail(req: RemotingCommand, code: number, remark: string): RemotingCommand {
  return makeResponse(req, code, remark);
}

/** RocketMQ's "see the FAQ" suffix is noise here; remarks say what to do instead. */
export function topicNotExistRemark(topic: string): string {
  return `topic[${topic}] not exist, apply first please! (create it with: rocketctl updateTopic -t ${topic})`;
}

/**
 * SYSTEM_ERROR for a change that could not be written to disk (a full disk): nothing changed,
 * the reason says why. Apache answers SYSTEM_ERROR with the exception's text in the same place.
 */
export function notSaved(req: RemotingCommand, what: string, err: unknown): RemotingCommand {
  return fail(req, ResponseCode.SYSTEM_ERROR, `${what} was not saved, nothing changed: ${errMessage(err)}`);
}

export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}


/** Enough for one record: the store returns at least one message whatever the limit. */
const ONE_RECORD_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Store time of the message at a queue offset, 0 when there is none or it cannot be read
 * (DefaultMessageStore#getMessageStoreTimeStamp, 4.9.8).
 */
export async function storeTimestampAt(ctx: BrokerContext, topic: string, queueId: number, offset: number): Promise<number> {
  if (offset < ctx.store.minOffset(topic, queueId) || offset >= ctx.store.maxOffset(topic, queueId)) return 0;
  const got = await ctx.store.get(topic, queueId, offset, 1, undefined, ONE_RECORD_MAX_BYTES);
  const rec = got.status === 'FOUND' ? got.records[0] : undefined;
  return (rec && recordStoreTimestamp(rec)) ?? 0;
}
