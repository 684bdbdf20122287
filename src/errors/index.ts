/**
 * One error hierarchy for the whole toolkit. Every expected failure is a RocketError with a stable
 * `code` (scripts match on it), an `exitCode` (the CLI exits with it) and `actions` (what to try).
 * Anything that is not a RocketError reaching the CLI is a bug: exit 10, "this is a bug".
 */
import { ResponseCode } from '../protocol/codes.js';

export const ExitCode = {
  OK: 0,
  ERROR: 1,
  USAGE: 2,
  PARTIAL: 3,
  CHECK_FAILED: 4,
  BUG: 10,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

interface RocketErrorOptions {
  code: string;
  exitCode?: ExitCodeValue;
  actions?: string[];
  cause?: unknown;
  /** Structured details for the JSON envelope (e.g. the failing queues). */
  data?: Record<string, unknown>;
}

export class RocketError extends Error {
  readonly code: string;
  readonly exitCode: ExitCodeValue;
  readonly actions: string[];
  readonly data?: Record<string, unknown>;

  constructor(message: string, opts: RocketErrorOptions) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = opts.code;
    this.exitCode = opts.exitCode ?? ExitCode.ERROR;
    this.actions = opts.actions ?? [];
    this.data = opts.data;
  }
}

/** Bad flags or arguments: exit 2. */
export class UsageError extends RocketError {
  constructor(message: string, actions: string[] = []) {
    super(message, { code: 'E_USAGE', exitCode: ExitCode.USAGE, actions });
  }
}

/** A broker or name server could not be reached (connect refused, timeout, socket missing). */
export class BrokerUnreachableError extends RocketError {
  constructor(address: string, cause?: unknown) {
    super(`cannot reach ${address}${causeSuffix(cause)}`, {
      code: 'E_BROKER_UNREACHABLE',
      cause,
      actions: [
        'start a local broker with: rocketctl broker start',
        'or point at a running cluster with -n host:9876 (or NAMESRV_ADDR)',
      ],
    });
  }
}

export class TimeoutError extends RocketError {
  constructor(what: string, timeoutMs: number) {
    super(`${what} timed out after ${timeoutMs} ms`, {
      code: 'E_TIMEOUT',
      actions: [
        'check that the address is a RocketMQ name server or broker and that it is not overloaded (a slow link may need a larger --timeout)',
        'start a local broker with: rocketctl broker start',
      ],
    });
  }
}

/** The remote side answered with a RocketMQ response code that means failure. */
/**
 * The one table from a broker's or name server's response code (ResponseCode /
 * RemotingSysResponseCode) to the `code` a RemoteError carries; any other code is E_REMOTE.
 */
export const RESPONSE_ERROR_CODES: Readonly<Record<number, string>> = {
  [ResponseCode.SYSTEM_ERROR]: 'E_REMOTE',
  [ResponseCode.SYSTEM_BUSY]: 'E_BROKER_BUSY',
  [ResponseCode.REQUEST_CODE_NOT_SUPPORTED]: 'E_NOT_SUPPORTED',
  [ResponseCode.FLUSH_DISK_TIMEOUT]: 'E_FLUSH_TIMEOUT',
  [ResponseCode.MESSAGE_ILLEGAL]: 'E_MESSAGE_ILLEGAL',
  [ResponseCode.SERVICE_NOT_AVAILABLE]: 'E_SERVICE_NOT_AVAILABLE',
  [ResponseCode.NO_PERMISSION]: 'E_NO_PERMISSION',
  [ResponseCode.TOPIC_NOT_EXIST]: 'E_TOPIC_NOT_FOUND',
  [ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST]: 'E_GROUP_NOT_FOUND',
  [ResponseCode.CONSUMER_NOT_ONLINE]: 'E_CONSUMER_NOT_ONLINE',
};

export class RemoteError extends RocketError {
  readonly responseCode: number;
  constructor(responseCode: number, remark: string, code = RESPONSE_ERROR_CODES[responseCode] ?? 'E_REMOTE', actions: string[] = []) {
    // A broker with ACL on refuses with SYSTEM_ERROR and an AclException remark, whatever the request.
    const acl = (remark ?? '').includes(ACL_EXCEPTION_MARK);
    super(remark || `broker answered response code ${responseCode}`, acl ? { code: 'E_ACL_DENIED', actions: [...ACL_ACTIONS, ...actions] } : { code, actions });
    this.responseCode = responseCode;
  }
}

/** How Apache brokers (and ours) name an ACL refusal in the remark. */
const ACL_EXCEPTION_MARK = 'AclException: ';
const ACL_ACTIONS = [
  'the broker has ACL on: give an account of its plain_acl.yml with --access-key/--secret-key, ROCKETCTL_ACCESS_KEY/ROCKETCTL_SECRET_KEY or --credentials-file',
  'a permission the account lacks is named above: add it to the account (topicPerms, groupPerms, defaultTopicPerm, defaultGroupPerm, admin)',
];

/** The peer does not speak RocketMQ: garbage frames, or a reply whose body is not RocketMQ's JSON. */
export class ProtocolError extends RocketError {
  constructor(message: string, cause?: unknown) {
    super(message, {
      code: 'E_PROTOCOL',
      cause,
      actions: ['check that the address (-n, -b) is a RocketMQ 4.x/5.x name server or broker, not another service'],
    });
  }
}

/** A reply body that did not decode (`detail` says how), from `peer` when known. */
export function notRocketmqReply(detail: string, peer?: string, cause?: unknown): ProtocolError {
  return new ProtocolError(`${peer ? `the answer of ${peer}` : 'an answer'} is not a RocketMQ reply (${detail})`, cause);
}

export class TopicNotFoundError extends RocketError {
  constructor(topic: string) {
    super(`topic ${topic} does not exist`, {
      code: 'E_TOPIC_NOT_FOUND',
      actions: [`create it with: rocketctl updateTopic -t ${topic}`, 'list topics with: rocketctl topicList'],
    });
  }
}

export class GroupNotFoundError extends RocketError {
  constructor(group: string) {
    super(`consumer group ${group} does not exist`, {
      code: 'E_GROUP_NOT_FOUND',
      actions: ['list groups with: rocketctl consumerProgress'],
    });
  }
}

/** The group is configured (a subscription group exists) but nothing has consumed with it yet. */
export class GroupNotConsumedError extends RocketError {
  constructor(group: string) {
    super(`consumer group ${group} exists but has no committed offset and no consumer online: nothing has consumed with it yet`, {
      code: 'E_GROUP_NO_OFFSETS',
      actions: ['start a consumer of the group; its progress shows once it commits an offset'],
    });
  }
}

// ---- store errors ---------------------------------------------------------------------------

export class StoreError extends RocketError {}

export class StoreLockedError extends StoreError {
  constructor(dir: string, holder?: string) {
    super(`store ${dir} is in use by another process${holder ? ` (${holder})` : ''}`, {
      code: 'E_STORE_LOCKED',
      actions: ['stop the broker using it, or choose another store dir (--store-dir / storePathRootDir)'],
    });
  }
}

/** The store dir cannot be used: a file is in the way, or it cannot be created there. */
export class StoreDirError extends StoreError {
  constructor(dir: string, cause: unknown) {
    super(`cannot use store dir ${dir}: ${storeDirReason(cause)}`, {
      code: 'E_STORE_DIR',
      cause,
      actions: ['choose a writable directory with --store-dir (storePathRootDir)'],
    });
  }
}

function storeDirReason(cause: unknown): string {
  const e = (cause ?? {}) as NodeJS.ErrnoException;
  const where = e.path ?? 'it';
  switch (e.code) {
    case 'ENOTDIR':
    case 'EEXIST':
      return `${where} is not a directory`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${where})`;
    case 'EROFS':
      return `read-only file system (${where})`;
    case 'ENOENT':
      return `${where} cannot be created there (ENOENT)`;
    default:
      return e.code ? `${where}: ${e.code}` : String(cause);
  }
}

export class InvalidTopicError extends StoreError {
  constructor(topic: string, why: string) {
    super(`invalid topic name ${JSON.stringify(topic)}: ${why}`, {
      code: 'E_INVALID_TOPIC',
      exitCode: ExitCode.ERROR,
      actions: ['topic names match ^[%|a-zA-Z0-9_-]+$ and have at most 127 characters'],
    });
  }
}

export class MessageTooLargeError extends StoreError {
  constructor(sizeBytes: number, maxBytes: number, what = 'message body') {
    super(`${what} is ${sizeBytes} bytes, over the limit of ${maxBytes} bytes`, {
      code: 'E_MESSAGE_TOO_LARGE',
      actions: ['send a smaller message, or raise maxMessageSize in broker.conf'],
    });
  }
}

export class DiskFullError extends StoreError {
  constructor(path: string, cause?: unknown) {
    super(`no space left on device writing ${path}`, {
      code: 'E_DISK_FULL',
      cause,
      actions: ['free disk space; the store was left consistent and nothing acknowledged was lost'],
    });
  }
}

export class FlushTimeoutError extends StoreError {
  constructor(timeoutMs: number) {
    super(`message written but not flushed to disk within ${timeoutMs} ms (FLUSH_DISK_TIMEOUT)`, {
      code: 'E_FLUSH_DISK_TIMEOUT',
    });
  }
}

export class StoreClosedError extends StoreError {
  constructor() {
    super('the store is closed', { code: 'E_STORE_CLOSED' });
  }
}

export class CorruptStoreError extends StoreError {
  constructor(message: string) {
    super(message, { code: 'E_STORE_CORRUPT', actions: ['run: rocketctl store verify --store-dir DIR'] });
  }
}

export class ConfigError extends RocketError {
  constructor(message: string, actions: string[] = []) {
    super(message, { code: 'E_CONFIG', actions });
  }
}

function causeSuffix(cause: unknown): string {
  if (cause && typeof cause === 'object' && 'code' in cause && typeof cause.code === 'string') {
    return ` (${cause.code})`;
  }
  return '';
}

/** Map an arbitrary thrown value to a RocketError (used where a Node error must become typed). */
export function fromNodeError(err: unknown, path: string): RocketError | undefined {
  if (err && typeof err === 'object' && 'code' in err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return new DiskFullError(path, err);
  }
  return undefined;
}
