/**
 * UPDATE_GLOBAL_WHITE_ADDRS_CONFIG (53), as AdminBrokerProcessor#updateGlobalWhiteAddrsConfig:
 * replace globalWhiteRemoteAddresses (mqadmin updateGlobalWhiteAddr). rocketctl has one ACL file,
 * so `aclFileFullPath` may only name it (or be left out).
 */
import path from 'node:path';
import { ResponseCode } from '../../protocol/codes.js';
import type { RequestHandler } from '../../remoting/server.js';
import { setGlobalWhiteAddrs } from '../acl/plain-acl-edit.js';
import type { BrokerContext } from './context.js';
import { aclEdit, splitList } from './acl-edit.js';
import { fail, Header } from './util.js';

export function updateGlobalWhiteAddrsConfig(ctx: BrokerContext): RequestHandler {
  return (req) => {
    const h = new Header(req);
    const raw = h.optStr('globalWhiteAddrs');
    const file = h.optStr('aclFileFullPath');
    const failed = ResponseCode.UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED;
    if (file && ctx.acl && path.resolve(file) !== ctx.acl.file) return fail(req, failed, `${file} is not this broker's ACL file (${ctx.acl.file})`);
    return aclEdit(ctx, req, failed, `The globalWhiteAddresses[${raw}] has been updated failed.`, (text) =>
      raw === undefined ? undefined : setGlobalWhiteAddrs(text, splitList(raw)!, Date.now()),
    );
  };
}
