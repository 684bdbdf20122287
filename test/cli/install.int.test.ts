/**
 * Installed as a user installs it: `npm pack`, then `npm install -g` of the tarball into a fresh
 * prefix, and the installed `rocketctl` runs from there with a fresh HOME: --version, `broker start`
 * (its default store and admin socket under that HOME), admin commands over the default socket, and
 * the package entry imported by name (`import { topicStatus } from 'rocketctl'`) from that install.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReadyLine } from '../helpers/broker.js';
import { ROOT } from '../helpers/cli.js';

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
const { NODE_ENV: _nodeEnv, ...BASE_ENV } = process.env;

describe('npm pack + npm install -g', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rocketctl-install-'));
  const prefix = path.join(dir, 'prefix');
  const home = path.join(dir, 'home');
  const bin = path.join(prefix, 'bin', 'rocketctl');
  const env = { ...BASE_ENV, HOME: home, NO_COLOR: '1', PATH: `${path.join(prefix, 'bin')}:${process.env.PATH}` };
  const run = (args: string[]) => spawnSync(bin, args, { env, encoding: 'utf8', timeout: 30_000, cwd: dir });

  beforeAll(() => {
    fs.mkdirSync(home);
    const pack = spawnSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(pack.status, pack.stderr).toBe(0);
    const tarball = path.join(dir, pack.stdout.trim().split('\n').at(-1)!);
    const install = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], {
      cwd: dir, encoding: 'utf8', timeout: 240_000, env: { ...BASE_ENV, HOME: home },
    });
    expect(install.status, install.stderr).toBe(0);
  }, 300_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the installed CLI runs from the prefix, outside the checkout', () => {
    expect(fs.realpathSync(bin)).not.toContain(ROOT);
    const r = run(['--version']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${pkg.name}/${pkg.version}`);
  });

  it('broker start (default store under HOME) and admin commands over its default socket', async () => {
    const child = spawn(bin, ['broker', 'start', '--listen-port', '0', '--namesrv-port', '0'], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const ready = await new Promise<ReturnType<typeof parseReadyLine>>((resolve, reject) => {
        let out = '';
        let err = '';
        const timer = setTimeout(() => reject(new Error(`no ready line in 30 s\n${out}\n${err}`)), 30_000);
        child.stderr.on('data', (d) => (err += d));
        child.stdout.on('data', (d) => {
          out += d;
          const line = out.split('\n').find((l) => l.startsWith('broker ready:'));
          if (line) { clearTimeout(timer); resolve(parseReadyLine(line)); }
        });
        child.on('exit', (code) => reject(new Error(`broker exited ${code}\n${out}\n${err}`)));
      });
      expect(ready!.store).toBe(path.join(home, '.rocketctl', 'store'));
      expect(ready!.socket).toBe(path.join(home, '.rocketctl', 'store', 'broker.sock'));

      const created = run(['updateTopic', '-t', 'Installed', '--json']);
      expect(created.status, created.stderr).toBe(0);
      const progress = run(['consumerProgress', '--json']);
      expect(progress.status, progress.stderr).toBe(0);
      expect(JSON.parse(progress.stdout)).toMatchObject({ status: 0 });
      const status = run(['topicStatus', '-t', 'Installed', '--json']);
      expect(status.status, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout).result.queues.length).toBeGreaterThan(0);

      // The package entry, imported by name from the installed package (client + admin API).
      const app = path.join(dir, 'app');
      fs.mkdirSync(path.join(app, 'node_modules'), { recursive: true });
      fs.symlinkSync(path.join(prefix, 'lib', 'node_modules', pkg.name), path.join(app, 'node_modules', pkg.name));
      fs.writeFileSync(path.join(app, 'use.mjs'), [
        `import { withAdminSession, topicStatus, Producer, createUniqId } from '${pkg.name}';`,
        `const r = await withAdminSession({ timeoutMs: 10000 }, (s) => topicStatus(s, 'Installed'));`,
        `console.log(JSON.stringify({ queues: r.queues.length, failed: r.failed.length, producer: typeof Producer, idLength: createUniqId().length }));`,
      ].join('\n'));
      const used = spawnSync(process.execPath, ['use.mjs'], { env, cwd: app, encoding: 'utf8', timeout: 30_000 });
      expect(used.status, used.stderr).toBe(0);
      expect(JSON.parse(used.stdout)).toEqual({ queues: JSON.parse(status.stdout).result.queues.length, failed: 0, producer: 'function', idLength: 32 });
      const types = path.join(prefix, 'lib', 'node_modules', pkg.name, 'dist', 'src', 'index.d.ts');
      expect(fs.existsSync(types), 'the package ships its type declarations').toBe(true);
    } finally {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    }
  }, 60_000);
});
