import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Outbox, OutboxFullError, OutboxLockedError, OutboxSender, type NewOutboxEntry } from '../../src/client/outbox.js';
import { BrokerUnreachableError, RemoteError, TimeoutError } from '../../src/errors/index.js';

const dirs: string[] = [];
const opened: Outbox[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rocketctl-outbox-'));
  dirs.push(d);
  return d;
}

async function open(dir: string, maxBytes?: number): Promise<Outbox> {
  const o = await Outbox.open({ dir, maxBytes });
  opened.push(o);
  return o;
}

async function reopen(o: Outbox): Promise<Outbox> {
  await o.close();
  opened.splice(opened.indexOf(o), 1);
  return open(o.dir);
}

const entry = (i: number, extra: Partial<NewOutboxEntry> = {}): NewOutboxEntry => ({
  uniqKey: `KEY${String(i).padStart(4, '0')}`,
  topic: 'T',
  flag: 0,
  properties: { UNIQ_KEY: `KEY${String(i).padStart(4, '0')}`, TAGS: 'a' },
  body: Buffer.from(`body ${i}`),
  bornTimestamp: 1_700_000_000_000 + i,
  ambiguous: false,
  ...extra,
});

describe('Outbox file', () => {
  it('survives a restart with pending messages in order, acked ones gone', async () => {
    const o = await open(tmp());
    for (let i = 0; i < 10; i++) await o.append(entry(i));
    await o.ack(o.pending()[0]!.seq);
    await o.ack(o.pending()[3]!.seq);
    const o2 = await reopen(o);
    expect(o2.recovery).toMatchObject({ pending: 8, truncatedBytes: 0 });
    expect(o2.pending().map((e) => e.uniqKey)).toEqual([1, 2, 3, 5, 6, 7, 8, 9].map((i) => entry(i).uniqKey));
    expect(o2.pending()[0]!.body.toString()).toBe('body 1');
    expect(o2.pending()[0]!.properties).toEqual({ UNIQ_KEY: 'KEY0001', TAGS: 'a' });
    // The first one may have been in flight when the process stopped: checked before resending.
    expect(o2.pending()[0]!.ambiguous).toBe(true);
    expect(o2.pending()[1]!.ambiguous).toBe(false);
    // New sequence numbers continue after the old ones.
    const e = await o2.append(entry(100));
    expect(e.seq).toBeGreaterThan(o2.pending()[o2.size - 2]!.seq);
  });

  it('cuts a torn tail and keeps everything before it', async () => {
    const o = await open(tmp());
    for (let i = 0; i < 3; i++) await o.append(entry(i));
    await o.close();
    opened.length = 0;
    const file = path.join(o.dir, 'outbox.log');
    const full = fs.readFileSync(file);
    // A crash in the middle of the third record.
    fs.writeFileSync(file, full.subarray(0, full.length - 5));
    const o2 = await open(o.dir);
    expect(o2.pending().map((e) => e.uniqKey)).toEqual(['KEY0000', 'KEY0001']);
    expect(o2.recovery.truncatedBytes).toBeGreaterThan(0);
    expect(fs.statSync(file).size).toBe(full.length - o2.recovery.truncatedBytes - 5);
    // And a flipped byte in a record stops recovery there too.
    await o2.close();
    opened.length = 0;
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 3] ^= 0xff;
    fs.writeFileSync(file, bytes);
    const o3 = await open(o.dir);
    expect(o3.pending().map((e) => e.uniqKey)).toEqual(['KEY0000']);
  });

  it('stores a UNIQ_KEY once while it is pending', async () => {
    const o = await open(tmp());
    const a = await o.append(entry(1));
    const b = await o.append(entry(1));
    expect(b.seq).toBe(a.seq);
    expect(o.size).toBe(1);
  });

  it('empties the file once everything is acked', async () => {
    const o = await open(tmp());
    for (let i = 0; i < 5; i++) await o.append(entry(i));
    for (const e of o.pending()) await o.ack(e.seq);
    expect(o.size).toBe(0);
    expect(fs.statSync(path.join(o.dir, 'outbox.log')).size).toBe(8);
    const o2 = await reopen(o);
    expect(o2.size).toBe(0);
  });

  it('refuses appends past maxBytes', async () => {
    const o = await open(tmp(), 400);
    await o.append(entry(1));
    await expect(async () => {
      for (let i = 2; i < 10; i++) await o.append(entry(i));
    }).rejects.toBeInstanceOf(OutboxFullError);
  });

  it('is locked against a second user; a dead process leaves no lock behind', async () => {
    const dir = tmp();
    const o = await open(dir);
    await expect(Outbox.open({ dir })).rejects.toBeInstanceOf(OutboxLockedError);
    await o.close();
    opened.length = 0;
    fs.writeFileSync(path.join(dir, 'outbox.lock'), '999999999\n'); // a pid that does not exist
    const o2 = await open(dir);
    expect(o2.size).toBe(0);
  });

  it('refuses to overwrite a file that is not an outbox log', async () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'outbox.log'), 'something else entirely');
    await expect(Outbox.open({ dir })).rejects.toMatchObject({ code: 'E_OUTBOX_CORRUPT' });
  });
});

describe('OutboxSender', () => {
  it('resends in order, backs off while unreachable, and checks ambiguous ones before resending', async () => {
    const o = await open(tmp());
    for (let i = 0; i < 5; i++) await o.append(entry(i, { ambiguous: i === 2 }));
    const sent: string[] = [];
    let failuresLeft = 3;
    const checked: string[] = [];
    const sender = new OutboxSender(o, {
      send: async (e) => {
        if (failuresLeft-- > 0) throw new BrokerUnreachableError('127.0.0.1:1');
        sent.push(e.uniqKey);
      },
      exists: async (e) => {
        checked.push(e.uniqKey);
        return true; // already delivered before: must not be sent again
      },
      isConnectivityError: (err) => err instanceof BrokerUnreachableError || err instanceof TimeoutError,
      initialBackoffMs: 1,
      maxBackoffMs: 4,
    });
    sender.start();
    expect(await sender.drained(10_000)).toBe(true);
    await sender.stop();
    expect(sent).toEqual(['KEY0000', 'KEY0001', 'KEY0003', 'KEY0004']);
    expect(checked).toEqual(['KEY0002']);
    expect(o.size).toBe(0);
  });

  it('an ambiguous message is resent only after two "not stored" answers a pause apart, or after the last of the bounded lookups that could not tell', async () => {
    const o = await open(tmp());
    await o.append(entry(1, { ambiguous: true }));
    await o.append(entry(2, { ambiguous: true }));
    await o.append(entry(3, { ambiguous: true }));
    await o.append(entry(4, { ambiguous: true }));
    const sent: string[] = [];
    const asked: string[] = [];
    const sender = new OutboxSender(o, {
      send: async (e) => {
        sent.push(e.uniqKey);
      },
      exists: async (e) => {
        asked.push(e.uniqKey);
        const n = asked.filter((k) => k === e.uniqKey).length;
        // KEY0001: "cannot tell" twice (a lookup on a slow broker), then found; KEY0002: never known;
        // KEY0003: not stored (twice); KEY0004: "not stored" while the broker still held the first
        // attempt, then found.
        if (e.uniqKey === 'KEY0001') return n >= 3 ? true : undefined;
        if (e.uniqKey === 'KEY0003') return false;
        if (e.uniqKey === 'KEY0004') return n >= 2;
        return undefined;
      },
      isConnectivityError: () => false,
      initialBackoffMs: 1,
      existsRetries: 3,
      existsRetryMs: 1,
    });
    sender.start();
    expect(await sender.drained(10_000)).toBe(true);
    await sender.stop();
    expect(sent).toEqual(['KEY0002', 'KEY0003']);
    expect(asked).toEqual(['KEY0001', 'KEY0001', 'KEY0001', 'KEY0002', 'KEY0002', 'KEY0002', 'KEY0002', 'KEY0003', 'KEY0003', 'KEY0004', 'KEY0004']);
  });

  it('moves a message a broker keeps refusing to the dead-letter file and goes on', async () => {
    const o = await open(tmp());
    await o.append(entry(1));
    await o.append(entry(2));
    const sent: string[] = [];
    const dead: string[] = [];
    const sender = new OutboxSender(o, {
      send: async (e) => {
        if (e.uniqKey === 'KEY0001') throw new RemoteError(13, 'message illegal');
        sent.push(e.uniqKey);
      },
      isConnectivityError: () => false,
      initialBackoffMs: 1,
      maxBackoffMs: 2,
      maxRejections: 3,
      onDead: (e) => dead.push(e.uniqKey),
    });
    sender.start();
    expect(await sender.drained(10_000)).toBe(true);
    await sender.stop();
    expect(dead).toEqual(['KEY0001']);
    expect(sent).toEqual(['KEY0002']);
    const lines = fs.readFileSync(path.join(o.dir, 'outbox.dead.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]!) as { uniqKey: string; reason: string; body: string };
    expect(rec.uniqKey).toBe('KEY0001');
    expect(Buffer.from(rec.body, 'base64').toString()).toBe('body 1');
  });
});
