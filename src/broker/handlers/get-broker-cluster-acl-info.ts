/**
 * GET_BROKER_CLUSTER_ACL_INFO (52), as AdminBrokerProcessor#getBrokerAclConfigVersion: the ACL
 * file's data version (DataVersion#toJson), per file, and who the broker is (mqadmin
 * clusterAclConfigVersion).
 */
import { ResponseCode } from '../../protocol/codes.js';
import { formatSocketAddr } from '../../protocol/message.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { fail, ok } from './util.js';

export function getBrokerClusterAclInfo(ctx: BrokerContext): RequestHandler {
  return (req) => {
    if (!ctx.acl) return fail(req, ResponseCode.SYSTEM_ERROR, 'ACL is not enabled on this broker (aclEnable=false)');
    const v = ctx.acl.dataVersion();
    const version = JSON.stringify({ counter: v.counter, stateVersion: 0, timestamp: v.timestamp });
    return ok(req, {
      version,
      allAclFileVersion: `{${JSON.stringify(ctx.acl.file)}:${version}}`,
      brokerName: ctx.config.brokerName,
      brokerAddr: formatSocketAddr(ctx.storeHost),
      clusterName: ctx.config.brokerClusterName,
    });
  };
}
