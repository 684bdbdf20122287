import { Args } from '@oclif/core';
import { UsageError } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { completionScript, SHELLS, type Shell } from '../output/completion.js';

export interface CompletionResult {
  shell: Shell;
  script: string;
}

export default class Completion extends BaseCommand<CompletionResult> {
  static override summary = 'Print a shell completion script (bash or zsh) for command names and flags.';

  static override description = [
    'The script completes command names, the subcommands of broker and store, and each command\'s flags (after "-"); anything else completes as file names.',
    'Load it in the current shell with `source <(rocketctl completion bash)`, or add that line to ~/.bashrc (zsh: `source <(rocketctl completion zsh)` in ~/.zshrc).',
  ].join('\n\n');

  static override examples = [
    { description: 'Completion in this bash session.', command: 'source <(<%= config.bin %> completion bash)' },
    { description: 'Completion in every new zsh.', command: 'echo \'source <(<%= config.bin %> completion zsh)\' >> ~/.zshrc' },
  ];

  static override args = {
    shell: Args.string({ description: 'bash or zsh (default: bash)', required: false, ignoreStdin: true }),
  };

  async run(): Promise<CompletionResult> {
    const { args } = await this.parse(Completion);
    const shell = (args.shell ?? 'bash') as Shell;
    if (!SHELLS.includes(shell)) throw new UsageError(`unknown shell '${args.shell}': completion is for ${SHELLS.join(' or ')}`, ['rocketctl completion bash']);
    const commands = this.config.commands
      .filter((c) => !c.hidden)
      .map((c) => ({ id: c.id, flags: Object.values(c.flags).filter((f) => !f.hidden).map((f) => ({ name: f.name, char: f.char })) }));
    const script = completionScript(shell, this.config.bin, commands);
    this.render(script);
    return { shell, script };
  }
}
