/** Scraping and reading Prometheus metrics in tests, and producing a backlog with real clients. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseExposition, type ParsedSample } from '../../src/metrics/exposition.js';
import { defer } from '../client/support.js';

/** GET a metrics URL (bounded): status and body. */
export async function scrape(url: string, timeoutMs = 20_000): Promise<{ status: number; text: string; samples: ParsedSample[] }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  return { status: res.status, text, samples: res.status === 200 ? parseExposition(text) : [] };
}

/** The samples of `name` whose labels include `labels`. */
export function find(samples: ParsedSample[], name: string, labels: Record<string, string> = {}): ParsedSample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The one sample of `name` with `labels` (fails when none or several). */
export function valueOf(samples: ParsedSample[], name: string, labels: Record<string, string> = {}): number {
  const found = find(samples, name, labels);
  if (found.length !== 1) throw new Error(`expected one ${name}${JSON.stringify(labels)}, found ${found.length}`);
  return found[0]!.value;
}

/** promtool, when the prometheus package is installed (`apt-get install prometheus`). */
/**
 * On CI (CI=true), as root, with apt-get: install Debian's prometheus package when promtool is
 * missing (bounded), so the checks run there; elsewhere the tests say in one line that they skip.
 */
function ensurePrometheusOnCi(): void {
  if (spawnSync('promtool', ['--version']).status === 0) return;
  if (process.env.CI !== 'true' || process.getuid?.() !== 0 || spawnSync('apt-get', ['--version']).status !== 0) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { env, stdio: 'ignore', timeout: 120_000 });
  spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'prometheus'], { env, stdio: 'ignore', timeout: 240_000 });
}
ensurePrometheusOnCi();

export const PROMTOOL = spawnSync('promtool', ['--version']).status === 0 ? 'promtool' : undefined;

/**
 * What promtool's linter says of rocketmq-exporter's own names, kept on purpose so its dashboards
 * work: camelCase labels (brokerIP, brokerHost, countOfOnlineConsumers, msgModel) and a gauge
 * named *_total (disk capacity).
 */
const EXPORTER_COMPAT_LINT = [
  /^rocketmq_\w+ label names should be written in 'snake_case' not 'camelCase'$/,
  /^rocketmq_brokeruntime_commitlogdir_capacity_total non-counter metrics should not have "_total" suffix$/,
];

/**
 * `promtool check metrics` on exposition text. Exit 1 is a format error, 3 lint problems; the
 * returned `problems` are the lint lines not explained by rocketmq-exporter's names (expected: none).
 */
export function promtoolCheck(text: string): { code: number | null; output: string; problems: string[] } {
  const r = spawnSync(PROMTOOL!, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  const output = `${r.stdout}${r.stderr}`;
  const problems = output.split('\n').filter((l) => l.trim() !== '' && !EXPORTER_COMPAT_LINT.some((re) => re.test(l)));
  return { code: r.status, output, problems };
}

export { makeBacklog } from './backlog.js';

export function tempFile(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rocketctl-metrics-'));
  defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}
