/**
 * UPDATE_BROKER_CONFIG (25), as AdminBrokerProcessor#updateBrokerConfig (4.9.8): the body is
 * java.util.Properties text; a blacklisted key (brokerConfigPath, rocketmqHome, configBlackList)
 * is NO_PERMISSION "Can not update config in black list."; otherwise Configuration#update applies
 * the keys and persists them (BrokerConfiguration says which keys change here and how they are
 * saved). A request without a body changes nothing and is SUCCESS, as in Java.
 */
import { ResponseCode } from '../../protocol/codes.js';
import { bodyBuffer, makeResponse } from '../../protocol/frame.js';
import { parseProperties } from '../../protocol/java-properties.js';
import { ConfigUpdateError } from '../configuration.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { fail, ok } from './util.js';

export function updateBrokerConfig(ctx: BrokerContext): RequestHandler {
  return async (req, channel) => {
    const body = bodyBuffer(req);
    if (body.length === 0) return ok(req);
    const entries = parseProperties(body.toString('utf8')).map(({ key, value }) => ({ key, value }));
    try {
      const r = await ctx.configuration.update(entries);
      ctx.logger.info(`updateBrokerConfig from ${channel.remoteAddress}: applied [${r.applied.join(', ')}], ignored [${r.ignored.join(', ')}]`);
      // Java answers remark null; naming the ignored keys costs a Java client nothing and tells others.
      return r.ignored.length === 0 ? ok(req) : makeResponse(req, ResponseCode.SUCCESS, `ignored (unknown, or read only at start): ${r.ignored.join(', ')}`);
    } catch (err) {
      if (!(err instanceof ConfigUpdateError)) throw err;
      return fail(req, err.blacklisted ? ResponseCode.NO_PERMISSION : ResponseCode.SYSTEM_ERROR, err.message);
    }
  };
}
