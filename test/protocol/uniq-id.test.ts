import { describe, expect, it } from 'vitest';
import { createUniqId, parseUniqId, UniqIdGenerator, uniqIdNearlyTimeMs } from '../../src/protocol/uniq-id.js';
import { decodeOffsetMsgId } from '../../src/protocol/message.js';

describe('UNIQ_KEY (MessageClientIDSetter)', () => {
  it('is ip(4) + pid(2) + salt(4) + ms since month start(4) + counter(2), upper-case hex', () => {
    const g = new UniqIdGenerator('10.1.2.3', 0x1234, 0x0badcafe);
    const now = new Date(2024, 4, 3, 4, 5, 6, 789).getTime(); // local time, like Java
    const id = g.create(now);
    expect(id).toMatch(/^[0-9A-F]{32}$/);
    expect(id.slice(0, 8)).toBe('0A010203');
    expect(id.slice(8, 12)).toBe('1234');
    expect(id.slice(12, 20)).toBe('0BADCAFE');
    const sinceMonth = now - new Date(2024, 4, 1).getTime();
    expect(parseInt(id.slice(20, 28), 16)).toBe(sinceMonth);
    expect(id.slice(28)).toBe('0000');
    expect(g.create(now).slice(28)).toBe('0001');
    const parts = parseUniqId(id)!;
    expect(parts).toEqual({ ip: '10.1.2.3', pid: 0x1234, sinceMonthStartMs: sinceMonth, counter: 0 });
  });

  it('writes the pid as a Java short and wraps the counter at 16 bits', () => {
    const g = new UniqIdGenerator('127.0.0.1', 70000, 1);
    const id = g.create(Date.now());
    expect(id.slice(8, 12)).toBe((70000 & 0xffff).toString(16).toUpperCase().padStart(4, '0'));
    let last = '';
    for (let i = 0; i < 65536; i++) last = g.create(Date.now()); // the 65537th id wraps to 0
    expect(last.slice(28)).toBe('0000');
  });

  it('ids from one process are unique and give back their approximate time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) seen.add(createUniqId());
    expect(seen.size).toBe(5000);
    const now = Date.now();
    const t = uniqIdNearlyTimeMs(createUniqId(now), now + 5)!;
    expect(t).toBe(now);
  });

  it('has the length of an IPv4 offsetMsgId (why tools must not confuse them)', () => {
    const id = new UniqIdGenerator('127.0.0.1', 1, 1).create(Date.now());
    expect(id.length).toBe(32);
    // It decodes as "an" offsetMsgId only by accident of its length; the parts are garbage.
    const decoded = decodeOffsetMsgId(id);
    if (decoded) expect(decoded.address).not.toBe('127.0.0.1:10911');
  });
});
