/**
 * Reading Apache mqadmin's output for the mqadmin conformance suites (mqadmin*.apache.test.ts).
 * MQAdminStartup catches a command's exception, prints the stack trace and still exits 0, so a run
 * counts as passed only with exit 0 AND no exception text in its output.
 */
import { expect } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { mqadmin } from './support.js';
// @ts-expect-error plain ESM module without types (test/apache/kit.mjs doubles as a CLI)
import { freeBrokerPort as kitFreeBrokerPort } from './kit.mjs';

/**
 * A listen port whose neighbour port-2 is free too: our broker then serves the fast (VIP) port
 * there, where Java clients with vipChannelEnabled (the trace dispatchers' internal producers)
 * look for it; with port 0 the fast port is elsewhere (fixed on another branch).
 */
export const freeBrokerPort: () => Promise<number> = kitFreeBrokerPort;

/** What a failed mqadmin command leaves in its output (SubCommandException, a stack, "... failed"). */
const FAILURE = /Exception|\bError\b|failed|^\s+at [\w.$]+\(/m;

/**
 * JVMs running at once. mqadmin's requests time out after 5 s counted from the JVM's side; on a
 * 2-core machine more than two starting JVMs starve each other past that.
 */
const MAX_JVMS = 2;
let running = 0;
const waiting: Array<() => void> = [];

/** Apache mqadmin, at most MAX_JVMS at a time. */
export async function mqadminRun(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  if (running >= MAX_JVMS) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await mqadmin(args, { timeoutMs: 90_000 });
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/**
 * A request mqadmin gave up on before any answer: on a loaded 2-core machine a starting JVM can
 * take longer than its 3 s connect / 5 s request budget. Such a run is tried again (all commands
 * used here are idempotent); a broker that never answers still fails every try.
 */
const TRANSIENT = /Remoting(Timeout|Connect|SendRequest)Exception/;
const TRIES = 5;
/** Pause before trying again, so a starved machine gets a moment. */
const RETRY_PAUSE_MS = 2_000;

/** Run mqadmin; expect exit 0 and no failure text; return stdout. */
export async function mqadminOk(args: string[]): Promise<string> {
  let r = await mqadminRun(args);
  for (let i = 1; i < TRIES && TRANSIENT.test(r.stdout + r.stderr); i++) {
    await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
    r = await mqadminRun(args);
  }
  const all = `${r.stdout}\n${r.stderr}`;
  expect(r.code, `mqadmin ${args.join(' ')}\n${all}`).toBe(0);
  expect(all, `mqadmin ${args.join(' ')} printed a failure`).not.toMatch(FAILURE);
  return r.stdout;
}

/** Our CLI with --json; expect exit 0 and return the result. */
export async function ours(args: string[]): Promise<any> {
  const r = await runCli([...args, '--json'], { timeoutMs: 60_000 });
  expect(r.code, `rocketctl ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.json.result;
}

/** Lines of stdout matching `re` (anchored by the caller), as match arrays. */
export function rows(stdout: string, re: RegExp): RegExpMatchArray[] {
  return stdout.split('\n').map((l) => l.trimEnd().match(re)).filter((m): m is RegExpMatchArray => m !== null);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Java's yyyy-MM-dd HH:mm:ss[,SSS] in the local time zone (UtilAll.timeMillisToHumanString2 and friends). */
export function javaTime(ms: number, withMillis = true): string {
  const d = new Date(ms);
  const s = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMillis ? `${s},${pad(d.getMilliseconds(), 3)}` : s;
}

/** `key : value` lines (brokerStatus "%-32s: %s", getBrokerConfig "%-50s=  %s") as a map. */
export function keyValues(stdout: string, sep: RegExp): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = line.match(sep);
    if (m) out[m[1]!.trim()] = m[2]!;
  }
  return out;
}

/** Java Map#toString `{K=v, K2=v2}` (values here contain no ", "). */
export function javaMap(s: string): Record<string, string> {
  const inner = s.trim().replace(/^\{|\}$/g, '');
  const out: Record<string, string> = {};
  if (inner === '') return out;
  for (const kv of inner.split(', ')) out[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
  return out;
}

/** fastjson's pretty TopicRouteData (bare numeric brokerAddrs keys) as an object. */
export function fastjson(text: string): any {
  return JSON.parse(text.replace(/([{,]\s*)(\d+):/g, '$1"$2":'));
}
