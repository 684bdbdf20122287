import type { Histogram } from '../../metrics/histogram.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  FlushTimeoutError,
  InvalidTopicError,
  MessageTooLargeError,
  StoreClosedError,
  StoreError,
} from '../../errors/index.js';
import { javaHashCode } from '../../protocol/hash.js';
import {
  createOffsetMsgId,
  decodeRecord,
  isMessageMagic,
  MAX_PROPERTIES_BYTES,
  recordStoreTimestamp,
  STORE_TIMESTAMP_HEAD_BYTES,
  SysFlag,
  transactionType,
  type MessageRecord,
  type MessageFields,
  type PreparedRecord,
  type SocketAddr,
} from '../../protocol/message.js';
import { pickProperties } from '../../protocol/properties.js';
import { topicNameProblem } from '../../protocol/validate.js';
import { Checkpoint } from './checkpoint.js';
import { CleanService, DiskSpaceFullError, type CleanServiceOptions } from './clean-service.js';
import { CommitLog } from './commitlog.js';
import { COMMITLOG_DIR, END_FILE_MIN_BLANK_BYTES } from './commitlog-files.js';
import type { CommitLogFactory, CommitLogService, CommitLogStats } from './commitlog-service.js';
import { ConsumeQueueStore } from './consume-queue.js';
import type { FileIO } from './file-io.js';
import { IndexService } from './index-service.js';
import { NodeFileIO } from './node-file-io.js';
import { recoverStore, type StoreRecoveryReport } from './recovery.js';
import { StoreLock } from './store-lock.js';
import { OverlayFileIO } from './overlay-file-io.js';
import { defaultStoreConfig, inferStoreGeometry, validateStoreConfig } from './store-config.js';
import { type CqUnit, type DispatchRequest, type StoreConfig } from './types.js';
import { SCHEDULE_TOPIC } from '../../protocol/names.js';

/**
 * The message store facade the broker calls (DefaultMessageStore): open = lock + recovery, put =
 * validate + encode + commit log append (+ dispatch to consume queue, index and listeners once
 * the record is written/durable), get = consume queue lookup + commit log reads.
 *
 * Dispatch timing differs from RocketMQ on purpose: RocketMQ's ReputMessageService dispatches what
 * is in the page cache even under SYNC_FLUSH, so a consumer can read a message a power loss then
 * takes back. Here, under SYNC_FLUSH a record reaches the consume queue only after the fdatasync
 * covering it; under ASYNC_FLUSH once its write completed. Either way before its put resolves, so
 * a pull after an acknowledged send always finds the message.
 */

const ABORT_FILE = 'abort';

/** PULL limits (apache/rocketmq MessageStoreConfig, DefaultMessageStore.isTheBatchFull): maxTransferBytes/CountOnMessageInMemory and ...InDisk. */
const MAX_TRANSFER_BYTES_IN_MEMORY = 256 * 1024;
const MAX_TRANSFER_COUNT_IN_MEMORY = 32;
const MAX_TRANSFER_BYTES_IN_DISK = 64 * 1024;
const MAX_TRANSFER_COUNT_IN_DISK = 8;
/** At least this many bytes of consume queue (16000 / 20 units) are scanned per pull for filtering. */
const MIN_FILTER_SCAN_BYTES = 16000;
const CQ_UNIT_BYTES = 20;
/** The filler unit size RocketMQ writes at the head of a queue that starts mid-way. */
const CQ_FILLER_SIZE = 2147483647;
/** QUERY_MESSAGE cap (maxMsgsNumBatch). */
const MAX_QUERY_NUM = 64;

/** Topic names already validated (bounded; names are few in practice). */
const VALID_TOPICS_CACHE_MAX = 10_000;

/** A message invalid for reasons other than topic and size (queue id, mixed batch). */
class InvalidMessageError extends StoreError {
  constructor(message: string) {
    super(message, { code: 'E_INVALID_MESSAGE' });
  }
}

/** SYNC_FLUSH did not confirm in time; the message is stored and `result` says where (code 10). */
export class PutFlushTimeoutError extends FlushTimeoutError {
  constructor(
    timeoutMs: number,
    readonly results: PutResult[],
  ) {
    super(timeoutMs);
  }
}

export type PutMessageInput = MessageFields;

type PutStatus = 'PUT_OK';

export interface PutResult {
  status: PutStatus;
  commitLogOffset: number;
  queueOffset: number;
  offsetMsgId: string;
  storeTimestamp: number;
  wroteBytes: number;
}

/** Store read statuses (DefaultMessageStore.getMessage / GetMessageStatus). */
export type GetMessageStatus =
  | 'FOUND'
  | 'MESSAGE_WAS_REMOVING'
  | 'NO_MESSAGE_IN_QUEUE'
  | 'NO_MATCHED_LOGIC_QUEUE'
  | 'OFFSET_TOO_SMALL'
  | 'OFFSET_OVERFLOW_ONE'
  | 'OFFSET_OVERFLOW_BADLY'
  | 'NO_MATCHED_MESSAGE'
  | 'OFFSET_FOUND_NULL';

interface GetMessageResult {
  status: GetMessageStatus;
  nextBeginOffset: number;
  minOffset: number;
  maxOffset: number;
  /** Raw stored records (a PULL body is their concatenation). */
  records: Buffer[];
  /** Consume queue units looked at (matched or not). */
  scanned: number;
  /**
   * The last unit looked at lies further behind the commit log's end than
   * accessMessageInMemoryMaxRatio of RAM (DefaultMessageStore#getMessage): the consumer is slow,
   * a slave may serve it. False when no unit was looked at.
   */
  suggestPullingFromSlave: boolean;
}

interface QueryMessageResult {
  records: Buffer[];
  lastUpdateTimestamp: number;
  lastUpdatePhyOffset: number;
}

interface StoreStats extends CommitLogStats {
  dispatchErrors: number;
  lastDispatchError: string | null;
  commitLogMinOffset: number;
  commitLogMaxOffset: number;
  flushedOffset: number;
  /** Bytes appended but not yet dispatched to consume queues and index (DefaultMessageStore.dispatchBehindBytes). */
  dispatchBehindBytes: number;
}

interface OpenOptions {
  io?: FileIO;
  /** Run recovery over `io` without starting timers (used by dry runs over an overlay FileIO). */
  dryRun?: boolean;
  /** Cap on bytes appended but not yet on disk before appends wait (default 64 MiB). */
  maxPendingBytes?: number;
  /** Clock and pauses of the retention service (tests); its clock defaults to `now`. */
  retention?: CleanServiceOptions;
  /** Wall clock in ms: store timestamps, index file names, retention (default Date.now; tests). */
  now?: () => number;
  /** The commit log under the store (default: the local CommitLog; a replicated one stands in here). */
  commitLog?: CommitLogFactory;
}

/** Properties the dispatcher needs, found without building a full map (hot path). */
interface DispatchProps {
  tags: string | undefined;
  keys: string | undefined;
  uniqKey: string | undefined;
  delay: string | undefined;
}

const DISPATCH_PROPS = ['TAGS', 'KEYS', 'UNIQ_KEY', 'DELAY'] as const;

function scanProps(s: string): DispatchProps {
  const p = pickProperties(s, DISPATCH_PROPS);
  return { tags: p.TAGS, keys: p.KEYS, uniqKey: p.UNIQ_KEY, delay: p.DELAY };
}

/**
 * tagsCode of a unit: Java hashCode of TAGS (0 if none); for SCHEDULE_TOPIC_XXXX the delivery time
 * storeTimestamp + delay of the level (CommitLog.checkMessageAndReturnSize / computeDeliverTimestamp).
 */
function computeTagsCode(topic: string, props: DispatchProps, storeTimestamp: number, delayLevelMillis: number[]): number {
  if (topic === SCHEDULE_TOPIC && props.delay !== undefined) {
    let level = Number.parseInt(props.delay, 10);
    if (Number.isFinite(level) && level > 0 && delayLevelMillis.length > 0) {
      if (level > delayLevelMillis.length) level = delayLevelMillis.length;
      return storeTimestamp + delayLevelMillis[level - 1]!;
    }
  }
  return props.tags ? javaHashCode(props.tags) : 0;
}

function dispatchRequest(topic: string, queueId: number, sysFlag: number, props: DispatchProps): DispatchRequest {
  const keys: string[] = [];
  if (props.keys) for (const k of props.keys.split(' ')) if (k) keys.push(k);
  return {
    topic,
    queueId,
    queueOffset: 0,
    commitLogOffset: 0,
    size: 0,
    tagsCode: 0,
    storeTimestamp: 0,
    sysFlag,
    uniqKey: props.uniqKey,
    keys,
  };
}

function goesToConsumeQueue(sysFlag: number): boolean {
  const t = transactionType(sysFlag);
  return t === SysFlag.TRANSACTION_NOT_TYPE || t === SysFlag.TRANSACTION_COMMIT_TYPE;
}

export class MessageStore {
  readonly config: StoreConfig;
  /** What recovery found and did when this store was opened. */
  report!: StoreRecoveryReport;
  private readonly listeners: Array<(req: DispatchRequest) => void> = [];
  private readonly commitLog: CommitLogService;
  private readonly now: () => number;
  private dispatchErrors = 0;
  private lastDispatchError: string | null = null;
  private lastDispatchedStoreTs = 0;
  private lastIndexedStoreTs = 0;
  private logicTimer: NodeJS.Timeout | undefined;
  private logicFlush: Promise<void> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Set by close(): whether it removed `abort` (everything flushed, the log consistent). */
  private cleanClose = false;
  private readonly totalMemBytes = os.totalmem();
  private readonly validTopics = new Set<string>();
  private readonly msgIdPrefix: string;
  /** Retention (clean-service.ts); started with the store unless it is a dry run. */
  readonly retention: CleanService;

  private constructor(
    config: StoreConfig,
    private readonly io: FileIO,
    private readonly lock: StoreLock,
    private readonly checkpoint: Checkpoint,
    readonly consumeQueues: ConsumeQueueStore,
    readonly index: IndexService | undefined,
    opts: OpenOptions,
  ) {
    this.config = config;
    this.now = opts.now ?? Date.now;
    this.msgIdPrefix = createOffsetMsgId(config.storeHost, 0).slice(0, -16);
    const makeCommitLog: CommitLogFactory = opts.commitLog ?? ((fileIO, o) => new CommitLog(fileIO, o));
    this.commitLog = makeCommitLog(io, {
      storePathRootDir: config.storePathRootDir,
      segmentBytes: config.mappedFileSizeCommitLog,
      flushDiskType: config.flushDiskType,
      flushIntervalMs: config.flushIntervalCommitLog,
      syncFlushTimeoutMs: config.syncFlushTimeout,
      maxPendingBytes: opts.maxPendingBytes,
      storeHost: config.storeHost,
      dispatch: (req) => this.dispatch(req),
      toDispatchRequest: (rec) => this.requestFromRecord(rec),
      queueEnds: function* () {
        for (const cq of consumeQueues.queues()) yield [`${cq.topic}-${cq.queueId}`, cq.maxOffset()];
      },
    });
    this.retention = new CleanService(
      { io, storePathRootDir: config.storePathRootDir, commitLog: this.commitLog, consumeQueues, index },
      config,
      { now: this.now, ...opts.retention },
    );
  }

  /**
   * Lock the store dir (StoreLockedError if another process has it), mark the run as not yet
   * cleanly ended (`abort`), load the consume queues and index, and recover the commit log.
   */
  static async open(config: StoreConfig, opts: OpenOptions = {}): Promise<MessageStore> {
    validateStoreConfig(config);
    const io = opts.io ?? new NodeFileIO();
    const root = config.storePathRootDir;
    const lock = StoreLock.acquire(root);
    let index: IndexService | undefined;
    try {
      await io.mkdirp(root);
      const abortPath = path.join(root, ABORT_FILE);
      const abnormal = await io.exists(abortPath);
      // Before touching anything: a crash from here on (even mid-recovery) is seen as abnormal.
      if (!abnormal) {
        await (await io.open(abortPath, 'w+')).close();
        await io.fsyncDir(root);
      }
      const checkpoint = new Checkpoint(io, Checkpoint.pathIn(root));
      await checkpoint.load();
      const cqStore = new ConsumeQueueStore(root, config.mappedFileSizeConsumeQueue, io);
      const cqLoad = await cqStore.load();
      if (config.messageIndexEnable) {
        index = new IndexService(root, { maxHashSlotNum: config.maxHashSlotNum, maxIndexNum: config.maxIndexNum }, io, opts.now);
        await index.load();
      }
      const store = new MessageStore(config, io, lock, checkpoint, cqStore, index, opts);
      await store.commitLog.load();
      store.report = await recoverStore({
        commitLog: store.commitLog,
        cqStore,
        index,
        checkpoint,
        abnormal,
        checkCrc: config.checkCRCOnRecover,
        dryRun: opts.dryRun ?? false,
        toDispatchRequest: (rec) => store.requestFromRecord(rec),
      });
      store.report.consumeQueuesTornAtLoad = cqLoad.torn.map((t) => `${t.queue}: ${t.unitsDropped} units, ${t.filesDropped.length} files`);
      store.lastDispatchedStoreTs = store.lastIndexedStoreTs = store.commitLog.flushedStoreTimestamp();
      // Units whose messages retention already deleted are not readable (recoverTopicQueueTable).
      cqStore.correctMinOffsets(store.commitLog.minOffset());
      if (!opts.dryRun) {
        store.commitLog.start();
        store.startLogicFlush();
        store.retention.start();
      }
      return store;
    } catch (err) {
      // Index files hold descriptors; consume queues open theirs per flush only.
      await index?.close().catch(() => undefined);
      lock.release();
      throw err;
    }
  }

  private startLogicFlush(): void {
    // FlushConsumeQueueService: consume queues, index, then the checkpoint, every interval.
    this.logicTimer = setInterval(() => void this.flushLogic().catch(() => undefined), this.config.flushIntervalConsumeQueue);
    this.logicTimer.unref();
  }

  /** Flush consume queues and index, then record in the checkpoint how far each is durable. */
  flushLogic(): Promise<void> {
    this.logicFlush ??= (async () => {
      try {
        const physicTs = this.commitLog.flushedStoreTimestamp();
        const logicsTs = this.lastDispatchedStoreTs;
        const indexTs = this.lastIndexedStoreTs;
        await this.consumeQueues.flush();
        if (this.index) await this.index.flush();
        const cp = this.checkpoint;
        if (cp.physicMsgTimestamp !== physicTs || cp.logicsMsgTimestamp !== logicsTs || cp.indexMsgTimestamp !== indexTs) {
          cp.physicMsgTimestamp = physicTs;
          cp.logicsMsgTimestamp = logicsTs;
          cp.indexMsgTimestamp = indexTs;
          await cp.flush();
        }
      } finally {
        this.logicFlush = undefined;
      }
    })();
    return this.logicFlush;
  }

  // ---- put -----------------------------------------------------------------------------------

  /** Called (in log order) for every record that reaches a consume queue; wakes long polls. */
  onDispatch(listener: (req: DispatchRequest) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /**
   * Append one message. Resolves once it is written (ASYNC_FLUSH) or flushed (SYNC_FLUSH) and
   * dispatched. Rejects with InvalidTopicError / MessageTooLargeError / InvalidMessageError before
   * anything is written, DiskFullError when the write hit ENOSPC (nothing of it stays readable),
   * PutFlushTimeoutError when SYNC_FLUSH did not confirm in time (the message stays).
   * Not `async`: the hot path avoids extra promise hops.
   */
  putMessage(input: PutMessageInput): Promise<PutResult> {
    let rec: PreparedRecord;
    try {
      rec = this.prepare(input, 1);
    } catch (err) {
      this.commitLogStatsFail(1);
      return Promise.reject(err);
    }
    if (!this.commitLog.hasRoom()) {
      // Backpressure (bounded wait), then append as if it had just arrived.
      return this.commitLog.waitForRoom().then(
        () => this.appendOne(rec),
        (err: unknown) => {
          this.commitLogStatsFail(1);
          throw err;
        },
      );
    }
    return this.appendOne(rec);
  }

  /** A batch for one queue: consecutive queue offsets, contiguous in the log (SEND_BATCH_MESSAGE). */
  putMessages(inputs: PutMessageInput[]): Promise<PutResult[]> {
    if (inputs.length === 0) return Promise.resolve([]);
    const { topic, queueId } = inputs[0]!;
    const records: PreparedRecord[] = [];
    try {
      if (inputs.some((m) => m.topic !== topic || m.queueId !== queueId)) throw new InvalidMessageError('a batch must target one topic and queue');
      let total = 0;
      for (const m of inputs) {
        const rec = this.prepare(m, inputs.length);
        total += rec.size;
        records.push(rec);
      }
      const maxRun = this.config.mappedFileSizeCommitLog - END_FILE_MIN_BLANK_BYTES;
      if (total > maxRun) throw new MessageTooLargeError(total, maxRun, 'message batch');
    } catch (err) {
      this.commitLogStatsFail(inputs.length);
      return Promise.reject(err);
    }
    if (!this.commitLog.hasRoom()) {
      return this.commitLog.waitForRoom().then(
        () => this.appendBatch(records),
        (err: unknown) => {
          this.commitLogStatsFail(inputs.length);
          throw err;
        },
      );
    }
    return this.appendBatch(records);
  }

  private commitLogStatsFail(n: number): void {
    this.commitLog.stats.putFailures += n;
  }

  /** Validate and size one message; throws the typed error a put fails with. */
  private prepare(m: PutMessageInput, batchSize: number): PreparedRecord {
    if (this.closed) throw new StoreClosedError();
    // DefaultMessageStore.checkStoreStatus: not writeable while the disk is marked full.
    if (this.retention.isDiskFull()) throw new DiskSpaceFullError(this.retention.diskUsedRatio());
    this.validate(m);
    const rec = this.commitLog.prepare(m);
    const maxRun = this.config.mappedFileSizeCommitLog - END_FILE_MIN_BLANK_BYTES;
    if (rec.size > maxRun) throw new MessageTooLargeError(rec.size, maxRun, batchSize > 1 ? 'message batch' : 'stored record');
    this.commitLog.checkWritable();
    return rec;
  }

  private requestFor(r: PreparedRecord, now: number): DispatchRequest {
    const p = scanProps(r.fields.properties);
    const req = dispatchRequest(r.fields.topic, r.fields.queueId, r.sysFlag, p);
    req.tagsCode = computeTagsCode(req.topic, p, now, this.config.delayLevelMillis);
    return req;
  }

  private resultOf(req: DispatchRequest): PutResult {
    return {
      status: 'PUT_OK',
      commitLogOffset: req.commitLogOffset,
      queueOffset: req.queueOffset,
      offsetMsgId: this.offsetMsgId(req.commitLogOffset),
      storeTimestamp: req.storeTimestamp,
      wroteBytes: req.size,
    };
  }

  /** The put lock: nothing here awaits until the commit log has assigned offsets. */
  private appendOne(rec: PreparedRecord): Promise<PutResult> {
    const now = this.now();
    const req = this.requestFor(rec, now);
    let done: Promise<void>;
    try {
      done = this.commitLog.appendOne(rec, req, now);
    } catch (err) {
      this.commitLogStatsFail(1);
      return Promise.reject(err);
    }
    const result = this.resultOf(req);
    return done.then(
      () => result,
      (err: unknown) => {
        throw err instanceof FlushTimeoutError ? new PutFlushTimeoutError(this.config.syncFlushTimeout, [result]) : err;
      },
    );
  }

  private appendBatch(records: PreparedRecord[]): Promise<PutResult[]> {
    const now = this.now();
    const reqs = records.map((r) => this.requestFor(r, now));
    let done: Promise<void>;
    try {
      done = this.commitLog.append(records, reqs, now);
    } catch (err) {
      this.commitLogStatsFail(records.length);
      return Promise.reject(err);
    }
    const results = reqs.map((req) => this.resultOf(req));
    return done.then(
      () => results,
      (err: unknown) => {
        throw err instanceof FlushTimeoutError ? new PutFlushTimeoutError(this.config.syncFlushTimeout, results) : err;
      },
    );
  }

  /** createOffsetMsgId with the store host's hex computed once (this runs for every put). */
  private offsetMsgId(commitLogOffset: number): string {
    return this.msgIdPrefix + commitLogOffset.toString(16).toUpperCase().padStart(16, '0');
  }

  private validate(m: PutMessageInput): void {
    if (!this.validTopics.has(m.topic)) {
      const why = topicNameProblem(m.topic);
      if (why) throw new InvalidTopicError(m.topic, why);
      if (this.validTopics.size < VALID_TOPICS_CACHE_MAX) this.validTopics.add(m.topic);
    }
    if (!Number.isInteger(m.queueId) || m.queueId < 0 || m.queueId > 0x7fffffff) {
      throw new InvalidMessageError(`queue id ${m.queueId} is not a non-negative 32-bit integer`);
    }
    if (m.body.length > this.config.maxMessageSize) throw new MessageTooLargeError(m.body.length, this.config.maxMessageSize);
    // Properties are at most 3 UTF-8 bytes per UTF-16 unit: only long strings need counting.
    if (m.properties.length * 3 > MAX_PROPERTIES_BYTES) {
      const propsBytes = Buffer.byteLength(m.properties, 'utf8');
      if (propsBytes > MAX_PROPERTIES_BYTES) throw new MessageTooLargeError(propsBytes, MAX_PROPERTIES_BYTES, 'message properties');
    }
  }

  /** Consume queue, index, listeners: ReputMessageService's order. */
  private dispatch(req: DispatchRequest): void {
    const toQueue = goesToConsumeQueue(req.sysFlag);
    if (toQueue) {
      try {
        this.consumeQueues.findOrCreate(req.topic, req.queueId).put(req.queueOffset, {
          commitLogOffset: req.commitLogOffset,
          size: req.size,
          tagsCode: req.tagsCode,
        });
      } catch (err) {
        this.noteDispatchError(err);
      }
    }
    this.lastDispatchedStoreTs = req.storeTimestamp;
    if (this.index && transactionType(req.sysFlag) !== SysFlag.TRANSACTION_ROLLBACK_TYPE) {
      try {
        this.index.put(req);
      } catch (err) {
        this.noteDispatchError(err);
      }
    }
    this.lastIndexedStoreTs = req.storeTimestamp;
    if (toQueue) {
      for (const l of this.listeners) {
        try {
          l(req);
        } catch (err) {
          this.noteDispatchError(err);
        }
      }
    }
  }

  private noteDispatchError(err: unknown): void {
    this.dispatchErrors++;
    this.lastDispatchError = err instanceof Error ? err.message : String(err);
  }

  /** The dispatch request of a record read back from the log (recovery re-dispatch). */
  requestFromRecord(rec: MessageRecord): DispatchRequest {
    const p = scanProps(rec.properties);
    const req = dispatchRequest(rec.topic, rec.queueId, rec.sysFlag, p);
    req.queueOffset = rec.queueOffset;
    req.commitLogOffset = rec.commitLogOffset;
    req.size = rec.storeSize;
    req.storeTimestamp = rec.storeTimestamp;
    req.tagsCode = computeTagsCode(rec.topic, p, rec.storeTimestamp, this.config.delayLevelMillis);
    return req;
  }

  // ---- get -----------------------------------------------------------------------------------

  /**
   * Read up to `maxMsgNums` messages from a queue (DefaultMessageStore.getMessage; statuses and
   * nextBeginOffset as DefaultMessageStore.getMessage does). `filter` sees each unit's tagsCode (broker-side tag match).
   */
  async getMessage(
    topic: string,
    queueId: number,
    offset: number,
    maxMsgNums: number,
    filter?: (tagsCode: number) => boolean,
    maxBytes?: number,
  ): Promise<GetMessageResult> {
    if (this.closed) throw new StoreClosedError();
    const cq = this.consumeQueues.get(topic, queueId);
    const result = (status: GetMessageStatus, nextBeginOffset: number, min = 0, max = 0): GetMessageResult => ({
      status,
      nextBeginOffset,
      minOffset: min,
      maxOffset: max,
      records: [],
      scanned: 0,
      suggestPullingFromSlave: false,
    });
    if (!cq) return result('NO_MATCHED_LOGIC_QUEUE', 0);
    const min = cq.minOffset();
    const max = cq.maxOffset();
    if (max === 0) return result('NO_MESSAGE_IN_QUEUE', 0, min, max);
    if (offset < min) return result('OFFSET_TOO_SMALL', min, min, max);
    if (offset === max) return result('OFFSET_OVERFLOW_ONE', offset, min, max);
    // 4.9.8: back to 0 when the queue still starts at 0, else to the end.
    if (offset > max) return result('OFFSET_OVERFLOW_BADLY', min === 0 ? min : max, min, max);

    // Scan at most this many units (filtered-out ones included), fetched a few at a time.
    const scanUnits = Math.floor(Math.max(MIN_FILTER_SCAN_BYTES, maxMsgNums * CQ_UNIT_BYTES) / CQ_UNIT_BYTES);
    const fetchUnits = Math.max(1, Math.min(scanUnits, maxMsgNums, MAX_TRANSFER_COUNT_IN_MEMORY));
    const logMin = this.commitLog.minOffset();
    const logMax = this.commitLog.maxOffset();
    const wanted: CqUnit[] = [];
    let bytes = 0;
    let i = 0;
    let full = false;
    /** Commit log offset of the last unit looked at (DefaultMessageStore#getMessage's maxPhyOffsetPulling). */
    let lastPulledPos: number | undefined;
    // Bounded by scanUnits: every pass consumes at least one unit or stops.
    while (!full && i < scanUnits) {
      const units = cq.get(offset + i, Math.min(fetchUnits, scanUnits - i));
      if (units.length === 0) break;
      let k = 0;
      for (; k < units.length; k++) {
        const u = units[k]!;
        if (u.size === CQ_FILLER_SIZE || u.commitLogOffset < logMin) continue; // filler / file deleted
        lastPulledPos = u.commitLogOffset;
        if (this.batchFull(u, wanted.length, bytes, maxMsgNums, logMax, maxBytes)) {
          full = true;
          break;
        }
        if (filter && !filter(u.tagsCode)) continue;
        wanted.push(u);
        bytes += u.size;
      }
      i += k;
    }
    if (i === 0 && !full) return result('OFFSET_FOUND_NULL', offset, min, max);
    // Within the in-memory window (its lowest record counts), the log may read synchronously:
    // DefaultMessageStore#getMessage at 4.9.8 reads such data straight from the mapped file.
    let lowest = Infinity;
    const ranges = wanted.map((u) => {
      if (u.commitLogOffset < lowest) lowest = u.commitLogOffset;
      return { offset: u.commitLogOffset, size: u.size };
    });
    const reads = await this.commitLog.readMany(ranges, { inMemory: ranges.length > 0 && !this.inDisk(lowest, logMax) });
    const records = reads.filter((b): b is Buffer => b !== undefined);
    return {
      status: records.length > 0 ? 'FOUND' : 'NO_MATCHED_MESSAGE',
      nextBeginOffset: offset + i,
      minOffset: min,
      maxOffset: max,
      records,
      scanned: i,
      suggestPullingFromSlave: lastPulledPos !== undefined && this.inDisk(lastPulledPos, logMax),
    };
  }

  /** DefaultMessageStore#checkInDiskByCommitOffset: further behind the log end than accessMessageInMemoryMaxRatio of RAM. */
  inDisk(commitLogOffset: number, logMaxOffset = this.commitLog.maxOffset()): boolean {
    return logMaxOffset - commitLogOffset > this.totalMemBytes * (this.config.accessMessageInMemoryMaxRatio / 100);
  }

  /** DefaultMessageStore.isTheBatchFull: the first message always goes; then count/byte limits. */
  private batchFull(u: CqUnit, count: number, bytes: number, maxMsgNums: number, logMax: number, maxBytes?: number): boolean {
    if (count === 0) return false;
    if (count >= maxMsgNums) return true;
    const inDisk = this.inDisk(u.commitLogOffset, logMax);
    const byteLimit = maxBytes ?? (inDisk ? MAX_TRANSFER_BYTES_IN_DISK : MAX_TRANSFER_BYTES_IN_MEMORY);
    const countLimit = inDisk ? MAX_TRANSFER_COUNT_IN_DISK : MAX_TRANSFER_COUNT_IN_MEMORY;
    return bytes + u.size > byteLimit || count >= countLimit;
  }

  /** Next offset to be written (0 when the queue does not exist), as GET_MAX_OFFSET. */
  getMaxOffsetInQueue(topic: string, queueId: number): number {
    return this.consumeQueues.get(topic, queueId)?.maxOffset() ?? 0;
  }

  /** Smallest offset still readable; -1 when the queue does not exist (DefaultMessageStore). */
  getMinOffsetInQueue(topic: string, queueId: number): number {
    return this.consumeQueues.get(topic, queueId)?.minOffset() ?? -1;
  }

  /** The offset whose store time is closest to `timestampMs` (SEARCH_OFFSET_BY_TIMESTAMP). */
  async getOffsetInQueueByTime(topic: string, queueId: number, timestampMs: number): Promise<number> {
    const cq = this.consumeQueues.get(topic, queueId);
    if (!cq) return 0;
    return cq.searchOffsetByTimestamp(timestampMs, (u) => this.storeTimeAt(u.commitLogOffset));
  }

  /** Store time of the message at the queue's min offset, -1 if none (GET_EARLIEST_MSG_STORETIME). */
  async getEarliestMessageTime(topic: string, queueId: number): Promise<number> {
    const cq = this.consumeQueues.get(topic, queueId);
    if (!cq) return -1;
    return this.getMessageStoreTimestamp(topic, queueId, cq.minOffset());
  }

  /** Store time of the message at `queueOffset`, -1 if there is none. */
  async getMessageStoreTimestamp(topic: string, queueId: number, queueOffset: number): Promise<number> {
    const unit = this.consumeQueues.get(topic, queueId)?.get(queueOffset, 1)[0];
    if (!unit || unit.size === CQ_FILLER_SIZE) return -1;
    return this.storeTimeAt(unit.commitLogOffset);
  }

  /** STORETIMESTAMP of the record at `commitLogOffset`, -1 when unreadable. */
  async storeTimeAt(commitLogOffset: number): Promise<number> {
    const head = await this.commitLog.read(commitLogOffset, STORE_TIMESTAMP_HEAD_BYTES);
    return (head && recordStoreTimestamp(head)) ?? -1;
  }

  /** One raw record by commit log offset (VIEW_MESSAGE_BY_ID), undefined if none starts there. */
  async readRecord(commitLogOffset: number): Promise<Buffer | undefined> {
    if (this.closed) throw new StoreClosedError();
    if (!Number.isSafeInteger(commitLogOffset) || commitLogOffset < 0) return undefined;
    const rec = await this.commitLog.readRecord(commitLogOffset);
    if (!rec || rec.length < 8) return undefined;
    return isMessageMagic(rec.readInt32BE(4)) ? rec : undefined;
  }

  /** The decoded record at `commitLogOffset` (DefaultMessageStore.lookMessageByOffset). */
  async lookMessageByOffset(commitLogOffset: number): Promise<MessageRecord | undefined> {
    const rec = await this.readRecord(commitLogOffset);
    if (!rec) return undefined;
    try {
      return decodeRecord(rec, 0, { copyBody: false });
    } catch {
      return undefined;
    }
  }

  /**
   * Messages whose KEYS/UNIQ_KEY index entry matches (QUERY_MESSAGE), sorted by commit log offset.
   * Index entries are hints: each hit is read back and kept only if it is a record of `topic`.
   */
  async queryMessage(topic: string, key: string, maxNum: number, beginMs: number, endMs: number): Promise<QueryMessageResult> {
    if (this.closed) throw new StoreClosedError();
    if (!this.index) return { records: [], lastUpdateTimestamp: 0, lastUpdatePhyOffset: 0 };
    const hit = await this.index.query(topic, key, Math.min(Math.max(1, maxNum), MAX_QUERY_NUM), beginMs, endMs);
    const offsets = [...new Set(hit.commitLogOffsets)].sort((a, b) => a - b);
    const records: Buffer[] = [];
    for (const off of offsets) {
      const rec = await this.readRecord(off);
      if (!rec) continue;
      try {
        if (decodeRecord(rec, 0).topic !== topic) continue;
      } catch {
        continue;
      }
      records.push(rec);
    }
    return { records, lastUpdateTimestamp: hit.lastUpdateTimestamp, lastUpdatePhyOffset: hit.lastUpdatePhyOffset };
  }

  /** Drop a topic's consume queues (its records stay in the commit log until it rolls away). */
  async deleteTopic(topic: string): Promise<void> {
    await this.consumeQueues.deleteTopic(topic);
    for (const key of [...this.commitLog.topicQueueTable.keys()]) {
      if (key.startsWith(topic + '-') && /^\d+$/.test(key.slice(topic.length + 1))) this.commitLog.topicQueueTable.delete(key);
    }
  }

  /**
   * Drop the consume queues of every topic `keep` rejects (DefaultMessageStore#cleanUnusedTopic);
   * returns the topics dropped.
   */
  async cleanUnusedTopics(keep: (topic: string) => boolean): Promise<string[]> {
    const unused = this.consumeQueues.topics().filter((t) => !keep(t));
    for (const t of unused) await this.deleteTopic(t);
    return unused;
  }

  commitLogMinOffset(): number {
    return this.commitLog.minOffset();
  }

  commitLogMaxOffset(): number {
    return this.commitLog.maxOffset();
  }

  /** How long the commit log's flush passes (fdatasyncs) took. */
  get flushLatency(): Histogram {
    return this.commitLog.flushLatency;
  }

  flushedOffset(): number {
    return this.commitLog.flushedOffset();
  }

  stats(): StoreStats {
    return {
      ...this.commitLog.stats,
      dispatchErrors: this.dispatchErrors,
      lastDispatchError: this.lastDispatchError,
      commitLogMinOffset: this.commitLog.minOffset(),
      commitLogMaxOffset: this.commitLog.maxOffset(),
      flushedOffset: this.commitLog.flushedOffset(),
      // Records are dispatched once written (ASYNC_FLUSH) or flushed (SYNC_FLUSH): what is pending.
      dispatchBehindBytes: this.commitLog.pendingBytes(),
    };
  }

  /** Wait until everything appended is written and flushed, and the derived data too. */
  async flush(): Promise<void> {
    await this.commitLog.drain();
    await this.flushLogic();
  }

  /** Flush everything, remove `abort` (the next open is a clean recovery), release the lock. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    this.closed = true;
    if (this.logicTimer) clearInterval(this.logicTimer);
    try {
      await this.retention.close();
      await this.commitLog.close();
      await this.flushLogic();
      await this.consumeQueues.close();
      if (this.index) await this.index.close();
      // Only a store whose log is consistent and flushed may claim a clean shutdown.
      if (!this.commitLog.isFenced()) {
        await this.io.unlink(path.join(this.config.storePathRootDir, ABORT_FILE)).catch(() => undefined);
        await this.io.fsyncDir(this.config.storePathRootDir);
        this.cleanClose = true;
      }
    } finally {
      this.io.dropReadCache?.();
      this.lock.release();
    }
  }

  /** After close(): true when it ended cleanly (the next open is a clean recovery). */
  get closedCleanly(): boolean {
    return this.cleanClose;
  }

  /**
   * Stop at once without flushing or cleaning up, as if the process died: `abort` and `lock` stay
   * on disk, the next open recovers abnormally. For crash tests (with FaultyFileIO.crash()).
   */
  halt(): void {
    this.closed = true;
    if (this.logicTimer) clearInterval(this.logicTimer);
    // A retention pass still running may read (and so reopen) consume-queue files: drop them again after it.
    void this.retention.close().finally(() => this.io.dropReadCache?.());
    this.commitLog.halt();
    this.io.dropReadCache?.();
    this.lock.abandon();
  }
}

// ---- store verify ------------------------------------------------------------------------------

export class StoreNotFoundError extends StoreError {
  constructor(dir: string) {
    super(`no store at ${dir}`, {
      code: 'E_STORE_NOT_FOUND',
      actions: ['pass the broker\'s store dir with --store-dir (storePathRootDir in broker.conf)'],
    });
  }
}

export interface StoreVerifyResult extends StoreRecoveryReport {
  storeDir: string;
  /** True with --repair: recovery's cuts and rebuilds were written and the store closed cleanly. */
  repaired: boolean;
  /** False when the index geometry could not be inferred from its files (index not checked). */
  indexChecked: boolean;
  mappedFileSizeCommitLog: number;
  mappedFileSizeConsumeQueue: number;
}

/**
 * Files only a message store has (a broker creates `commitlog/` at its first start): without any of
 * them the dir holds no store, and "verified clean" would be a false answer (so would a --repair
 * that creates an empty store there).
 */
const STORE_MARKERS = [COMMITLOG_DIR, 'consumequeue', 'checkpoint', ABORT_FILE];

function holdsStore(dir: string): boolean {
  return STORE_MARKERS.some((name) => fs.existsSync(path.join(dir, name)));
}

/**
 * What opening the store would find and do, without changing a byte (`rocketctl store verify`):
 * the real recovery runs over a copy-on-write overlay, so its report is exact. With `repair`, the
 * recovery is applied for real and the store closed cleanly. Takes the store's lock for the run, so
 * it fails with StoreLockedError while a broker uses the store.
 */
export async function verifyStore(storeDir: string, opts: { repair?: boolean; replicated?: { commitLog: CommitLogFactory; mappedFileSizeCommitLog: number } } = {}): Promise<StoreVerifyResult> {
  if (!fs.existsSync(storeDir) || !fs.statSync(storeDir).isDirectory() || !holdsStore(storeDir)) throw new StoreNotFoundError(storeDir);
  const geometry = await inferStoreGeometry(storeDir);
  // A DLedger store: its commit log is the DLedger data files (the caller opens them read-only).
  if (opts.replicated) geometry.mappedFileSizeCommitLog = opts.replicated.mappedFileSizeCommitLog;
  const config = defaultStoreConfig({ storePathRootDir: storeDir, ...geometry, checkCRCOnRecover: true });
  const commitLog = opts.replicated?.commitLog;
  const store = await MessageStore.open(config, opts.repair ? { commitLog } : { io: new OverlayFileIO(), dryRun: true, commitLog });
  const report = store.report;
  // Under a dry run, close() flushes into the overlay only; the real lock file is released.
  await store.close();
  return {
    ...report,
    storeDir,
    repaired: opts.repair === true,
    indexChecked: config.messageIndexEnable,
    mappedFileSizeCommitLog: config.mappedFileSizeCommitLog,
    mappedFileSizeConsumeQueue: config.mappedFileSizeConsumeQueue,
  };
}
