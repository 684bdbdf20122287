/**
 * `rocketctl completion bash|zsh`: the script, sourced into a real bash, completes command names,
 * topic subcommands and each command's flags as the manifest declares them.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, expectSuccessEnvelope } from '../helpers/cli.js';

const { NODE_ENV: _nodeEnv, ...ENV } = process.env;
const cli = (args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin/run.js'), ...args], { encoding: 'utf8', env: { ...ENV, NO_COLOR: '1' }, timeout: 30_000 });

/** What bash's completion function offers for the words typed so far (the last one being completed). */
function complete(script: string, typed: string[]): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rocketctl-completion-'));
  try {
    const file = path.join(dir, 'c.bash');
    fs.writeFileSync(file, script);
    const words = typed.map((w) => `'${w}'`).join(' ');
    const r = spawnSync('bash', ['-c', `source ${file}; COMP_WORDS=(${words}); COMP_CWORD=${typed.length - 1}; _rocketctl_complete; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8', timeout: 10_000 });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout.split('\n').filter(Boolean);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('completion', () => {
  const bash = cli(['completion', 'bash']);
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as { commands: Record<string, { flags: Record<string, { char?: string }> }> };

  it('bash: command names, subcommands and flags from the manifest', () => {
    expect(bash.status, bash.stderr).toBe(0);
    expect(complete(bash.stdout, ['rocketctl', 'topicS'])).toEqual(['topicStatus']);
    expect(complete(bash.stdout, ['rocketctl', 'consumerP'])).toEqual(['consumerProgress']);
    expect(complete(bash.stdout, ['rocketctl', 'broker', ''])).toEqual(['start']);
    const flags = complete(bash.stdout, ['rocketctl', 'topicStatus', '--']);
    expect(flags).toEqual(expect.arrayContaining(['--topic', '--namesrvAddr', '--json', '--help']));
    expect(complete(bash.stdout, ['rocketctl', 'broker', 'start', '--store'])).toEqual(['--store-dir']);
    // Every command of the manifest is offered, and every flag of each.
    const all = complete(bash.stdout, ['rocketctl', '']);
    for (const id of Object.keys(manifest.commands)) expect(all).toContain(id.split(':')[0]);
    const cp = complete(bash.stdout, ['rocketctl', 'consumerProgress', '-']);
    for (const name of Object.keys(manifest.commands.consumerProgress!.flags)) expect(cp).toContain(`--${name}`);
  });

  it('zsh: the same function through bashcompinit; --json carries the script', () => {
    const zsh = cli(['completion', 'zsh', '--json']);
    expect(zsh.status, zsh.stderr).toBe(0);
    const env = JSON.parse(zsh.stdout);
    expectSuccessEnvelope('completion', env);
    expect(env.result.shell).toBe('zsh');
    expect(env.result.script).toContain('bashcompinit');
    expect(env.result.script).toContain('complete -o default -F _rocketctl_complete rocketctl');
  });

  it('an unknown shell is a usage error', () => {
    const r = cli(['completion', 'fish']);
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe("Error: unknown shell 'fish': completion is for bash or zsh");
  });
});
