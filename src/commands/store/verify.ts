import { Flags } from '@oclif/core';
import { ExitCode } from '../../errors/index.js';
import { BaseCommand } from '../../output/base-command.js';
import { renderKeyValues } from '../../output/table.js';
import { verifyStore, type StoreVerifyResult } from '../../broker/store/message-store.js';
import { DEFAULT_STORE_DIR } from '../../broker/store/store-config.js';
import { dledgerFilesOf, verifyCommitLog, type OldCommitLogCheck } from '../../broker/dledger/dledger-commitlog.js';

/** The report, plus the old commit log of a store converted to DLedger (null for any other store). */
export type StoreVerifyCommandResult = StoreVerifyResult & { oldCommitLog: OldCommitLogCheck | null };

export default class StoreVerify extends BaseCommand<StoreVerifyCommandResult> {
  static override summary = 'Check a broker store the way recovery would, without changing it.';

  static override description = [
    'Runs the store\'s real recovery over a copy-on-write view of the files: every commit log record from the safe start point is checked (size, magic, layout, offset, body CRC), consume queues and the index are compared with the log, and the report says what the next broker start would cut and rebuild. Nothing on disk changes unless --repair is given.',
    'A store converted to DLedger also has its old commit log (below dividedCommitlogOffset, read-only) checked record by record.',
    'The store must not be in use: while a broker holds its lock this fails at once. Exits 4 when recovery would cut data from the commit log, or a record of the old commit log is bad.',
  ].join('\n\n');

  static override examples = [
    { description: 'Check the default store (~/.rocketctl/store).', command: '<%= config.bin %> store verify' },
    { description: 'Check another store and print the report as JSON.', command: '<%= config.bin %> store verify --store-dir /data/rocketmq/store --json' },
    { description: 'Apply the cuts and rebuilds now, and leave the store cleanly closed.', command: '<%= config.bin %> store verify --store-dir /data/rocketmq/store --repair' },
  ];

  static override flags = {
    // Shown as ~/... in --help: the manifest is written at build time, under the builder's HOME.
    'store-dir': Flags.string({ summary: 'Store root dir (storePathRootDir).', default: async () => DEFAULT_STORE_DIR, defaultHelp: async () => '~/.rocketctl/store', noCacheDefault: true }),
    repair: Flags.boolean({ summary: 'Write what recovery does (truncate the bad tail, rebuild queues and index) instead of a dry run.' }),
  };

  async run(): Promise<StoreVerifyCommandResult> {
    const { flags } = await this.parse(StoreVerify);
    const dledger = dledgerFilesOf(flags['store-dir']);
    let oldCommitLog: OldCommitLogCheck | null = null;
    const replicated = dledger && { commitLog: verifyCommitLog(dledger, (c) => (oldCommitLog = c)), mappedFileSizeCommitLog: dledger.dataFileBytes };
    const result: StoreVerifyCommandResult = { ...(await verifyStore(flags['store-dir'], { repair: flags.repair, replicated })), oldCommitLog };
    if (result.truncatedFromOffset !== null) {
      const what = `${result.bytesDropped} bytes from commit log offset ${result.truncatedFromOffset} (${result.truncateReason})`;
      if (result.repaired) this.warnUser(`cut ${what}`);
      else this.setStatus(ExitCode.CHECK_FAILED, `recovery would cut ${what}; run with --repair or start the broker to apply it`);
    }
    const oldProblem = result.oldCommitLog?.problem;
    // Never cut: the old log is read-only below the DLedger log, and nothing repairs it.
    if (oldProblem) this.setStatus(ExitCode.CHECK_FAILED, `the old commit log (below the DLedger log) has a bad record: ${oldProblem}`);
    this.render(render(result));
    return result;
  }
}

function render(r: StoreVerifyCommandResult): string {
  const list = (xs: string[]) => (xs.length > 0 ? xs.join(', ') : '-');
  const old = r.oldCommitLog;
  const oldRows: Array<[string, string | number]> = old
    ? [
        ['old commit log', `${old.files} file(s) from offset ${old.minOffset}, read-only below dividedCommitlogOffset ${old.dividedCommitlogOffset}`],
        ['old records checked', old.recordsChecked],
        ['old log problem', old.problem ?? 'none'],
      ]
    : [];
  return renderKeyValues([
    ['store dir', r.storeDir],
    ['run', r.repaired ? 'repair (changes written)' : 'dry run (nothing changed)'],
    ['last shutdown', r.mode === 'clean' ? 'clean' : 'abnormal (abort marker present)'],
    ['commit log files', r.commitLogFiles],
    ['segment size', r.mappedFileSizeCommitLog],
    ['min offset', r.commitLogMinOffset],
    ['max offset', r.commitLogMaxOffset],
    ['scan started at', r.scanStartOffset],
    ['records checked', r.recordsScanned],
    ['problem', r.problem ?? 'none'],
    ['truncated from', r.truncatedFromOffset ?? '-'],
    ['bytes dropped', r.bytesDropped],
    ['segments deleted', list(r.segmentsDeleted)],
    ['queues rebuilt', list(r.queuesRebuilt)],
    ['queue units dropped', r.queueUnitsDropped],
    ['queue tails cut at load', list(r.consumeQueuesTornAtLoad)],
    ['queue gaps', list(r.queueGaps)],
    ['records re-dispatched', r.recordsRedispatched],
    ['index', r.indexChecked ? (r.indexRebuilt ? 'rebuilt from the log' : 'ok') : 'not checked (geometry unknown)'],
    ...oldRows,
    ['duration', `${r.durationMs} ms`],
  ]);
}
