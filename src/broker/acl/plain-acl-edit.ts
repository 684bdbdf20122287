/**
 * Changes to plain_acl.yml made by the ACL admin requests, as PlainPermissionManager at 4.9.8 makes
 * them (#updateAccessConfig, #deleteAccessConfig, #updateGlobalWhiteAddrsConfig): an account
 * created or merged field by field, removed, or the global white list replaced, and the file's
 * `dataVersion` moved on (#updateAclConfigFileVersion). Unlike Apache (which dumps the whole map
 * again), the YAML document is edited in place, so the operator's comments and order stay.
 * Text in, text out: no I/O here.
 */
import { isMap, isSeq, parseDocument, type Document, type YAMLMap, type YAMLSeq } from 'yaml';
import { AclConfigError } from './plain-acl.js';

/** PlainAccessConfig as UPDATE_AND_CREATE_ACL_CONFIG carries it (lists already split on ','). */
interface AccountUpdate {
  accessKey: string;
  secretKey: string;
  whiteRemoteAddress?: string;
  admin: boolean;
  defaultTopicPerm?: string;
  defaultGroupPerm?: string;
  topicPerms?: string[];
  groupPerms?: string[];
}

export interface AclDataVersion {
  counter: number;
  timestamp: number;
}

const KEY_MIN_LENGTH = 6;
const PERMS = new Set(['PUB', 'SUB', 'PUB|SUB', 'SUB|PUB', 'DENY']);

function load(text: string): Document {
  const doc = parseDocument(text, { version: '1.1' });
  if (doc.errors.length > 0) throw new AclConfigError(`not YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
  if (doc.contents === null || doc.contents === undefined) doc.contents = doc.createNode({}) as unknown as typeof doc.contents;
  if (!isMap(doc.contents)) throw new AclConfigError('the top level must be a mapping (globalWhiteRemoteAddresses, accounts)');
  return doc;
}

/** Permission.checkResourcePerms: every entry NAME=PERM with a known permission. */
function checkResourcePerms(list: string[] | undefined, what: string): void {
  for (const entry of list ?? []) {
    const items = entry.split('=').filter((s) => s !== '');
    if (items.length !== 2) throw new AclConfigError(`${what} entry ${JSON.stringify(entry)} is not NAME=PERM, e.g. topicA=SUB`);
    if (!PERMS.has(items[1]!.trim())) throw new AclConfigError(`${what} entry ${JSON.stringify(entry)}: the permission must be PUB, SUB, PUB|SUB or DENY`);
  }
}

/** Create the account, or change the fields given of an existing one (createAclAccessConfigMap). */
export function upsertAccount(text: string, u: AccountUpdate, nowMs: number): string {
  // PlainPermissionManager#checkPlainAccessConfig: both keys, longer than 6 (the secret never in the message).
  if (u.accessKey.length <= KEY_MIN_LENGTH) throw new AclConfigError(`The accessKey=${u.accessKey} cannot be null and length should longer than ${KEY_MIN_LENGTH}`);
  if (u.secretKey.length <= KEY_MIN_LENGTH) throw new AclConfigError(`The secretKey of accessKey=${u.accessKey} cannot be null and length should longer than ${KEY_MIN_LENGTH}`);
  checkResourcePerms(u.topicPerms, 'topicPerms');
  checkResourcePerms(u.groupPerms, 'groupPerms');
  const doc = load(text);
  const accounts = accountsOf(doc, true)!;
  let m = accounts.items.find((it) => isMap(it) && String(it.get('accessKey')) === u.accessKey) as YAMLMap | undefined;
  if (!m) {
    m = doc.createNode({ accessKey: u.accessKey }) as YAMLMap;
    accounts.add(m);
  }
  m.set('secretKey', u.secretKey);
  if (u.whiteRemoteAddress !== undefined) m.set('whiteRemoteAddress', u.whiteRemoteAddress);
  m.set('admin', u.admin);
  if (u.defaultTopicPerm) m.set('defaultTopicPerm', u.defaultTopicPerm);
  if (u.defaultGroupPerm) m.set('defaultGroupPerm', u.defaultGroupPerm);
  if (u.topicPerms) m.set('topicPerms', doc.createNode(u.topicPerms));
  if (u.groupPerms) m.set('groupPerms', doc.createNode(u.groupPerms));
  return nextVersion(doc, nowMs);
}

/** The file without the account, or undefined when no account has this key. */
export function removeAccount(text: string, accessKey: string, nowMs: number): string | undefined {
  const doc = load(text);
  const accounts = accountsOf(doc, false);
  const i = accounts?.items.findIndex((it) => isMap(it) && String(it.get('accessKey')) === accessKey) ?? -1;
  if (i < 0) return undefined;
  accounts!.items.splice(i, 1);
  return nextVersion(doc, nowMs);
}

export function setGlobalWhiteAddrs(text: string, addrs: string[], nowMs: number): string {
  const doc = load(text);
  doc.set('globalWhiteRemoteAddresses', doc.createNode(addrs));
  return nextVersion(doc, nowMs);
}

/** The file's `dataVersion` (its first element, as Apache reads it); zeros when it has none. */
export function dataVersionOf(text: string): AclDataVersion {
  const doc = parseDocument(text, { version: '1.1' });
  const first = isMap(doc.contents) ? (doc.contents.toJSON() as { dataVersion?: Array<Partial<AclDataVersion>> }).dataVersion?.[0] : undefined;
  return { counter: Number(first?.counter ?? 0) || 0, timestamp: Number(first?.timestamp ?? 0) || 0 };
}

function accountsOf(doc: Document, create: boolean): YAMLSeq | undefined {
  const a = doc.get('accounts');
  if (isSeq(a)) return a;
  if (!create) return undefined;
  const seq = doc.createNode([]) as YAMLSeq;
  doc.set('accounts', seq);
  return seq;
}

/** DataVersion#nextVersion: counter + 1, timestamp now. */
function nextVersion(doc: Document, nowMs: number): string {
  const v = dataVersionOf(doc.toString());
  doc.set('dataVersion', doc.createNode([{ counter: v.counter + 1, timestamp: nowMs }]));
  return doc.toString();
}
