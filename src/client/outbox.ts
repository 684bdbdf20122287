/**
 * The producer outbox: where a message goes when it cannot be sent because no name server or
 * broker can be reached, so that the caller's send still succeeds durably and nothing is lost.
 *
 * On disk (`<dir>/outbox.log`), an append-only log after an 8-byte magic:
 *
 *   record  := u32 payloadLen | u32 crc32(payload) | payload
 *   payload := u8 type | u32 metaLen | meta (JSON, UTF-8) | body bytes (MSG only)
 *   type    := 1 MSG (meta: seq, uniqKey, topic, flag, properties, bornTimestamp, appendedAtMs)
 *            | 2 ACK (meta: seq)            the message reached a broker
 *            | 3 DEAD (meta: seq, reason)   a broker refused it for good (copied to outbox.dead.jsonl)
 *
 * Invariants: an append resolves only after write + fdatasync (group-committed); acks are written
 * (so they survive a process kill) and synced with the next append or compaction; recovery reads
 * records until the first torn or corrupt one and truncates there (reporting the bytes dropped);
 * messages are resent in append (seq) order, one at a time; a message whose delivery may already
 * have happened (a timeout, or the one in flight when the process died) is first looked up on the
 * brokers by its UNIQ_KEY and only resent if not found. `<dir>/outbox.lock` (holding the pid) keeps
 * two live processes from sharing one outbox.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from '../protocol/hash.js';
import type { Properties } from '../protocol/properties.js';
import { RocketError } from '../errors/index.js';

const MAGIC = Buffer.from('RKTOBX01', 'ascii');
const TYPE_MSG = 1;
const TYPE_ACK = 2;
const TYPE_DEAD = 3;
/** Largest single record accepted on recovery (a 4 MiB body plus generous metadata). */
const MAX_RECORD_BYTES = 8 * 1024 * 1024;
/** Default cap on the outbox file: past it, sends fail instead of being outboxed. */
const DEFAULT_OUTBOX_MAX_BYTES = 256 * 1024 * 1024;
/** Rewrite the log when this many bytes are dead (acked) and they outweigh the live ones. */
const COMPACT_MIN_DEAD_BYTES = 16 * 1024 * 1024;

export interface OutboxEntry {
  seq: number;
  uniqKey: string;
  topic: string;
  flag: number;
  /** Properties as they will be sent (UNIQ_KEY, TAGS, KEYS, WAIT, DELAY, user properties). */
  properties: Properties;
  /** The uncompressed body. */
  body: Buffer;
  bornTimestamp: number;
  appendedAtMs: number;
  /** A send attempt may have reached a broker: look it up by UNIQ_KEY before resending. */
  ambiguous: boolean;
  /** Consecutive refusals by a broker (not connectivity failures). */
  rejections: number;
  /** Ordered sends: the key that picks the queue (SelectMessageQueueByHash). */
  shardingKey?: string;
}

export type NewOutboxEntry = Omit<OutboxEntry, 'seq' | 'appendedAtMs' | 'rejections'>;

export interface OutboxRecovery {
  pending: number;
  acked: number;
  /** Bytes cut from a torn or corrupt tail (a crash mid-append). */
  truncatedBytes: number;
}

class OutboxError extends RocketError {}

export class OutboxLockedError extends OutboxError {
  constructor(dir: string, pid: number) {
    super(`outbox ${dir} is in use by process ${pid}`, {
      code: 'E_OUTBOX_LOCKED',
      actions: ['stop the other producer, or give this producer another outboxDir'],
    });
  }
}

export class OutboxFullError extends OutboxError {
  constructor(dir: string, maxBytes: number, cause?: unknown) {
    super(`outbox ${dir} is full (${maxBytes} bytes); the message was not stored`, {
      code: 'E_OUTBOX_FULL',
      cause,
      actions: ['bring a name server and broker back so the outbox drains', 'or raise outboxMaxBytes'],
    });
  }
}

interface OutboxOptions {
  dir: string;
  maxBytes?: number;
  /** fdatasync appends before resolving (default true; tests of other things may turn it off). */
  sync?: boolean;
}

const openDirs = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function encodeRecord(type: number, meta: unknown, body?: Buffer): Buffer {
  const metaBuf = Buffer.from(JSON.stringify(meta), 'utf8');
  const payloadLen = 1 + 4 + metaBuf.length + (body?.length ?? 0);
  const out = Buffer.allocUnsafe(8 + payloadLen);
  out.writeUInt8(type, 8);
  out.writeUInt32BE(metaBuf.length, 9);
  metaBuf.copy(out, 13);
  if (body) body.copy(out, 13 + metaBuf.length);
  out.writeUInt32BE(payloadLen, 0);
  out.writeUInt32BE(crc32(out.subarray(8)), 4);
  return out;
}

interface Decoded {
  type: number;
  meta: Record<string, unknown>;
  body: Buffer;
  size: number;
}

/** One record at `p`, or undefined if the bytes there are not a whole valid record. */
function decodeRecordAt(buf: Buffer, p: number): Decoded | undefined {
  if (p + 8 > buf.length) return undefined;
  const len = buf.readUInt32BE(p);
  if (len < 5 || len > MAX_RECORD_BYTES || p + 8 + len > buf.length) return undefined;
  const payload = buf.subarray(p + 8, p + 8 + len);
  if (crc32(payload) !== buf.readUInt32BE(p + 4)) return undefined;
  const type = payload.readUInt8(0);
  const metaLen = payload.readUInt32BE(1);
  if (5 + metaLen > len) return undefined;
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(payload.toString('utf8', 5, 5 + metaLen)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  return { type, meta, body: Buffer.from(payload.subarray(5 + metaLen)), size: 8 + len };
}

interface QueuedWrite {
  buf: Buffer;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class Outbox {
  readonly dir: string;
  readonly file: string;
  readonly deadFile: string;
  readonly maxBytes: number;
  private readonly sync: boolean;
  private fh: fsp.FileHandle | undefined;
  /** Pending messages by seq; Map order = seq order (appends and recovery insert ascending). */
  private readonly entries = new Map<number, OutboxEntry>();
  private readonly byKey = new Map<string, OutboxEntry>();
  /** Size of each pending message's record, for the compaction heuristic. */
  private readonly recordBytes = new Map<number, number>();
  private liveBytes = 0;
  private nextSeq = 1;
  /** Where the next flush writes. */
  private endOffset = 0;
  /** endOffset plus everything queued: what the file will hold (checked against maxBytes). */
  private reservedBytes = 0;
  private queue: QueuedWrite[] = [];
  private io: Promise<void> = Promise.resolve();
  private flushScheduled = false;
  private unsynced = false;
  private closed = false;
  private readonly listeners = new Set<() => void>();
  recovery: OutboxRecovery = { pending: 0, acked: 0, truncatedBytes: 0 };

  private constructor(opts: OutboxOptions) {
    this.dir = path.resolve(opts.dir);
    this.file = path.join(this.dir, 'outbox.log');
    this.deadFile = path.join(this.dir, 'outbox.dead.jsonl');
    this.maxBytes = opts.maxBytes ?? DEFAULT_OUTBOX_MAX_BYTES;
    this.sync = opts.sync ?? true;
  }

  /** Lock the directory, recover the log, and be ready to append. */
  static async open(opts: OutboxOptions): Promise<Outbox> {
    const ob = new Outbox(opts);
    await fsp.mkdir(ob.dir, { recursive: true });
    ob.lock();
    try {
      await ob.recover();
    } catch (err) {
      ob.unlock();
      throw err;
    }
    return ob;
  }

  private lockPath(): string {
    return path.join(this.dir, 'outbox.lock');
  }

  private lock(): void {
    if (openDirs.has(this.dir)) throw new OutboxLockedError(this.dir, process.pid);
    const p = this.lockPath();
    // Bounded: at most two tries (the second after removing the stale lock of a dead process).
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = fs.openSync(p, 'wx', 0o600);
        fs.writeSync(fd, `${process.pid}\n`);
        fs.closeSync(fd);
        openDirs.add(this.dir);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number(fs.readFileSync(p, 'utf8').trim());
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) throw new OutboxLockedError(this.dir, pid);
        fs.rmSync(p, { force: true });
      }
    }
    throw new OutboxLockedError(this.dir, -1);
  }

  private unlock(): void {
    openDirs.delete(this.dir);
    try {
      const pid = Number(fs.readFileSync(this.lockPath(), 'utf8').trim());
      if (pid === process.pid) fs.rmSync(this.lockPath(), { force: true });
    } catch {
      // already gone
    }
  }

  private async recover(): Promise<void> {
    let buf: Buffer;
    try {
      buf = await fsp.readFile(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      buf = Buffer.alloc(0);
    }
    const hasMagic = buf.length >= MAGIC.length && buf.subarray(0, MAGIC.length).equals(MAGIC);
    if (!hasMagic && buf.length >= MAGIC.length) {
      throw new OutboxError(`${this.file} is not an outbox log (bad magic); refusing to overwrite it`, {
        code: 'E_OUTBOX_CORRUPT',
        actions: ['move the file away, or choose another outboxDir'],
      });
    }
    let valid = 0;
    let acked = 0;
    if (hasMagic) {
      let p = MAGIC.length;
      valid = p;
      for (;;) {
        const r = decodeRecordAt(buf, p);
        if (!r) break;
        if (this.applyRecovered(r)) acked++;
        p += r.size;
        valid = p;
      }
    }
    this.fh = await fsp.open(this.file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    if (!hasMagic) {
      // New (or torn while being created): start a fresh log.
      await this.fh.truncate(0);
      await this.fh.write(MAGIC, 0, MAGIC.length, 0);
      await this.fh.datasync();
      await syncDir(this.dir);
      valid = MAGIC.length;
    } else if (valid < buf.length) {
      await this.fh.truncate(valid);
      await this.fh.datasync();
    }
    this.endOffset = valid;
    this.reservedBytes = valid;
    // The first pending message may have been in flight when the last process stopped.
    const first = this.first();
    if (first) first.ambiguous = true;
    this.recovery = { pending: this.entries.size, acked, truncatedBytes: hasMagic ? buf.length - valid : 0 };
  }

  /** Apply one recovered record; true if it resolved a message (ACK/DEAD). */
  private applyRecovered(r: Decoded): boolean {
    const seq = Number(r.meta.seq);
    if (!Number.isSafeInteger(seq) || seq <= 0) return false;
    if (seq >= this.nextSeq) this.nextSeq = seq + 1;
    if (r.type !== TYPE_MSG) {
      this.forget(seq);
      return true;
    }
    const m = r.meta;
    const e: OutboxEntry = {
      seq,
      uniqKey: String(m.uniqKey),
      topic: String(m.topic),
      flag: Number(m.flag) | 0,
      properties: (m.properties && typeof m.properties === 'object' ? m.properties : {}) as Properties,
      body: r.body,
      bornTimestamp: Number(m.bornTimestamp) || Date.now(),
      appendedAtMs: Number(m.appendedAtMs) || Date.now(),
      ambiguous: m.ambiguous === true,
      rejections: 0,
    };
    if (typeof m.shardingKey === 'string') e.shardingKey = m.shardingKey;
    if (this.byKey.has(e.uniqKey)) return false; // deduplicated by UNIQ_KEY
    this.remember(e, r.size);
    return false;
  }

  private remember(e: OutboxEntry, size: number): void {
    this.entries.set(e.seq, e);
    this.byKey.set(e.uniqKey, e);
    this.recordBytes.set(e.seq, size);
    this.liveBytes += size;
  }

  private forget(seq: number): OutboxEntry | undefined {
    const e = this.entries.get(seq);
    if (!e) return undefined;
    this.entries.delete(seq);
    this.byKey.delete(e.uniqKey);
    this.liveBytes -= this.recordBytes.get(seq) ?? 0;
    this.recordBytes.delete(seq);
    return e;
  }

  private meta(e: OutboxEntry): Record<string, unknown> {
    return {
      seq: e.seq,
      uniqKey: e.uniqKey,
      topic: e.topic,
      flag: e.flag,
      properties: e.properties,
      bornTimestamp: e.bornTimestamp,
      appendedAtMs: e.appendedAtMs,
      ambiguous: e.ambiguous,
      shardingKey: e.shardingKey,
    };
  }

  get size(): number {
    return this.entries.size;
  }

  /** Bytes the log file holds (or will, once queued writes land). */
  get bytes(): number {
    return this.reservedBytes;
  }

  /** Pending messages in resend order. */
  pending(): OutboxEntry[] {
    return [...this.entries.values()];
  }

  first(): OutboxEntry | undefined {
    return this.entries.values().next().value;
  }

  has(uniqKey: string): boolean {
    return this.byKey.has(uniqKey);
  }

  /** Called after every append (the resender waits on it). */
  onAppend(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Append a message durably (resolves after fdatasync). A message whose UNIQ_KEY is already
   * pending is not stored twice: the pending entry is returned.
   */
  async append(e: NewOutboxEntry): Promise<OutboxEntry> {
    if (this.closed) throw new OutboxError('the outbox is closed', { code: 'E_OUTBOX_CLOSED' });
    const existing = this.byKey.get(e.uniqKey);
    if (existing) return existing;
    const entry: OutboxEntry = { ...e, seq: this.nextSeq, appendedAtMs: Date.now(), rejections: 0 };
    const rec = encodeRecord(TYPE_MSG, this.meta(entry), entry.body);
    if (this.reservedBytes + rec.length > this.maxBytes) throw new OutboxFullError(this.dir, this.maxBytes);
    this.nextSeq++;
    this.remember(entry, rec.length);
    try {
      await this.write(rec, true);
    } catch (err) {
      this.forget(entry.seq);
      throw err;
    }
    for (const fn of this.listeners) fn();
    return entry;
  }

  /** The message reached a broker: forget it (written now; synced with the next durable write). */
  async ack(seq: number): Promise<void> {
    if (!this.forget(seq)) return;
    await this.write(encodeRecord(TYPE_ACK, { seq }), false);
    await this.maybeCompact();
  }

  /** A broker refused the message for good: copy it to outbox.dead.jsonl, then forget it. */
  async dead(seq: number, reason: string): Promise<void> {
    const e = this.entries.get(seq);
    if (!e) return;
    const line = JSON.stringify({ ...this.meta(e), reason, body: e.body.toString('base64'), deadAtMs: Date.now() }) + '\n';
    const fh = await fsp.open(this.deadFile, 'a', 0o600);
    try {
      await fh.write(line);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    this.forget(seq);
    await this.write(encodeRecord(TYPE_DEAD, { seq, reason }), true);
    await this.maybeCompact();
  }

  /** Group commit: everything queued when a flush runs goes out in one write and one fdatasync. */
  private write(buf: Buffer, durable: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ buf, resolve, reject });
      this.reservedBytes += buf.length;
      if (durable) this.unsynced = true;
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        this.io = this.io.then(() => this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.queue;
    this.queue = [];
    const needSync = this.unsynced && this.sync;
    this.unsynced = false;
    if (batch.length === 0) return;
    const data = Buffer.concat(batch.map((b) => b.buf));
    try {
      const fh = this.fh;
      if (!fh) throw new OutboxError('the outbox is closed', { code: 'E_OUTBOX_CLOSED' });
      await fh.write(data, 0, data.length, this.endOffset);
      this.endOffset += data.length;
      if (needSync) await fh.datasync();
      for (const b of batch) b.resolve();
    } catch (err) {
      // Nothing after a failed write can be trusted to be in order: later writes start from
      // the same offset again, and recovery stops at the first torn record anyway.
      this.reservedBytes -= data.length;
      for (const b of batch) b.reject(err);
    }
  }

  private async maybeCompact(): Promise<void> {
    const deadBytes = this.reservedBytes - MAGIC.length - this.liveBytes;
    if ((this.entries.size === 0 && this.reservedBytes > MAGIC.length) || (deadBytes > COMPACT_MIN_DEAD_BYTES && deadBytes > this.liveBytes)) {
      await this.rewrite();
    }
  }

  /**
   * Rewrite the log with only the pending messages: tmp file, fdatasync, rename, fsync of the
   * directory. Runs on the I/O chain, and only when no write is queued, so nothing interleaves.
   */
  private rewrite(): Promise<void> {
    const run = async () => {
      if (!this.fh || this.closed || this.queue.length > 0) return;
      const tmp = `${this.file}.tmp`;
      const pending = [...this.entries.values()];
      const recs = pending.map((e) => encodeRecord(TYPE_MSG, this.meta(e), e.body));
      const data = Buffer.concat([MAGIC, ...recs]);
      const tfh = await fsp.open(tmp, 'w', 0o600);
      try {
        await tfh.write(data, 0, data.length, 0);
        await tfh.datasync();
      } finally {
        await tfh.close();
      }
      await fsp.rename(tmp, this.file);
      await syncDir(this.dir);
      await this.fh.close();
      this.fh = await fsp.open(this.file, fs.constants.O_RDWR, 0o600);
      this.endOffset = data.length;
      this.reservedBytes = data.length;
      this.liveBytes = 0;
      pending.forEach((e, i) => {
        this.recordBytes.set(e.seq, recs[i]!.length);
        this.liveBytes += recs[i]!.length;
      });
    };
    const p = this.io.then(run);
    this.io = p.catch(() => undefined);
    return p;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Let queued writes land (acks included) before closing the file.
    if (this.queue.length > 0 && !this.flushScheduled) this.io = this.io.then(() => this.flush());
    await this.io.catch(() => undefined);
    if (this.fh) {
      await this.fh.datasync().catch(() => undefined);
      await this.fh.close();
      this.fh = undefined;
    }
    this.listeners.clear();
    this.unlock();
  }
}

async function syncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch {
    // some file systems refuse to fsync a directory; the rename is still atomic
  } finally {
    await fh?.close();
  }
}

// ---- the resender ------------------------------------------------------------------------------

interface OutboxSenderOptions {
  /** Send one message; throws on failure. */
  send: (e: OutboxEntry) => Promise<void>;
  /** Is a message with this UNIQ_KEY already on a broker? undefined = cannot tell. */
  exists?: (e: OutboxEntry) => Promise<boolean | undefined>;
  /** Is this failure "nothing reachable" (retry forever with backoff) rather than a refusal? */
  isConnectivityError: (err: unknown) => boolean;
  isAmbiguousError?: (err: unknown) => boolean;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Refusals (e.g. MESSAGE_ILLEGAL) before a message is moved to the dead-letter file. */
  maxRejections?: number;
  /**
   * How often `exists` is asked again, after a pause, when it cannot tell (a lookup that timed out
   * on a broker that has just come back) before the message is resent anyway (at least once).
   */
  existsRetries?: number;
  existsRetryMs?: number;
  onSent?: (e: OutboxEntry) => void;
  onDead?: (e: OutboxEntry, err: unknown) => void;
  onError?: (e: OutboxEntry, err: unknown) => void;
}

const DEFAULT_OUTBOX_INITIAL_BACKOFF_MS = 100;
const DEFAULT_OUTBOX_MAX_BACKOFF_MS = 5_000;
const DEFAULT_OUTBOX_MAX_REJECTIONS = 16;
const DEFAULT_OUTBOX_EXISTS_RETRIES = 3;
const DEFAULT_OUTBOX_EXISTS_RETRY_MS = 1_000;

/**
 * Resends outboxed messages in order, one at a time, backing off (100 ms doubling to 5 s) while
 * nothing is reachable. Stops on close(); what is left stays on disk for the next start.
 */
export class OutboxSender {
  private running: Promise<void> | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private backoffMs: number;
  private readonly unsubscribe: () => void;
  private readonly drainWaiters = new Set<() => void>();

  constructor(
    readonly outbox: Outbox,
    private readonly opts: OutboxSenderOptions,
  ) {
    this.backoffMs = opts.initialBackoffMs ?? DEFAULT_OUTBOX_INITIAL_BACKOFF_MS;
    this.unsubscribe = outbox.onAppend(() => this.kick(false));
  }

  start(): void {
    if (this.running || this.stopped) return;
    this.running = this.loop();
  }

  /** Something changed (a message was appended, or a live send just worked): try now. */
  kick(resetBackoff = true): void {
    if (resetBackoff) this.backoffMs = this.opts.initialBackoffMs ?? DEFAULT_OUTBOX_INITIAL_BACKOFF_MS;
    this.wake?.();
  }

  /** Resolves when the outbox is empty, or false after `timeoutMs`. */
  async drained(timeoutMs: number): Promise<boolean> {
    if (this.outbox.size === 0) return true;
    return new Promise<boolean>((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer);
        this.drainWaiters.delete(ok);
        resolve(v);
      };
      const ok = () => done(true);
      const timer = setTimeout(() => done(this.outbox.size === 0), timeoutMs);
      this.drainWaiters.add(ok);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe();
    this.wake?.();
    await this.running;
    for (const w of [...this.drainWaiters]) w();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  /**
   * An ambiguous attempt (sent, answer lost) is resent only when the brokers say, twice and a pause
   * apart, that the message is not stored: a slow, just restarted broker may still hold the first
   * attempt unprocessed when the first lookup runs. "Cannot tell" is asked again the same way
   * (bounded). After the last lookup without an answer it is resent anyway (at least once).
   */
  private async deliveredBefore(e: OutboxEntry, exists: (e: OutboxEntry) => Promise<boolean | undefined>): Promise<boolean> {
    const retries = this.opts.existsRetries ?? DEFAULT_OUTBOX_EXISTS_RETRIES;
    const pauseMs = this.opts.existsRetryMs ?? DEFAULT_OUTBOX_EXISTS_RETRY_MS;
    let notFound = 0;
    for (let i = 0; i <= retries && !this.stopped; i++) {
      if (i > 0) await this.sleep(pauseMs * i);
      const found = await exists(e);
      if (found === true) return true;
      notFound = found === false ? notFound + 1 : 0;
      if (notFound >= 2) return false;
    }
    return false;
  }

  private async loop(): Promise<void> {
    const maxBackoffMs = this.opts.maxBackoffMs ?? DEFAULT_OUTBOX_MAX_BACKOFF_MS;
    const maxRejections = this.opts.maxRejections ?? DEFAULT_OUTBOX_MAX_REJECTIONS;
    while (!this.stopped) {
      const e = this.outbox.first();
      if (!e) {
        for (const w of [...this.drainWaiters]) w();
        // Idle: an append wakes us; the timeout only bounds the wait.
        await this.sleep(60_000);
        continue;
      }
      try {
        const already = e.ambiguous && this.opts.exists ? await this.deliveredBefore(e, this.opts.exists) : false;
        if (this.stopped) break;
        if (!already) await this.opts.send(e);
        await this.outbox.ack(e.seq);
        this.backoffMs = this.opts.initialBackoffMs ?? DEFAULT_OUTBOX_INITIAL_BACKOFF_MS;
        this.opts.onSent?.(e);
      } catch (err) {
        if (this.stopped) break;
        if (this.opts.isAmbiguousError?.(err)) e.ambiguous = true;
        this.opts.onError?.(e, err);
        if (!this.opts.isConnectivityError(err)) {
          e.rejections++;
          if (e.rejections >= maxRejections) {
            await this.outbox.dead(e.seq, err instanceof Error ? err.message : String(err)).catch(() => undefined);
            this.opts.onDead?.(e, err);
            continue;
          }
        }
        await this.sleep(this.backoffMs);
        this.backoffMs = Math.min(maxBackoffMs, this.backoffMs * 2);
      }
    }
  }
}
