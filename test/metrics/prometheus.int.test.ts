/**
 * The exposition checked by Prometheus' own tools (Debian's prometheus package): `promtool check
 * metrics` on `rocketctl exporter --once`, and a real Prometheus server on loopback (temp dir,
 * free port, bounded waits) scraping both the embedded broker's endpoint and the exporter, whose
 * samples it must take (up == 1) with the values we serve. Skipped, with one line saying so, when
 * the package is not installed.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startExporter } from '../../src/admin/metrics.js';
import { Producer } from '../../src/client/producer.js';
import { broker, defer, freePort, namesrvOf, tempDir, topic, uniq } from '../client/support.js';
import { eventually } from '../helpers/broker.js';
import { runCli } from '../helpers/cli.js';
import { PROMTOOL, promtoolCheck } from '../helpers/metrics.js';

const PROMETHEUS = spawnSync('prometheus', ['--version']).status === 0 ? 'prometheus' : undefined;

async function queryValues(api: string, q: string): Promise<Array<{ job: string; value: number }>> {
  const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(q)}`, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  return body.data.result.map((r) => ({ job: r.metric.job!, value: Number(r.value[1]) }));
}

describe('Prometheus tools', () => {
  if (!PROMTOOL) console.warn('skipped promtool check metrics: promtool not installed (apt-get install prometheus)');
  if (!PROMETHEUS) console.warn('skipped the Prometheus server scrape: prometheus not installed (apt-get install prometheus)');

  it.skipIf(!PROMTOOL)('promtool check metrics accepts exporter --once', async () => {
    const b = await broker();
    const t = await topic(b, uniq('T'), 2);
    const p = new Producer({ namesrvAddr: namesrvOf(b), producerGroup: uniq('PG') });
    await p.start();
    defer(() => p.close());
    await p.send({ topic: t, body: 'x' });
    const once = await runCli(['exporter', '-n', namesrvOf(b), '--once']);
    expect(once.code, once.stderr).toBe(0);
    expect(once.stdout).toContain(`rocketmq_producer_offset{cluster="DefaultCluster",broker="broker-a",topic="${t}"} 1`);
    const check = promtoolCheck(once.stdout);
    // 0, or 3 (lint) for rocketmq-exporter's camelCase labels only; never 1 (format error).
    expect([0, 3], check.output).toContain(check.code);
    expect(check.problems).toEqual([]);
  });

  it.skipIf(!PROMETHEUS)('a Prometheus server scrapes the broker endpoint and the exporter', async () => {
    const b = await broker({ config: { metricsPort: '0' } });
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 2);
    const p = new Producer({ namesrvAddr: ns, producerGroup: uniq('PG') });
    await p.start();
    defer(() => p.close());
    for (let i = 0; i < 5; i++) await p.send({ topic: t, body: `m${i}` });
    const exporter = await startExporter({ target: { namesrvAddr: ns, timeoutMs: 10_000 }, host: '127.0.0.1', port: 0, cacheMs: 500 });
    defer(() => exporter.close());

    const dir = tempDir('rocketctl-prometheus-');
    const config = path.join(dir, 'prometheus.yml');
    fs.writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 2s',
        '  scrape_timeout: 2s',
        'scrape_configs:',
        '  - job_name: broker',
        `    static_configs: [{ targets: ['${b.broker.addresses.metrics}'] }]`,
        '  - job_name: exporter',
        `    static_configs: [{ targets: ['${exporter.address}'] }]`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    const server = spawn(PROMETHEUS!, [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    server.stderr!.on('data', (d) => (log = (log + d).slice(-4000)));
    const exited = new Promise((r) => server.on('exit', r));
    defer(async () => {
      server.kill('SIGTERM');
      const t = setTimeout(() => server.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    });
    const api = `http://127.0.0.1:${port}`;
    const seen = await eventually(
      async () => {
        const up = await queryValues(api, 'up').catch(() => []);
        if (up.length < 2 || up.some((u) => u.value !== 1)) return undefined;
        const offsets = await queryValues(api, `rocketmq_producer_offset{topic="${t}"}`);
        return offsets.length === 2 ? offsets : undefined;
      },
      'Prometheus scraping both targets',
      60_000,
      500,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nprometheus log: ${log}`);
    });
    expect(seen.map((s) => [s.job, s.value]).sort()).toEqual([
      ['broker', 5],
      ['exporter', 5],
    ]);
  });
});
