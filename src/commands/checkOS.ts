import { Flags } from '@oclif/core';
import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { ExitCode, UsageError } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { statusWord } from '../output/colors.js';
import { renderKeyValues, renderTable } from '../output/table.js';
import { checkOS, DEFAULT_STORE_SUBDIR, type OsReport } from '../checks/os.js';
import { applyWrites, assertMayApply, fixLines, type ApplyOutcome } from '../checks/fix.js';

export interface CheckOsResult extends OsReport {
  /** Present with --apply: each file write attempted (items above are re-read afterwards). */
  applied?: ApplyOutcome[];
}

export default class CheckOS extends BaseCommand<CheckOsResult> {
  static override summary = 'Check this host against the RocketMQ tuning checklist (os.sh, JVM defaults).';

  static override description = [
    'Reads kernel settings from /proc and /sys, the open-files limit of this process and of a running broker, the I/O scheduler of the disk holding the store, transparent huge pages and the Node heap limit, and prints for each the current value, the recommended one, pass/warn/fail and why. A value that cannot be read is a warning, never a guess.',
    'The running broker is the pid in the store dir\'s lock file, or --pid; none running is reported, not failed. Nothing is changed unless --apply is given. Exits 4 when any check fails.',
  ].join('\n\n');

  static override examples = [
    { description: 'Check this host against the checklist.', command: '<%= config.bin %> checkOS' },
    { description: 'Check the disk of a store and print the commands that fix what is off.', command: '<%= config.bin %> checkOS --store-dir /data/rocketmq/store --fix' },
    { description: 'Apply the sysctl, scheduler and huge-page fixes (run as root).', command: '<%= config.bin %> checkOS --apply' },
    { description: 'Check a host whose / is mounted at /host (e.g. from a container).', command: '<%= config.bin %> checkOS --root /host --json' },
  ];

  static override flags = {
    'store-dir': Flags.string({
      summary: `Broker store dir: its disk's I/O scheduler is checked, and its lock file names the broker pid (default ~/${DEFAULT_STORE_SUBDIR}).`,
    }),
    pid: Flags.integer({ summary: 'Pid of the running broker to check (instead of the one in the store\'s lock file).', min: 1 }),
    fix: Flags.boolean({ summary: 'Print the commands that would bring the host to the recommended values.' }),
    apply: Flags.boolean({
      summary: 'Apply the sysctl, scheduler and huge-page fixes (as root); limits.conf and NODE_OPTIONS are printed only.',
    }),
    root: Flags.string({
      summary: 'Read proc/, sys/ and the store dir under this directory instead of / (a host tree mounted in a container; tests).',
      description: 'Root is needed for --apply only when this is the real /; under another directory the files\' permissions decide.',
      default: '/',
    }),
  };

  async run(): Promise<CheckOsResult> {
    const { flags } = await this.parse(CheckOS);
    if (!isDirectory(flags.root)) throw new UsageError(`--root ${flags.root}: not a directory`);
    // Refuse before reading anything, so a refused --apply has touched nothing.
    if (flags.apply) assertMayApply(flags.root, process.geteuid?.());

    const options = {
      root: flags.root,
      storeDir: flags['store-dir'] ?? join(homedir(), DEFAULT_STORE_SUBDIR),
      pid: flags.pid,
      process: {
        heapSizeLimitBytes: getHeapStatistics().heap_size_limit,
        execArgv: process.execArgv,
        nodeOptions: process.env.NODE_OPTIONS,
      },
    };
    let report = checkOS(options);
    const fixes = fixLines(report.items);
    let applied: ApplyOutcome[] | undefined;
    if (flags.apply) {
      applied = applyWrites(flags.root, report.items);
      report = checkOS(options);
      for (const a of applied.filter((x) => !x.ok)) this.setStatus(ExitCode.ERROR, `could not apply ${a.id}: ${a.path}: ${a.error}`);
    }

    const failed = report.items.filter((i) => i.status === 'fail').map((i) => i.id);
    if (failed.length > 0) this.setStatus(ExitCode.CHECK_FAILED, `${failed.length} check(s) failed: ${failed.join(', ')}`);

    this.render(renderReport(report));
    if ((flags.fix || flags.apply) && !applied) this.render(fixes.length > 0 ? `\nTo fix (as root):\n${fixes.join('\n')}` : '\nNothing to fix.');
    if (applied) this.render(renderApplied(applied, fixLines(report.items)));
    return applied ? { ...report, applied } : report;
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function renderReport(r: OsReport): string {
  const broker = r.broker ? `pid ${r.broker.pid}${r.broker.command ? ` (${r.broker.command})` : ''}, from ${r.broker.source === 'lock' ? 'the lock file' : '--pid'}` : 'none found';
  const head = renderKeyValues([
    ['root', r.root],
    ['store dir', r.storeDir],
    ['broker', broker],
  ]);
  // The why column would make every row hundreds of characters wide: it gets its own list below.
  const rows = r.items.map((i) => [i.id, i.current, i.recommended, statusWord(i.status)]);
  const why = renderKeyValues(r.items.map((i) => [i.id, i.why]));
  const s = r.summary;
  const total = `${r.items.length} checks: ${s.pass} pass, ${s.warn} warn, ${s.fail} fail, ${s.skip} skip`;
  return `${head}\n\n${renderTable(['#Check', '#Current', '#Recommended', '#Status'], rows)}\n\nWhy:\n${why}\n\n${total}`;
}

function renderApplied(applied: ApplyOutcome[], remaining: string[]): string {
  const lines = applied.map((a) => `${statusWord(a.ok ? 'ok' : 'failed')}  ${a.path} = ${a.value}${a.error ? ` (${a.error})` : ''}`);
  let out = `\nApplied:\n${lines.length > 0 ? lines.join('\n') : '(nothing --apply can change)'}`;
  if (remaining.length > 0) out += `\n\nStill to do by hand (as root):\n${remaining.join('\n')}`;
  return out;
}
