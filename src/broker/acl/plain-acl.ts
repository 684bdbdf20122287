/**
 * RocketMQ's plain ACL (acl/ module at 4.9.8): plain_acl.yml read into accounts and a global white
 * list (PlainPermissionManager#load, #buildPlainAccessResource), the resources each request needs
 * (PlainAccessValidator#parse) and the check (PlainPermissionManager#validate, #checkPerm).
 *
 * Refusals say what Apache's AclException says (kept word for word, so what users grep for still
 * matches), followed by what rocketctl adds: the permission that was missing. Never a secret key.
 */
import { parse as parseYaml } from 'yaml';
import { RequestCode, requestCodeName } from '../../protocol/codes.js';
import { decodeHeartbeatData } from '../../protocol/bodies.js';
import { ACCESS_KEY, SIGNATURE, UNIQUE_MSG_QUERY_FLAG, sameSignature, signature, signedContent } from '../../protocol/acl-sign.js';
import type { RemotingCommand } from '../../protocol/frame.js';
import { addressMatcher, type AddressMatcher } from './remote-address.js';
import { RETRY_GROUP_TOPIC_PREFIX, RMQ_SYS_TRACE_TOPIC } from '../../protocol/names.js';

/** Permission bits (acl.common.Permission). */
const Perm = { DENY: 1, ANY: 2, PUB: 4, SUB: 8 } as const;

/** AclConstants.ACCESS_KEY_MIN_LENGTH / SECRET_KEY_MIN_LENGTH: keys must be longer than this. */
const KEY_MIN_LENGTH = 6;
/**
 * Permission.ADMIN_CODE: the codes only `admin: true` accounts may send; and, unlike Apache (where
 * any account may rewrite the ACL), the three requests that change plain_acl.yml.
 */
const ADMIN_CODES: ReadonlySet<number> = new Set([
  RequestCode.UPDATE_AND_CREATE_TOPIC,
  RequestCode.UPDATE_BROKER_CONFIG,
  RequestCode.DELETE_TOPIC_IN_BROKER,
  RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
  RequestCode.DELETE_SUBSCRIPTIONGROUP,
  RequestCode.UPDATE_AND_CREATE_ACL_CONFIG,
  RequestCode.DELETE_ACL_CONFIG,
  RequestCode.UPDATE_GLOBAL_WHITE_ADDRS_CONFIG,
  // rocketctl's: who changed what is for admins to read.
  RequestCode.ROCKETCTL_QUERY_AUDIT_LOG,
]);

interface Account {
  accessKey: string;
  secretKey: string;
  admin: boolean;
  defaultTopicPerm: number;
  defaultGroupPerm: number;
  /** topic → perm; groups keyed by their retry topic, as Apache keys them. */
  perms: Map<string, number>;
  white: AddressMatcher;
}

export interface PlainAcl {
  accounts: Map<string, Account>;
  globalWhite: AddressMatcher[];
  /** Things the file says that Apache reads silently in a way the author may not expect. */
  notes: string[];
}

export class AclConfigError extends Error {}

/** Permission.parsePermFromString: anything but PUB, SUB, PUB|SUB, SUB|PUB is DENY. */
function parsePerm(s: unknown, where: string, notes: string[]): number {
  if (s === undefined || s === null) return Perm.DENY;
  switch (String(s).trim()) {
    case 'PUB':
      return Perm.PUB;
    case 'SUB':
      return Perm.SUB;
    case 'PUB|SUB':
    case 'SUB|PUB':
      return Perm.PUB | Perm.SUB;
    case 'DENY':
      return Perm.DENY;
    default:
      notes.push(`${where}: ${JSON.stringify(String(s))} is not PUB, SUB, PUB|SUB or DENY; read as DENY (as Apache does)`);
      return Perm.DENY;
  }
}

function permName(p: number): string {
  if (p & Perm.DENY) return 'DENY';
  const n = [p & Perm.PUB ? 'PUB' : '', p & Perm.SUB ? 'SUB' : ''].filter(Boolean).join('|');
  return n || 'DENY';
}

function list(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new AclConfigError(`${where} must be a list`);
  return v.map((x) => String(x));
}

/** Parse plain_acl.yml text (YAML 1.1, as snakeyaml reads it). Throws AclConfigError saying where. */
export function parsePlainAcl(text: string): PlainAcl {
  let doc: unknown;
  try {
    doc = parseYaml(text, { version: '1.1' });
  } catch (err) {
    throw new AclConfigError(`not YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  const notes: string[] = [];
  const out: PlainAcl = { accounts: new Map(), globalWhite: [], notes };
  if (doc === null || doc === undefined) return out;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new AclConfigError('the top level must be a mapping (globalWhiteRemoteAddresses, accounts)');
  const top = doc as Record<string, unknown>;
  for (const a of list(top.globalWhiteRemoteAddresses, 'globalWhiteRemoteAddresses')) out.globalWhite.push(matcher(a, 'globalWhiteRemoteAddresses'));
  const accounts = top.accounts ?? [];
  if (!Array.isArray(accounts)) throw new AclConfigError('accounts must be a list');
  accounts.forEach((raw, i) => {
    const acct = buildAccount(raw, `accounts[${i}]`, notes);
    // As PlainPermissionManager#load: an access key defined twice keeps its first definition.
    if (out.accounts.has(acct.accessKey)) notes.push(`accounts[${i}]: accessKey ${acct.accessKey} is defined again; the first definition is used`);
    else out.accounts.set(acct.accessKey, acct);
  });
  return out;
}

function matcher(pattern: string, where: string): AddressMatcher {
  try {
    return addressMatcher(pattern);
  } catch (err) {
    throw new AclConfigError(`${where}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** PlainPermissionManager#checkPlainAccessConfig + #buildPlainAccessResource. */
function buildAccount(raw: unknown, where: string, notes: string[]): Account {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new AclConfigError(`${where} must be a mapping`);
  const r = raw as Record<string, unknown>;
  const accessKey = r.accessKey === undefined || r.accessKey === null ? '' : String(r.accessKey);
  const secretKey = r.secretKey === undefined || r.secretKey === null ? '' : String(r.secretKey);
  if (accessKey.length <= KEY_MIN_LENGTH) throw new AclConfigError(`${where}: accessKey must be longer than ${KEY_MIN_LENGTH} characters`);
  if (secretKey.length <= KEY_MIN_LENGTH) throw new AclConfigError(`${where} (accessKey ${accessKey}): secretKey must be longer than ${KEY_MIN_LENGTH} characters`);
  const at = `${where} (accessKey ${accessKey})`;
  const perms = new Map<string, number>();
  // Permission.parseResourcePerms: "name=PERM" (StringUtils.split drops empty pieces); groups first, then topics.
  for (const [key, isTopic] of [['groupPerms', false], ['topicPerms', true]] as const) {
    for (const entry of list(r[key], `${at}: ${key}`)) {
      const items = entry.split('=').filter((s) => s !== '');
      if (items.length !== 2) throw new AclConfigError(`${at}: ${key} entry ${JSON.stringify(entry)} is not NAME=PERM (e.g. topicA=PUB|SUB)`);
      const name = items[0]!.trim();
      perms.set(isTopic ? name : RETRY_GROUP_TOPIC_PREFIX + name, parsePerm(items[1], `${at}: ${key} ${name}`, notes));
    }
  }
  return {
    accessKey,
    secretKey,
    admin: r.admin === true || String(r.admin).toLowerCase() === 'true',
    defaultTopicPerm: parsePerm(r.defaultTopicPerm, `${at}: defaultTopicPerm`, notes),
    defaultGroupPerm: parsePerm(r.defaultGroupPerm, `${at}: defaultGroupPerm`, notes),
    perms,
    white: matcher(r.whiteRemoteAddress === undefined || r.whiteRemoteAddress === null ? '' : String(r.whiteRemoteAddress), `${at}: whiteRemoteAddress`),
  };
}

// ---- what a request needs ----------------------------------------------------------------------

/** A refused request: `message` is AclException's text; `badSignature` for the failure counter. */
interface AclRefusal {
  message: string;
  accessKey?: string;
  badSignature?: boolean;
}

const retry = (group: string | undefined) => (group === undefined ? undefined : RETRY_GROUP_TOPIC_PREFIX + group);

/** PlainAccessValidator#parse: resource → permission needed, by request code. */
function neededPerms(req: RemotingCommand): Map<string, number> {
  const f = req.extFields ?? {};
  const need = new Map<string, number>();
  const add = (res: string | undefined, p: number) => {
    if (res !== undefined) need.set(res, p);
  };
  const send = (topic: string | undefined, group: string | undefined) => {
    if (topic?.startsWith(RETRY_GROUP_TOPIC_PREFIX)) add(retry(group), Perm.SUB);
    else add(topic, Perm.PUB);
  };
  switch (req.code) {
    case RequestCode.SEND_MESSAGE:
      // Apache reads `group`, which SendMessageRequestHeader does not have: no group check.
      send(f.topic, f.group);
      break;
    case RequestCode.SEND_MESSAGE_V2:
    // Not in Apache's switch (a batch needs no PUB there); rocketctl checks it as a V2 send.
    case RequestCode.SEND_BATCH_MESSAGE:
      send(f.b, f.a);
      break;
    case RequestCode.CONSUMER_SEND_MSG_BACK:
      add(retry(f.group), Perm.SUB);
      break;
    case RequestCode.PULL_MESSAGE:
      add(f.topic, Perm.SUB);
      add(retry(f.consumerGroup), Perm.SUB);
      break;
    case RequestCode.QUERY_MESSAGE:
      add(f.topic, Perm.SUB);
      break;
    case RequestCode.HEART_BEAT:
      for (const c of decodeHeartbeatData(bodyOf(req)).consumerDataSet ?? []) {
        add(retry(c.groupName), Perm.SUB);
        for (const s of c.subscriptionDataSet ?? []) add(s.topic, Perm.SUB);
      }
      break;
    case RequestCode.UNREGISTER_CLIENT:
    case RequestCode.GET_CONSUMER_LIST_BY_GROUP:
      add(retry(f.consumerGroup), Perm.SUB);
      break;
    case RequestCode.UPDATE_CONSUMER_OFFSET:
      add(retry(f.consumerGroup), Perm.SUB);
      add(f.topic, Perm.SUB);
      break;
    default:
      break;
  }
  return need;
}

function bodyOf(req: RemotingCommand): Buffer {
  if (!req.body) return Buffer.alloc(0);
  return Buffer.isBuffer(req.body) ? req.body : Buffer.concat(req.body);
}

/** Permission.checkPermission. */
function permits(needed: number, owned: number): boolean {
  if (owned & Perm.DENY) return false;
  if (needed & Perm.ANY) return (owned & (Perm.PUB | Perm.SUB)) !== 0;
  return (needed & owned) !== 0;
}

const EXCLUDED: ReadonlySet<string> = new Set([UNIQUE_MSG_QUERY_FLAG]);

/**
 * Does the request carry a valid signature of `secretKey`? As Apache: content without
 * `_UNIQUE_KEY_QUERY`. Also accepted: content with it, which is what Java clients sign (their
 * unique-key queries fail against Apache brokers); both need the secret, so nothing is weakened.
 */
function signatureValid(req: RemotingCommand, secretKey: string): boolean {
  const sig = req.extFields?.[SIGNATURE];
  if (sameSignature(signature(signedContent(req.extFields, req.body, EXCLUDED), secretKey), sig)) return true;
  return req.extFields?.[UNIQUE_MSG_QUERY_FLAG] !== undefined && sameSignature(signature(signedContent(req.extFields, req.body), secretKey), sig);
}

/**
 * PlainPermissionManager#validate: undefined when the request may go on. `ip` is the peer's
 * address without the port. Throws only for bodies that do not decode (answered as Apache does).
 */
export function checkRequest(acl: PlainAcl, req: RemotingCommand, ip: string): AclRefusal | undefined {
  if (acl.globalWhite.some((m) => m(ip))) return undefined;
  const accessKey = req.extFields?.[ACCESS_KEY];
  if (accessKey === undefined) return { message: 'No accessKey is configured' };
  const owned = acl.accounts.get(accessKey);
  if (!owned) return { message: `No acl config for ${accessKey}`, accessKey };
  // An account's own white list lets its requests through unsigned and unchecked, as in Apache.
  if (owned.white(ip)) return undefined;
  const need = neededPerms(req);
  if (!signatureValid(req, owned.secretKey)) {
    return { message: `Check signature failed for accessKey=${accessKey}, the signature does not match the request (wrong secret key, or a changed request)`, accessKey, badSignature: true };
  }
  if (need.get(RMQ_SYS_TRACE_TOPIC) === Perm.PUB) return undefined;
  return checkPerm(owned, req.code, need);
}

/** PlainPermissionManager#checkPerm. */
function checkPerm(owned: Account, code: number, need: Map<string, number>): AclRefusal | undefined {
  if (ADMIN_CODES.has(code) && !owned.admin) {
    return { message: `Need admin permission for request code=${code}, but accessKey=${owned.accessKey} is not, ${requestCodeName(code)} needs admin: true`, accessKey: owned.accessKey };
  }
  // Apache: an admin whose account lists no topic or group perms may do anything.
  if (owned.admin && owned.perms.size === 0) return undefined;
  for (const [res, needed] of need) {
    const isGroup = res.startsWith(RETRY_GROUP_TOPIC_PREFIX);
    const has = owned.perms.get(res) ?? (isGroup ? owned.defaultGroupPerm : owned.defaultTopicPerm);
    if (!permits(needed, has)) {
      const what = isGroup ? `group:${res.slice(RETRY_GROUP_TOPIC_PREFIX.length)}` : `topic:${res}`;
      return { message: `No default permission for ${what}, ${permName(needed)} needed, accessKey=${owned.accessKey} has ${permName(has)}`, accessKey: owned.accessKey };
    }
  }
  return undefined;
}
