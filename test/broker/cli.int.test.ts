/**
 * `rocketctl broker start` as a real child process (node bin/run.js, built by npm run build):
 * the ready line, serving over TCP and the Unix socket, SIGTERM → clean shutdown (no `abort`),
 * and the one-line failures: store dir in use, port in use, bad config value.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RemotingClient } from '../../src/remoting/client.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { RequestCode } from '../../src/protocol/codes.js';
import { expectOneLineError, expectSuccessEnvelope, runCli } from '../helpers/cli.js';
import { createTopic, runBrokerExpectingExit, spawnBroker, tempDir, type BrokerProcess } from '../helpers/broker.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function storeDir(): string {
  const d = tempDir('rocketctl-cli-');
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

async function startProcess(args: string[]): Promise<BrokerProcess> {
  const p = await spawnBroker(args);
  cleanups.push(async () => void (await p.stop('SIGKILL')));
  return p;
}

const FREE_PORTS = ['--listen-port', '0', '--namesrv-port', '0'];

describe('rocketctl broker start', () => {
  it('prints one ready line, serves over TCP and its socket, and shuts down cleanly on SIGTERM', async () => {
    const dir = storeDir();
    const p = await startProcess(['--store-dir', dir, ...FREE_PORTS]);
    const readyLines = p.stdout().split('\n').filter((l) => l.trim() !== '');
    expect(readyLines).toHaveLength(1);
    expect(p.ready.broker).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(p.ready.fast).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(p.ready.socket).toBe(path.join(dir, 'broker.sock'));
    expect(p.ready.store).toBe(dir);
    expect(fs.statSync(p.ready.socket).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(path.join(dir, 'abort'))).toBe(true);

    const client = new RemotingClient();
    cleanups.push(() => client.close());
    expect((await createTopic(client, p.ready.socket, 'CliT', 1)).code).toBe(0);
    const send = await client.invoke(
      p.ready.broker,
      makeRequest(RequestCode.SEND_MESSAGE_V2, { a: 'PG', b: 'CliT', c: 'TBW102', d: 4, e: 0, f: 0, g: Date.now(), h: 0, j: 0, k: false }, Buffer.from('hi')),
    );
    expect(send.code).toBe(0);
    // The embedded name server has the route (the broker registered after the topic change).
    expect(p.ready.namesrv).toMatch(/^127\.0\.0\.1:\d+$/);
    const route = await client.invoke(p.ready.namesrv!, makeRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'CliT' }));
    expect(route.code).toBe(0);
    expect(route.body!.toString()).toContain(p.ready.broker);
    // The fast port serves sends but not pulls (REQUEST_CODE_NOT_SUPPORTED there).
    const fastPull = await client.invoke(p.ready.fast, makeRequest(RequestCode.PULL_MESSAGE, { consumerGroup: 'G', topic: 'CliT', queueId: 0, queueOffset: 0, maxMsgNums: 1, sysFlag: 0, commitOffset: 0, suspendTimeoutMillis: 0, subVersion: 0 }));
    expect(fastPull.code).toBe(3);

    const { code } = await p.stop('SIGTERM');
    expect(code).toBe(0);
    expect(fs.existsSync(path.join(dir, 'abort'))).toBe(false);
    expect(fs.existsSync(p.ready.socket)).toBe(false);
    expect(p.stderr()).not.toMatch(/\n\s+at /);
  });

  it('--json: the ready line goes to stderr, and one envelope to stdout after the shutdown', async () => {
    const dir = storeDir();
    const p = await spawnBroker(['--store-dir', dir, ...FREE_PORTS, '--json'], { readyOn: 'stderr' });
    cleanups.push(async () => void (await p.stop('SIGKILL')));
    expect(p.stdout()).toBe('');
    const st = await p.stop('SIGTERM');
    expect(st, p.stderr()).toEqual({ code: 0, signal: null });
    const env = JSON.parse(p.stdout());
    expectSuccessEnvelope('broker start', env);
    expect(env.result).toMatchObject({ stoppedBy: 'SIGTERM', recovery: { mode: 'clean' }, addresses: { broker: p.ready.broker, storeDir: dir } });
  });

  it('a group it cannot write is an error to updateSubGroup, and the stop after it is not "closed cleanly" (exit 1)', async () => {
    const dir = storeDir();
    const p = await startProcess(['--store-dir', dir, ...FREE_PORTS]);
    // subscriptionGroup.json cannot be replaced: its temp file's name is taken by a directory.
    fs.mkdirSync(path.join(dir, 'config', 'subscriptionGroup.json.tmp'), { recursive: true });
    const r = await runCli(['updateSubGroup', '-g', 'UnsavedGroup', '--socket', p.ready.socket], { env: { NAMESRV_ADDR: '' } });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expectOneLineError(r.stderr);
    expect(r.stderr).toMatch(/subscription group UnsavedGroup was not saved, nothing changed: .*EISDIR/);
    expect(r.stdout).not.toMatch(/created/i);

    const st = await p.stop('SIGTERM');
    expect(st.code, p.stderr()).toBe(1);
    expect(p.stderr()).not.toContain('store closed cleanly');
    expect(p.stderr()).toMatch(/error: broker stopped \(SIGTERM\) but not cleanly: persisting config: .*subscriptionGroup\.json/);
    // What the broker answered is what the next start finds: no such group.
    const file = path.join(dir, 'config', 'subscriptionGroup.json');
    expect(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '(no file)').not.toContain('UnsavedGroup');
  });

  it('refuses a store dir another broker is using, with one line and a non-zero exit', async () => {
    const dir = storeDir();
    await startProcess(['--store-dir', dir, ...FREE_PORTS]);
    const second = await runBrokerExpectingExit(['--store-dir', dir, ...FREE_PORTS]);
    expect(second.code).not.toBe(0);
    expectOneLineError(second.stderr);
    expect(second.stderr).toMatch(/store .* is in use by another process/);
  });

  it('refuses a store dir that is a regular file, or that cannot be created (under /proc), with one line and exit 1', async () => {
    const file = path.join(storeDir(), 'a-file');
    fs.writeFileSync(file, 'not a dir');
    const r = await runBrokerExpectingExit(['--store-dir', file, ...FREE_PORTS]);
    expect(r.code, r.stderr).toBe(1);
    expectOneLineError(r.stderr);
    expect(r.stderr).toContain(`cannot use store dir ${file}: ${file} is not a directory`);

    // Node's own recursive mkdir never returns there (and the process then ignores SIGTERM).
    const proc = `/proc/rocketctl-test-${process.pid}/store`;
    const p = await runBrokerExpectingExit(['--store-dir', proc, ...FREE_PORTS], { timeoutMs: 20_000 });
    expect(p.code, p.stderr).toBe(1);
    expectOneLineError(p.stderr);
    expect(p.stderr).toContain(`cannot use store dir ${proc}: /proc/rocketctl-test-${process.pid} cannot be created there`);
  });

  it('refuses a port in use, with one line and a non-zero exit', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));
    const port = (blocker.address() as net.AddressInfo).port;
    const r = await runBrokerExpectingExit(['--store-dir', storeDir(), '--listen-port', String(port), '--namesrv-port', '0']);
    expect(r.code).not.toBe(0);
    expectOneLineError(r.stderr);
    expect(r.stderr).toContain(`127.0.0.1:${port} is already in use`);
    const ns = await runBrokerExpectingExit(['--store-dir', storeDir(), '--listen-port', '0', '--namesrv-port', String(port)]);
    expect(ns.code).not.toBe(0);
    expectOneLineError(ns.stderr);
    expect(ns.stderr).toContain(`name server address 127.0.0.1:${port} is already in use`);
  });

  it('refuses an invalid config value, with one line naming file, line and key; warns about unknown keys', async () => {
    const dir = storeDir();
    const conf = path.join(dir, 'broker.conf');
    fs.writeFileSync(conf, 'brokerName=broker-x\nflushDiskType=SOMETIMES\n');
    const r = await runBrokerExpectingExit(['-c', conf, '--store-dir', dir, ...FREE_PORTS]);
    expect(r.code).not.toBe(0);
    expectOneLineError(r.stderr);
    expect(r.stderr).toContain(`${conf}:2: invalid flushDiskType`);

    fs.writeFileSync(conf, 'brokerName=broker-x\nnoSuchKey=1\n');
    const p = await startProcess(['-c', conf, '--store-dir', dir, ...FREE_PORTS]);
    expect(p.stderr()).toContain(`warning: ${conf}:2: unknown key noSuchKey (ignored)`);
    expect((await p.stop('SIGINT')).code).toBe(0);

    const bad = await runBrokerExpectingExit(['--store-dir', dir, '--listen-port', 'abc']);
    expect(bad.code).toBe(2);
    expectOneLineError(bad.stderr);
  });
});

