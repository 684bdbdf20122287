/**
 * checkSecurity: what a broker (ours or Apache's) and this host leave open, item by item, as
 * pass / warn / fail / skip with what was found, what is recommended, why, and how to fix it.
 *
 * Two layers, as checkNoLoss: `gatherSecurityFacts` asks the brokers (GET_BROKER_CONFIG only) and
 * stats the local files; `judgeSecurity` turns facts into items and is pure. A broker's config is
 * all that is known of a remote broker: what it does not say is skipped with the reason, never
 * guessed. Files (the admin socket, plain_acl.yml, the audit dir) are looked at only when the
 * broker is on this host: the local socket is the target, or --store-dir names its store.
 *
 * Fails (exit 4): a broker reachable beyond loopback without ACL; an admin socket (or the directory
 * holding it) that other users may open; a plain_acl.yml that every local user may read, or whose
 * globalWhiteRemoteAddresses lets any address in unsigned; a credentials file others may read.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RocketError } from '../errors/index.js';
import { getBrokerConfig } from '../admin/retention.js';
import type { AdminSession } from '../admin/session.js';
import { isLoopback } from '../broker/acl/remote-address.js';
import { parsePlainAcl } from '../broker/acl/plain-acl.js';
import { summarize, type CheckStatus } from './os.js';
import { BrokerFailure, mapBounded, BROKER_PARALLELISM, failureOf } from '../admin/fanout.js';
import { BrokerTarget, resolveTargets, clusterInfo, allAddrsOfCluster } from '../admin/targets.js';

/** Item ids, in report order. */
const SECURITY_ITEMS = ['acl', 'listen', 'namesrv-listen', 'metrics-listen', 'audit-log', 'admin-socket', 'acl-file', 'credentials-file'] as const;
type SecurityItemId = (typeof SECURITY_ITEMS)[number];

interface SecurityItem {
  id: SecurityItemId;
  /** The broker the item is about, or null for a file of this host not tied to one broker. */
  broker: string | null;
  status: CheckStatus;
  current: string;
  recommended: string;
  why: string;
  /** What to do; empty when nothing is to be done. */
  fix: string[];
}

/** A path on this host as stat saw it; `problem` when it is missing or could not be looked at. */
interface PathFacts {
  path: string;
  /** mode & 0o777 */
  mode?: number;
  kind?: 'socket' | 'dir' | 'file' | 'other';
  problem?: string;
}

export interface BrokerSecurityFacts extends BrokerTarget {
  /** GET_BROKER_CONFIG properties. */
  config?: Record<string, string>;
  /** GET_BROKER_CONFIG was refused by the broker's ACL (the remark): ACL is on, the rest unknown. */
  aclRefusal?: string;
}

interface LocalSecurityFacts {
  /** The broker's store dir on this host (--store-dir, or the local broker's storePathRootDir). */
  storeDir?: string;
  socket?: PathFacts;
  /** The directory holding the socket (the store dir). */
  socketDir?: PathFacts;
  auditDir?: PathFacts;
  aclFile?: PathFacts & { text?: string };
}

export interface SecurityFacts {
  brokers: BrokerSecurityFacts[];
  /** Present when the broker is on this host (the local socket, or --store-dir). */
  local?: LocalSecurityFacts;
  /** --credentials-file / $ROCKETCTL_CREDENTIALS_FILE, when given. */
  credentialsFile?: PathFacts;
  failed: BrokerFailure[];
}

interface SecurityOptions {
  brokerAddr?: string;
  clusterName?: string;
  /** The target is the local broker's socket (no -n, no -b). */
  socket?: string;
  /** --store-dir: the checked broker's store on this host. */
  storeDir?: string;
  credentialsFile?: string;
}

// ---- gathering ----------------------------------------------------------------------------------

/** An address outside any private range (TEST-NET-3, RFC 5737): a white list matching it lets the world in. */
const OUTSIDE_ADDRESS = '203.0.113.7';
/** plain_acl.yml is read for its global white list only up to this size (ACL_FILE_MAX_BYTES is the broker's). */
const ACL_FILE_READ_MAX_BYTES = 1024 * 1024;

async function gatherSecurityFacts(s: AdminSession, o: SecurityOptions): Promise<SecurityFacts> {
  const targets = await targetsOf(s, o);
  const failed: BrokerFailure[] = [];
  const brokers: BrokerSecurityFacts[] = targets.map((t) => ({ ...t }));
  await mapBounded(brokers, BROKER_PARALLELISM, async (b) => {
    try {
      b.config = await getBrokerConfig(s, b.addr);
    } catch (err) {
      // A broker with ACL on refuses with an AclException remark, whatever the request (Apache 4.9.8:
      // NettyRemotingAbstract#processRequestCommand answers the RPC hook's exception as SYSTEM_ERROR).
      const msg = err instanceof Error ? err.message : String(err);
      if (msg.includes('AclException')) b.aclRefusal = msg;
      else failed.push(failureOf(b, err));
    }
  });
  const answered = brokers.filter((b) => b.config !== undefined || b.aclRefusal !== undefined);
  if (answered.length === 0) throw failed.length > 0 ? new RocketError(failed[0]!.message, { code: failed[0]!.code }) : new RocketError('no broker answered', { code: 'E_NO_BROKER' });
  const facts: SecurityFacts = { brokers: answered, failed };
  const storeDir = o.storeDir ?? (o.socket !== undefined ? answered[0]?.config?.storePathRootDir : undefined);
  if (o.socket !== undefined || o.storeDir !== undefined) facts.local = localFacts(storeDir, o.socket, answered.length === 1 ? answered[0]!.config : undefined);
  if (o.credentialsFile) facts.credentialsFile = statPath(o.credentialsFile);
  return facts;
}

/** -b / -c as the other admin commands; -n alone: every broker of every cluster; none: the local broker. */
async function targetsOf(s: AdminSession, o: SecurityOptions): Promise<BrokerTarget[]> {
  if (o.brokerAddr || o.clusterName || o.socket !== undefined) return resolveTargets(s, { brokerAddr: o.brokerAddr, clusterName: o.clusterName, withSlaves: true, local: o.socket !== undefined });
  const info = await clusterInfo(s);
  const out = Object.keys(info.clusterAddrTable).sort().flatMap((c) => allAddrsOfCluster(info, c));
  if (out.length === 0) throw new RocketError('no broker is registered with the name server', { code: 'E_NO_BROKER', actions: ['list clusters with: rocketctl clusterList'] });
  return out;
}

function localFacts(storeDir: string | undefined, socket: string | undefined, config: Record<string, string> | undefined): LocalSecurityFacts {
  const sock = socket ?? (storeDir !== undefined ? path.join(storeDir, 'broker.sock') : undefined);
  const out: LocalSecurityFacts = { storeDir };
  if (sock !== undefined) {
    out.socket = statPath(sock);
    out.socketDir = statPath(path.dirname(sock));
  }
  if (storeDir !== undefined) out.auditDir = statPath(path.join(storeDir, 'audit'));
  const aclFile = config?.aclEnable === 'true' ? config.plainAclFile : undefined;
  if (aclFile !== undefined) {
    const f: PathFacts & { text?: string } = statPath(aclFile);
    if (f.kind === 'file') {
      try {
        const fd = fs.openSync(aclFile, 'r');
        try {
          const buf = Buffer.alloc(ACL_FILE_READ_MAX_BYTES);
          f.text = buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
        } finally {
          fs.closeSync(fd);
        }
      } catch (err) {
        f.problem = `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
      }
    }
    out.aclFile = f;
  }
  return out;
}

function statPath(p: string): PathFacts {
  try {
    const st = fs.statSync(p);
    const kind = st.isSocket() ? 'socket' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
    return { path: p, mode: st.mode & 0o777, kind };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { path: p, problem: code === 'ENOENT' ? 'does not exist' : `cannot be looked at (${code ?? String(err)})` };
  }
}

// ---- judging ------------------------------------------------------------------------------------

const octal = (mode: number) => mode.toString(8).padStart(3, '0');

/** Ours carries keys only rocketctl's broker has (as checkNoLoss's isRocketctlBroker). */
function isOurs(b: BrokerSecurityFacts): boolean {
  return b.config !== undefined && 'embeddedNamesrv' in b.config;
}

function aclOn(b: BrokerSecurityFacts): boolean {
  return b.aclRefusal !== undefined || b.config?.aclEnable === 'true';
}

/**
 * Where the broker's ports accept connections: ours says (bindAddress); Apache 4.9.8 binds every
 * interface (NettyRemotingServer#start: `localAddress(new InetSocketAddress(listenPort))`).
 */
function listenHost(b: BrokerSecurityFacts): { host: string; text: string } | undefined {
  if (!b.config) return undefined;
  // listenPort=0: the port picked at start is the one the address we asked names.
  const port = b.config.listenPort === '0' ? /:(\d+)$/.exec(b.addr)?.[1] ?? '0' : b.config.listenPort ?? '?';
  if (!isOurs(b)) return { host: '0.0.0.0', text: `every interface, port ${port} (Apache brokers bind the wildcard address)` };
  const host = b.config.bindAddress ?? '0.0.0.0';
  return { host, text: `${host}:${port}${isLoopback(host) ? ' (loopback only)' : host === '0.0.0.0' || host === '::' ? ' (every interface)' : ''}` };
}

function judgeAcl(b: BrokerSecurityFacts): SecurityItem {
  const base = { id: 'acl' as const, broker: b.addr, recommended: 'aclEnable=true for any broker that others can reach', fix: [] as string[] };
  const why = 'without ACL any process that reaches the port may send, read every message, reset offsets and delete topics';
  if (b.aclRefusal !== undefined) return { ...base, status: 'pass', current: 'on (GET_BROKER_CONFIG was refused by the ACL)', why: 'the broker checks signatures: requests without a valid account are refused' };
  if (aclOn(b)) return { ...base, status: 'pass', current: 'on (aclEnable=true)', why: 'the broker checks every request\'s signature and the account\'s permissions' };
  return {
    ...base,
    status: 'warn',
    current: 'off (aclEnable=false)',
    why: `${why}; on loopback only this host's users can, beyond loopback anyone (see listen)`,
    fix: ['set aclEnable=true and plainAclFile=PATH (or $ROCKETMQ_HOME/conf/plain_acl.yml) in broker.conf, restart; README "ACL"'],
  };
}

function judgeListen(b: BrokerSecurityFacts): SecurityItem {
  const base = { id: 'listen' as const, broker: b.addr, recommended: 'loopback only, or ACL on', fix: [] as string[] };
  const where = listenHost(b);
  if (!where) return { ...base, status: 'skip', current: 'not known: the ACL refused GET_BROKER_CONFIG (give an account with --access-key/--secret-key)', why: 'the listen address is in the broker\'s config, which this account may not read; ACL is on either way' };
  if (isLoopback(where.host)) return { ...base, status: 'pass', current: where.text, why: 'only processes on this host can connect' };
  if (aclOn(b)) return { ...base, status: 'pass', current: `${where.text}, ACL on`, why: 'reachable from other hosts, but every request must be signed by an account of plain_acl.yml' };
  return {
    ...base,
    status: 'fail',
    current: `${where.text}, ACL off`,
    why: 'anyone who reaches the port can send, read and administer everything (the broker says so at start too)',
    fix: ['set aclEnable=true (README "ACL"), or bind loopback only: bindAddress=127.0.0.1 (rocketctl broker start --bind 127.0.0.1)'],
  };
}

function judgeNamesrv(b: BrokerSecurityFacts): SecurityItem {
  const base = { id: 'namesrv-listen' as const, broker: b.addr, recommended: 'the embedded name server on loopback, or a firewall in front of it', fix: [] as string[] };
  if (!b.config) return { ...base, status: 'skip', current: 'not known (the broker\'s config could not be read)', why: 'the name server is configured in the broker\'s config' };
  if (!isOurs(b)) return { ...base, status: 'skip', current: 'not visible from an Apache broker (its name server is a separate process)', why: 'Apache 4.x name servers have no ACL: check that host\'s firewall' };
  if (b.config.embeddedNamesrv !== 'true') return { ...base, status: 'pass', current: 'no embedded name server', why: 'nothing else listens for this broker' };
  const host = b.config.bindAddress ?? '0.0.0.0';
  const port = b.config.namesrvListenPort ?? '?';
  const where = port === '0' ? `${host}, a port picked at start` : `${host}:${port}`;
  if (isLoopback(host)) return { ...base, status: 'pass', current: `${where} (loopback only)`, why: 'only processes on this host can reach the name server' };
  return {
    ...base,
    status: 'warn',
    current: where,
    why: 'name server requests are not ACL-checked (as Apache 4.x: NamesrvController installs no ACL hook): anyone who reaches it can register or unregister brokers, delete topic routes and write KV config',
    fix: ['firewall the name server port to the cluster\'s hosts, or run it on loopback (bindAddress=127.0.0.1)'],
  };
}

function judgeMetrics(b: BrokerSecurityFacts): SecurityItem {
  const base = { id: 'metrics-listen' as const, broker: b.addr, recommended: 'off, on loopback, or behind a proxy that authenticates', fix: [] as string[] };
  if (!b.config || !isOurs(b)) return { ...base, status: 'skip', current: b.config ? 'Apache brokers have no built-in metrics endpoint' : 'not known (the broker\'s config could not be read)', why: 'rocketctl\'s /metrics is configured in the broker\'s config' };
  const port = Number(b.config.metricsPort ?? -1);
  const host = b.config.metricsHost ?? '127.0.0.1';
  if (!(port >= 0)) return { ...base, status: 'pass', current: 'off (metricsPort=-1)', why: 'no HTTP endpoint' };
  if (isLoopback(host)) return { ...base, status: 'pass', current: `http://${host}:${port}/metrics (loopback only)`, why: 'only processes on this host can scrape it' };
  return {
    ...base,
    status: 'warn',
    current: `http://${host}:${port}/metrics`,
    why: '/metrics asks for no credentials: anyone who reaches it sees topic, group and client names and their rates',
    fix: ['metricsHost=127.0.0.1 and scrape through a proxy, or firewall the port to the monitoring hosts'],
  };
}

function judgeAudit(b: BrokerSecurityFacts, local: LocalSecurityFacts | undefined): SecurityItem {
  const base = { id: 'audit-log' as const, broker: b.addr, recommended: 'kept, and readable by the broker\'s user only', fix: [] as string[] };
  if (!b.config) return { ...base, status: 'skip', current: 'not known (the broker\'s config could not be read)', why: 'whether a broker keeps an audit log is known from its config' };
  if (!isOurs(b)) return { ...base, status: 'skip', current: 'Apache 4.x brokers keep no audit log of admin requests', why: 'only their own logs record some admin requests' };
  const where = `${b.config.storePathRootDir ?? '<store>'}/audit/audit.log, rotated at ${b.config.auditFileMaxBytes ?? '?'} bytes`;
  const dir = local?.auditDir;
  if (dir?.mode !== undefined && (dir.mode & 0o077) !== 0) {
    return { ...base, status: 'warn', current: `${where}; ${dir.path} is mode ${octal(dir.mode)}`, why: 'other users can read who changed what', fix: [`chmod 700 ${dir.path}`] };
  }
  return { ...base, status: 'pass', current: where, why: 'every mutating admin request is recorded with who, what, before and after (rocketctl audit)' };
}

function judgeSocket(local: LocalSecurityFacts): SecurityItem {
  const base = { id: 'admin-socket' as const, broker: null, recommended: 'socket 0600 in a directory only its owner can enter (0700)', fix: [] as string[] };
  const why = 'the socket is not ACL-checked: whoever can open it administers the broker; the kernel refuses other users (EACCES) when the socket\'s directory is closed to them, but root can always connect';
  const s = local.socket;
  if (!s) return { ...base, status: 'skip', current: 'no socket to look at (give --store-dir)', why };
  if (s.problem !== undefined || s.kind !== 'socket') return { ...base, status: 'skip', current: `${s.path} ${s.problem ?? 'is not a socket'} (no local broker running)`, why };
  const d = local.socketDir;
  const text = `${s.path} mode ${octal(s.mode!)}, directory ${d?.mode !== undefined ? `mode ${octal(d.mode)}` : d?.problem ?? '?'}`;
  const fix: string[] = [];
  if ((s.mode! & 0o077) !== 0) fix.push(`chmod 600 ${s.path}`);
  if (d?.mode !== undefined && (d.mode & 0o077) !== 0) fix.push(`chmod 700 ${d.path}  # or restart the broker: it closes its store dir to others`);
  if (fix.length === 0) return { ...base, status: 'pass', current: text, why };
  return { ...base, status: 'fail', current: text, why, fix };
}

function judgeAclFile(local: LocalSecurityFacts, b: BrokerSecurityFacts | undefined): SecurityItem {
  const base = { id: 'acl-file' as const, broker: b?.addr ?? null, recommended: 'readable by the broker\'s user only (0600), no global white list that matches everyone', fix: [] as string[] };
  const f = local.aclFile;
  if (!f) return { ...base, status: 'skip', current: b?.config?.aclEnable === 'true' ? 'ACL on from $ROCKETMQ_HOME/conf/plain_acl.yml (not named in the config)' : 'ACL off, or not known', why: 'the file holds every account\'s secret key' };
  if (f.problem !== undefined || f.mode === undefined) return { ...base, status: 'warn', current: `${f.path} ${f.problem ?? 'is not a file'}`, why: 'the broker keeps the rules it loaded before; a missing file stops the next start' };
  const problems: string[] = [];
  const fix: string[] = [];
  let status: CheckStatus = 'pass';
  if ((f.mode & 0o077) !== 0) {
    problems.push(`mode ${octal(f.mode)}: ${(f.mode & 0o004) !== 0 ? 'every local user' : 'its group'} can read the secret keys`);
    fix.push(`chmod 600 ${f.path}`);
    status = (f.mode & 0o004) !== 0 ? 'fail' : 'warn';
  }
  if (f.text !== undefined) {
    try {
      if (parsePlainAcl(f.text).globalWhite.some((m) => m(OUTSIDE_ADDRESS))) {
        problems.push(`globalWhiteRemoteAddresses matches any address (e.g. ${OUTSIDE_ADDRESS}): requests from there are not signature-checked`);
        fix.push('narrow globalWhiteRemoteAddresses to the hosts that need it (rocketctl updateGlobalWhiteAddr)');
        status = 'fail';
      }
    } catch (err) {
      problems.push(`does not parse (${(err as Error).message}): the broker keeps the rules it loaded before`);
      if (status === 'pass') status = 'warn';
    }
  }
  return { ...base, status, current: `${f.path} mode ${octal(f.mode)}${problems.length > 0 ? `; ${problems.join('; ')}` : ''}`, why: 'the file holds every account\'s secret key, and its global white list skips the signature check', fix };
}

function judgeCredentials(c: PathFacts | undefined): SecurityItem {
  const base = { id: 'credentials-file' as const, broker: null, recommended: 'mode 0600 (rocketctl refuses a file others can read)', fix: [] as string[] };
  const why = 'it holds the secret key this CLI signs with';
  if (!c) return { ...base, status: 'skip', current: 'none given (--credentials-file, $ROCKETCTL_CREDENTIALS_FILE)', why };
  if (c.problem !== undefined || c.mode === undefined) return { ...base, status: 'fail', current: `${c.path} ${c.problem ?? 'is not a file'}`, why };
  if ((c.mode & 0o077) !== 0) return { ...base, status: 'fail', current: `${c.path} mode ${octal(c.mode)}: refused, requests were sent unsigned`, why: `${why}; others can read it`, fix: [`chmod 600 ${c.path}`] };
  return { ...base, status: 'pass', current: `${c.path} mode ${octal(c.mode)}`, why };
}

export function judgeSecurity(f: SecurityFacts): SecurityItem[] {
  const items: SecurityItem[] = [];
  for (const b of f.brokers) items.push(judgeAcl(b), judgeListen(b), judgeNamesrv(b), judgeMetrics(b), judgeAudit(b, f.local));
  if (f.local) items.push(judgeSocket(f.local), judgeAclFile(f.local, f.brokers.length === 1 ? f.brokers[0] : undefined));
  items.push(judgeCredentials(f.credentialsFile));
  return items;
}

// ---- the report ---------------------------------------------------------------------------------

export interface SecurityReport {
  target: string;
  brokers: Array<{ addr: string; brokerName: string | null; rocketctl: boolean | null; aclEnable: boolean }>;
  /** The store dir looked at on this host, when the broker is local. */
  storeDir: string | null;
  items: SecurityItem[];
  summary: Record<CheckStatus, number>;
  failed: BrokerFailure[];
}

function buildSecurityReport(target: string, f: SecurityFacts): SecurityReport {
  const items = judgeSecurity(f);
  return {
    target,
    brokers: f.brokers.map((b) => ({ addr: b.addr, brokerName: b.brokerName, rocketctl: b.config ? isOurs(b) : null, aclEnable: aclOn(b) })),
    storeDir: f.local?.storeDir ?? null,
    items,
    summary: summarize(items),
    failed: f.failed,
  };
}

export async function checkSecurity(s: AdminSession, o: SecurityOptions): Promise<SecurityReport> {
  return buildSecurityReport(s.target, await gatherSecurityFacts(s, o));
}
