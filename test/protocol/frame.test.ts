import { describe, expect, it } from 'vitest';
import { decodeFrame, EARLY_FLUSH_BYTES, encodeFrame, FrameDecoder, FrameError, FrameWriter, makeRequest, makeResponse, type RemotingCommand } from '../../src/protocol/frame.js';

describe('remoting frames (RemotingCommand.encode)', () => {
  it('JSON request code 106: golden bytes written by hand', () => {
    const header = '{"code":106,"flag":0,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":409}';
    expect(header.length).toBe(97);
    const f = encodeFrame({ code: 106, language: 'JAVA', version: 409, opaque: 1, flag: 0, serializeType: 'JSON' });
    expect(f.subarray(0, 8).toString('hex')).toBe('0000006500000061');
    expect(f.subarray(8).toString()).toBe(header);
    const d = decodeFrame(f.subarray(4));
    expect(d).toMatchObject({ code: 106, opaque: 1, flag: 0, version: 409, serializeType: 'JSON' });
  });

  it('ROCKETMQ binary header: golden bytes written by hand', () => {
    const golden = '00000019' + '01000015' + '006a' + '00' + '0199' + '00000001' + '00000000' + '00000000' + '00000000';
    const f = encodeFrame({ code: 106, language: 'JAVA', version: 409, opaque: 1, flag: 0, serializeType: 'ROCKETMQ' });
    expect(f.toString('hex')).toBe(golden);
    expect(decodeFrame(Buffer.from(golden, 'hex').subarray(4))).toMatchObject({ code: 106, version: 409, opaque: 1, serializeType: 'ROCKETMQ' });
  });

  it('binary header round-trips remark and extFields', () => {
    const req = { ...makeRequest(310, { a: 'PG', e: 3, k: false }, Buffer.from('body')), serializeType: 'ROCKETMQ' as const, remark: 'hi' };
    const d = decodeFrame(encodeFrame(req).subarray(4));
    expect(d.extFields).toEqual({ a: 'PG', e: '3', k: 'false' });
    expect(d.remark).toBe('hi');
    expect(d.body?.toString()).toBe('body');
  });

  it('coerces ali-ons style numeric and boolean extFields to strings', () => {
    const header = Buffer.from('{"code":310,"language":"JAVA","opaque":7,"flag":0,"version":121,"extFields":{"d":4,"k":false,"b":"T"}}');
    const frame = Buffer.alloc(4 + header.length);
    frame.writeInt32BE(header.length, 0);
    header.copy(frame, 4);
    expect(decodeFrame(frame).extFields).toEqual({ d: '4', k: 'false', b: 'T' });
  });

  it('responses echo opaque and serialize type and set the response flag', () => {
    const req = { ...makeRequest(34), opaque: 99, serializeType: 'ROCKETMQ' as const };
    const res = makeResponse(req, 0);
    expect(res).toMatchObject({ opaque: 99, flag: 1, serializeType: 'ROCKETMQ', extFields: {} });
  });

  it('rejects malformed headers with FrameError', () => {
    const bad = (h: string) => {
      const b = Buffer.from(h);
      const f = Buffer.alloc(4 + b.length);
      f.writeInt32BE(b.length, 0);
      b.copy(f, 4);
      return f;
    };
    expect(() => decodeFrame(bad('not json'))).toThrow(FrameError);
    expect(() => decodeFrame(bad('[1]'))).toThrow(FrameError);
    expect(() => decodeFrame(bad('{"code":"x"}'))).toThrow(FrameError);
    expect(() => decodeFrame(bad('{"code":1,"extFields":{"a":{}}}'))).toThrow(FrameError);
    const over = Buffer.alloc(8);
    over.writeInt32BE(100, 0);
    expect(() => decodeFrame(over)).toThrow(/exceeds/);
    const badType = Buffer.alloc(8);
    badType.writeUInt32BE((7 << 24) | 0, 0);
    expect(() => decodeFrame(badType)).toThrow(/serialize type/);
  });
});

describe('FrameDecoder', () => {
  it('splits frames across arbitrary chunk boundaries', () => {
    const frames = [1, 2, 3].map((i) => encodeFrame(makeRequest(10 + i, { i }, Buffer.alloc(i * 100, i))));
    const all = Buffer.concat(frames);
    const dec = new FrameDecoder();
    const got: number[] = [];
    for (let p = 0; p < all.length; p += 7) for (const f of dec.push(all.subarray(p, p + 7))) got.push(decodeFrame(f).code);
    expect(got).toEqual([11, 12, 13]);
    expect(dec.pendingBytes).toBe(0);
  });

  it('a frame spanning reads becomes a buffer of its own size; the bytes after it stay queued', () => {
    const frames = [20_000, 30_000, 50].map((n, i) => encodeFrame(makeRequest(20 + i, { i }, Buffer.alloc(n, 65 + i))));
    const all = Buffer.concat(frames);
    // Cut as socket reads would: the first frame spans three reads, the last read holds the end of
    // the second frame and all of the third; one read ends two bytes into a length prefix.
    const cuts = [0, 8_000, 16_000, frames[0]!.length + 2, frames[0]!.length + 25_000, all.length];
    const dec = new FrameDecoder();
    const got: Buffer[] = [];
    for (let k = 0; k + 1 < cuts.length; k++) got.push(...dec.push(Buffer.from(all.subarray(cuts[k], cuts[k + 1]))));
    expect(got.map((f) => decodeFrame(f).code)).toEqual([20, 21, 22]);
    got.forEach((f, i) => expect(f.equals(frames[i]!.subarray(4))).toBe(true));
    // The spanning frames were gathered into buffers just big enough for them.
    expect(got[0]!.buffer.byteLength).toBe(frames[0]!.length);
    expect(got[1]!.buffer.byteLength).toBe(frames[1]!.length);
    expect(dec.pendingBytes).toBe(0);
  });

  it('refuses oversized and negative frame lengths', () => {
    const dec = new FrameDecoder(1024);
    const b = Buffer.alloc(4);
    b.writeInt32BE(2048, 0);
    expect(() => dec.push(b)).toThrow(FrameError);
    const neg = Buffer.alloc(4);
    neg.writeInt32BE(-5, 0);
    expect(() => new FrameDecoder().push(neg)).toThrow(FrameError);
  });
});

describe('JSON header text', () => {
  it('is JSON.stringify of the sorted command fields, nulls omitted', () => {
    const cases: RemotingCommand[] = [
      { code: 310, language: 'JAVA', version: 435, opaque: 7, flag: 0, serializeType: 'JSON', extFields: { b: 'x', a: '\u0001"\\', 10: 'n' } },
      { code: -1, language: 'GO', version: 0, opaque: -2147483648, flag: 3, serializeType: 'JSON', remark: 'é\n"', extFields: {} },
      { code: 0, language: 'JAVA', version: 409, opaque: 1, flag: 1, serializeType: 'JSON', remark: undefined },
      { code: 1.5, language: 'JAVA', version: NaN, opaque: 1, flag: 1, serializeType: 'JSON' },
      { code: 2, language: undefined as unknown as string, version: 1, opaque: 1, flag: 0, serializeType: 'JSON', remark: null as unknown as string },
    ];
    for (const cmd of cases) {
      const h: Record<string, unknown> = { code: cmd.code };
      if (cmd.extFields) h.extFields = cmd.extFields;
      h.flag = cmd.flag;
      h.language = cmd.language;
      h.opaque = cmd.opaque;
      if (cmd.remark !== undefined && cmd.remark !== null) h.remark = cmd.remark;
      h.serializeTypeCurrentRPC = 'JSON';
      h.version = cmd.version;
      expect(encodeFrame(cmd).subarray(8).toString('utf8')).toBe(JSON.stringify(h));
    }
  });
});

describe('FrameWriter', () => {
  /** A socket stand-in recording each flush: the writes between cork and uncork, or one write. */
  function sink() {
    const writes: Buffer[] = [];
    const flushes: Buffer[] = [];
    let corked: Buffer[] | undefined;
    return {
      writes,
      flushes,
      destroyed: false,
      write(b: Buffer) {
        writes.push(Buffer.from(b));
        if (corked) corked.push(Buffer.from(b));
        else flushes.push(Buffer.from(b));
        return true;
      },
      cork() {
        corked = [];
      },
      uncork() {
        flushes.push(Buffer.concat(corked!));
        corked = undefined;
      },
    };
  }

  it('frames of one tick go out in one write at its end when they are small', async () => {
    const s = sink();
    const w = new FrameWriter(s);
    const cmds = Array.from({ length: 10 }, (_, i) => ({ ...makeRequest(310, { i }, Buffer.alloc(100 * i, i)), opaque: i }));
    for (const c of cmds) w.write(c);
    expect(s.writes).toHaveLength(0);
    await new Promise((r) => process.nextTick(r));
    expect(s.flushes).toHaveLength(1);
    expect(s.flushes[0]!.equals(Buffer.concat(cmds.map((c) => encodeFrame(c))))).toBe(true);
  });

  it('writes the same bytes as encodeFrame, in order; the frames of a tick are flushed early each time EARLY_FLUSH_BYTES are queued', async () => {
    const s = sink();
    const w = new FrameWriter(s);
    const cmds: RemotingCommand[] = [];
    // Small and large bodies, split bodies, binary headers, non-ASCII remarks: stages fill and grow.
    for (let i = 0; i < 200; i++) {
      const body = i % 50 === 7 ? Buffer.alloc(100_000, i) : i % 3 === 0 ? [Buffer.alloc(10, 1), Buffer.alloc(0), Buffer.alloc(i * 37, 2)] : Buffer.alloc(i * 13, 3);
      const cmd = makeRequest(300 + i, { i, p: 'a\u0001b\u0002c', r: 'é漢' }, undefined);
      cmd.body = body;
      cmd.opaque = i;
      if (i % 11 === 5) cmd.serializeType = 'ROCKETMQ';
      if (i % 13 === 4) cmd.remark = 'ünïcødé '.repeat(i);
      cmds.push(cmd);
      w.write(cmd);
      // Never more than the threshold left queued after a write.
      expect(w.queuedBytes).toBeLessThan(EARLY_FLUSH_BYTES);
    }
    const early = s.flushes.length;
    expect(early).toBeGreaterThan(1);
    // Each early flush carried at least the threshold (whole frames, so usually a bit more).
    for (const f of s.flushes) expect(f.length).toBeGreaterThanOrEqual(EARLY_FLUSH_BYTES);
    await new Promise((r) => process.nextTick(r));
    expect(w.queuedBytes).toBe(0);
    expect(s.flushes.length).toBeLessThanOrEqual(early + 1);
    expect(Buffer.concat(s.writes).equals(Buffer.concat(cmds.map((c) => encodeFrame(c))))).toBe(true);
    // The next tick starts fresh.
    w.write(cmds[1]!);
    await new Promise((r) => process.nextTick(r));
    expect(s.writes.at(-1)!.equals(encodeFrame(cmds[1]!))).toBe(true);
  });

  it('drops what is queued when the socket is gone', async () => {
    const s = sink();
    const w = new FrameWriter(s);
    w.write(makeRequest(1));
    s.destroyed = true;
    await new Promise((r) => process.nextTick(r));
    expect(s.writes).toHaveLength(0);
    expect(w.queuedBytes).toBe(0);
  });
});

describe('ROCKETMQ binary header: text of every shape', () => {
  it('round-trips ASCII, non-ASCII, long and empty keys and values, and the remark, byte-exact with Buffer lengths', () => {
    const long = 'x'.repeat(70);
    const fields = { a: 'PG', 'ключ': 'значение', long, mid: 'y'.repeat(40), e: '', emoji: 'ok 👍', i: 'KEYS\u0001k1\u0002' };
    const req: RemotingCommand = { ...makeRequest(310, fields, Buffer.from('body')), serializeType: 'ROCKETMQ', remark: 'rémark' };
    const frame = encodeFrame(req);
    // Lengths in the header are UTF-8 byte counts: the whole frame adds up.
    expect(frame.readInt32BE(0)).toBe(frame.length - 4);
    const back = decodeFrame(frame.subarray(4));
    expect(back.extFields).toEqual(fields);
    expect(back.remark).toBe('rémark');
    expect(back.body?.toString()).toBe('body');
  });

  it('repeated and same-length values decode to their own text (short values are interned)', () => {
    // 3,000 distinct values of one length across 1,024 intern slots: collisions must not return a neighbour's text.
    const values = Array.from({ length: 3000 }, (_, i) => `v${String(i).padStart(5, '0')}`);
    for (let round = 0; round < 2; round++) {
      for (const v of values) {
        const back = decodeFrame(encodeFrame({ ...makeRequest(310, { a: 'PG', b: v, c: v.slice(0, 3) }), serializeType: 'ROCKETMQ' }).subarray(4));
        expect(back.extFields).toEqual({ a: 'PG', b: v, c: v.slice(0, 3) });
      }
    }
  });

  it('a "__proto__" field name does not change the decoded object', () => {
    const frame = encodeFrame({ ...makeRequest(310, { a: 'x' }), serializeType: 'ROCKETMQ', extFields: { ['__proto__']: 'p', a: 'x' } as Record<string, string> });
    const back = decodeFrame(frame.subarray(4));
    expect(Object.getPrototypeOf(back.extFields)).toBe(Object.prototype);
    expect(back.extFields).toEqual({ a: 'x' });
  });
});
