/**
 * The index after a recovery that cuts the commit log: entries past the recovered end are dropped
 * and re-built from the log, so old keys are still found, the cut message's key is not, and a new
 * message written where the cut one was is indexed (put() must not skip it as "already indexed").
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MessageStore } from '../../src/broker/store/message-store.js';
import { decodeRecord } from '../../src/protocol/message.js';
import { decodeProperties } from '../../src/protocol/properties.js';
import { message, removeDir, smallConfig, tempDir } from './message-store.helpers.js';

const SEGMENT = 64 * 1024;
let dir: string;
let store: MessageStore | undefined;

afterEach(async () => {
  await store?.close().catch(() => undefined);
  store = undefined;
  if (dir) await removeDir(dir);
});

async function keysFound(s: MessageStore, key: string): Promise<string[]> {
  const r = await s.queryMessage('IdxTopic', key, 32, 0, Number.MAX_SAFE_INTEGER);
  return r.records.map((b) => decodeProperties(decodeRecord(b).properties).KEYS ?? '');
}

describe('index after a recovery that cuts the log', () => {
  for (const withAbort of [false, true]) {
    it(`drops the cut record's entries and indexes what comes next (${withAbort ? 'abnormal' : 'clean'})`, async () => {
      dir = await tempDir();
      const config = () => smallConfig(dir, { messageIndexEnable: true });
      store = await MessageStore.open(config());
      const puts = [];
      for (let i = 0; i < 5; i++) puts.push(await store.putMessage(message('IdxTopic', 0, `body-${i}`, { KEYS: `k${i}` })));
      if (withAbort) {
        await store.flush();
        store.halt();
      } else {
        await store.close();
      }
      store = undefined;
      const last = puts[4]!;
      // Flip a body byte of the last record: recovery must cut it (bad CRC).
      const file = path.join(dir, 'commitlog', String(last.commitLogOffset - (last.commitLogOffset % SEGMENT)).padStart(20, '0'));
      const seg = await fs.readFile(file);
      seg[(last.commitLogOffset % SEGMENT) + 88] ^= 0x40; // first body byte (84 fixed bytes + body length)
      await fs.writeFile(file, seg);

      store = await MessageStore.open(config());
      expect(store.report.truncatedFromOffset).toBe(last.commitLogOffset);
      expect(await keysFound(store, 'k0')).toEqual(['k0']);
      expect(await keysFound(store, 'k3')).toEqual(['k3']);
      expect(await keysFound(store, 'k4')).toEqual([]);
      const next = await store.putMessage(message('IdxTopic', 0, 'after recovery', { KEYS: 'k5' }));
      expect(next.commitLogOffset).toBe(last.commitLogOffset);
      expect(await keysFound(store, 'k5')).toEqual(['k5']);
      expect(await keysFound(store, 'k4')).toEqual([]);
    });
  }
});
