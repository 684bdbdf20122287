/**
 * Consumer offsets. Clustering consumers keep them on the broker (RemoteBrokerOffsetStore:
 * QUERY_CONSUMER_OFFSET to read, UPDATE_CONSUMER_OFFSET to write, to the master of the queue's
 * broker); broadcasting consumers keep them in a local file (LocalFileOffsetStore), since every
 * member reads every queue. The in-memory table only ever holds offsets the consumer may commit
 * (see ProcessQueue): the store itself never decides what is consumed.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeRequest } from '../protocol/frame.js';
import { RequestCode, ResponseCode } from '../protocol/codes.js';
import type { MessageQueue } from '../protocol/bodies.js';
import { messageQueueEntries, messageQueueMap, parseFastjson, toFastjson } from '../protocol/fastjson.js';
import { RemoteError } from '../errors/index.js';
import { mqKey } from './allocate.js';
import type { ClientInstance } from './client-instance.js';

export type ReadOffsetType = 'MEMORY' | 'STORE' | 'MEMORY_THEN_STORE';

/** No offset stored for this queue (QUERY_NOT_FOUND, or absent from the file). */
export const OFFSET_NOT_FOUND = -1;

export interface OffsetStore {
  load(): Promise<void>;
  /** Set the in-memory offset; with increaseOnly an older value never replaces a newer one. */
  updateOffset(mq: MessageQueue, offset: number, increaseOnly: boolean): void;
  /** The offset, or OFFSET_NOT_FOUND; throws when the store cannot be read (broker unreachable). */
  readOffset(mq: MessageQueue, type: ReadOffsetType): Promise<number>;
  /** Write the offsets of `mqs` (oneway unless `sync`). */
  persistAll(mqs: MessageQueue[], sync?: boolean): Promise<void>;
  persist(mq: MessageQueue, sync?: boolean): Promise<void>;
  removeOffset(mq: MessageQueue): void;
  /** In-memory offsets (optionally of one topic). */
  offsets(topic?: string): Array<[MessageQueue, number]>;
}

interface Slot {
  mq: MessageQueue;
  offset: number;
  /** Taken out of the table (removeOffset): a cached reference to it is stale. */
  removed: boolean;
}

abstract class MemoryOffsets {
  protected readonly table = new Map<string, Slot>();
  /**
   * The slot last found for a queue object: a push consumer updates the offset once per consumed
   * message with the same MessageQueue object, and this spares building its key each time.
   */
  private readonly bySource = new WeakMap<MessageQueue, Slot>();

  updateOffset(mq: MessageQueue, offset: number, increaseOnly: boolean): void {
    let cur = this.slot(mq);
    if (!cur) {
      cur = { mq: { ...mq }, offset, removed: false };
      this.table.set(mqKey(mq), cur);
      this.bySource.set(mq, cur);
    } else if (!increaseOnly || offset > cur.offset) cur.offset = offset;
  }

  removeOffset(mq: MessageQueue): void {
    const k = mqKey(mq);
    const cur = this.table.get(k);
    if (cur) cur.removed = true;
    this.table.delete(k);
  }

  protected memory(mq: MessageQueue): number | undefined {
    return this.slot(mq)?.offset;
  }

  private slot(mq: MessageQueue): Slot | undefined {
    const cached = this.bySource.get(mq);
    // Still in the table, and the object still names the same queue.
    if (cached && !cached.removed && cached.mq.queueId === mq.queueId && cached.mq.topic === mq.topic && cached.mq.brokerName === mq.brokerName) return cached;
    const cur = this.table.get(mqKey(mq));
    if (cur) this.bySource.set(mq, cur);
    return cur;
  }

  offsets(topic?: string): Array<[MessageQueue, number]> {
    const out: Array<[MessageQueue, number]> = [];
    for (const s of this.table.values()) if (topic === undefined || s.mq.topic === topic) out.push([{ ...s.mq }, s.offset]);
    return out;
  }
}

export class RemoteBrokerOffsetStore extends MemoryOffsets implements OffsetStore {
  constructor(
    private readonly instance: ClientInstance,
    private readonly group: string,
  ) {
    super();
  }

  async load(): Promise<void> {}

  async readOffset(mq: MessageQueue, type: ReadOffsetType): Promise<number> {
    if (type !== 'STORE') {
      const m = this.memory(mq);
      if (m !== undefined) return m;
      if (type === 'MEMORY') return OFFSET_NOT_FOUND;
    }
    const offset = await this.fetchFromBroker(mq);
    if (offset !== OFFSET_NOT_FOUND) this.updateOffset(mq, offset, false);
    return offset;
  }

  private async fetchFromBroker(mq: MessageQueue): Promise<number> {
    const addr = await this.instance.brokerAddrForQueue(mq);
    const res = await this.instance.remoting.invoke(
      addr,
      makeRequest(RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: this.group, topic: mq.topic, queueId: mq.queueId, bname: mq.brokerName }),
    );
    if (res.code === ResponseCode.QUERY_NOT_FOUND) return OFFSET_NOT_FOUND;
    if (res.code !== ResponseCode.SUCCESS) throw new RemoteError(res.code, res.remark ?? '', 'E_QUERY_OFFSET_FAILED');
    const v = Number(res.extFields?.offset);
    return Number.isFinite(v) ? v : OFFSET_NOT_FOUND;
  }

  async persistAll(mqs: MessageQueue[], sync = false): Promise<void> {
    const wanted = new Set(mqs.map(mqKey));
    await Promise.all(
      [...this.table.entries()].filter(([k]) => wanted.has(k)).map(([, s]) => this.updateConsumeOffsetToBroker(s.mq, s.offset, sync).catch(() => undefined)),
    );
  }

  async persist(mq: MessageQueue, sync = false): Promise<void> {
    const m = this.memory(mq);
    if (m !== undefined) await this.updateConsumeOffsetToBroker(mq, m, sync);
  }

  /** UPDATE_CONSUMER_OFFSET (oneway as Java does every 5 s; a request/response when closing). */
  async updateConsumeOffsetToBroker(mq: MessageQueue, offset: number, sync: boolean): Promise<void> {
    const addr = await this.instance.brokerAddrForQueue(mq);
    const req = makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, {
      consumerGroup: this.group,
      topic: mq.topic,
      queueId: mq.queueId,
      commitOffset: offset,
      bname: mq.brokerName,
    });
    if (!sync) return this.instance.remoting.invokeOneway(addr, req);
    const res = await this.instance.remoting.invoke(addr, req);
    if (res.code !== ResponseCode.SUCCESS) throw new RemoteError(res.code, res.remark ?? '', 'E_UPDATE_OFFSET_FAILED');
  }
}

/** Java's default location: ~/.rocketmq_offsets; ours lives beside the rest of rocketctl's state. */
export function defaultLocalOffsetDir(): string {
  return process.env.ROCKETCTL_OFFSETS_DIR || path.join(os.homedir(), '.rocketctl', 'offsets');
}

/**
 * Broadcasting offsets in `<dir>/<instanceName>/<group>/offsets.json`, as fastjson
 * OffsetSerializeWrapper `{"offsetTable":{<MessageQueue>:offset}}`, replaced atomically
 * (tmp + fsync + rename; the previous file kept as offsets.json.bak and read if the main one is bad).
 */
export class LocalFileOffsetStore extends MemoryOffsets implements OffsetStore {
  readonly file: string;
  private writing: Promise<void> = Promise.resolve();

  constructor(dir: string, instanceName: string, group: string) {
    super();
    this.file = path.join(dir, instanceName.replace(/[^A-Za-z0-9@#._-]/g, '_'), group, 'offsets.json');
  }

  async load(): Promise<void> {
    for (const f of [this.file, `${this.file}.bak`]) {
      const entries = await readOffsetFile(f);
      if (entries) {
        for (const [mq, off] of entries) this.updateOffset(mq, off, false);
        return;
      }
    }
  }

  async readOffset(mq: MessageQueue, type: ReadOffsetType): Promise<number> {
    if (type !== 'STORE') {
      const m = this.memory(mq);
      if (m !== undefined) return m;
      if (type === 'MEMORY') return OFFSET_NOT_FOUND;
    }
    const entries = (await readOffsetFile(this.file)) ?? (await readOffsetFile(`${this.file}.bak`)) ?? [];
    const hit = entries.find(([q]) => mqKey(q) === mqKey(mq));
    if (!hit) return OFFSET_NOT_FOUND;
    this.updateOffset(mq, hit[1], false);
    return hit[1];
  }

  persistAll(mqs: MessageQueue[]): Promise<void> {
    void mqs; // the file holds every queue we know, as Java's does
    const p = this.writing.then(() => this.writeFile());
    this.writing = p.catch(() => undefined);
    return p;
  }

  persist(mq: MessageQueue): Promise<void> {
    return this.persistAll([mq]);
  }

  private async writeFile(): Promise<void> {
    const text = toFastjson({ offsetTable: messageQueueMap(this.offsets()) }, { pretty: true });
    await fsp.mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    const fh = await fsp.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(text);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    if (fs.existsSync(this.file)) await fsp.copyFile(this.file, `${this.file}.bak`).catch(() => undefined);
    await fsp.rename(tmp, this.file);
  }
}

async function readOffsetFile(file: string): Promise<Array<[MessageQueue, number]> | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  if (!text.trim()) return undefined;
  try {
    const v = parseFastjson(text) as { offsetTable?: unknown };
    return messageQueueEntries<unknown>(v.offsetTable).map(([mq, o]) => [mq, Number(o)] as [MessageQueue, number]).filter(([, o]) => Number.isFinite(o));
  } catch {
    return undefined;
  }
}
