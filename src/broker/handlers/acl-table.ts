/**
 * The ACL admin request codes (mqadmin updateAclConfig, deleteAclConfig, updateGlobalWhiteAddr,
 * clusterAclConfigVersion), merged into the broker's dispatch table by index.ts. Without
 * aclEnable=true they answer their *_FAILED code saying so.
 */
import { RequestCode } from '../../protocol/codes.js';
import type { RequestHandler } from '../server.js';
import type { BrokerContext } from './context.js';
import { deleteAclConfig } from './delete-acl-config.js';
import { getBrokerClusterAclInfo } from './get-broker-cluster-acl-info.js';
import { updateAndCreateAclConfig } from './update-and-create-acl-config.js';
import { updateGlobalWhiteAddrsConfig } from './update-global-white-addrs-config.js';

export const ACL_TABLE: Record<number, (ctx: BrokerContext) => RequestHandler> = {
  [RequestCode.UPDATE_AND_CREATE_ACL_CONFIG]: updateAndCreateAclConfig,
  [RequestCode.DELETE_ACL_CONFIG]: deleteAclConfig,
  [RequestCode.GET_BROKER_CLUSTER_ACL_INFO]: getBrokerClusterAclInfo,
  [RequestCode.UPDATE_GLOBAL_WHITE_ADDRS_CONFIG]: updateGlobalWhiteAddrsConfig,
};
