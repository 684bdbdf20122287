import { Flags } from '@oclif/core';
import { targetFlags, watchMsFlag, targetOf } from '../output/flags.js';
import { ResetCommandBase, type ResetOffsetResult } from './resetOffset.js';

export default class SkipAccumulatedMessage extends ResetCommandBase {
  // Declared here too: the manifest reads it from the command class itself.
  static override enableJsonFlag = true;

  static override summary = "Skip a group's backlog on a topic: resetOffset --latest --execute under mqadmin's name.";

  static override description = [
    'Moves every queue of the topic to its max offset, as mqadmin skipAccumulatedMessage does — it executes at once. The plan is printed with what was skipped per queue, and an undo plan is written (default ~/.rocketctl/undo/..., or --undo-file) that "resetOffset --plan FILE --execute" applies to get the skipped messages back.',
    'Online groups are reset through the broker (consumers told; their offsets are read back, and a queue whose consumer wrote its old offset back is "reverted", exit 3), offline ones written directly; per queue compare-and-set, as resetOffset.',
    'Exit codes: 0 ok; 1 error (unreachable broker or name server, unknown topic or group); 2 bad flags; 3 some queues not reset as planned; 10 bug.',
  ].join('\n\n');

  static override examples = [
    { description: 'Skip the backlog of a group.', command: '<%= config.bin %> skipAccumulatedMessage -g orders-consumer -t orders' },
    { description: 'Same, keeping the undo plan in a known place.', command: '<%= config.bin %> skipAccumulatedMessage -g orders-consumer -t orders --undo-file undo.json' },
  ];

  static override flags = {
    group: Flags.string({ char: 'g', summary: 'Consumer group.', required: true }),
    topic: Flags.string({ char: 't', summary: 'Topic.', required: true }),
    force: Flags.string({ char: 'f', summary: 'mqadmin -f (kept for scripts): with --latest every move is forward, so false changes nothing.', options: ['true', 'false'], default: 'true' }),
    'undo-file': Flags.string({ summary: 'Where the undo plan is written (default ~/.rocketctl/undo/...).' }),
    'watch-ms': watchMsFlag,
    ...targetFlags,
  };

  async run(): Promise<ResetOffsetResult> {
    const { flags } = await this.parse(SkipAccumulatedMessage);
    return this.runReset({
      target: targetOf(flags),
      group: flags.group,
      topic: flags.topic,
      mode: { kind: 'latest' },
      force: flags.force !== 'false',
      cplus: false,
      execute: true,
      planFile: null,
      undoFile: flags['undo-file'],
      watchMs: flags['watch-ms'],
    });
  }
}
