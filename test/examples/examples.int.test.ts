/**
 * The programs in examples/ run as a user would run them (`npx tsx examples/...`), against a real
 * broker in this process: the producer sends its 13 messages, the consumer receives all of them
 * and stops cleanly on SIGINT. Keeps the examples from rotting when the client API changes.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { broker, defer, namesrvOf, tempDir, topic, uniq } from '../client/support.js';

const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');

interface Run {
  lines: string[];
  done: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

function run(example: string, args: string[], home: string): Run {
  const child = spawn(TSX, [path.join(ROOT, 'examples', example), ...args], { cwd: ROOT, env: { ...process.env, HOME: home, NAMESRV_ADDR: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  child.stdout.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const done = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) console.error(`${example} stderr:\n${stderr}`);
      resolve(code);
    }),
  );
  defer(() => child.kill('SIGKILL'));
  return { lines, done, kill: (s) => child.kill(s) };
}

describe('examples/', () => {
  it('producer.ts sends its messages; consumer.ts receives every one and stops on SIGINT', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('EX'), 4);
    const home = tempDir();

    const producer = run('producer.ts', [ns, t], home);
    expect(await producer.done).toBe(0);
    const sent = producer.lines.filter((l) => l.startsWith('SEND_OK '));
    expect(sent).toHaveLength(10);
    expect(producer.lines.join('\n')).not.toMatch(/outbox/);

    const consumer = run('consumer.ts', [ns, t, uniq('CG')], home);
    const deadline = Date.now() + 45_000;
    // 10 even/odd messages and 3 ordered ones (tags even, odd, order: all subscribed).
    while (consumer.lines.filter((l) => l.startsWith(`${t} `)).length < 13 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const got = consumer.lines.filter((l) => l.startsWith(`${t} `));
    expect(got).toHaveLength(13);
    for (const l of sent) expect(got.join('\n')).toContain(l.split(' ')[1]!);
    // The three steps of order-1001 share one queue (sharding key); the example consumer is concurrent, so no order is asserted.
    const order = got.filter((l) => l.split(' ')[1] === 'order');
    expect(order.map((l) => l.split(' ').at(-1)).sort()).toEqual(['created', 'paid', 'shipped']);
    expect(new Set(order.map((l) => l.split(' ')[3]!.split('@')[0])).size).toBe(1);
    consumer.kill('SIGINT');
    expect(await consumer.done).toBe(0);
  });
});
