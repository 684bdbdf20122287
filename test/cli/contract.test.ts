/**
 * The CLI contract, checked over every command in the built manifest: mqadmin-style flags never
 * repeat a short letter within a command, every command has a summary, examples and --json, and
 * a committed JSON Schema for its --json result.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli, schemaPath, expectErrorEnvelope, expectOneLineError } from '../helpers/cli.js';

interface ManifestFlag {
  name: string;
  char?: string;
  type: string;
}
interface ManifestCommand {
  id: string;
  summary?: string;
  description?: string;
  examples?: string[];
  enableJsonFlag?: boolean;
  flags: Record<string, ManifestFlag>;
  hidden?: boolean;
}

const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as {
  commands: Record<string, ManifestCommand>;
};
const commands = Object.values(manifest.commands);

describe('CLI contract', () => {
  it('has commands in the manifest (npm run build writes it)', () => {
    expect(commands.length).toBeGreaterThan(0);
  });

  it('bakes no path of the build machine into --help (the manifest is written at build time)', () => {
    const text = fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8');
    expect(text).not.toContain(os.homedir());
    expect(JSON.stringify(manifest.commands['store:verify']!.flags['store-dir'])).toContain('~/.rocketctl/store');
  });

  for (const cmd of commands) {
    describe(cmd.id, () => {
      it('uses no short flag letter twice', () => {
        const seen = new Map<string, string>();
        for (const f of Object.values(cmd.flags)) {
          if (!f.char) continue;
          expect(seen.get(f.char), `-${f.char} used by --${seen.get(f.char)} and --${f.name}`).toBeUndefined();
          seen.set(f.char, f.name);
        }
        // -h is help everywhere, as in mqadmin (src/output/command-line.ts).
        expect(seen.get('h'), '-h is reserved for help').toBeUndefined();
      });

      it('has a summary, examples and --json', () => {
        expect(cmd.summary ?? cmd.description, 'summary').toBeTruthy();
        expect(cmd.examples?.length ?? 0, 'examples').toBeGreaterThan(0);
        expect(cmd.enableJsonFlag, '--json').toBe(true);
      });

      it('has a committed JSON Schema for its --json result', () => {
        const file = schemaPath(cmd.id);
        expect(fs.existsSync(file), `missing ${path.relative(ROOT, file)}`).toBe(true);
        const schema = JSON.parse(fs.readFileSync(file, 'utf8'));
        expect(schema.required).toEqual(expect.arrayContaining(['status', 'result', 'warnings']));
      });
    });
  }

  it('an unknown flag is a usage error: exit 2, one line, JSON error envelope with --json', async () => {
    const id = commands[0]!.id.split(':').join(' ');
    const plain = await runCli([...id.split(' '), '--no-such-flag']);
    expect(plain.code).toBe(2);
    expectOneLineError(plain.stderr);
    const json = await runCli([...id.split(' '), '--no-such-flag', '--json']);
    expect(json.code).toBe(2);
    expectErrorEnvelope(json.json, 2);
  });

  it('an unknown command: one line with the closest command, exit 2; --json an envelope; help and -h work', async () => {
    const plain = await runCli(['topicstatus']);
    expect(plain.code).toBe(2);
    expectOneLineError(plain.stderr);
    expect(plain.stderr).toMatch(/^Error: unknown command "topicstatus"; did you mean topicStatus\?/);
    const json = await runCli(['topicstatus', '--json']);
    expectErrorEnvelope(json.json, 2);
    expect(json.json.message).toContain('did you mean topicStatus?');
    const sub = await runCli(['broker', 'strat']);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toMatch(/did you mean broker start\?/);
    for (const args of [['help', 'topicStatus'], ['topicStatus', '-h']]) {
      const h = await runCli(args);
      expect(h.code, args.join(' ')).toBe(0);
      expect(h.stdout).toMatch(/USAGE\s+\$ rocketctl topicStatus/);
    }
  });
});
