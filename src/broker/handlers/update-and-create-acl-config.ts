/**
 * UPDATE_AND_CREATE_ACL_CONFIG (50), as AdminBrokerProcessor#updateAndCreateAccessConfig: create an
 * account of plain_acl.yml, or change the fields given of an existing one (mqadmin updateAclConfig).
 * rocketctl lets only admin accounts send it (see acl/plain-acl.ts).
 */
import { ResponseCode } from '../../protocol/codes.js';
import type { RequestHandler } from '../../remoting/server.js';
import { upsertAccount } from '../acl/plain-acl-edit.js';
import type { BrokerContext } from './context.js';
import { aclEdit, splitList } from './acl-edit.js';
import { Header } from './util.js';

export function updateAndCreateAclConfig(ctx: BrokerContext): RequestHandler {
  return (req) => {
    const h = new Header(req);
    const accessKey = h.optStr('accessKey') ?? '';
    const update = {
      accessKey,
      secretKey: h.optStr('secretKey') ?? '',
      whiteRemoteAddress: req.extFields?.whiteRemoteAddress,
      admin: h.bool('admin'),
      defaultTopicPerm: h.optStr('defaultTopicPerm'),
      defaultGroupPerm: h.optStr('defaultGroupPerm'),
      topicPerms: splitList(h.optStr('topicPerms')),
      groupPerms: splitList(h.optStr('groupPerms')),
    };
    return aclEdit(ctx, req, ResponseCode.UPDATE_AND_CREATE_ACL_CONFIG_FAILED, `The accesskey[${accessKey}] corresponding to accessConfig has been updated failed.`, (text) =>
      upsertAccount(text, update, Date.now()),
    );
  };
}
