/**
 * `rocketctl exporter` (the real CLI) against two of our brokers in one cluster: broker-a (in
 * process, with the name server) and broker-b (a `broker start` child process registered with it),
 * both with traffic. Then broker-b is stopped with SIGSTOP (it accepts connections but never
 * answers: a slow broker) and later SIGKILLed (the name server drops it, the exporter remembers
 * it): each scrape returns, says rocketctl_broker_up 0 for broker-b and still has broker-a's metrics. --json prints
 * one collection (exit 3 while a broker fails); SIGINT stops the exporter cleanly (exit 0).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { broker, defer, namesrvOf, tempDir, topic, uniq } from '../client/support.js';
import { createTopic, eventually, spawnBroker } from '../helpers/broker.js';
import { expectSuccessEnvelope, ROOT, runCli } from '../helpers/cli.js';
import { find, makeBacklog, scrape, tempFile, valueOf } from '../helpers/metrics.js';
import { routeOfTopic } from '../../src/admin/targets.js';
import { withAdminSession } from '../../src/admin/session.js';

/** Start `rocketctl exporter ARGS` and wait (bounded) for its ready line. */
async function startExporterCli(args: string[]): Promise<{ child: ChildProcess; url: string; stderr: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/run.js'), 'exporter', ...args], { cwd: ROOT, env: { ...process.env, NODE_ENV: '', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  defer(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  child.stdout!.on('data', (d) => (out += d));
  const url = await eventually(() => /exporter ready: metrics=(\S+)/.exec(out)?.[1], `exporter ready line (stderr: ${err})`, 30_000);
  return { child, url, stderr: () => err, exited };
}

describe('rocketctl exporter', () => {
  it('serves both brokers; a stopped, then killed broker is up=0 and the other is still served', async () => {
    const a = await broker();
    const ns = namesrvOf(a);
    const conf = tempFile('broker-b.conf', 'brokerName=broker-b\n');
    const bProc = await spawnBroker(['-c', conf, '--listen-port', '0', '--store-dir', tempDir(), '-n', ns]);
    defer(async () => {
      if (bProc.child.signalCode === 'SIGSTOP' || bProc.child.exitCode === null) bProc.child.kill('SIGCONT');
      await bProc.stop('SIGKILL');
    });
    const t = uniq('T');
    await topic(a, t, 2);
    const created = await createTopic(a.client, bProc.ready.broker, t, 2);
    expect(created.code).toBe(0);
    await eventually(async () => {
      const route = await withAdminSession({ namesrvAddr: ns, timeoutMs: 10_000 }, (s) => routeOfTopic(s, t));
      return route.queueDatas.length === 2 ? true : undefined;
    }, 'the topic routed to both brokers');
    const { group } = await makeBacklog(ns, t, 8, 6);

    const ex = await startExporterCli(['-n', ns, '--port', '0', '--cache-ms', '0', '--broker-timeout', '2000', '--timeout', '1500']);
    const all = await scrape(ex.url);
    expect(all.status).toBe(200);
    expect(valueOf(all.samples, 'rocketctl_broker_up', { broker: 'broker-a' })).toBe(1);
    expect(valueOf(all.samples, 'rocketctl_broker_up', { broker: 'broker-b' })).toBe(1);
    const diffA = valueOf(all.samples, 'rocketctl_group_diff', { broker: 'broker-a', topic: t, group });
    const diffB = valueOf(all.samples, 'rocketctl_group_diff', { broker: 'broker-b', topic: t, group });
    expect(diffA + diffB).toBe(6);
    expect(valueOf(all.samples, 'rocketmq_group_diff', { group, topic: t })).toBe(6);
    // The same moment through consumerProgress (-n, every broker).
    const cp = await runCli(['consumerProgress', '-g', group, '-t', t, '-n', ns, '--json']);
    expect(cp.json.result.progress.totals.diff).toBe(6);
    const producerOffsets = find(all.samples, 'rocketmq_producer_offset', { topic: t }).reduce((n, s) => n + s.value, 0);
    expect(producerOffsets).toBe(14);

    // A slow broker: connections are accepted, nothing is answered.
    bProc.child.kill('SIGSTOP');
    const slow = await scrape(ex.url);
    expect(slow.status).toBe(200);
    expect(valueOf(slow.samples, 'rocketctl_broker_up', { broker: 'broker-b' })).toBe(0);
    expect(valueOf(slow.samples, 'rocketctl_broker_up', { broker: 'broker-a' })).toBe(1);
    expect(valueOf(slow.samples, 'rocketctl_group_diff', { broker: 'broker-a', topic: t, group })).toBe(diffA);
    expect(find(slow.samples, 'rocketctl_group_diff', { broker: 'broker-b' })).toEqual([]);

    // --json: one collection, exit 3 while a broker fails.
    const json = await runCli(['exporter', '-n', ns, '--json', '--broker-timeout', '2000', '--timeout', '1500']);
    expect(json.code).toBe(3);
    expectSuccessEnvelope('exporter', json.json);
    const brokers = json.json.result.brokers as Array<{ brokerName: string; up: boolean }>;
    expect(brokers.map((b) => [b.brokerName, b.up])).toEqual([['broker-a', true], ['broker-b', false]]);

    // A dead broker: its connection closes, so the name server drops it at once; the exporter
    // still reports it down (it saw it before).
    bProc.child.kill('SIGKILL');
    await bProc.stop('SIGKILL');
    const dead = await scrape(ex.url);
    expect(dead.status).toBe(200);
    expect(valueOf(dead.samples, 'rocketctl_broker_up', { broker: 'broker-b' })).toBe(0);
    expect(valueOf(dead.samples, 'rocketmq_producer_offset', { broker: 'broker-a', topic: t })).toBe(valueOf(all.samples, 'rocketmq_producer_offset', { broker: 'broker-a', topic: t }));

    ex.child.kill('SIGINT');
    expect(await ex.exited).toBe(0);
    expect(ex.stderr()).toContain('exporter stopped (SIGINT)');
  });

  it('caches a collection for --cache-ms', async () => {
    const a = await broker();
    const ns = namesrvOf(a);
    const ex = await startExporterCli(['-n', ns, '--port', '0', '--cache-ms', '600000']);
    const first = valueOf((await scrape(ex.url)).samples, 'rocketctl_collect_timestamp_seconds');
    const second = valueOf((await scrape(ex.url)).samples, 'rocketctl_collect_timestamp_seconds');
    expect(second).toBe(first);
    ex.child.kill('SIGTERM');
    expect(await ex.exited).toBe(0);
  });
});
