import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';
import { tempDirPerTest } from '../helpers/broker.js';

const tempDir = tempDirPerTest('rocketctl-nodeio-');

function read(io: NodeFileIO, p: string, n = 5): string {
  const b = Buffer.alloc(n);
  return b.toString('utf8', 0, io.readRangeSync(p, b, 0, n, 0));
}

/** Write a file through the FileIO, as the store does (a creating open). */
async function create(io: NodeFileIO, p: string, text: string): Promise<void> {
  const fh = await io.open(p, 'w+');
  try {
    await fh.writev([Buffer.from(text)], 0);
  } finally {
    await fh.close();
  }
}

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

describe('NodeFileIO.readRangeSync keeps files open between reads', () => {
  it('never reads a removed or replaced file through a kept descriptor', async () => {
    const io = new NodeFileIO();
    const dir = tempDir();
    const p = path.join(dir, 'q', '0');
    await io.mkdirp(path.dirname(p));
    await create(io, p, 'first');
    expect(read(io, p)).toBe('first');
    await io.unlink(p);
    await create(io, p, 'secnd');
    expect(read(io, p)).toBe('secnd');
    // Replaced by rename.
    const tmp = path.join(dir, 'q', 'tmp');
    await create(io, tmp, 'third');
    await io.rename(tmp, p);
    expect(read(io, p)).toBe('third');
    // Its directory removed and made again.
    await io.rmrf(path.join(dir, 'q'));
    await io.mkdirp(path.dirname(p));
    await create(io, p, 'forth');
    expect(read(io, p)).toBe('forth');
    // Removed behind the FileIO's back, then created through it.
    fs.unlinkSync(p);
    await create(io, p, 'fifth');
    expect(read(io, p)).toBe('fifth');
    // Replaced atomically (a temp file renamed over it).
    await io.writeFileAtomic(p, 'sixth');
    expect(read(io, p)).toBe('sixth');
    // A read of a missing file fails as before.
    await io.unlink(p);
    expect(() => read(io, p)).toThrow(/ENOENT/);
    io.dropReadCache();
  });

  it('keeps at most 64 files open, and none after dropReadCache', async () => {
    const io = new NodeFileIO();
    const dir = tempDir();
    const before = openFds();
    for (let i = 0; i < 80; i++) {
      const p = path.join(dir, String(i));
      fs.writeFileSync(p, `f${i}`.padEnd(5, '.'));
      expect(read(io, p)).toBe(`f${i}`.padEnd(5, '.'));
    }
    expect(openFds() - before).toBe(64);
    // The most recently read are the ones kept: reading them again opens nothing.
    for (let i = 16; i < 80; i++) read(io, path.join(dir, String(i)));
    expect(openFds() - before).toBe(64);
    io.dropReadCache();
    expect(openFds()).toBe(before);
  });
});
