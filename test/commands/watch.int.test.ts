/**
 * --watch through the real CLI against a real broker with real traffic:
 *  - piped (no terminal): one NDJSON line per sample, each valid against schemas/watch-sample.json;
 *    the produced/consumed counts add up to exactly the messages sent and consumed meanwhile, and
 *    the rates are those counts over the sampled intervals; SIGINT ends it with exit 0.
 *  - on a terminal (tmux): the view redrawn in place, whose "Drained in" estimate moves while a
 *    consumer drains a backlog and ends at "drained"; Ctrl-C ends it with exit 0 and the cursor
 *    shown again.
 * Every wait is bounded; nothing asserts how fast anything is.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { Producer } from '../../src/client/producer.js';
import { PushConsumer } from '../../src/client/push-consumer.js';
import { eventually, type TestBroker } from '../helpers/broker.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { broker, defer, namesrvOf, sleep, tempDir, topic, uniq } from '../client/support.js';

const FAST = { rebalanceIntervalMs: 1000, persistConsumerOffsetIntervalMs: 200, pullTimeDelayMsWhenException: 300 };
const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(fs.readFileSync(path.join(ROOT, 'schemas/watch-sample.json'), 'utf8')));

async function producer(b: TestBroker): Promise<Producer> {
  const p = new Producer({ namesrvAddr: namesrvOf(b), producerGroup: uniq('PG') });
  await p.start();
  defer(() => p.close());
  return p;
}

/** A consumer of `t` for `group` that takes `perMessageMs` per message, one at a time; closed after the test. */
async function consumer(b: TestBroker, t: string, group: string, perMessageMs: number, onMessage: () => void = () => {}): Promise<PushConsumer> {
  const c = new PushConsumer({ namesrvAddr: namesrvOf(b), consumerGroup: group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', consumeConcurrency: 1, pullBatchSize: 4, ...FAST });
  c.subscribe(t, '*');
  await c.start(async () => {
    if (perMessageMs > 0) await sleep(perMessageMs);
    onMessage();
  });
  defer(() => c.close());
  return c;
}

/** A group with committed offsets on `t` (it consumed `first` messages and stopped), then `backlog` more messages. */
async function groupWithBacklog(b: TestBroker, t: string, p: Producer, first: number, backlog: number): Promise<string> {
  const group = uniq('CG');
  for (let i = 0; i < first; i++) await p.send({ topic: t, body: `a${i}` });
  let got = 0;
  const c = await consumer(b, t, group, 0, () => got++);
  await eventually(() => (got >= first ? true : undefined), `${first} consumed`);
  await c.close();
  for (let i = 0; i < backlog; i++) await p.send({ topic: t, body: `b${i}` });
  return group;
}

function cliEnv(): NodeJS.ProcessEnv {
  const { NODE_ENV: _e, CI: _c, ...env } = process.env;
  return { ...env, NO_COLOR: '1' };
}

/** The CLI with `args` (a --watch), stdout piped: its NDJSON lines so far, and its exit. */
function spawnCli(args: string[]) {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/run.js'), ...args], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  defer(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const lines = () => out.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  return { child, exited, lines, stderr: () => err };
}

interface Row {
  key: string;
  backlog: number;
  produced: number | null;
  consumed: number | null;
  produceRate: number | null;
  consumeRate: number | null;
  drain: { state: string; etaMs: number | null };
}
interface Line {
  seq: number;
  intervalMs: number | null;
  rows: Row[];
}

/**
 * Wait (bounded) until `rowOf` shows no backlog in the last two samples (the last commit is in), end
 * the watch with SIGINT and check that it ended cleanly: exit 0, nothing on stderr, every line valid
 * against the schema, numbered 1, 2, ... Returns the lines.
 */
async function untilDrainedThenInterrupt(w: ReturnType<typeof spawnCli>, rowOf: (l: Line) => Row | undefined, what: string): Promise<Line[]> {
  await eventually(() => {
    const ls: Line[] = w.lines();
    const n = ls.length;
    return n >= 3 && rowOf(ls[n - 1]!)?.backlog === 0 && rowOf(ls[n - 2]!)?.backlog === 0 ? true : undefined;
  }, what, 60_000);
  w.child.kill('SIGINT');
  expect(await w.exited, w.stderr()).toBe(0);
  expect(w.stderr()).toBe('');
  const ls: Line[] = w.lines();
  for (const l of ls) expect(validate(l), JSON.stringify(validate.errors)).toBe(true);
  expect(ls.map((l) => l.seq)).toEqual(ls.map((_, i) => i + 1));
  return ls;
}

describe('--watch (real CLI, real broker, real traffic)', () => {
  it('piped: NDJSON per sample whose counts match the messages produced and consumed; SIGINT exits 0', async () => {
    const b = await broker();
    const t = await topic(b, uniq('W'), 2);
    const p = await producer(b);
    const group = await groupWithBacklog(b, t, p, 4, 30);

    const w = spawnCli(['consumerProgress', '-g', group, '--watch', '0.3', '--socket', b.broker.addresses.socket]);
    const lines = (): Line[] => w.lines();
    const rowOf = (l: Line) => l.rows.find((r) => r.key === t);

    await eventually(() => (lines().length >= 1 ? true : undefined), 'the first sample', 30_000);
    // While it watches: 20 more messages, then a consumer drains everything.
    for (let i = 0; i < 20; i++) await p.send({ topic: t, body: `c${i}` });
    await consumer(b, t, group, 5);
    const ls = await untilDrainedThenInterrupt(w, rowOf, 'the backlog drained in the samples');
    const mine = ls.map((l) => rowOf(l)!);
    expect(mine[0]).toMatchObject({ backlog: 30, produced: null, consumed: null, produceRate: null, consumeRate: null });
    // Exactly what was sent and consumed meanwhile: 20 produced; 30 + 20 consumed.
    const sum = (k: 'produced' | 'consumed') => mine.slice(1).reduce((s, r) => s + r[k]!, 0);
    expect(sum('produced')).toBe(20);
    expect(sum('consumed')).toBe(50);
    // Each rate: the counts of the last 5 intervals at most, over their time.
    for (let i = 1; i < ls.length; i++) {
      const window = ls.slice(Math.max(1, i - 4), i + 1);
      const ms = window.reduce((s, l) => s + l.intervalMs!, 0);
      expect(mine[i]!.produceRate).toBeCloseTo((window.reduce((s, l) => s + rowOf(l)!.produced!, 0) * 1000) / ms, 6);
      expect(mine[i]!.consumeRate).toBeCloseTo((window.reduce((s, l) => s + rowOf(l)!.consumed!, 0) * 1000) / ms, 6);
      expect(mine[i]!.backlog - mine[i - 1]!.backlog).toBe(mine[i]!.produced! - mine[i]!.consumed!);
    }
    expect(mine.at(-1)!.drain).toEqual({ state: 'drained', etaMs: 0 });
  });

  it('all groups, piped: a row per group in every NDJSON line; one group\'s drain estimate moves as its consumer drains it, the other\'s backlog stays; SIGINT exits 0', async () => {
    const b = await broker();
    const [t1, t2] = [await topic(b, uniq('WA'), 2), await topic(b, uniq('WB'), 2)];
    const p = await producer(b);
    const draining = await groupWithBacklog(b, t1, p, 3, 120);
    const idle = await groupWithBacklog(b, t2, p, 2, 40);

    const w = spawnCli(['consumerProgress', '--watch', '0.3', '--socket', b.broker.addresses.socket]);
    const rowOf = (l: Line, group: string) => l.rows.find((r) => r.key === group) as (Row & { group: string; status: string; count: number }) | undefined;

    await eventually(() => (w.lines().length >= 2 ? true : undefined), 'two samples', 30_000);
    await consumer(b, t1, draining, 15);
    const ls = (await untilDrainedThenInterrupt(w, (l) => rowOf(l, draining), 'the first group drained in the samples')) as Array<Line & { mode: string; command: string }>;
    expect(new Set(ls.map((l) => `${l.command} ${l.mode}`))).toEqual(new Set(['consumerProgress all']));
    // Both groups in every sample, each row the whole group (its info and its backlog).
    for (const l of ls) {
      expect(rowOf(l, draining), `sample ${l.seq}`).toMatchObject({ group: draining, error: null });
      expect(rowOf(l, idle), `sample ${l.seq}`).toMatchObject({ group: idle, error: null, backlog: 40, backlogChange: l.seq === 1 ? null : 0 });
    }
    expect(rowOf(ls[0]!, draining)).toMatchObject({ backlog: 120, drain: { state: 'unknown', etaMs: null } });
    // Nothing moves in the idle group: no rates, a backlog that is not draining.
    for (const l of ls.slice(1)) expect(rowOf(l, idle)).toMatchObject({ produced: 0, consumed: 0, produceRate: 0, consumeRate: 0, drain: { state: 'stalled', etaMs: null } });

    // The draining group: its counts add up to the 120 consumed, and the estimate was shown and moved.
    const mine = ls.map((l) => rowOf(l, draining)!);
    expect(mine.slice(1).reduce((s, r) => s + r.consumed!, 0)).toBe(120);
    expect(mine.slice(1).reduce((s, r) => s + r.produced!, 0)).toBe(0);
    const etas = mine.filter((r) => r.drain.state === 'draining').map((r) => r.drain.etaMs);
    for (const r of mine.filter((x) => x.drain.state === 'draining')) expect(r.drain.etaMs).toBe(Math.round((r.backlog / (r.consumeRate! - r.produceRate!)) * 1000));
    expect(new Set(etas).size, JSON.stringify(mine.map((r) => [r.backlog, r.drain]))).toBeGreaterThanOrEqual(2);
    expect(mine.at(-1)!.drain).toEqual({ state: 'drained', etaMs: 0 });
  });

  it('on a terminal: the drain estimate moves as a consumer drains the backlog, then "drained"; Ctrl-C exits 0 with the cursor back', async () => {
    const b = await broker();
    const t = await topic(b, uniq('V'), 2);
    const p = await producer(b);
    const group = await groupWithBacklog(b, t, p, 2, 150);

    const dir = tempDir('rocketctl-watch-tty-');
    const server = uniq('rocketctl-watch');
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', server, ...args], { encoding: 'utf8', timeout: 10_000 });
    defer(() => {
      try {
        tmux('kill-server');
      } catch {
        // already gone
      }
    });
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const cmd = [process.execPath, path.join(ROOT, 'bin/run.js'), 'consumerProgress', '-g', group, '--watch', '0.5', '--socket', b.broker.addresses.socket].map(quote).join(' ');
    const exitFile = path.join(dir, 'exit');
    const env = Object.entries(cliEnv()).filter(([k]) => /^(PATH|HOME|NO_COLOR|LANG|LC_ALL)$/.test(k)).map(([k, v]) => `${k}=${quote(v!)}`).join(' ');
    tmux('new-session', '-d', '-s', 'w', '-x', '200', '-y', '50', `env ${env} ${cmd}; echo $? > ${quote(exitFile)}; sleep 60`);
    tmux('pipe-pane', '-t', 'w', '-o', `cat >> ${quote(path.join(dir, 'raw'))}`);
    const screen = () => tmux('capture-pane', '-p', '-t', 'w');
    const cell = () => {
      const m = new RegExp(`^${t}\\s+(\\d+)\\s+(\\S+)\\s+(\\S+)\\s+(\\S+)\\s+(\\S+)`, 'm').exec(screen());
      return m ? { backlog: Number(m[1]), drainedIn: m[5]! } : undefined;
    };

    const first = await eventually(() => cell(), 'the first frame', 30_000);
    expect(first.backlog).toBe(150);
    expect(screen()).toMatch(/#Topic\s+#Backlog\s+#Change\s+#Produced\s+#Consumed\s+#Drained in\s+#Trend\s+#Lag/);
    expect(screen()).toContain('rates need two samples');

    await consumer(b, t, group, 15);
    const etas = new Set<string>();
    await eventually(
      () => {
        const c = cell();
        if (c?.drainedIn.startsWith('~')) etas.add(c.drainedIn);
        return c?.drainedIn === 'drained' ? true : undefined;
      },
      'the view to say drained',
      90_000,
      100,
    );
    // The estimate was shown and moved (at least two different values) before the end.
    expect([...etas].length, [...etas].join(' ')).toBeGreaterThanOrEqual(2);
    expect(screen()).toMatch(new RegExp(`^${t}\\s+0\\s+`, 'm'));
    // One frame on the screen, redrawn in place: its header appears once.
    expect(screen().match(/consumerProgress -g/g)).toHaveLength(1);

    tmux('send-keys', '-t', 'w', 'C-c');
    const code = await eventually(() => (fs.existsSync(exitFile) && fs.readFileSync(exitFile, 'utf8').trim() !== '' ? fs.readFileSync(exitFile, 'utf8').trim() : undefined), 'the watch to end', 20_000);
    expect(code).toBe('0');
    expect(screen()).not.toMatch(/Error|\n\s+at /);
    expect(fs.readFileSync(path.join(dir, 'raw'), 'latin1')).toContain('\u001b[?25h');
  });

  it('one-shot consumerProgress -g: the diagnosis ends with a drain estimate from the brokers\' TPS, and says what it used', async () => {
    const b = await broker();
    const t = await topic(b, uniq('E'), 2);
    const p = await producer(b);
    const group = await groupWithBacklog(b, t, p, 2, 300);
    let got = 0;
    await consumer(b, t, group, 20, () => got++);
    await eventually(() => (got >= 10 ? true : undefined), 'the consumer consuming', 30_000);
    const r = await runCli(['consumerProgress', '-g', group, '--json', '--socket', b.broker.addresses.socket]);
    expect(r.code, r.stderr).toBe(0);
    const p2 = r.json.result.progress;
    const d = p2.drainEstimate;
    expect(d.backlog).toBe(p2.totals.diff);
    expect(d.consumeTps).toBe(p2.totals.consumeTps);
    // The put TPS is the broker's TOPIC_PUT_NUMS statistic (VIEW_BROKER_STATS_DATA, last minute):
    // the 300 messages sent within that minute.
    expect(d.produceTpsSource).toBe('TOPIC_PUT_NUMS (VIEW_BROKER_STATS_DATA), last minute');
    expect(d.produceTps).toBeGreaterThan(0);
    if (d.backlog > 0 && d.consumeTps > d.produceTps) {
      expect(d.state).toBe('draining');
      expect(d.etaMs).toBe(Math.round((d.backlog / (d.consumeTps - d.produceTps)) * 1000));
      expect(p2.diagnosis).toContain('drain estimate: ~');
    } else if (d.backlog > 0) {
      expect(d.state).not.toBe('draining');
      expect(p2.diagnosis).toMatch(/drain estimate: (never|not draining)/);
    }
    const text = await runCli(['consumerProgress', '-g', group, '--socket', b.broker.addresses.socket]);
    expect(text.stdout).toMatch(/Diagnosis: .*drain estimate/);
  });

  it('topicStatus and brokerStatus --watch piped: writes counted exactly; a broker that stops answering is a failed sample and the watch goes on', async () => {
    const b = await broker();
    const t = await topic(b, uniq('S'), 2);
    const p = await producer(b);
    const watch = (args: string[]) => spawnCli([...args, '--watch', '0.3']);
    const topicW = watch(['topicStatus', '-t', t, '--socket', b.broker.addresses.socket]);
    const brokerW = watch(['brokerStatus', '-b', b.addr]);
    await eventually(() => (topicW.lines().length >= 1 && brokerW.lines().length >= 1 ? true : undefined), 'first samples', 30_000);
    for (let i = 0; i < 12; i++) await p.send({ topic: t, body: `s${i}` });
    const sumProduced = (ls: Array<{ rows: Array<{ produced: number | null }> }>) => ls.reduce((s, l) => s + l.rows.reduce((x, r) => x + (r.produced ?? 0), 0), 0);
    await eventually(() => (sumProduced(topicW.lines()) >= 12 && sumProduced(brokerW.lines()) >= 12 ? true : undefined), 'the writes counted', 30_000);
    topicW.child.kill('SIGTERM');
    expect(await topicW.exited, topicW.stderr()).toBe(0);
    expect(sumProduced(topicW.lines())).toBe(12);
    for (const l of [...topicW.lines(), ...brokerW.lines()]) expect(validate(l), JSON.stringify(validate.errors)).toBe(true);
    expect(topicW.lines()[0].rows.map((r: { key: string }) => r.key)).toEqual(['broker-a/0', 'broker-a/1']);

    // The broker goes away: samples fail, the watch keeps sampling.
    const before = brokerW.lines().length;
    await b.close();
    await eventually(() => (brokerW.lines().slice(before).filter((l) => l.error !== null).length >= 2 ? true : undefined), 'two failed samples', 60_000);
    brokerW.child.kill('SIGINT');
    expect(await brokerW.exited, brokerW.stderr()).toBe(0);
    expect(brokerW.stderr()).toBe('');
    expect(sumProduced(brokerW.lines())).toBe(12);
  });

  it('bad --watch values are a usage error (exit 2, one line); --watch with no value takes the default', async () => {
    for (const v of ['abc', '0', '-1', '99999']) {
      const r = await runCli(['consumerProgress', '--watch', v]);
      expect(r.code, `${v}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n').filter((l) => !l.trimStart().startsWith('try:'))).toHaveLength(1);
    }
    // No value, followed by another flag: the default interval, and the first sample's error ends it (exit 1, one line).
    const r = await runCli(['topicStatus', '-t', 'X', '--watch', '--socket', path.join(tempDir('rocketctl-watch-nosock-'), 'none.sock')]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^Error: cannot reach/);
  });
});
