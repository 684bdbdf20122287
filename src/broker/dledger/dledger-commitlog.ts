/**
 * The commit log on DLedger entries: apache/rocketmq 4.9.8 DLedgerCommitLog behind our
 * CommitLogService (src/broker/store/commitlog-service.ts), so MessageStore, recovery, consume
 * queues and the index run unchanged over a replicated log.
 *
 *  - Every message record (protocol/message.ts layout) is the body of one DLedger entry; a batch
 *    is one entry per record (DLedgerCommitLog#asyncPutMessages sends a BatchAppendEntryRequest).
 *  - A record's PHYSICALOFFSET is its entry's pos + BODY_OFFSET (48): the byte where the record
 *    lies in `dledger-<selfId>/data`, so message ids and consume-queue units point into the DLedger
 *    data files (DLedgerCommitLog's AppendHook writes it; `physicalOffsetHook` here).
 *  - Offsets are assigned synchronously (the event loop is the put lock, as in CommitLog): the
 *    entry's pos is predicted with MmapFileList#preAppend's rule while appends are in flight,
 *    and checked against the pos the log reports (a mismatch fences the log: ids already
 *    handed out would be wrong).
 *  - Records reach `dispatch` (consume queues, index) only once their entry is committed, and an
 *    append resolves then (SYNC_FLUSH: once also durable here). Reads see committed data only
 *    (DLedgerCommitLog#getData returns nothing at or past getCommittedPos).
 *
 * A store that was written without DLedger keeps its old commit log (`commitlog/`) below the DLedger
 * log, read-only: DLedgerCommitLog#recover's "mixed commitlog" (see `load` and `convert`).
 *
 * The replication layer is reached through `ReplicatedLog`, a narrow interface: the 3-node server
 * (server.ts) adapts to it; `SingleNodeLog` below is a group of one over DLedgerFileStore.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CorruptStoreError, MessageTooLargeError, StoreClosedError, StoreError, type RocketError } from '../../errors/index.js';
import { FLUSH_LATENCY_BUCKETS_S, Histogram } from '../../metrics/histogram.js';
import {
  BLANK_MAGIC_CODE as COMMITLOG_BLANK_MAGIC_CODE,
  decodeRecord,
  prepareRecord,
  RecordFormatError,
  recordStoreTimestamp,
  STORE_TIMESTAMP_HEAD_BYTES,
  SysFlag,
  transactionType,
  writeRecord,
  type MessageFields,
  type MessageRecord,
  type PreparedRecord,
} from '../../protocol/message.js';
import { writeInt64 } from '../../protocol/long.js';
import { CommitLog } from '../store/commitlog.js';
import { END_FILE_MIN_BLANK_BYTES, segmentFileName } from '../store/commitlog-files.js';
import type { CommitLogFactory, CommitLogOptions, CommitLogService, CommitLogStats, ReadManyOptions, ScanOutcome, TruncateReason } from '../store/commitlog-service.js';
import type { FileIO } from '../store/file-io.js';
import { WaiterQueue } from '../store/group-commit.js';
import type { DispatchRequest, FlushDiskType } from '../store/types.js';
import { BLANK_MAGIC_CODE, BODY_OFFSET, DLEDGER_MAGIC, MIN_BLANK_LEN, readEntryHeader } from '../../protocol/dledger/entry.js';
import { DLedgerFileStore, type AppendHook, type DLedgerRecoveryReport, type DLedgerTruncateReason } from './file-store.js';

/** Where PHYSICALOFFSET sits in a record (MessageDecoder.PHY_POS_POSITION). */
const PHYSICAL_OFFSET_IN_RECORD = 28;
/**
 * An append not committed after this long fails with QuorumAckTimeoutError (a backstop: the
 * server answers WAIT_QUORUM_ACK_TIMEOUT after DLedgerConfig.maxWaitAckTimeMs, 2500 ms, itself).
 * Its entry stays in the log and is dispatched if it commits later, as in DLedger.
 */
const DEFAULT_COMMIT_WAIT_MS = 2500;
/** Appends wait while this many bytes are appended but not committed (DLedger: maxPendingRequestsNum). */
const DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024;
/** ... for at most this long, then fail busy (LEADER_PENDING_FULL → OS_PAGECACHE_BUSY). */
const PENDING_ROOM_WAIT_MS = 10_000;

// ---- the replication layer, as this commit log needs it ---------------------------------------

/** A committed entry, in index order. */
export interface CommittedEntry {
  index: number;
  pos: number;
  /** Whole entry in bytes (BODY_OFFSET + body). */
  size: number;
  /** The entry's body (the stored record) when the replication layer has it at hand; else it is read from the log. */
  body?: Buffer;
}

/** What the commit log needs from the DLedger server (DLedgerServer + DLedgerMmapFileStore). */
export interface ReplicatedLog {
  /** DLedgerConfig.mappedFileSizeForEntryData (RocketMQ sets it to mappedFileSizeCommitLog). */
  readonly dataFileBytes: number;
  /** MemberState#isLeader. */
  isLeader(): boolean;
  /** Data position the next entry goes to (MmapFileList#getMaxWrotePosition). */
  endPos(): number;
  /** Data position just past the last committed entry (DLedgerMmapFileStore#getCommittedPos). */
  committedPos(): number;
  dataFileStarts(): number[];
  /**
   * Begin the empty log at `pos` (its first data file is named by it), so entry positions continue
   * after an old commit log: MmapFileList#getLastMappedFile(dividedCommitlogOffset).
   */
  startDataAt(pos: number): Promise<void>;
  /** Bytes of the data files (within one file; fewer at its end); undefined outside the data. */
  readData(pos: number, length: number): Promise<Buffer | undefined>;
  /**
   * DLedgerServer#handleAppend: append each body as one entry, in order; resolves with each
   * entry's index and pos once they are in the local log (the commit arrives through
   * onCommitted). Rejects with NotLeaderError when this node is not the leader.
   */
  appendAsLeader(bodies: Buffer[]): Promise<Array<{ index: number; pos: number }>>;
  /** Called for every newly committed entry, in index order. Returns the unsubscribe. */
  onCommitted(listener: (e: CommittedEntry) => void): () => void;
  /** Everything appended locally made durable (DLedgerMmapFileStore#flush). */
  flush(): Promise<void>;
  close(): Promise<void>;
  /**
   * A log whose node can gain and lose leadership (DLedgerLeaderElector's role changes). Without
   * it the log's leadership never changes (a group of one).
   */
  onRoleChange?(listener: (leader: boolean) => void): () => void;
}

/**
 * The topic of the record a new leader appends first (see DLedgerCommitLog#takeLeadership). It is a
 * TRANSACTION_ROLLBACK_TYPE record: it takes no queue offset and goes to no consume queue and not to
 * the index (CommitLogDispatcherBuildConsumeQueue, IndexService#buildIndex skip that type), so an
 * Apache node of the group dispatches it as the no-op it is.
 */
export const LEADER_MARKER_TOPIC = 'RMQ_SYS_DLEDGER_LEADER';

/** Opens the replicated log when the store loads; `report` is its file recovery (null if none ran). */
export type ReplicatedLogOpener = (io: FileIO) => Promise<{ log: ReplicatedLog; report: DLedgerRecoveryReport | null }>;

/** An append refused because this node is not the leader (DLedgerResponseCode.NOT_LEADER). */
export class NotLeaderError extends StoreError {
  constructor(detail = 'this broker is not the leader of its DLedger group') {
    // DLedgerCommitLog#asyncPutMessage maps NOT_LEADER to SERVICE_NOT_AVAILABLE.
    super(`${detail}; it takes no messages`, {
      code: 'E_STORE_NOT_LEADER',
      actions: ['send to the group\'s leader (the name server routes to it once it has registered as master)'],
    });
  }
}

/**
 * An append whose entry was not committed in time (WAIT_QUORUM_ACK_TIMEOUT). Coded as E_STORE_BUSY,
 * which the broker answers as SYSTEM_BUSY: DLedgerCommitLog#asyncPutMessage maps it to
 * OS_PAGECACHE_BUSY ("Do not return flush_slave_timeout to the client").
 */
export class QuorumAckTimeoutError extends StoreError {
  constructor(waitMs: number) {
    super(`no quorum acknowledged the message within ${waitMs} ms`, {
      code: 'E_STORE_BUSY',
      actions: ['retry; check that a majority of the DLedger group is up and reachable'],
    });
  }
}

/** The AppendHook DLedgerCommitLog installs: the record's PHYSICALOFFSET becomes pos + bodyOffset. */
export const physicalOffsetHook: AppendHook = (entry, bytes, bodyOffset) => {
  writeInt64(bytes, entry.pos + bodyOffset, bodyOffset + PHYSICAL_OFFSET_IN_RECORD);
};

/**
 * MmapFileList#preAppend: the pos of an entry of `size` bytes appended at `writePos`. When it
 * would not leave MIN_BLANK_LEN in the current file, the file's tail becomes a BLANK and the entry
 * starts the next file (DLedgerFileStore#placeEntry does the same on the write side).
 */
export function entryPosAfter(writePos: number, size: number, fileBytes: number): number {
  const used = writePos % fileBytes;
  return used !== 0 && size + MIN_BLANK_LEN > fileBytes - used ? writePos + (fileBytes - used) : writePos;
}

// ---- the commit log -------------------------------------------------------------------------------

interface PendingRecord {
  /** Predicted entry pos; the entry ends at pos + BODY_OFFSET + req.size. */
  pos: number;
  req: DispatchRequest;
}

export interface DLedgerCommitLogOptions {
  open: ReplicatedLogOpener;
  /** Bound on the wait for a commit (default DEFAULT_COMMIT_WAIT_MS). */
  commitWaitMs?: number;
  /** `store verify`: every record of the old commit log below the DLedger log is checked on load, and the result handed here. */
  checkOldLog?: (check: OldCommitLogCheck) => void;
}

/** The old commit log of a converted store, as `store verify` checks it (CRC on every record). */
export interface OldCommitLogCheck {
  files: number;
  minOffset: number;
  /** DLedgerCommitLog's dividedCommitlogOffset: the old log ends here, the DLedger log starts here. */
  dividedCommitlogOffset: number;
  recordsChecked: number;
  /** The first bad record, or null. */
  problem: string | null;
}

/** What the first DLedger start over a store with an old commit log did (DLedgerCommitLog#recover). */
export interface StoreConversion {
  /** Where the old log's records end (the end-of-file BLANK went there). */
  oldLogEnd: number;
  /** dividedCommitlogOffset: the end of the old log's last file, where the DLedger log begins. */
  dividedCommitlogOffset: number;
}

export class DLedgerCommitLog implements CommitLogService {
  readonly segmentBytes: number;
  readonly flushDiskType: FlushDiskType;
  readonly topicQueueTable = new Map<string, number>();
  readonly stats: CommitLogStats = { putCount: 0, putBytes: 0, putFailures: 0, writeBatches: 0, fsyncs: 0 };
  readonly flushLatency = new Histogram(FLUSH_LATENCY_BUCKETS_S);
  /** DLedger's own file recovery on load (what it cut from the data files). */
  dledgerReport: DLedgerRecoveryReport | null = null;

  /** Set when this start converted the store (sealed the old commit log). */
  conversion: StoreConversion | undefined;

  private log: ReplicatedLog | undefined;
  /**
   * The commit log written before DLedger (`commitlog/`), sealed and read below `divide`; undefined
   * when the store has none. Retention deletes its files first (DLedgerCommitLog#deleteExpiredFile).
   */
  private old: CommitLog | undefined;
  /** dividedCommitlogOffset (-1 with no old log): offsets below it are the old log's. */
  private divide = -1;
  /** The first DLedger start over an old commit log: recovery runs over the old log, then it is sealed. */
  private converting = false;
  private unsubscribe: (() => void) | undefined;
  /** Position just past the last committed entry whose record was dispatched. */
  private committedEnd = 0;
  private flushedPos = 0;
  /**
   * SYNC_FLUSH on the leader: the log is made durable as soon as it is written, while the entries
   * travel to the followers, not only after their commit. This is how far such a flush reached in
   * the current leadership (roleEpoch); -1 when none did. Only the leader's own entries count: they
   * cannot be cut while it leads, and a role change forgets it.
   */
  private durableAhead = -1;
  private durableAheadEpoch = -1;
  private committedStoreTs = 0;
  private flushedStoreTs = 0;
  /** Next entry pos while appends are in flight (undefined: ask the log). */
  private nextPos: number | undefined;
  private appendsInFlight = 0;
  private readonly pending: PendingRecord[] = [];
  private readonly waiters: WaiterQueue;
  private readonly commitWaitMs: number;
  private readonly maxPendingBytes: number;
  private flushTimer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  /** Committed entries being applied, in order. */
  private committing: Promise<void> = Promise.resolve();
  private fenced: RocketError | undefined;
  /**
   * Whether this node takes appends as leader: false from a role change until the new leader's
   * marker has committed and the committed entries are dispatched (DLedgerRoleChangeHandler waits
   * for the same before changeToMaster). Always true for a log without role changes.
   */
  private ready = true;
  /** Bumped at every role change: a takeover that is overtaken by another change stops. */
  private roleEpoch = 0;
  private unsubscribeRole: (() => void) | undefined;
  private readonly roleListeners = new Set<(writable: boolean) => void>();
  private closed = false;
  private closing = false;

  constructor(
    private readonly io: FileIO,
    private readonly opts: CommitLogOptions,
    private readonly dlOpts: DLedgerCommitLogOptions,
  ) {
    this.segmentBytes = opts.segmentBytes;
    this.flushDiskType = opts.flushDiskType;
    this.commitWaitMs = dlOpts.commitWaitMs ?? DEFAULT_COMMIT_WAIT_MS;
    this.maxPendingBytes = opts.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    this.waiters = new WaiterQueue(this.commitWaitMs, () => new QuorumAckTimeoutError(this.commitWaitMs));
  }

  private get rlog(): ReplicatedLog {
    if (!this.log) throw new StoreClosedError();
    return this.log;
  }

  // ---- opening and recovery -----------------------------------------------------------------

  /**
   * Open the replicated log (DLedgerCommitLog#recover: dLedgerFileStore.load + recover) and the old
   * commit log, if the store has one. With DLedger data files, the old log ends where they begin
   * (dividedCommitlogOffset = the first data file's start) and is not scanned again. Without them,
   * this is the store's first DLedger start: recovery runs over the old log as it would without
   * DLedger (CommitLog#recoverNormally / #recoverAbnormally, repairing queues and index), and
   * truncateAndStartAt then seals it and starts the DLedger log after it (`convert`).
   */
  async load(): Promise<void> {
    // Only a store that has one: a DLedger store has no commitlog/ (CommitLog#load would create it).
    const old = new CommitLog(this.io, this.opts);
    if (await this.io.exists(old.dir)) await old.load();
    let opened: Awaited<ReturnType<ReplicatedLogOpener>>;
    try {
      opened = await this.dlOpts.open(this.io);
    } catch (err) {
      await old.close();
      throw err;
    }
    const { log, report } = opened;
    const fail = async (message: string): Promise<never> => {
      await log.close();
      await old.close();
      throw new CorruptStoreError(message);
    };
    if (log.dataFileBytes !== this.segmentBytes) {
      return fail(`DLedger data files are ${log.dataFileBytes} bytes, the store's mappedFileSizeCommitLog is ${this.segmentBytes}; RocketMQ makes them equal`);
    }
    const first = log.dataFileStarts()[0];
    if (old.segmentStarts().length === 0) {
      await old.close();
    } else if (first === undefined) {
      this.old = old;
      this.converting = true;
    } else {
      const oldEnd = (await old.seal(false))!;
      if (oldEnd > first) return fail(`the commit log written without DLedger ends at ${oldEnd}, past the start of the DLedger log (${first}); the two overlap`);
      this.old = old;
      this.divide = first;
      if (this.dlOpts.checkOldLog) this.dlOpts.checkOldLog(await this.checkOldLog(old, first));
    }
    this.log = log;
    this.dledgerReport = report;
    this.committedEnd = this.flushedPos = log.committedPos();
    this.unsubscribe = log.onCommitted((e) => this.onCommitted(e));
    if (log.onRoleChange) {
      this.ready = false;
      this.unsubscribeRole = log.onRoleChange((leader) => (leader ? this.takeLeadership() : this.stepDown()));
    }
  }

  // ---- leadership ---------------------------------------------------------------------------

  /** Whether appends are taken now (leader, and caught up as leader). */
  isWritable(): boolean {
    return !!this.log && !this.closed && !this.closing && !this.fenced && this.ready && this.log.isLeader();
  }

  /** Told each time the commit log starts or stops taking appends (the broker re-registers as master or slave). */
  onWritableChange(listener: (writable: boolean) => void): () => void {
    this.roleListeners.add(listener);
    return () => this.roleListeners.delete(listener);
  }

  private tellWritable(): void {
    const w = this.isWritable();
    for (const l of this.roleListeners) {
      try {
        l(w);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  /**
   * This node lost leadership: appends still waiting for their commit fail (NotLeaderError, which
   * the broker answers SERVICE_NOT_AVAILABLE: "not known to be stored", as DLedger's TERM_CHANGED).
   * Their entries may still commit under the next leader; they then arrive as committed entries of
   * another node and are dispatched as such. Offsets handed out for them are void: the next
   * takeover rebuilds topicQueueTable from what was dispatched.
   */
  private stepDown(): void {
    this.roleEpoch++;
    const wasReady = this.ready;
    this.ready = false;
    this.dropPending(new NotLeaderError('this broker lost the leadership of its DLedger group before the message was committed; it may or may not be stored'));
    if (wasReady) this.tellWritable();
  }

  private dropPending(err: RocketError): void {
    this.stats.putFailures += this.pending.length;
    this.pending.length = 0;
    this.waiters.rejectAll(err);
    if (this.appendsInFlight === 0) this.nextPos = undefined;
  }

  /**
   * DLedgerRoleChangeHandler#handle(LEADER): become writable once every entry of the log is
   * committed and dispatched, then rebuild topicQueueTable from the consume queues
   * (DefaultMessageStore#recoverTopicQueueTable). A new leader commits what it inherited only
   * together with an entry of its own term (docs/dledger.md), so it first appends a marker record
   * (LEADER_MARKER_TOPIC) and waits for that commit.
   */
  private takeLeadership(): void {
    const epoch = ++this.roleEpoch;
    this.ready = false;
    const run = async () => {
      if (this.closed || this.closing || !this.log) return;
      // Appends of an earlier leadership that are still in flight are void (their offsets may be reused).
      this.dropPending(new NotLeaderError('the leadership of this broker changed before the message was committed; it may or may not be stored'));
      const marker = this.prepare({
        topic: LEADER_MARKER_TOPIC,
        queueId: 0,
        flag: 0,
        sysFlag: SysFlag.TRANSACTION_ROLLBACK_TYPE,
        bornTimestamp: Date.now(),
        bornHost: this.opts.storeHost,
        body: Buffer.from(`leader of epoch ${epoch}`),
        properties: '',
        reconsumeTimes: 0,
        preparedTransactionOffset: 0,
      });
      const req: DispatchRequest = { topic: LEADER_MARKER_TOPIC, queueId: 0, queueOffset: 0, commitLogOffset: 0, size: 0, tagsCode: 0, storeTimestamp: 0, sysFlag: SysFlag.TRANSACTION_ROLLBACK_TYPE, keys: [] };
      const bodies = [this.encode(marker, req, Date.now())];
      await this.submit(bodies, [req]);
      await this.committing;
      if (epoch !== this.roleEpoch || !this.log?.isLeader() || this.fenced) return;
      const ends = this.opts.queueEnds?.();
      if (ends) {
        this.topicQueueTable.clear();
        for (const [key, next] of ends) this.topicQueueTable.set(key, next);
      }
      this.ready = true;
      this.tellWritable();
    };
    void run().catch(() => {
      // Not committed in time, or leadership lost again: the next role change tries again; a
      // leader that stays unready takes no appends (clients go to the master the name server lists).
      if (epoch === this.roleEpoch && this.log?.isLeader() && !this.closed && !this.closing) setTimeout(() => epoch === this.roleEpoch && this.takeLeadership(), 200).unref();
    });
  }

  /** Every record of the old log, CRC included (`store verify`). */
  private async checkOldLog(old: CommitLog, divide: number): Promise<OldCommitLogCheck> {
    const scan = await old.scan(0, true, () => undefined);
    const p = scan.problem;
    return {
      files: old.segmentStarts().length,
      minOffset: old.minOffset(),
      dividedCommitlogOffset: divide,
      recordsChecked: scan.recordsScanned,
      problem: p ? `${p.reason} at offset ${p.offset}: ${p.detail}` : null,
    };
  }

  /**
   * The first DLedger start over an old commit log, once recovery has positioned it at `end`
   * (DLedgerCommitLog#recover after super.recoverNormally): the old log's last file gets its
   * end-of-file BLANK at `end` (needWriteMagicCode), dividedCommitlogOffset is that file's end, and
   * the DLedger log begins there. Records keep their physical offsets below it; new ones continue
   * after it, and the consume queues and the index keep every unit.
   */
  private async convert(old: CommitLog, end: number, storeTimestampAtEnd: number, opts: { zeroTail: boolean }): Promise<void> {
    await old.truncateAndStartAt(end, storeTimestampAtEnd, opts);
    const divide = (await old.seal(true))!;
    await this.rlog.startDataAt(divide);
    this.converting = false;
    this.divide = divide;
    this.conversion = { oldLogEnd: end, dividedCommitlogOffset: divide };
    this.committedEnd = this.flushedPos = divide;
    this.committedStoreTs = this.flushedStoreTs = storeTimestampAtEnd;
  }

  /**
   * The old log's data extent, where an end-of-file BLANK right at the end of its records is not
   * data past the end: it is the seal of a conversion that stopped (a crash) before the DLedger log
   * began, and the conversion seals again.
   */
  private async oldDataExtent(old: CommitLog, start: number, fromOffset: number): Promise<number> {
    const fileEnd = start + this.segmentBytes;
    if (fromOffset < start || fromOffset + END_FILE_MIN_BLANK_BYTES > fileEnd) return old.dataExtent(start, fromOffset);
    const h = await this.io.open(path.join(old.dir, segmentFileName(start)), 'r');
    const head = Buffer.alloc(END_FILE_MIN_BLANK_BYTES);
    try {
      await h.read(head, 0, head.length, fromOffset - start);
    } finally {
      await h.close();
    }
    if (head.readInt32BE(0) !== fileEnd - fromOffset || head.readInt32BE(4) !== COMMITLOG_BLANK_MAGIC_CODE) return old.dataExtent(start, fromOffset);
    const after = await old.dataExtent(start, fromOffset + END_FILE_MIN_BLANK_BYTES);
    return after === fromOffset + END_FILE_MIN_BLANK_BYTES ? fromOffset : after;
  }

  /** The DLedger data files: recovery walks them as it walks commit log segments (the old log's while converting). */
  segmentStarts(): number[] {
    if (this.converting) return this.old!.segmentStarts();
    return this.log?.dataFileStarts() ?? [];
  }

  /**
   * Committed entries' records from data file `fromIndex` on, checked as recovery checks a
   * record (layout, CRC when asked, PHYSICALOFFSET = pos + 48, size = body). Ends at the committed
   * position: uncommitted entries are the replication layer's (it may still cut them), so they
   * are neither dispatched nor counted. When every committed record is good, the problem reported
   * is the one DLedger's own recovery cut its tail for (so the store's report shows it).
   */
  async scan(fromIndex: number, checkCrc: boolean, onRecord: (rec: MessageRecord) => void): Promise<ScanOutcome> {
    if (this.converting) return this.old!.scan(fromIndex, checkCrc, onRecord);
    const log = this.rlog;
    const fileBytes = this.segmentBytes;
    const end = this.committedEnd;
    let pos = this.segmentStarts()[fromIndex] ?? end;
    const out: ScanOutcome = { end: pos, lastStoreTimestamp: 0, recordsScanned: 0, problem: null };
    // Bounded: each pass moves pos forward by an entry or to the next file, or returns.
    while (pos < end) {
      const head = await log.readData(pos, BODY_OFFSET);
      if (head && head.length >= MIN_BLANK_LEN && head.readInt32BE(0) === BLANK_MAGIC_CODE) {
        pos += fileBytes - (pos % fileBytes);
        out.end = Math.min(pos, end);
        continue;
      }
      const bad = await this.readCommittedRecord(log, pos, head, checkCrc);
      if ('reason' in bad) {
        out.problem = { offset: pos, ...bad };
        return out;
      }
      onRecord(bad.rec);
      out.recordsScanned++;
      out.lastStoreTimestamp = bad.rec.storeTimestamp;
      pos += BODY_OFFSET + bad.rec.storeSize;
      out.end = pos;
    }
    out.problem = this.dledgerProblem();
    return out;
  }

  private async readCommittedRecord(log: ReplicatedLog, pos: number, head: Buffer | undefined, checkCrc: boolean): Promise<{ rec: MessageRecord } | { reason: TruncateReason; detail: string }> {
    if (!head || head.length < BODY_OFFSET) return { reason: 'torn', detail: `committed entry at ${pos} has no whole header` };
    const h = readEntryHeader(head);
    if (h.magic !== DLEDGER_MAGIC) return { reason: 'bad-magic', detail: `entry magic ${h.magic} at ${pos}` };
    if (h.pos !== pos || h.size !== BODY_OFFSET + h.bodyLen) return { reason: 'bad-offset', detail: `entry at ${pos} claims pos ${h.pos}, size ${h.size}, body ${h.bodyLen}` };
    const body = await log.readData(pos + BODY_OFFSET, h.bodyLen);
    if (!body || body.length < h.bodyLen) return { reason: 'torn', detail: `entry body at ${pos} is not whole` };
    let rec: MessageRecord;
    try {
      rec = decodeRecord(body, 0, { checkCrc });
    } catch (err) {
      if (!(err instanceof RecordFormatError)) throw err;
      return { reason: /CRC/.test(err.message) ? 'bad-crc' : 'bad-format', detail: `entry ${h.index}'s body is not a message record: ${err.message}` };
    }
    if (rec.storeSize !== h.bodyLen) return { reason: 'bad-size', detail: `entry ${h.index}: record of ${rec.storeSize} bytes in a body of ${h.bodyLen}` };
    if (rec.commitLogOffset !== pos + BODY_OFFSET) return { reason: 'bad-offset', detail: `entry ${h.index}: record claims physical offset ${rec.commitLogOffset}, it lies at ${pos + BODY_OFFSET}` };
    return { rec };
  }

  /** DLedger's recovery problem in the store's vocabulary (pos and index/term checks have no twin). */
  private dledgerProblem(): ScanOutcome['problem'] {
    const p = this.dledgerReport?.problem;
    if (!p) return null;
    const reasons: Record<DLedgerTruncateReason, TruncateReason> = {
      torn: 'torn',
      'bad-crc': 'bad-crc',
      'bad-magic': 'bad-magic',
      'bad-size': 'bad-size',
      'bad-blank': 'bad-blank',
      hole: 'hole',
      'bad-pos': 'bad-offset',
      'bad-index': 'bad-format',
      'bad-term': 'bad-format',
    };
    return { offset: p.pos, reason: reasons[p.reason], detail: `DLedger entry: ${p.detail}` };
  }

  /** Store time of the first record of data file `start`, when it begins with a committed entry. */
  async firstStoreTimestamp(start: number): Promise<number | undefined> {
    if (this.converting) return this.old!.firstStoreTimestamp(start);
    if (start >= this.committedEnd) return undefined;
    const head = await this.rlog.readData(start, BODY_OFFSET + STORE_TIMESTAMP_HEAD_BYTES);
    if (!head || head.length < BODY_OFFSET || head.readInt32BE(0) !== DLEDGER_MAGIC) return undefined;
    return recordStoreTimestamp(head, BODY_OFFSET);
  }

  /**
   * DLedger's recovery has already cut and zeroed its bad tail, and what lies past the committed
   * end is the replication layer's (uncommitted entries), not lost commit log data: so nothing
   * past `fromOffset` counts, except that the bytes DLedger's recovery dropped are reported
   * against the file holding the committed end, for the store's report (bytesDropped).
   */
  dataExtent(start: number, fromOffset: number): Promise<number> {
    if (this.converting) return this.oldDataExtent(this.old!, start, fromOffset);
    const holder = this.committedEnd - (this.committedEnd % this.segmentBytes);
    return Promise.resolve(fromOffset + (start === holder ? (this.dledgerReport?.bytesDropped ?? 0) : 0));
  }

  /**
   * Recovery ends the commit log at the committed end. The DLedger log is never cut from here:
   * only the replication layer truncates, and only uncommitted entries (DLedgerMmapFileStore#
   * truncate). A committed entry that is not a valid record cannot be cut away, so opening stops.
   */
  truncateAndStartAt(end: number, storeTimestampAtEnd: number, opts: { zeroTail: boolean }): Promise<void> {
    if (this.converting) return this.convert(this.old!, end, storeTimestampAtEnd, opts);
    if (end !== this.committedEnd) {
      const err = new CorruptStoreError(`DLedger commit log: committed entries end at ${this.committedEnd}, but the records end at ${end}; committed entries cannot be cut (run: rocketctl store verify)`);
      // The store does not open, so nothing else would close the DLedger files.
      this.closed = true;
      return this.releaseLog().then(() => Promise.reject(err));
    }
    this.flushedPos = end;
    this.committedStoreTs = this.flushedStoreTs = storeTimestampAtEnd;
    return Promise.resolve();
  }

  /** ASYNC_FLUSH: flush the local log every flushIntervalMs (DLedger's FlushDataService). */
  start(): void {
    if (this.flushDiskType === 'ASYNC_FLUSH' && !this.flushTimer) {
      this.flushTimer = setInterval(() => void this.flush().catch(() => undefined), this.opts.flushIntervalMs);
      this.flushTimer.unref();
    }
  }

  // ---- positions ----------------------------------------------------------------------------

  /** DLedgerCommitLog#getMinOffset: the old log's while it has files, else the first data file's start. */
  minOffset(): number {
    if (this.old && this.old.segmentStarts().length > 0) return this.old.minOffset();
    return this.log?.dataFileStarts()[0] ?? this.committedEnd;
  }
  /** DLedgerCommitLog#getMaxOffset: the committed position. */
  maxOffset(): number {
    return this.committedEnd;
  }
  writtenOffset(): number {
    return this.committedEnd;
  }
  flushedOffset(): number {
    return Math.min(this.flushedPos, this.committedEnd);
  }
  flushedStoreTimestamp(): number {
    return this.flushedStoreTs;
  }
  /** Bytes appended and not yet committed. */
  pendingBytes(): number {
    return this.nextPos === undefined ? 0 : this.nextPos - this.committedEnd;
  }

  // ---- append -------------------------------------------------------------------------------

  checkWritable(): void {
    if (this.closed || this.closing || !this.log) throw new StoreClosedError();
    if (this.fenced) throw this.fenced;
    if (!this.log.isLeader()) throw new NotLeaderError();
    if (!this.ready) throw new NotLeaderError('this broker was just elected leader of its DLedger group and is still committing what it inherited');
  }

  hasRoom(): boolean {
    return this.pendingBytes() < this.maxPendingBytes;
  }

  async waitForRoom(): Promise<void> {
    const deadline = performance.now() + PENDING_ROOM_WAIT_MS;
    // Bounded by PENDING_ROOM_WAIT_MS in steps of at most 10 ms.
    while (!this.hasRoom()) {
      this.checkWritable();
      const left = deadline - performance.now();
      if (left <= 0) throw new StoreError(`the DLedger leader has ${this.pendingBytes()} bytes waiting for a quorum`, { code: 'E_STORE_BUSY', actions: ['retry later'] });
      await new Promise((resolve) => setTimeout(resolve, Math.min(left, 10)));
    }
  }

  prepare(m: MessageFields): PreparedRecord {
    const rec = prepareRecord(m, this.opts.storeHost);
    // The entry (header + record) must fit one data file with room for a BLANK.
    const max = this.segmentBytes - BODY_OFFSET - MIN_BLANK_LEN;
    if (rec.size > max) throw new MessageTooLargeError(rec.size, max, 'stored record (in a DLedger entry)');
    return rec;
  }

  append(records: PreparedRecord[], reqs: DispatchRequest[], storeTimestamp: number): Promise<void> {
    this.checkWritable();
    const bodies = records.map((r, i) => this.encode(r, reqs[i]!, storeTimestamp));
    return this.submit(bodies, reqs);
  }

  appendOne(record: PreparedRecord, req: DispatchRequest, storeTimestamp: number): Promise<void> {
    return this.append([record], [req], storeTimestamp);
  }

  /** Assign queue offset, predicted entry pos and store time; encode the record as the entry's body. */
  private encode(rec: PreparedRecord, req: DispatchRequest, storeTimestamp: number): Buffer {
    const type = transactionType(rec.sysFlag);
    let queueOffset = 0;
    // As CommitLog: prepared and rollback records take no queue offset.
    if (type === SysFlag.TRANSACTION_NOT_TYPE || type === SysFlag.TRANSACTION_COMMIT_TYPE) {
      const key = `${req.topic}-${req.queueId}`;
      queueOffset = this.topicQueueTable.get(key) ?? 0;
      this.topicQueueTable.set(key, queueOffset + 1);
    }
    const pos = entryPosAfter(this.nextPos ?? this.rlog.endPos(), BODY_OFFSET + rec.size, this.segmentBytes);
    this.nextPos = pos + BODY_OFFSET + rec.size;
    const body = Buffer.allocUnsafe(rec.size);
    writeRecord(body, new DataView(body.buffer, body.byteOffset, body.length), 0, rec, this.opts.storeHost, queueOffset, pos + BODY_OFFSET, storeTimestamp);
    req.queueOffset = queueOffset;
    req.commitLogOffset = pos + BODY_OFFSET;
    req.size = rec.size;
    req.storeTimestamp = storeTimestamp;
    this.pending.push({ pos, req });
    return body;
  }

  private submit(bodies: Buffer[], reqs: DispatchRequest[]): Promise<void> {
    const last = reqs[reqs.length - 1]!;
    const done = this.waiters.wait(last.commitLogOffset + last.size);
    this.stats.putCount += reqs.length;
    this.stats.putBytes += bodies.reduce((n, b) => n + b.length, 0);
    this.stats.writeBatches++;
    this.appendsInFlight++;
    this.rlog.appendAsLeader(bodies).then(
      (placed) => {
        this.appendsInFlight--;
        const wrong = placed.findIndex((p, i) => p.pos + BODY_OFFSET !== reqs[i]!.commitLogOffset);
        if (placed.length !== reqs.length || wrong >= 0) {
          this.fence(new CorruptStoreError(`internal: DLedger placed entry ${wrong} at ${placed[wrong]?.pos}, the commit log predicted ${reqs[wrong]?.commitLogOffset ?? -1} - ${BODY_OFFSET}`));
        }
        this.idle();
        // SYNC_FLUSH: to disk while the followers take it (see durableAhead).
        if (this.flushDiskType === 'SYNC_FLUSH') void this.syncCommitted();
      },
      (err: unknown) => {
        this.appendsInFlight--;
        if (err instanceof NotLeaderError && this.log?.onRoleChange) {
          // Leadership ended under the append: what is pending is void, not corrupt (stepDown fails it too).
          this.dropPending(err);
        } else {
          this.fence(err instanceof StoreError ? err : new StoreError(`DLedger append failed: ${String(err)}`, { code: 'E_STORE_IO', cause: err }));
        }
        this.idle();
      },
    );
    return done;
  }

  /** With nothing in flight, the next pos comes from the log again (it may have moved as a follower). */
  private idle(): void {
    if (this.appendsInFlight === 0 && this.pending.length === 0) this.nextPos = undefined;
  }

  /**
   * An append failed after offsets were handed out: later predicted positions are void, so the
   * log takes no more appends until the store is reopened (and recovers from what committed).
   * The role-change path that re-positions without a reopen (DLedgerRoleChangeHandler) is phase 2c.
   */
  private fence(err: RocketError): void {
    if (this.fenced) return;
    this.fenced = err;
    this.stats.putFailures += this.pending.length;
    this.pending.length = 0;
    this.waiters.rejectAll(err);
  }

  // ---- commit -------------------------------------------------------------------------------

  /**
   * A committed entry: dispatch its record, then complete appends (after a flush under
   * SYNC_FLUSH). Entries are handled one at a time, in commit order: one this log did not append
   * is read back first.
   */
  private onCommitted(e: CommittedEntry): void {
    this.committing = this.committing
      .then(() => this.applyCommitted(e))
      .catch((err: unknown) => this.fence(err instanceof StoreError ? err : new StoreError(`DLedger dispatch failed: ${String(err)}`, { code: 'E_STORE_IO', cause: err })));
  }

  private async applyCommitted(e: CommittedEntry): Promise<void> {
    if (this.fenced || this.closed) return;
    const p = this.pending[0];
    let req: DispatchRequest;
    if (p && p.pos === e.pos) {
      this.pending.shift();
      req = p.req;
    } else if (p && e.pos > p.pos) {
      // Another entry committed where ours was to go: the replication layer must fail our append first.
      throw new CorruptStoreError(`DLedger entry ${e.index} committed at ${e.pos}, where this log's next append was at ${p.pos}`);
    } else {
      // Appended elsewhere, or before our pending ones (a new leader's inherited entries commit first).
      req = await this.foreignRequest(e);
    }
    this.committedEnd = e.pos + e.size;
    this.committedStoreTs = req.storeTimestamp;
    this.opts.dispatch(req);
    this.idle();
    if (this.flushDiskType === 'SYNC_FLUSH') {
      if (this.durableAheadEpoch === this.roleEpoch && this.durableAhead >= this.committedEnd && this.committedEnd > this.flushedPos) {
        // Already on disk here (flushed ahead): answered at once.
        this.flushedPos = this.committedEnd;
        this.flushedStoreTs = this.committedStoreTs;
        this.waiters.resolveUpTo(this.flushedPos);
      }
      void this.syncCommitted();
    } else this.waiters.resolveUpTo(this.committedEnd);
  }

  /**
   * The dispatch request of an entry appended elsewhere (a follower's entries, or a previous
   * run's tail committed later). Its queue offset also moves topicQueueTable on, so that this
   * node continues each queue if it becomes the leader.
   */
  private async foreignRequest(e: CommittedEntry): Promise<DispatchRequest> {
    const build = this.opts.toDispatchRequest;
    if (!build) throw new CorruptStoreError(`DLedger entry ${e.index} at ${e.pos} committed, but this commit log did not append it and was given no toDispatchRequest`);
    const body = e.body ?? (await this.rlog.readData(e.pos + BODY_OFFSET, e.size - BODY_OFFSET));
    if (!body || body.length !== e.size - BODY_OFFSET) throw new CorruptStoreError(`committed DLedger entry ${e.index} at ${e.pos} cannot be read`);
    const rec = decodeRecord(body, 0, { checkCrc: true });
    if (rec.commitLogOffset !== e.pos + BODY_OFFSET) throw new CorruptStoreError(`committed DLedger entry ${e.index}: record claims physical offset ${rec.commitLogOffset}, it lies at ${e.pos + BODY_OFFSET}`);
    const type = transactionType(rec.sysFlag);
    if (type === SysFlag.TRANSACTION_NOT_TYPE || type === SysFlag.TRANSACTION_COMMIT_TYPE) {
      const key = `${rec.topic}-${rec.queueId}`;
      this.topicQueueTable.set(key, Math.max(this.topicQueueTable.get(key) ?? 0, rec.queueOffset + 1));
    }
    return build(rec);
  }

  /** One flush at a time; each completes every append it covers (group commit). */
  private syncCommitted(): Promise<void> {
    if (this.syncing) return this.syncing;
    this.syncing = (async () => {
      // Bounded: each round makes progress (flushedPos moves up) or ends.
      while (!this.fenced && (this.flushedPos < this.committedEnd || this.aheadToFlush())) {
        await this.flushOnce();
        this.waiters.resolveUpTo(this.flushedPos);
      }
    })()
      .catch((err: unknown) => this.fence(new StoreError(`DLedger flush failed: ${String(err)}`, { code: 'E_STORE_IO', cause: err })))
      .finally(() => {
        this.syncing = undefined;
      });
    return this.syncing;
  }

  /** SYNC_FLUSH leader: written entries of this leadership not yet flushed ahead of their commit. */
  private aheadToFlush(): boolean {
    if (this.flushDiskType !== 'SYNC_FLUSH' || !this.ready || !this.log?.isLeader()) return false;
    const durable = this.durableAheadEpoch === this.roleEpoch ? this.durableAhead : -1;
    return this.rlog.endPos() > Math.max(durable, this.committedEnd);
  }

  private async flushOnce(): Promise<void> {
    const target = this.committedEnd;
    const ts = this.committedStoreTs;
    const epoch = this.roleEpoch;
    const ahead = this.ready && this.log?.isLeader() ? this.rlog.endPos() : -1;
    const t0 = performance.now();
    await this.rlog.flush();
    this.stats.fsyncs++;
    this.flushLatency.observe((performance.now() - t0) / 1000);
    if (target > this.flushedPos) {
      this.flushedPos = target;
      this.flushedStoreTs = ts;
    }
    if (ahead >= 0 && epoch === this.roleEpoch) {
      if (this.durableAheadEpoch !== epoch || ahead > this.durableAhead) {
        this.durableAhead = ahead;
        this.durableAheadEpoch = epoch;
      }
      // What committed while the flush ran is covered when it lies within what was flushed.
      if (ahead >= this.committedEnd && this.committedEnd > this.flushedPos) {
        this.flushedPos = this.committedEnd;
        this.flushedStoreTs = this.committedStoreTs;
      }
    }
  }

  // ---- reads --------------------------------------------------------------------------------

  /**
   * Committed bytes only (DLedgerCommitLog#getData refuses at or past getCommittedPos); below
   * dividedCommitlogOffset, the old commit log's (getData's `offset < dividedCommitlogOffset`).
   */
  async read(offset: number, size: number): Promise<Buffer | undefined> {
    if (this.old && offset < this.divide) return offset + size <= this.divide ? this.old.read(offset, size) : undefined;
    if (!this.log || size <= 0 || offset < this.minOffset() || offset + size > this.committedEnd) return undefined;
    const buf = await this.log.readData(offset, size);
    return buf && buf.length === size ? buf : undefined;
  }

  async readRecord(offset: number): Promise<Buffer | undefined> {
    if (this.old && offset < this.divide) return this.old.readRecord(offset);
    const head = await this.read(offset, 4);
    if (!head) return undefined;
    const size = head.readInt32BE(0);
    return size < 8 ? undefined : this.read(offset, size);
  }

  /** One read per range above the divide (the local log coalesces nearby ranges; not needed yet here); the old log's below, with `opts` (it may read them synchronously). */
  async readMany(ranges: Array<{ offset: number; size: number }>, opts?: ReadManyOptions): Promise<Array<Buffer | undefined>> {
    const old = this.old;
    if (!old || ranges.every((r) => r.offset >= this.divide)) return Promise.all(ranges.map((r) => this.read(r.offset, r.size)));
    const below = ranges.filter((r) => r.offset < this.divide && r.offset + r.size <= this.divide);
    const fromOld = await old.readMany(below, opts);
    let k = 0;
    return Promise.all(ranges.map((r) => (r.offset < this.divide && r.offset + r.size <= this.divide ? fromOld[k++] : this.read(r.offset, r.size))));
  }

  // ---- retention ----------------------------------------------------------------------------

  /**
   * The old commit log's files, all of them, its last one too (DLedgerCommitLog#deleteExpiredFile);
   * DLedger data files are the replication layer's to delete (DLedgerMmapFileStore's clean
   * service): none here.
   */
  cleanableSegments(): Array<{ start: number; path: string }> {
    return this.old && !this.converting ? this.old.cleanableSegments() : [];
  }
  deleteOldestSegment(start: number): Promise<boolean> {
    return this.old && !this.converting ? this.old.deleteOldestSegment(start) : Promise.resolve(false);
  }

  // ---- ending -------------------------------------------------------------------------------

  async flush(): Promise<void> {
    if (this.fenced || !this.log) return;
    await this.flushOnce();
  }

  /**
   * Wait (bounded by the commit wait) until what is appended now has committed and every entry
   * committed so far is dispatched, then flush.
   */
  async drain(): Promise<void> {
    const target = this.nextPos ?? this.committedEnd;
    const deadline = performance.now() + this.commitWaitMs;
    while (!this.fenced && this.committedEnd < target && this.pending.length > 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await this.committing;
    if (this.flushDiskType === 'SYNC_FLUSH') await this.syncing;
    await this.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.stopFlushTimer();
    this.closing = true;
    this.roleEpoch++;
    try {
      await this.drain().catch(() => undefined);
    } finally {
      this.closed = true;
      this.waiters.rejectAll(new StoreClosedError());
      await this.old?.close();
      await this.releaseLog();
    }
  }

  /**
   * Stop taking appends and answering at once. The replicated log is closed in the background
   * (DLedgerFileStore has no crash stop; crashes are simulated below it, with FaultyFileIO).
   */
  halt(): void {
    this.stopFlushTimer();
    this.closed = true;
    this.fenced ??= new StoreClosedError();
    this.waiters.rejectAll(new StoreClosedError());
    this.old?.halt();
    void this.releaseLog().catch(() => undefined);
  }

  /** Stop listening and close the replicated log (this commit log opened it). */
  private async releaseLog(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.unsubscribeRole?.();
    this.unsubscribeRole = undefined;
    this.roleListeners.clear();
    const log = this.log;
    this.log = undefined;
    await log?.close();
  }

  private stopFlushTimer(): void {
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.flushTimer = undefined;
  }

  isFenced(): RocketError | undefined {
    return this.fenced;
  }
}

// ---- a group of one ---------------------------------------------------------------------------

export interface SingleNodeLogOptions {
  storeBaseDir: string;
  selfId: string;
  dataFileBytes: number;
  indexFileBytes?: number;
  /** False: a node that is not the leader (appends refused). Default true. */
  leader?: boolean;
  /** Tests: appends are not committed until commitThrough(); the checkpoint's committed index is kept on open. */
  holdCommits?: boolean;
}

/**
 * A DLedger group of one over DLedgerFileStore: its own majority, so an entry commits once it is
 * durable here (appended, then flushed). On open every recovered entry is committed: the one node
 * that holds it is the majority (unless `holdCommits`, which keeps the checkpoint's index). The
 * term is the log's last term (no elections in a group of one).
 */
export class SingleNodeLog implements ReplicatedLog {
  readonly dataFileBytes: number;
  private readonly listeners = new Set<(e: CommittedEntry) => void>();
  /** Entries appended in this run, by index (for commit notices without a read). */
  private readonly placed = new Map<number, CommittedEntry>();
  private notifiedIndex: number;
  private committedEnd: number;
  private notifying: Promise<void> = Promise.resolve();

  private constructor(
    readonly store: DLedgerFileStore,
    private readonly opts: SingleNodeLogOptions,
    committedEnd: number,
  ) {
    this.dataFileBytes = store.dataFileBytes;
    this.notifiedIndex = store.getCommittedIndex();
    this.committedEnd = committedEnd;
  }

  static async open(io: FileIO, opts: SingleNodeLogOptions): Promise<{ log: SingleNodeLog; report: DLedgerRecoveryReport }> {
    const { store, report } = await DLedgerFileStore.open(io, { storeBaseDir: opts.storeBaseDir, selfId: opts.selfId, dataFileBytes: opts.dataFileBytes, indexFileBytes: opts.indexFileBytes });
    if (!opts.holdCommits) store.updateCommittedIndex(store.getLedgerEndIndex());
    const committed = store.getCommittedIndex();
    let end = store.dataFileStarts()[0] ?? store.getWritePos();
    if (committed >= 0) {
      const e = await store.get(committed);
      end = e.pos + e.size;
    }
    return { log: new SingleNodeLog(store, opts, end), report };
  }

  isLeader(): boolean {
    return this.opts.leader ?? true;
  }
  endPos(): number {
    return this.store.getWritePos();
  }
  committedPos(): number {
    return this.committedEnd;
  }
  dataFileStarts(): number[] {
    return this.store.dataFileStarts();
  }
  async startDataAt(pos: number): Promise<void> {
    await this.store.startAt(pos);
    this.committedEnd = pos;
  }
  readData(pos: number, length: number): Promise<Buffer | undefined> {
    return this.store.readData(pos, length);
  }

  /** Append, flush, commit (a group of one): DLedgerServer#handleAppend with a quorum of itself. */
  async appendAsLeader(bodies: Buffer[]): Promise<Array<{ index: number; pos: number }>> {
    if (!this.isLeader()) throw new NotLeaderError();
    const term = Math.max(0, this.store.getLedgerEndTerm());
    const written = await Promise.all(bodies.map((body) => this.store.append({ term, body }, physicalOffsetHook)));
    for (const e of written) this.placed.set(e.index, { index: e.index, pos: e.pos, size: e.size });
    await this.store.flush();
    if (!this.opts.holdCommits) this.commitThrough(written[written.length - 1]!.index);
    return written.map((e) => ({ index: e.index, pos: e.pos }));
  }

  /** Commit up to `index` and tell the listeners about each newly committed entry, in order. */
  commitThrough(index: number): Promise<void> {
    this.store.updateCommittedIndex(index);
    const upTo = this.store.getCommittedIndex();
    this.notifying = this.notifying.then(async () => {
      // Bounded by upTo - notifiedIndex entries.
      while (this.notifiedIndex < upTo) {
        const i = this.notifiedIndex + 1;
        const e = this.placed.get(i) ?? (await this.store.get(i));
        this.placed.delete(i);
        this.notifiedIndex = i;
        this.committedEnd = e.pos + e.size;
        const c = { index: i, pos: e.pos, size: e.size };
        for (const l of this.listeners) l(c);
      }
    });
    return this.notifying;
  }

  onCommitted(listener: (e: CommittedEntry) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  flush(): Promise<void> {
    return this.store.flush();
  }

  async close(): Promise<void> {
    await this.notifying.catch(() => undefined);
    await this.store.close();
  }
}

/**
 * MessageStore's `commitLog` option for a group of one: the DLedger files go to
 * `<storePathRootDir>/dledger-<selfId>/` with data files of mappedFileSizeCommitLog, as
 * DLedgerCommitLog configures DLedger.
 */
export function singleNodeCommitLog(
  opts: Pick<SingleNodeLogOptions, 'selfId' | 'indexFileBytes' | 'leader' | 'holdCommits'> & { commitWaitMs?: number; onOpen?: (log: SingleNodeLog) => void; checkOldLog?: (check: OldCommitLogCheck) => void },
): CommitLogFactory {
  return (io, clOpts) =>
    new DLedgerCommitLog(io, clOpts, {
      commitWaitMs: opts.commitWaitMs,
      checkOldLog: opts.checkOldLog,
      open: async (fio) => {
        const { log, report } = await SingleNodeLog.open(fio, { storeBaseDir: clOpts.storePathRootDir, selfId: opts.selfId, dataFileBytes: clOpts.segmentBytes, indexFileBytes: opts.indexFileBytes, leader: opts.leader, holdCommits: opts.holdCommits });
        opts.onOpen?.(log);
        return { log, report };
      },
    });
}

/**
 * The DLedger member whose files a store dir holds (`dledger-<selfId>/data`), with the data file
 * size: what `store verify` needs to read a DLedger store as the broker would. Undefined when the
 * store has no DLedger files; an error when it has several members' files (not a broker's store).
 */
export function dledgerFilesOf(storeDir: string): { selfId: string; dataFileBytes: number } | undefined {
  let dirs: string[] = [];
  try {
    dirs = fs.readdirSync(storeDir).filter((d) => d.startsWith('dledger-') && fs.existsSync(path.join(storeDir, d, 'data')));
  } catch {
    return undefined;
  }
  if (dirs.length === 0) return undefined;
  if (dirs.length > 1) throw new CorruptStoreError(`${storeDir} holds the DLedger files of ${dirs.length} members (${dirs.join(', ')}); a broker's store holds one`);
  const dataDir = path.join(storeDir, dirs[0]!, 'data');
  const files = fs.readdirSync(dataDir).filter((f) => /^\d{20}$/.test(f)).sort();
  if (files.length === 0) return undefined;
  return { selfId: dirs[0]!.slice('dledger-'.length), dataFileBytes: fs.statSync(path.join(dataDir, files[0]!)).size };
}

/** `store verify` of a DLedger store: a group of one that is not leader and keeps the checkpoint's committed index, as a member reopening it finds it. */
export function verifyCommitLog(files: { selfId: string }, checkOldLog?: (check: OldCommitLogCheck) => void): CommitLogFactory {
  return singleNodeCommitLog({ selfId: files.selfId, leader: false, holdCommits: true, checkOldLog });
}
