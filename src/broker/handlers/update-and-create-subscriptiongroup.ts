/**
 * UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200): body = SubscriptionGroupConfig JSON; fields missing
 * from the body keep RocketMQ's defaults.
 */
import { ResponseCode } from '../../protocol/codes.js';
import { bodyBuffer } from '../../protocol/frame.js';
import { defaultSubscriptionGroupConfig, type SubscriptionGroupConfig } from '../../protocol/bodies.js';
import { parseFastjson } from '../../protocol/fastjson.js';
import { groupNameProblem } from '../../protocol/validate.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { errMessage, fail, notSaved, ok } from './util.js';

export function updateAndCreateSubscriptionGroup(ctx: BrokerContext): RequestHandler {
  return async (req) => {
    let cfg: SubscriptionGroupConfig;
    try {
      cfg = decodeGroupConfig(bodyBuffer(req));
    } catch (err) {
      return fail(req, ResponseCode.SYSTEM_ERROR, `bad SubscriptionGroupConfig body: ${errMessage(err)}`);
    }
    const why = groupNameProblem(cfg.groupName);
    if (why) return fail(req, ResponseCode.SYSTEM_ERROR, `invalid group name ${JSON.stringify(cfg.groupName)}: ${why}`);
    try {
      await ctx.updateSubscriptionGroup(cfg);
    } catch (err) {
      return notSaved(req, `subscription group ${cfg.groupName}`, err);
    }
    return ok(req);
  };
}

export function decodeGroupConfig(body: Buffer): SubscriptionGroupConfig {
  const v = parseFastjson(body.toString('utf8'));
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
  const o = v as Record<string, unknown>;
  const cfg = defaultSubscriptionGroupConfig(typeof o.groupName === 'string' ? o.groupName : '');
  const bool = (k: keyof SubscriptionGroupConfig) => {
    if (typeof o[k] === 'boolean') (cfg as unknown as Record<string, unknown>)[k] = o[k];
  };
  const int = (k: keyof SubscriptionGroupConfig) => {
    const n = typeof o[k] === 'string' ? Number(o[k]) : o[k];
    if (typeof n === 'number' && Number.isInteger(n)) (cfg as unknown as Record<string, unknown>)[k] = n;
  };
  bool('consumeEnable');
  bool('consumeFromMinEnable');
  bool('consumeBroadcastEnable');
  bool('notifyConsumerIdsChangedEnable');
  int('retryQueueNums');
  int('retryMaxTimes');
  int('brokerId');
  int('whichBrokerWhenConsumeSlowly');
  return cfg;
}
