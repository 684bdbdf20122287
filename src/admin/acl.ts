/**
 * The ACL admin requests (mqadmin updateAclConfig, deleteAclConfig, updateGlobalWhiteAddr,
 * clusterAclConfigVersion) to -b one broker or every master of -c a cluster, as
 * DefaultMQAdminExt#createAndUpdatePlainAccessConfig and friends send them (4.9.7): the headers of
 * CreateAccessConfigRequestHeader, DeleteAccessConfigRequestHeader and
 * UpdateGlobalWhiteAddrsConfigRequestHeader. They work against Apache brokers and ours alike.
 *
 * A secret key is input only: it goes into the request header (as mqadmin sends it) and never into
 * a result, a warning or an error.
 */
import { RemoteError } from '../errors/index.js';
import { RequestCode, ResponseCode, responseCodeName } from '../protocol/codes.js';
import { makeRequest, type RemotingCommand } from '../protocol/frame.js';
import type { AdminSession } from './session.js';
import { sessionInvoke } from './session.js';
import { BROKER_PARALLELISM, failureOf, mapBounded, type BrokerFailure } from './fanout.js';
import { resolveTargets, type BrokerTarget, type TargetOptions } from './targets.js';

/** The fields of one account of plain_acl.yml that updateAclConfig sets; absent fields are not sent. */
export interface AclAccountUpdate {
  accessKey: string;
  secretKey: string;
  whiteRemoteAddress?: string;
  defaultTopicPerm?: string;
  defaultGroupPerm?: string;
  /** NAME=PERM items. */
  topicPerms?: string[];
  groupPerms?: string[];
  admin?: boolean;
}

/** What a changing ACL command did, per broker. */
export interface AclChangeResult {
  /** The account changed (updateAclConfig, deleteAclConfig); null for updateGlobalWhiteAddr. */
  accessKey: string | null;
  /** The new globalWhiteRemoteAddresses (updateGlobalWhiteAddr); null otherwise. */
  globalWhiteAddrs: string[] | null;
  brokers: BrokerTarget[];
  failed: BrokerFailure[];
}

export interface AclVersionEntry extends BrokerTarget {
  /** The ACL file's DataVersion as the broker reports it (counter, timestamp ms). */
  counter: number | null;
  timestampMs: number | null;
}

export interface AclVersionResult {
  brokers: AclVersionEntry[];
  failed: BrokerFailure[];
}

type HeaderValues = Record<string, string | number | boolean | undefined>;

async function aclRequest(s: AdminSession, addr: string, code: number, header: HeaderValues, what: string): Promise<RemotingCommand> {
  const res = await sessionInvoke(s, addr, makeRequest(code, header));
  if (res.code !== ResponseCode.SUCCESS) throw new RemoteError(res.code, `${what} on ${addr}: ${res.remark || responseCodeName(res.code)}`);
  return res;
}

/** Send one change to every target; every broker's outcome is kept, all failing throws the first. */
async function changeOnAll(s: AdminSession, o: TargetOptions, code: number, header: HeaderValues, what: string): Promise<{ brokers: BrokerTarget[]; failed: BrokerFailure[] }> {
  const targets = await resolveTargets(s, o);
  const settled = await mapBounded(targets, BROKER_PARALLELISM, (t) => aclRequest(s, t.addr, code, header, what));
  const brokers: BrokerTarget[] = [];
  const failed: BrokerFailure[] = [];
  for (const r of settled) {
    if (r.ok) brokers.push(r.item);
    else failed.push(failureOf(r.item, r.error));
  }
  if (brokers.length === 0 && settled[0] && !settled[0].ok) throw settled[0].error;
  return { brokers, failed };
}

/** UPDATE_AND_CREATE_ACL_CONFIG (50): create the account, or change the fields given. */
export async function updateAclConfig(s: AdminSession, o: TargetOptions & { account: AclAccountUpdate }): Promise<AclChangeResult> {
  const a = o.account;
  const header: HeaderValues = {
    accessKey: a.accessKey,
    secretKey: a.secretKey,
    whiteRemoteAddress: a.whiteRemoteAddress,
    defaultTopicPerm: a.defaultTopicPerm,
    defaultGroupPerm: a.defaultGroupPerm,
    topicPerms: a.topicPerms?.join(','),
    groupPerms: a.groupPerms?.join(','),
    admin: a.admin,
  };
  const r = await changeOnAll(s, o, RequestCode.UPDATE_AND_CREATE_ACL_CONFIG, header, `update ACL account ${a.accessKey}`);
  return { accessKey: a.accessKey, globalWhiteAddrs: null, ...r };
}

/** DELETE_ACL_CONFIG (51). */
export async function deleteAclConfig(s: AdminSession, o: TargetOptions & { accessKey: string }): Promise<AclChangeResult> {
  const r = await changeOnAll(s, o, RequestCode.DELETE_ACL_CONFIG, { accessKey: o.accessKey }, `delete ACL account ${o.accessKey}`);
  return { accessKey: o.accessKey, globalWhiteAddrs: null, ...r };
}

/** UPDATE_GLOBAL_WHITE_ADDRS_CONFIG (53): replace globalWhiteRemoteAddresses. */
export async function updateGlobalWhiteAddr(s: AdminSession, o: TargetOptions & { addrs: string[]; aclFileFullPath?: string }): Promise<AclChangeResult> {
  const header = { globalWhiteAddrs: o.addrs.join(','), aclFileFullPath: o.aclFileFullPath };
  const r = await changeOnAll(s, o, RequestCode.UPDATE_GLOBAL_WHITE_ADDRS_CONFIG, header, 'update globalWhiteRemoteAddresses');
  return { accessKey: null, globalWhiteAddrs: o.addrs, ...r };
}

/** GET_BROKER_CLUSTER_ACL_INFO (52): each broker's ACL file data version. */
export async function clusterAclConfigVersion(s: AdminSession, o: TargetOptions): Promise<AclVersionResult> {
  const targets = await resolveTargets(s, o);
  const settled = await mapBounded(targets, BROKER_PARALLELISM, (t) => aclRequest(s, t.addr, RequestCode.GET_BROKER_CLUSTER_ACL_INFO, {}, 'ACL config version'));
  const brokers: AclVersionEntry[] = [];
  const failed: BrokerFailure[] = [];
  for (const r of settled) {
    if (r.ok) brokers.push({ ...r.item, ...parseDataVersion(r.value.extFields?.version) });
    else failed.push(failureOf(r.item, r.error));
  }
  if (brokers.length === 0 && settled[0] && !settled[0].ok) throw settled[0].error;
  return { brokers, failed };
}

/** DataVersion#toJson ({"counter":N,"stateVersion":0,"timestamp":MS}); unreadable parts are null. */
function parseDataVersion(text: string | undefined): { counter: number | null; timestampMs: number | null } {
  const num = (re: RegExp) => {
    const m = re.exec(text ?? '');
    return m ? Number(m[1]) : null;
  };
  return { counter: num(/"counter"\s*:\s*(\d+)/), timestampMs: num(/"timestamp"\s*:\s*(\d+)/) };
}
