import { Flags } from '@oclif/core';
import { failureWarnings } from '../admin/fanout.js';
import { withAdminSession } from '../admin/session.js';
import { ExitCode, UsageError } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { statusWord } from '../output/colors.js';
import { targetFlags, targetOf } from '../output/flags.js';
import { withSpinner } from '../output/spinner.js';
import { renderKeyValues, renderTable } from '../output/table.js';
import { checkNoLoss, GROUP_ITEMS, NO_LOSS_ITEMS, parseRequire, PRODUCER_ITEMS, type NoLossReport } from '../checks/no-loss.js';

export default class CheckNoLoss extends BaseCommand<NoLossReport> {
  static override summary = 'Check a cluster (and a consumer/producer group) against the zero-loss checklist.';

  static override description = [
    `Items: ${NO_LOSS_ITEMS.join(', ')}. Each says pass / warn / fail / unknown / skip, what was found, what is recommended, why it matters, how to fix it, and what the safer choice costs in throughput, so the trade-off can be decided.`,
    'Reads GET_BROKER_RUNTIME_INFO and GET_BROKER_CONFIG of every master (and cluster info for slaves); with -g the group\'s subscription config, the depth of %DLQ%<group>, how close its oldest unconsumed message is to the brokers\' retention (fileReservedTime; warn within a day) and its online consumers; with -p the producer group\'s connections. What the brokers cannot show (transactions, an outbox, what user code does before it acknowledges) is reported as unknown with the reason, never guessed.',
    'Exit 4 when an item fails: a --require\'d item that is warn or unknown, or a hard failure (a disk past its cleaning limit, a group that drops failed messages). Exit 3 when some broker did not answer.',
  ].join('\n\n');

  static override examples = [
    { description: 'The local broker.', command: '<%= config.bin %> checkNoLoss' },
    { description: 'A cluster, a consumer group and a producer group, as JSON.', command: '<%= config.bin %> checkNoLoss -n 10.0.0.1:9876 -g orders-consumer -p orders-producer --json' },
    { description: 'Fail (exit 4) unless every master flushes synchronously and replicates.', command: '<%= config.bin %> checkNoLoss -n 10.0.0.1:9876 --require sync-flush,replication' },
  ];

  static override flags = {
    group: Flags.string({ char: 'g', summary: 'Consumer group: retry/DLQ settings, DLQ depth, backlog age against retention, how its consumers commit.' }),
    producerGroup: Flags.string({ char: 'p', summary: 'Producer group: its connections (transactions and outbox are reported as not visible from the broker).' }),
    clusterName: Flags.string({ char: 'c', summary: 'Only this cluster\'s brokers (default: every cluster).' }),
    require: Flags.string({ summary: `Comma-separated items that must pass (exit 4 otherwise): ${NO_LOSS_ITEMS.join(', ')}.` }),
    ...targetFlags,
  };

  async run(): Promise<NoLossReport> {
    const { flags } = await this.parse(CheckNoLoss);
    const req = parseRequire(flags.require);
    if ('error' in req) throw new UsageError(req.error, [`e.g. --require ${NO_LOSS_ITEMS.slice(0, 2).join(',')}`]);
    const needGroup = req.ids.filter((i) => GROUP_ITEMS.includes(i));
    if (needGroup.length > 0 && !flags.group) throw new UsageError(`--require ${needGroup.join(',')} needs a consumer group: give -g GROUP`);
    const needProducer = req.ids.filter((i) => PRODUCER_ITEMS.includes(i));
    if (needProducer.length > 0 && !flags.producerGroup) throw new UsageError(`--require ${needProducer.join(',')} needs a producer group: give -p GROUP`);

    const target = targetOf(flags);
    const opts = { clusterName: flags.clusterName, group: flags.group, producerGroup: flags.producerGroup, require: req.ids };
    const r = await withSpinner('Asking the brokers', this.jsonEnabled(), () => withAdminSession(target, (s) => checkNoLoss(s, opts)));

    for (const w of failureWarnings(r.failed)) this.setStatus(ExitCode.PARTIAL, w);
    const failedItems = r.items.filter((i) => i.status === 'fail');
    const unknownRequired = r.unmet.filter((u) => u.status === 'unknown');
    if (failedItems.length > 0) {
      this.setStatus(ExitCode.CHECK_FAILED, `${failedItems.length} item(s) failed: ${failedItems.map((i) => `${i.id} (${i.current})`).join('; ')}`);
    }
    if (unknownRequired.length > 0) this.setStatus(ExitCode.CHECK_FAILED, `required but could not be verified: ${unknownRequired.map((u) => u.id).join(', ')}`);
    this.render(renderReport(r));
    return r;
  }
}

function renderReport(r: NoLossReport): string {
  const head = renderKeyValues([
    ['target', r.target],
    ['brokers', r.brokers.map((b) => `${b.brokerName} (${b.addr}, ${b.flushDiskType ?? 'flush ?'}, ${b.brokerRole ?? 'role ?'})`).join(', ')],
    ['consumer group', r.group ?? '-'],
    ['producer group', r.producerGroup ?? '-'],
    ['required', r.required.length > 0 ? r.required.join(', ') : '-'],
  ]);
  const rows = r.items.map((i) => [i.id + (i.required ? ' *' : ''), statusWord(i.status), i.current]);
  const details = r.items
    .filter((i) => i.status !== 'skip')
    .map((i) => {
      const lines = [`${i.id}: ${i.status}`, `  recommended: ${i.recommended}`, `  why: ${i.why}`];
      for (const f of i.fix) lines.push(`  fix: ${f}`);
      lines.push(`  price: ${i.price}`);
      return lines.join('\n');
    })
    .join('\n\n');
  const s = r.summary;
  const total = `${r.items.length} items: ${s.pass} pass, ${s.warn} warn, ${s.fail} fail, ${s.unknown} unknown, ${s.skip} skip${r.required.length > 0 ? ' (* required)' : ''}`;
  return `${head}\n\n${renderTable(['#Item', '#Status', '#Current'], rows)}\n\n${details}\n\n${total}`;
}
