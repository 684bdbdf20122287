/**
 * Spinners on a real terminal: the CLI under a pseudo-terminal (util-linux `script`) against a
 * real broker. A terminal that reports its width gets a spinner on stderr and then the table; one
 * that reports 0 columns (`script` or `docker exec -t` without a window size) gets no spinner,
 * because ora never finished clearing its line there (the command hung, printing cursor-up codes).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, startTestBroker, type TestBroker } from '../helpers/broker.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { Producer } from '../../src/client/producer.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { RequestCode } from '../../src/protocol/codes.js';

let tb: TestBroker;
const TOPIC = 'TtyTopic';

beforeAll(async () => {
  tb = await startTestBroker();
  expect((await createTopic(tb.client, tb.addr, TOPIC, 2)).code).toBe(0);
});
afterAll(async () => tb?.cleanup());

/** Run `rocketctl ARGS` on a pseudo-terminal `cols` wide; resolve with everything it printed. */
function onTerminal(cols: number, args: string[]): Promise<{ code: number | null; out: string }> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = `stty cols ${cols} rows 40; exec ${[process.execPath, path.join(ROOT, 'bin/run.js'), ...args].map(quote).join(' ')}`;
  const { CI: _ci, NODE_ENV: _env, ...env } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { env: { ...env, TERM: 'xterm' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`rocketctl ${args.join(' ')} on a ${cols}-column terminal did not finish in 20 s; printed ${out.length} bytes: ${JSON.stringify(out.slice(0, 300))}`));
    }, 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('spinner on a terminal', () => {
  it('a terminal 100 columns wide shows the spinner, then the table', async () => {
    const r = await onTerminal(100, ['topicStatus', '-t', TOPIC, '--socket', tb.broker.addresses.socket]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('Asking the brokers');
    expect(r.out).toMatch(/#Broker Name.*#QID/);
  });

  it('long-running commands (consumerProgress of every group, queryMsgByKey, queryMsgTrace, resetOffset) spin on a terminal, never when piped', async () => {
    const socket = ['--socket', tb.broker.addresses.socket];
    const cases: Array<[string[], string]> = [
      [['consumerProgress', ...socket], 'Reading every group'],
      [['queryMsgByKey', '-t', TOPIC, '-k', 'no-such-key', ...socket], 'Querying the brokers'],
      [['queryMsgTrace', '-i', '7F0000010000000000000000000000AA', ...socket], 'Querying the trace topic'],
      [['resetOffset', '-g', 'CG_tty_none', '-t', TOPIC, '--latest', ...socket], 'Planning the reset'],
    ];
    for (const [args, text] of cases) {
      const r = await onTerminal(100, args);
      expect(r.out, args.join(' ')).toContain(text);
      const piped = await runCli(args);
      expect(piped.stdout + piped.stderr, args.join(' ')).not.toContain(text);
    }
  });

  it('a terminal with no width (0 columns) gets no spinner and the command finishes', async () => {
    const r = await onTerminal(0, ['topicStatus', '-t', TOPIC, '--socket', tb.broker.addresses.socket]);
    expect(r.code, r.out.slice(0, 300)).toBe(0);
    expect(r.out).not.toContain('Asking the brokers');
    expect(r.out).toMatch(/#Broker Name.*#QID/);
    expect(r.out.length).toBeLessThan(5_000);
  });
});

describe('migrateBacklog --execute progress', () => {
  it('on a terminal: done/total and rate while copying (ETA until done), then the verification line; piped: no progress', async () => {
    const t = 'TtyMigrateSource';
    const group = 'TtyMigrateGroup';
    expect((await createTopic(tb.client, tb.addr, t, 2)).code).toBe(0);
    const p = new Producer({ namesrvAddr: tb.namesrv!, producerGroup: 'TtyMigrateProducer' });
    await p.start();
    try {
      for (let i = 0; i < 20_000; i += 500) await p.sendBatch(Array.from({ length: 500 }, (_, j) => ({ topic: t, body: `m${i + j}` })));
    } finally {
      await p.close();
    }
    const commitZero = () =>
      Promise.all([0, 1].map((queueId) => tb.client.invoke(tb.addr, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic: t, queueId, commitOffset: 0 }))));
    await commitZero();
    const args = (to: string) => ['migrateBacklog', '-g', group, '-t', t, '--to', to, '--execute', '--socket', tb.broker.addresses.socket];

    const r = await onTerminal(120, args('TtyMigrateWide'));
    expect(r.code, r.out.slice(-500)).toBe(0);
    expect(r.out).toMatch(/Copying to TtyMigrateWide: [\d,]+\/20,000 \(\d+%\), [\d,]+ msg\/s/);
    expect(r.out).toMatch(/Verified(\x1b\[\d+m)?: 20000\/20000 planned message\(s\) on the target \(20000 copied now, 0 found from an earlier run\); body crc32 sum [0-9a-f]{8} on both/);

    await commitZero();
    const piped = await runCli(args('TtyMigrateWide2'));
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout + piped.stderr).not.toContain('Copying to');
    expect(piped.stdout).toMatch(/Verified: 20000\/20000/);
  }, 60_000);
});
