/**
 * The production entry (bin/run.js) runs dist/rocketctl.cjs, one esbuild bundle compiled through a
 * V8 code cache (bin/load.cjs, scripts/bundle.mjs, scripts/warm-cache.mjs). These tests pin what
 * that must keep true: every command of the manifest is in the bundle's registry, the cache the
 * build wrote is one this Node accepts, a missing or corrupt cache is (re)written by a run and
 * never breaks one, and the bundle needs nothing from node_modules at run time.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

const require = createRequire(import.meta.url);
const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as {
  commands: Record<string, { flags: Record<string, unknown> }>;
};
const env = { ...process.env, NODE_ENV: undefined, NO_COLOR: '1' };

const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A copy of just what an installed rocketctl needs to run, without node_modules. */
function installCopy(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rocketctl-bundle-'));
  tmpDirs.push(dir);
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.mkdirSync(path.join(dir, 'dist'));
  for (const f of ['bin/run.js', 'bin/load.cjs', 'dist/rocketctl.cjs', 'package.json', 'oclif.manifest.json']) {
    fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
  }
  return dir;
}

function run(dir: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [path.join(dir, 'bin', 'run.js'), ...args], { encoding: 'utf8', env: { ...env, ...extraEnv }, timeout: 30_000 });
}

/** Whether bin/load.cjs in `dir` finds a cache this Node accepts. */
function cacheUsed(dir: string): boolean {
  const out = execFileSync(process.execPath, ['-e', `process.stdout.write(String(require(${JSON.stringify(path.join(dir, 'bin', 'load.cjs'))}).loadBundle().cacheUsed))`], { encoding: 'utf8', env });
  return out === 'true';
}

describe('production bundle', () => {
  it('registers exactly the commands of the manifest, each a command class with its flags', () => {
    const bundle = require(path.join(ROOT, 'dist', 'rocketctl.cjs')) as {
      COMMANDS: Record<string, { run: unknown; flags?: Record<string, unknown>; args?: Record<string, { ignoreStdin?: boolean }> }>;
    };
    expect(Object.keys(bundle.COMMANDS).sort()).toEqual(Object.keys(manifest.commands).sort());
    for (const [id, cmd] of Object.entries(manifest.commands)) {
      const cls = bundle.COMMANDS[id];
      expect(typeof cls.run, id).toBe('function');
      expect(Object.keys(cls.flags ?? {}).sort(), id).toEqual(Object.keys(cmd.flags).filter((f) => f !== 'json').sort());
      // oclif reads standard input for a missing argument unless told not to (see stdin test below).
      for (const [name, arg] of Object.entries(cls.args ?? {})) expect(arg.ignoreStdin, `${id} argument ${name}`).toBe(true);
    }
  });

  it('never reads standard input: a shell loop feeding lines keeps all of them', () => {
    const bin = path.join(ROOT, 'bin', 'run.js');
    const script = `printf 'a\\nb\\nc\\n' | while read -r l; do echo "got $l"; "$NODE" "$BIN" consumerProgress -g G --socket /nonexistent/rocketctl.sock --json >/dev/null 2>&1; done; exit 0`;
    const out = execFileSync('sh', ['-c', script], { encoding: 'utf8', env: { ...env, NODE: process.execPath, BIN: bin }, timeout: 30_000 });
    expect(out.trim().split('\n')).toEqual(['got a', 'got b', 'got c']);
  });

  it('is ASCII-only and comes with a code cache this Node accepts (written by the build)', () => {
    const code = fs.readFileSync(path.join(ROOT, 'dist', 'rocketctl.cjs'));
    expect(code.findIndex((b) => b > 0x7f)).toBe(-1);
    expect(fs.statSync(path.join(ROOT, 'dist', 'rocketctl.cjs.cache')).size).toBeGreaterThan(100_000);
    expect(cacheUsed(ROOT)).toBe(true);
  });

  it('runs without node_modules; a run with no cache writes one, which the next run uses', () => {
    const dir = installCopy();
    const cache = path.join(dir, 'dist', 'rocketctl.cjs.cache');
    const first = run(dir, ['--version']);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^rocketctl\/\d+\.\d+\.\d+ /);
    expect(fs.existsSync(cache)).toBe(true);
    expect(cacheUsed(dir)).toBe(true);
    const help = run(dir, ['topicList', '--help']);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('--namesrvAddr');
    expect(fs.readdirSync(path.join(dir, 'dist')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('replaces a corrupt cache and never fails a run because of one', () => {
    const dir = installCopy();
    const cache = path.join(dir, 'dist', 'rocketctl.cjs.cache');
    fs.writeFileSync(cache, Buffer.alloc(4096, 0xab));
    const r = run(dir, ['checkOS', '--json']);
    expect([0, 4], r.stderr).toContain(r.status);
    expect(JSON.parse(r.stdout)).toHaveProperty('result');
    expect(fs.readFileSync(cache).equals(Buffer.alloc(4096, 0xab))).toBe(false);
    expect(cacheUsed(dir)).toBe(true);
  });

  it('ROCKETCTL_CODE_CACHE=off neither reads nor writes the cache', () => {
    const dir = installCopy();
    const r = run(dir, ['--version'], { ROCKETCTL_CODE_CACHE: 'off' });
    expect(r.status, r.stderr).toBe(0);
    expect(fs.existsSync(path.join(dir, 'dist', 'rocketctl.cjs.cache'))).toBe(false);
  });

  it('says how to build when the bundle is missing (one line, exit 1)', () => {
    const dir = installCopy();
    fs.rmSync(path.join(dir, 'dist', 'rocketctl.cjs'));
    const r = run(dir, ['--version']);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('npm run build');
  });
});
