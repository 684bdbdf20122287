/**
 * TAG subscription expressions ("*", "TagA", "TagA || TagB"), parsed the way Java's
 * FilterAPI.buildSubscriptionData does: split on "||", trim, drop empty parts; `tagsSet` holds the
 * tags and `codeSet` their Java String.hashCode() (what the broker compares with the consume
 * queue's tagsCode). Clients re-check the tag string itself, since hashes collide.
 */
import type { SubscriptionData } from '../protocol/bodies.js';
import { javaHashCode } from '../protocol/hash.js';
import { RocketError } from '../errors/index.js';

const SUB_ALL = '*';

export class InvalidSubscriptionError extends RocketError {
  constructor(expression: string, why: string) {
    super(`invalid subscription expression ${JSON.stringify(expression)}: ${why}`, {
      code: 'E_INVALID_SUBSCRIPTION',
      exitCode: 2,
      actions: ['use "*" for every message, or tags separated by "||", e.g. "TagA || TagB"'],
    });
  }
}

interface TagExpression {
  /** True for "*" (or an empty expression): every message matches. */
  all: boolean;
  tags: string[];
}

export function parseTagExpression(expression: string | undefined): TagExpression {
  const e = (expression ?? '').trim();
  if (e === '' || e === SUB_ALL) return { all: true, tags: [] };
  const tags: string[] = [];
  for (const part of e.split('||')) {
    const t = part.trim();
    if (t.length > 0 && !tags.includes(t)) tags.push(t);
  }
  if (tags.length === 0) throw new InvalidSubscriptionError(e, 'no tag in it');
  return { all: false, tags };
}

/** The SubscriptionData sent in heartbeats (and pulls, when the subscription is posted). */
export function buildSubscriptionData(topic: string, expression: string | undefined, subVersionMs = Date.now()): SubscriptionData {
  const parsed = parseTagExpression(expression);
  return {
    topic,
    subString: parsed.all ? SUB_ALL : (expression ?? '').trim(),
    tagsSet: parsed.tags,
    codeSet: parsed.tags.map(javaHashCode),
    subVersion: subVersionMs,
    expressionType: 'TAG',
    classFilterMode: false,
  };
}

/**
 * Client-side filter after a pull (PullAPIWrapper.processPullResult): with tags, a message
 * matches only if its TAGS is one of them; messages without tags never match a tag list.
 */
export function matchesSubscription(sub: Pick<SubscriptionData, 'tagsSet' | 'classFilterMode'>, tag: string | undefined): boolean {
  if (sub.tagsSet.length === 0 || sub.classFilterMode) return true;
  return tag !== undefined && sub.tagsSet.includes(tag);
}
