/** The audit log's files: bounded by rotation (two files), read back filtered, torn lines skipped. */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog, readAudit, type AuditEntry } from '../../src/util/audit-log.js';
import { tempDir } from '../helpers/broker.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function entry(i: number, topic = `T${i}`): AuditEntry {
  return {
    time: new Date(Date.UTC(2026, 11, 5, 9, 0, i)).toISOString(),
    who: { addr: `127.0.0.1:${5000 + i}`, accessKey: i % 2 === 0 ? 'adminKey1' : null },
    code: 17,
    what: 'UPDATE_AND_CREATE_TOPIC',
    target: { topic },
    before: null,
    after: { topicName: topic, readQueueNums: 4 },
    result: { code: 0, name: 'SUCCESS', remark: null },
  };
}

describe('AuditLog', () => {
  it('rotates at maxFileBytes and keeps two files: the disk use is bounded, the newest entries kept', () => {
    const dir = tempDir('rocketctl-audit-');
    dirs.push(dir);
    const log = new AuditLog(dir, 2048);
    for (let i = 0; i < 200; i++) log.append(entry(i));
    const files = fs.readdirSync(dir).sort();
    expect(files).toEqual(['audit.log', 'audit.log.1']);
    for (const f of files) expect(fs.statSync(path.join(dir, f)).size).toBeLessThanOrEqual(2048);
    expect(fs.statSync(path.join(dir, 'audit.log')).mode & 0o777).toBe(0o600);
    const r = readAudit(dir, {});
    expect(r.entries.at(-1)!.target.topic).toBe('T199');
    // Oldest first, contiguous across the two files.
    const ids = r.entries.map((e) => Number(e.target.topic!.slice(1)));
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, k) => ids[0]! + k));
    expect(ids[0]).toBeGreaterThan(0);
  });

  it('a new AuditLog on an existing dir continues the size count (rotation survives restarts)', () => {
    const dir = tempDir('rocketctl-audit-');
    dirs.push(dir);
    const first = new AuditLog(dir, 1500);
    for (let i = 0; i < 4; i++) first.append(entry(i));
    const again = new AuditLog(dir, 1500);
    for (let i = 4; i < 8; i++) again.append(entry(i));
    expect(fs.existsSync(path.join(dir, 'audit.log.1'))).toBe(true);
    expect(fs.statSync(path.join(dir, 'audit.log')).size).toBeLessThanOrEqual(1500);
  });

  it('filters by since, what (name or number), topic, who; limit keeps the newest; a torn line is counted, not fatal', () => {
    const dir = tempDir('rocketctl-audit-');
    dirs.push(dir);
    const log = new AuditLog(dir);
    for (let i = 0; i < 10; i++) log.append(entry(i, i < 5 ? 'A' : 'B'));
    fs.appendFileSync(path.join(dir, 'audit.log'), '{"time":"2026-12-05T09:');
    expect(readAudit(dir, { topic: 'A' }).entries).toHaveLength(5);
    expect(readAudit(dir, { sinceMs: Date.UTC(2026, 11, 5, 9, 0, 8) }).entries).toHaveLength(2);
    expect(readAudit(dir, { what: ['17'] }).entries).toHaveLength(10);
    expect(readAudit(dir, { what: ['delete_topic_in_broker'] }).entries).toHaveLength(0);
    expect(readAudit(dir, { who: 'adminKey1' }).entries).toHaveLength(5);
    const limited = readAudit(dir, { limit: 3 });
    expect(limited.entries.map((e) => e.who.addr)).toEqual(['127.0.0.1:5007', '127.0.0.1:5008', '127.0.0.1:5009']);
    expect(limited.truncated).toBe(true);
    expect(limited.skippedLines).toBe(1);
  });
});
