/**
 * DELETE_ACL_CONFIG (51), as AdminBrokerProcessor#deleteAccessConfig: remove an account from
 * plain_acl.yml (mqadmin deleteAclConfig); an unknown key is DELETE_ACL_CONFIG_FAILED.
 */
import { ResponseCode } from '../../protocol/codes.js';
import type { RequestHandler } from '../../remoting/server.js';
import { removeAccount } from '../acl/plain-acl-edit.js';
import type { BrokerContext } from './context.js';
import { aclEdit } from './acl-edit.js';
import { Header } from './util.js';

export function deleteAclConfig(ctx: BrokerContext): RequestHandler {
  return (req) => {
    const accessKey = new Header(req).optStr('accessKey') ?? '';
    return aclEdit(ctx, req, ResponseCode.DELETE_ACL_CONFIG_FAILED, `The accesskey[${accessKey}] corresponding to accessConfig has been deleted failed.`, (text) =>
      accessKey === '' ? undefined : removeAccount(text, accessKey, Date.now()),
    );
  };
}
