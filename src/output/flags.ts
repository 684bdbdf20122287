import { Flags } from '@oclif/core';
import { UsageError } from '../errors/index.js';
import { DEFAULT_RESET_WATCH_MS, parseTimestamp } from '../admin/reset.js';
import { END_OF_TIME_MS } from '../admin/messages.js';
import { formatTimeMs } from './progress-render.js';
import { DEFAULT_WATCH_INTERVAL_S, WATCH_INTERVAL_S_MAX, WATCH_INTERVAL_S_MIN } from '../admin/watch.js';
import { resolveCredentials } from '../client/credentials.js';
import { getRunningCommand } from './running-command.js';
import type { AdminTargetOptions } from '../admin/session.js';
import type { ToolTarget } from '../admin/tools.js';

/**
 * Flags shared by admin commands, named as mqadmin names them (-n/--namesrvAddr) plus rocketctl's
 * own (--socket, --timeout). A command spreads the ones it needs into its `static flags`.
 */
const namesrvFlag = Flags.string({
  char: 'n',
  summary: 'Name server address(es), e.g. "10.0.0.1:9876;10.0.0.2:9876". Default: $NAMESRV_ADDR, else the local broker.',
  env: 'NAMESRV_ADDR',
  helpGroup: 'TARGET',
  parse: async (v) => checkNamesrvList(v),
});

/** host:port[;host:port...] (IPv6 hosts in brackets); anything else is a usage error saying so. */
function checkNamesrvList(v: string): string {
  for (const a of v.split(/[;,]/).map((x) => x.trim()).filter(Boolean)) {
    const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/.exec(a);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
      throw new UsageError(`-n ${JSON.stringify(a)} is not a name server address: expected host:port[;host:port...], e.g. 127.0.0.1:9876`, [
        'leave out -n (and NAMESRV_ADDR) to use the local broker started with: rocketctl broker start',
      ]);
    }
  }
  return v;
}

const socketFlag = Flags.string({
  summary: 'Unix socket of a local rocketctl broker (default ~/.rocketctl/store/broker.sock, or $ROCKETCTL_SOCKET).',
  helpGroup: 'TARGET',
});

const timeoutFlag = Flags.integer({
  summary: 'Request timeout in milliseconds.',
  default: 3000,
  min: 1,
  max: 600_000,
  helpGroup: 'TARGET',
});

/** Credentials for brokers with aclEnable=true (RocketMQ plain ACL): requests are signed with them. */
const accessKeyFlag = Flags.string({
  summary: 'Access key of an account in the broker\'s plain_acl.yml (brokers with aclEnable=true). Default: $ROCKETCTL_ACCESS_KEY.',
  env: 'ROCKETCTL_ACCESS_KEY',
  helpGroup: 'ACL',
});

const secretKeyFlag = Flags.string({
  summary: 'Its secret key. Default: $ROCKETCTL_SECRET_KEY. A flag can be seen in the process list: prefer the variable or --credentials-file.',
  env: 'ROCKETCTL_SECRET_KEY',
  helpGroup: 'ACL',
});

const credentialsFileFlag = Flags.string({
  summary: 'File with AccessKey=... and SecretKey=... lines, used when no keys are given; refused if group or others can read it. Default: $ROCKETCTL_CREDENTIALS_FILE.',
  env: 'ROCKETCTL_CREDENTIALS_FILE',
  helpGroup: 'ACL',
});

export const targetFlags = {
  namesrvAddr: namesrvFlag,
  socket: socketFlag,
  timeout: timeoutFlag,
  'access-key': accessKeyFlag,
  'secret-key': secretKeyFlag,
  'credentials-file': credentialsFileFlag,
};

/** The parsed targetFlags. */
export interface TargetFlagValues {
  namesrvAddr?: string;
  socket?: string;
  timeout: number;
  'access-key'?: string;
  'secret-key'?: string;
  'credentials-file'?: string;
}

/** Where a command sends its requests, with the credentials to sign them (none: unsigned). */
export function targetOf(flags: TargetFlagValues): AdminTargetOptions & ToolTarget {
  const credentials = resolveCredentials({ accessKey: flags['access-key'], secretKey: flags['secret-key'], credentialsFile: flags['credentials-file'] });
  return { namesrvAddr: flags.namesrvAddr, socket: flags.socket, timeoutMs: flags.timeout, credentials, command: getRunningCommand() };
}

/** --watch-ms of resetOffset and skipAccumulatedMessage (ApplyOptions.watchMs). */
export const watchMsFlag = Flags.integer({
  summary: 'After resetting an online group, read its offsets back for at most this long, to catch consumers that write their old offsets back (Java clients take the new ones after a 10 s pause). 0: do not.',
  default: DEFAULT_RESET_WATCH_MS,
  min: 0,
  max: 600_000,
});

/**
 * --begin/--end of the index queries (queryMsgByKey, queryMsgTrace): store-time bounds in epoch
 * ms (now, epoch milliseconds, or yyyy-MM-dd#HH:mm:ss:SSS; defaults 0 and END_OF_TIME_MS), and
 * the words for a "not found" line (empty when neither was given).
 */
export function storeTimeRange(begin: string | undefined, end: string | undefined): { beginMs: number; endMs: number; text: string } {
  const when = (s: string | undefined, flag: string, dflt: number) => {
    if (s === undefined) return dflt;
    const t = parseTimestamp(s, flag);
    return t === 'now' ? Date.now() : t;
  };
  const beginMs = when(begin, '--begin', 0);
  const endMs = when(end, '--end', END_OF_TIME_MS);
  if (beginMs > endMs) throw new UsageError(`--begin ${begin} is after --end ${end}`);
  const text = begin || end ? ` stored between ${beginMs <= 0 ? 'the beginning' : formatTimeMs(beginMs)} and ${endMs === END_OF_TIME_MS ? 'now' : formatTimeMs(endMs)}` : '';
  return { beginMs, endMs, text };
}

/**
 * --watch [S] of consumerProgress, topicStatus and brokerStatus: seconds between samples. The
 * value may be left out (preflight in command-line.ts fills in DEFAULT_WATCH_INTERVAL_S); a value
 * that is not a number of seconds in range is a usage error.
 */
export const watchFlag = Flags.custom<number>({
  summary: `Keep sampling every S seconds (default ${DEFAULT_WATCH_INTERVAL_S}; S may be left out) until Ctrl-C: on a terminal a live table with rates and drain estimates, otherwise (or with --json) one JSON line per sample.`,
  helpValue: '[S]',
  parse: async (v) => parseWatchInterval(v),
});

function parseWatchInterval(v: string): number {
  const s = Number(v);
  if (v.trim() === '' || !Number.isFinite(s) || s < WATCH_INTERVAL_S_MIN || s > WATCH_INTERVAL_S_MAX) {
    throw new UsageError(`--watch ${JSON.stringify(v)}: expected seconds between samples, from ${WATCH_INTERVAL_S_MIN} to ${WATCH_INTERVAL_S_MAX} (e.g. --watch 5), or no value for ${DEFAULT_WATCH_INTERVAL_S}`);
  }
  return s;
}

/** -b / -c of the ACL commands (mqadmin's): one broker, or every master of a cluster. */
export const aclTargetFlags = {
  brokerAddr: Flags.string({ char: 'b', summary: 'On this broker (host:port); without -n, talked to directly.', exclusive: ['clusterName'] }),
  clusterName: Flags.string({ char: 'c', summary: 'On every master of this cluster.', exclusive: ['brokerAddr'] }),
};
