import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { expectSuccessEnvelope } from '../helpers/cli.js';
import { CHECKOS_IDS } from '../helpers/checkos-ids.js';

// Runs the built CLI (npm test builds first): `node bin/run.js checkOS ...`.
const REPO = new URL('../../', import.meta.url).pathname;
const FIXTURES = join(REPO, 'fixtures/checkos');
const STORE = '/var/lib/rocketmq/store';
const STATUSES = ['pass', 'warn', 'fail', 'skip'];
const IDS = CHECKOS_IDS;

interface Item {
  id: string;
  current: string;
  recommended: string;
  status: string;
  why: string;
  fix?: string[];
  writes?: Array<{ path: string; value: string }>;
}
interface Envelope {
  status: number;
  result: { root: string; storeDir: string; broker: { pid: number } | null; items: Item[]; summary: Record<string, number>; applied?: Array<{ id: string; ok: boolean; path: string }> };
  warnings: string[];
}

/**
 * The heap flag is pinned so results do not depend on the runner's NODE_OPTIONS. NODE_ENV is
 * dropped: vitest sets it to "test", which makes oclif warn on stderr after a parse error.
 */
const { NODE_ENV: _nodeEnv, ...BASE_ENV } = process.env;
const ENV = { ...BASE_ENV, NO_COLOR: '1', NODE_OPTIONS: '--max-old-space-size=2048' };

function cli(args: string[], opts: SpawnSyncOptions & { bin?: string } = {}) {
  const { bin = join(REPO, 'bin/run.js'), ...spawnOpts } = opts;
  const r = spawnSync(process.execPath, [bin, 'checkOS', ...args], { cwd: REPO, env: ENV, encoding: 'utf8', timeout: 30_000, ...spawnOpts });
  return { code: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), error: r.error };
}

/** The built CLI (bin/, the bundle, package.json, manifest) copied to a dir every user can read; returns its bin/run.js. */
function publicCopyOfCli(): string {
  const dir = tempDir('rocketctl-public-');
  for (const f of ['bin/run.js', 'bin/load.cjs', 'dist/rocketctl.cjs', 'package.json', 'oclif.manifest.json']) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    cpSync(join(REPO, f), join(dir, f));
  }
  for (const d of [dir, join(dir, 'bin'), join(dir, 'dist')]) chmodSync(d, 0o755);
  return join(dir, 'bin/run.js');
}

function json(args: string[]): { code: number | null; env: Envelope; stderr: string } {
  const r = cli([...args, '--json']);
  const env = JSON.parse(r.stdout) as Envelope;
  // Every success envelope must match the committed contract in schemas/checkOS.json.
  if (r.code === 0 || r.code === 4) expectSuccessEnvelope('checkOS', env);
  return { code: r.code, env, stderr: r.stderr };
}

const byId = (env: Envelope) => Object.fromEntries(env.result.items.map((i) => [i.id, i]));

const temps: string[] = [];
afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}

describe('checkOS against fixture trees', () => {
  it('good host: everything passes, exit 0', () => {
    const { code, env } = json(['--root', join(FIXTURES, 'good'), '--store-dir', STORE]);
    expect(code).toBe(0);
    expect(env.status).toBe(0);
    expect(env.warnings).toEqual([]);
    expect(env.result.items.map((i) => i.id)).toEqual(IDS);
    expect(env.result.summary).toEqual({ pass: 16, warn: 0, fail: 0, skip: 1 });
    expect(env.result.broker).toMatchObject({ pid: 4242, source: 'lock' });
  });

  it('bad host: exit 4, the failures named in the envelope', () => {
    const { code, env } = json(['--root', join(FIXTURES, 'bad'), '--store-dir', STORE]);
    expect(code).toBe(4);
    expect(env.status).toBe(4);
    const failed = env.result.items.filter((i) => i.status === 'fail').map((i) => i.id);
    expect(failed).toEqual(['vm.min_free_kbytes', 'limits.nofile.self', 'limits.nofile.broker', 'node.heap_limit']);
    expect(env.warnings).toEqual([`4 check(s) failed: ${failed.join(', ')}`]);
    const items = byId(env);
    expect(items['vm.swappiness']).toMatchObject({ current: '60', status: 'warn', fix: ['sysctl -w vm.swappiness=1'] });
    expect(items['io.scheduler']!.fix?.[0]).toBe('echo deadline > /sys/block/sda/queue/scheduler');
  });

  it('partial host: unreadable values are warnings, exit 0', () => {
    const { code, env } = json(['--root', join(FIXTURES, 'partial'), '--store-dir', STORE]);
    expect(code).toBe(0);
    const items = byId(env);
    expect(items['vm.dirty_ratio']).toMatchObject({ status: 'warn', current: 'unreadable (/proc/sys/vm/dirty_ratio: not found)' });
    expect(items['vm.extra_free_kbytes']).toMatchObject({ status: 'skip', current: 'not present on this kernel' });
    expect(items['limits.nofile.broker']!.current).toMatch(/^no running broker found/);
    // This process's own NODE_OPTIONS (set above) is a process fact, not read from the tree.
    expect(items['node.max_old_space_size']).toMatchObject({ status: 'pass', current: '2048 MB (NODE_OPTIONS)' });
  });

  it('human output: a table, the reasons, a summary; --fix adds the commands', () => {
    const r = cli(['--root', join(FIXTURES, 'bad'), '--store-dir', STORE, '--fix']);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/^#Check\s+#Current\s+#Recommended\s+#Status/m);
    expect(r.stdout).toMatch(/^vm\.min_free_kbytes\s+512\s+>= 1024\s+fail/m);
    expect(r.stdout).toMatch(/^Why:$/m);
    expect(r.stdout).toContain('17 checks: 1 pass, 11 warn, 4 fail, 1 skip');
    expect(r.stdout).toContain('To fix (as root):\n# vm.overcommit_memory (warn): 0 -> 1\nsysctl -w vm.overcommit_memory=1\n');
    expect(r.stdout).toContain('prlimit --pid 31337 --nofile=655350:655350');
    expect(r.stderr).toBe('warning: 4 check(s) failed: vm.min_free_kbytes, limits.nofile.self, limits.nofile.broker, node.heap_limit\n');
  });

  it('without --fix prints no commands', () => {
    const r = cli(['--root', join(FIXTURES, 'bad'), '--store-dir', STORE]);
    expect(r.stdout).not.toContain('sysctl -w');
  });
});

describe('checkOS --apply', () => {
  it('applies to a copy of the bad tree (no root needed off the live /) and re-checks', () => {
    const root = tempDir('checkos-apply-');
    cpSync(join(FIXTURES, 'bad'), root, { recursive: true, verbatimSymlinks: true });
    const { code, env } = json(['--root', root, '--store-dir', STORE, '--apply']);
    // What --apply cannot do (limits, heap) still fails.
    expect(code).toBe(4);
    const applied = env.result.applied ?? [];
    expect(applied.length).toBe(11); // 9 sysctls, the scheduler, THP
    expect(applied.every((a) => a.ok)).toBe(true);
    const items = byId(env);
    for (const a of applied) expect(items[a.id]!.status, a.id).toBe('pass');
    expect(readFileSync(join(root, 'proc/sys/vm/min_free_kbytes'), 'utf8')).toBe('11585\n');
    expect(readFileSync(join(root, 'sys/devices/pci0000:00/host0/block/sda/queue/scheduler'), 'utf8')).toBe('deadline\n');
    expect(readFileSync(join(FIXTURES, 'bad/proc/sys/vm/min_free_kbytes'), 'utf8')).toBe('512\n');
  });

  it('refuses on the live / when not root: one error line, exit 1, nothing read or changed', () => {
    // As root, run the CLI as nobody; as anyone else, as ourselves. Never as root with --apply on /.
    const asRoot = process.geteuid?.() === 0;
    // nobody may not be able to read the checkout (CI runs as root in a dir others cannot enter):
    // it runs a world-readable copy of the installed CLI instead.
    const opts: SpawnSyncOptions = asRoot ? { uid: 65534, gid: 65534, cwd: '/', env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', NO_COLOR: '1', ROCKETCTL_CODE_CACHE: 'off' }, bin: publicCopyOfCli() } as SpawnSyncOptions : {};
    const swappiness = readFileSync('/proc/sys/vm/swappiness', 'utf8');
    const r = cli(['--apply', '--store-dir', '/nonexistent/store'], opts);
    if (r.error) throw r.error;
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toBe('Error: --apply changes kernel settings and must run as root; nothing was changed');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(readFileSync('/proc/sys/vm/swappiness', 'utf8')).toBe(swappiness);

    const j = cli(['--apply', '--json'], opts);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toMatchObject({ status: 1, code: 'E_NOT_ROOT', exitCode: 1 });
  });
});

describe('checkOS usage errors', () => {
  for (const [what, args] of [
    ['a non-integer --pid', ['--pid', 'abc']],
    ['an unknown flag', ['--nope']],
    ['a --root that is not a directory', ['--root', '/nonexistent-root']],
  ] as const) {
    it(`${what}: exit 2, one error line, no stack`, () => {
      const r = cli([...args]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^Error: \S/);
      expect(lines.slice(1).every((l) => l.startsWith('  try:'))).toBe(true);
    });
  }

  it('usage errors with --json are an error envelope', () => {
    const r = cli(['--pid', '0', '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 2, code: 'E_USAGE', exitCode: 2 });
  });
});

describe('checkOS on this machine', () => {
  it('prints one well-formed envelope (values are whatever this host has)', () => {
    const store = join(tempDir('checkos-real-'), 'not', 'yet', 'store');
    const { code, env } = json(['--store-dir', store]);
    expect([0, 4]).toContain(code);
    expect(env.status).toBe(code);
    expect(Array.isArray(env.warnings)).toBe(true);
    expect(env.result.root).toBe('/');
    expect(env.result.storeDir).toBe(store);
    expect(env.result.items.map((i) => i.id)).toEqual(IDS);
    for (const i of env.result.items) {
      expect(STATUSES, i.id).toContain(i.status);
      for (const k of ['current', 'recommended', 'why'] as const) expect(i[k].length, `${i.id}.${k}`).toBeGreaterThan(0);
      if (i.fix) expect(i.fix.every((l) => typeof l === 'string' && l.length > 0), i.id).toBe(true);
    }
    const total = Object.values(env.result.summary).reduce((a, b) => a + b, 0);
    expect(total).toBe(IDS.length);
    expect(code === 4).toBe(env.result.summary.fail! > 0);
  });
});
