import { Flags } from '@oclif/core';
import { queryAudit, readStoreAudit, type AuditFilter, type AuditResult } from '../admin/audit.js';
import { failureWarnings } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { ExitCode, UsageError } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { aclTargetFlags, targetFlags, targetOf } from '../output/flags.js';
import { withSpinner } from '../output/spinner.js';

/** "90s", "15m", "2h", "7d" ago, or a time Date.parse reads (2026-12-05T09:00:00Z). */
export function parseSince(v: string, nowMs = Date.now()): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(v.trim());
  if (m) return nowMs - Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new UsageError(`--since ${v}: expected a duration (90s, 15m, 2h, 7d) or a time (2026-12-05T09:00:00Z)`);
  return t;
}

export default class Audit extends BaseCommand<AuditResult> {
  static override summary = 'Show the audit log of admin changes (topics, groups, offsets, config, ACL), filtered.';

  static override description = [
    'Every mutating admin request a rocketctl broker handled is in its audit log: when, who (address and signing access key), what (request code), the target, before -> after where the broker knows it, and the answer. By default the brokers are asked (ROCKETCTL_QUERY_AUDIT_LOG; with ACL on it needs an admin account): the local broker, -b one broker, or -c every master of a cluster. With --store-dir the log files are read from disk instead, also of a stopped broker.',
    'Apache brokers keep no such log (they answer "not supported"). The newest --limit matching entries are shown, oldest first.',
  ].join('\n\n');

  static override examples = [
    { description: 'What changed on the local broker in the last hour.', command: '<%= config.bin %> audit --since 1h' },
    { description: 'Who deleted or reset anything of group CG, as JSON.', command: '<%= config.bin %> audit -b 10.0.0.5:10911 -g CG --what DELETE_SUBSCRIPTIONGROUP,INVOKE_BROKER_TO_RESET_OFFSET --json' },
    { description: 'Read a stopped broker\'s log from its store dir.', command: '<%= config.bin %> audit --store-dir /data/rocketctl/store -t Orders' },
  ];

  static override flags = {
    ...aclTargetFlags,
    'store-dir': Flags.string({ summary: 'Read the audit files under this store dir instead of asking a broker.', exclusive: ['brokerAddr', 'clusterName', 'namesrvAddr'] }),
    since: Flags.string({ summary: 'Only entries at or after this: a duration ago (90s, 15m, 2h, 7d) or a time.' }),
    what: Flags.string({ summary: 'Only these request codes, by name or number, comma-separated (e.g. UPDATE_AND_CREATE_TOPIC,222).', aliases: ['code'] }),
    topic: Flags.string({ char: 't', summary: 'Only changes of this topic.' }),
    group: Flags.string({ char: 'g', summary: 'Only changes of this consumer group.' }),
    who: Flags.string({ summary: 'Only requests whose address, access key or rocketctl command contains this.' }),
    limit: Flags.integer({ summary: 'At most this many entries (the newest).', default: 1000, min: 1, max: 10_000 }),
    ...targetFlags,
  };

  async run(): Promise<AuditResult> {
    const { flags } = await this.parse(Audit);
    const filter: AuditFilter = {
      sinceMs: flags.since === undefined ? undefined : parseSince(flags.since),
      what: flags.what?.split(',').map((w) => w.trim()).filter((w) => w !== ''),
      topic: flags.topic,
      group: flags.group,
      who: flags.who,
      limit: flags.limit,
    };
    const storeDir = flags['store-dir'];
    const r = storeDir !== undefined
      ? readStoreAudit(storeDir, filter)
      : await withSpinner('Reading the audit log', this.jsonEnabled(), () =>
          withAdminSession({ ...targetOf(flags), brokerAddr: flags.brokerAddr }, (s) =>
            queryAudit(s, { brokerAddr: flags.brokerAddr, clusterName: flags.clusterName, local: !flags.namesrvAddr, filter }),
          ),
        );
    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    if (r.truncated) this.warnUser(`more entries matched than --limit ${flags.limit}: the oldest are left out`);
    if (!this.jsonEnabled()) this.render((await import('../output/audit-render.js')).renderAudit(r));
    return r;
  }
}
