/**
 * The broker's plain ACL (`aclEnable=true`): plain_acl.yml loaded at start, checked again every
 * ACL_FILE_CHECK_INTERVAL_MS and reloaded when its bytes changed (as Apache's AclFileWatchService
 * polls every 5 s), and a guard run before every request of the TCP ports, as the RPC hook of
 * BrokerController#initialAcl: a refused request is answered SYSTEM_ERROR with the AclException
 * text as remark (NettyRemotingAbstract#processRequestCommand's catch), oneway ones not at all.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ResponseCode } from '../../protocol/codes.js';
import { makeResponse, type RemotingCommand } from '../../protocol/frame.js';
import { ConfigError } from '../../errors/index.js';
import type { ClientChannel, Logger } from '../../remoting/server.js';
import { AclConfigError, checkRequest, parsePlainAcl, type PlainAcl } from './plain-acl.js';
import { dataVersionOf, type AclDataVersion } from './plain-acl-edit.js';

/** AclFileWatchService.WATCH_INTERVAL. */
const ACL_FILE_CHECK_INTERVAL_MS = 5_000;
/** plain_acl.yml larger than this is refused (a real one is a few KiB): reading it stays bounded. */
const ACL_FILE_MAX_BYTES = 1024 * 1024;
/** At most one log line per access key per this long about failed signatures (with the count since). */
const SIGNATURE_FAILURE_LOG_INTERVAL_MS = 10_000;
/** The class name Java clients and scripts see in the remark, as Apache's exceptionSimpleDesc writes it. */
const ACL_EXCEPTION = 'org.apache.rocketmq.acl.common.AclException';

/** Where Apache looks: $ROCKETMQ_HOME/conf/plain_acl.yml; `plainAclFile` (ours) overrides it. */
export function plainAclPath(plainAclFile: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (plainAclFile) return path.resolve(plainAclFile);
  if (env.ROCKETMQ_HOME) return path.join(env.ROCKETMQ_HOME, 'conf', 'plain_acl.yml');
  throw new ConfigError('aclEnable=true but no plain_acl.yml: set plainAclFile=PATH in broker.conf, or ROCKETMQ_HOME (the file is then $ROCKETMQ_HOME/conf/plain_acl.yml)');
}

interface AclStats {
  /** Requests refused for a signature that did not match (wrong secret, tampered request). */
  signatureFailures: number;
  /** Every refused request. */
  refused: number;
  /** Successful loads (the first one included). */
  loads: number;
}

export class AclService {
  readonly stats: AclStats = { signatureFailures: 0, refused: 0, loads: 0 };
  private acl: PlainAcl;
  private hash: string;
  private timer: NodeJS.Timeout | undefined;
  private readonly failureLog = new Map<string, { at: number; since: number }>();

  /** Load the file or throw ConfigError naming it: a broker with ACL on and no valid rules does not start. */
  constructor(
    readonly file: string,
    private readonly logger: Logger,
    checkIntervalMs = ACL_FILE_CHECK_INTERVAL_MS,
  ) {
    const { text, hash } = this.read();
    try {
      this.acl = parsePlainAcl(text);
    } catch (err) {
      throw new ConfigError(`${file}: ${(err as Error).message}`);
    }
    this.hash = hash;
    this.loaded();
    this.timer = setInterval(() => this.reloadIfChanged(), checkIntervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The RemotingServer guard: undefined lets the request through, else the refusal to send. */
  readonly guard = (req: RemotingCommand, ch: ClientChannel): RemotingCommand | undefined => {
    const ip = ipOf(ch.remoteAddress);
    let refusal;
    try {
      refusal = checkRequest(this.acl, req, ip);
    } catch (err) {
      // A heartbeat body that does not decode: PlainAccessValidator#parse wraps it in an AclException.
      refusal = { message: (err as Error).message };
    }
    if (!refusal) return undefined;
    this.stats.refused++;
    if (refusal.badSignature) this.signatureFailed(refusal.accessKey ?? '', ch.remoteAddress);
    return makeResponse(req, ResponseCode.SYSTEM_ERROR, `${ACL_EXCEPTION}: ${refusal.message}`);
  };

  /** Reload when the file's bytes changed; a file that no longer parses keeps the rules in force. */
  reloadIfChanged(): void {
    let got;
    try {
      got = this.read();
    } catch (err) {
      this.logger.warn(`acl: cannot read ${this.file}, keeping the rules loaded before: ${(err as Error).message}`);
      return;
    }
    if (got.hash === this.hash) return;
    this.hash = got.hash;
    try {
      this.acl = parsePlainAcl(got.text);
    } catch (err) {
      this.logger.warn(`acl: ${this.file} changed but is not valid, keeping the rules loaded before: ${(err as Error).message}`);
      return;
    }
    this.loaded();
  }

  /**
   * Change the file (the ACL admin requests): `edit` gets its text and returns the new text, or
   * undefined for "nothing to change" (then false). The new text must parse as a whole before it is
   * written (atomically, keeping the file's mode); its rules are in force when this returns.
   * Throws AclConfigError (what is wrong) or the write's error, with the file as it was.
   */
  edit(edit: (text: string) => string | undefined): boolean {
    const next = edit(this.read().text);
    if (next === undefined) return false;
    const acl = parsePlainAcl(next);
    writeAtomically(this.file, next);
    this.acl = acl;
    this.hash = createHash('sha1').update(next, 'utf8').digest('hex');
    this.loaded();
    return true;
  }

  /** The file's dataVersion (GET_BROKER_CLUSTER_ACL_INFO). */
  dataVersion(): AclDataVersion {
    return dataVersionOf(this.read().text);
  }

  private loaded(): void {
    this.stats.loads++;
    const a = this.acl;
    this.logger.info(`acl: ${this.stats.loads === 1 ? 'loaded' : 'reloaded'} ${this.file}: ${a.accounts.size} account(s), ${a.globalWhite.length} global white address pattern(s)`);
    for (const n of a.notes) this.logger.warn(`acl: ${this.file}: ${n}`);
  }

  private read(): { text: string; hash: string } {
    const st = fs.statSync(this.file, { throwIfNoEntry: false });
    if (!st) throw new ConfigError(`aclEnable=true but ${this.file} does not exist`);
    if (st.size > ACL_FILE_MAX_BYTES) throw new ConfigError(`${this.file} is ${st.size} bytes, more than the ${ACL_FILE_MAX_BYTES} an ACL file may have`);
    const bytes = fs.readFileSync(this.file);
    return { text: bytes.toString('utf8'), hash: createHash('sha1').update(bytes).digest('hex') };
  }

  /** Counted always; logged once per access key per SIGNATURE_FAILURE_LOG_INTERVAL_MS. Never the secret. */
  private signatureFailed(accessKey: string, from: string): void {
    this.stats.signatureFailures++;
    const now = Date.now();
    const e = this.failureLog.get(accessKey) ?? { at: 0, since: 0 };
    e.since++;
    if (now - e.at >= SIGNATURE_FAILURE_LOG_INTERVAL_MS) {
      this.logger.warn(`acl: signature check failed for accessKey=${accessKey} from ${from} (${e.since} failure(s) for this key since the last line; ${this.stats.signatureFailures} in all)`);
      e.at = now;
      e.since = 0;
    }
    // Keys come from the file (unknown keys are refused before any signature check): bounded.
    this.failureLog.set(accessKey, e);
  }
}

/** tmp file with the same mode, fsync, rename: a reader (or a crash) sees the old or the new file. */
function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  fs.rmSync(tmp, { force: true });
  const fd = fs.openSync(tmp, 'w', fs.statSync(file).mode & 0o777);
  try {
    fs.writeFileSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** "ip:port" or "[v6]:port" → the ip, as PlainAccessValidator#parse cuts the port. */
function ipOf(remoteAddress: string): string {
  const i = remoteAddress.lastIndexOf(':');
  const host = i > 0 ? remoteAddress.slice(0, i) : remoteAddress;
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

export { AclConfigError };
