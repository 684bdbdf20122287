/**
 * Transactional messages on the broker, as Apache RocketMQ 4.9.8's TransactionalMessageServiceImpl
 * + TransactionalMessageBridge + EndTransactionProcessor:
 *
 * - prepare: a TRAN_MSG send is stored as a half message (RMQ_SYS_TRANS_HALF_TOPIC queue 0);
 * - end: END_TRANSACTION finds the half message by commit log offset, verifies producer group and
 *   offsets, and for a commit writes the real message; commit and rollback both then write an op
 *   marker ("d", body = half queue offset) so the check service knows the half message is done;
 * - queue access for the check service (check-service.ts): half and op queues read through the
 *   store, progress kept as consumer offsets of CID_RMQ_SYS_TRANS (so consumerOffset.json carries it
 *   across restarts, as in Apache).
 *
 * Our addition: a transaction is resolved at most once. Apache 4.x writes the real message again
 * for a repeated END_TRANSACTION, or for a check answered "commit" after the producer's own commit
 * raced the check. Here every resolution is remembered by transaction (producer group, UNIQ_KEY,
 * born time and host — kept by every re-appended copy), in a bounded table rebuilt at start from
 * the newest op markers; a second resolution writes nothing but the op marker for its copy.
 */
import { Perm, ResponseCode } from '../../protocol/codes.js';
import { decodeRecord, formatSocketAddr, SysFlag, type MessageRecord } from '../../protocol/message.js';
import { decodeProperties, JavaPropertiesMap, Prop, type Properties } from '../../protocol/properties.js';
import type { BrokerContext, PutInput, PutOutput } from '../handlers/context.js';
import { applyDelayLevel } from '../handlers/delay.js';
import { PutFlushTimeoutError } from '../store/message-store.js';
import { committedMessageOf, opMessageOf, readOpMarker, toHalfMessage, transactionKey, TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC, type OpMarker } from './half-message.js';
import { CID_RMQ_SYS_TRANS } from '../../protocol/names.js';

/** What the transaction service needs of the broker (BrokerController provides it). */
export type TransactionHost = Pick<
  BrokerContext,
  | 'config'
  | 'store'
  | 'clients'
  | 'storeHost'
  | 'logger'
  | 'delayLevelCount'
  | 'topicConfig'
  | 'createTopicInSendMessageBackMethod'
  | 'queryOffset'
  | 'commitOffset'
>;

/** Resolutions remembered (oldest forgotten first); ~200 bytes each. */
const RESOLVED_TRANSACTIONS_MAX = 65_536;
/** At start, the newest op markers read back to rebuild the resolutions (bounded start-up work). */
const RESOLVED_REBUILD_OPS_MAX = 2048;
/** ... and the time that rebuild may take. */
const RESOLVED_REBUILD_BUDGET_MS = 5_000;
/** How often a duplicate END_TRANSACTION waits for the one in flight before answering SYSTEM_BUSY. */
const MAX_RESOLVE_WAITS = 3;
/** TransactionalMessageServiceImpl.fillOpRemoveMap pulls op markers 32 at a time. */
const OP_PULL_BATCH = 32;
/** Bytes per op pull (op records are ~130 bytes; this only bounds a corrupt queue). */
const OP_PULL_MAX_BYTES = 256 * 1024;
/** One half message per read (PULL_MSG_RETRY_NUMBER = 1); the first record of a read always comes whole. */
const HALF_PULL_MAX_BYTES = 4 * 1024 * 1024;

export const TransactionType = {
  COMMIT: SysFlag.TRANSACTION_COMMIT_TYPE,
  ROLLBACK: SysFlag.TRANSACTION_ROLLBACK_TYPE,
} as const;

export interface EndTransactionRequest {
  producerGroup: string;
  /** The half message's queue offset (SendResult.queueOffset, or the check's copy). */
  tranStateTableOffset: number;
  /** The half message's commit log offset (from its offsetMsgId, or the check's copy). */
  commitLogOffset: number;
  /** TRANSACTION_COMMIT_TYPE (8) or TRANSACTION_ROLLBACK_TYPE (12). */
  commitOrRollback: number;
  fromTransactionCheck: boolean;
}

interface EndTransactionResult {
  code: number;
  remark?: string;
}

type Outcome = 'committed' | 'rolled back' | 'resolved';

interface Resolution {
  /** 'resolved' when rebuilt from an op marker (which does not say which way). */
  outcome: Outcome;
  /** Half queue offsets (copies) that already have their op marker. */
  opHalfOffsets: number[];
}

interface HalfRead {
  record?: MessageRecord;
  /** The queue has nothing at or after the offset (PullStatus.NO_NEW_MSG). */
  noNewMessage: boolean;
  nextBeginOffset: number;
}

interface OpRead {
  markers: OpMarker[];
  /** Nothing more to read now. */
  end: boolean;
  /** Where to read next (past unreadable units, or the queue's first unit when `offset` was gone). */
  nextBeginOffset: number;
  /** Offsets in the requested range that held no readable marker (treated as done). */
  unreadable: number[];
}

export class TransactionalMessageService {
  private readonly resolved = new Map<string, Resolution>();
  /** Transactions whose END_TRANSACTION is being written; a concurrent duplicate waits for it. */
  private readonly resolving = new Map<string, Promise<void>>();

  constructor(private readonly host: TransactionHost) {}

  // ---- prepare ------------------------------------------------------------------------------

  /**
   * TransactionalMessageBridge.putHalfMessage; rejects as store.put does (the send maps it).
   * `props`: the send's property map (toHalfMessage continues it, as parseHalfMessageInner does).
   */
  async prepare(input: PutInput, props?: JavaPropertiesMap): Promise<PutOutput> {
    await this.ensureTopic(TRANS_HALF_TOPIC);
    return this.host.store.put(toHalfMessage(input, props));
  }

  // ---- END_TRANSACTION ----------------------------------------------------------------------

  /**
   * EndTransactionProcessor for commit (8) and rollback (12). Validation failures are answered
   * SYSTEM_ERROR with Apache's remarks; a failed put rejects with the store's error.
   */
  async end(req: EndTransactionRequest): Promise<EndTransactionResult> {
    const commit = req.commitOrRollback === TransactionType.COMMIT;
    const half = await this.host.store.lookMessage(req.commitLogOffset);
    const problem = checkPrepareMessage(half, req);
    if (problem || !half) return { code: ResponseCode.SYSTEM_ERROR, remark: problem };
    const props = decodeProperties(half.properties);
    const key = transactionKey(half, props);
    const outcome: Outcome = commit ? 'committed' : 'rolled back';

    // A duplicate arriving while the first is being written waits for it (bounded: each wait is
    // one put), then answers as a repeat; if the first failed, it resolves in its place.
    for (let waits = 0; ; waits++) {
      const prior = this.resolved.get(key);
      if (prior) return this.answerRepeat(prior, half, outcome, req);
      const inFlight = this.resolving.get(key);
      if (!inFlight) break;
      if (waits >= MAX_RESOLVE_WAITS) return { code: ResponseCode.SYSTEM_BUSY, remark: 'this transaction is being resolved by another END_TRANSACTION right now' };
      await inFlight.catch(() => undefined);
    }
    const work = this.resolve(key, half, commit, outcome);
    this.resolving.set(key, work);
    try {
      await work;
    } finally {
      this.resolving.delete(key);
    }
    return { code: ResponseCode.SUCCESS };
  }

  /** As EndTransactionProcessor: commit = real message first, the op marker only once it is stored. */
  private async resolve(key: string, half: MessageRecord, commit: boolean, outcome: Outcome): Promise<void> {
    if (commit) await this.putStored(committedMessageOf(half, half.commitLogOffset));
    const r: Resolution = { outcome, opHalfOffsets: [] };
    this.remember(key, r);
    await this.writeOp(half, r);
  }

  /** A second END_TRANSACTION for a resolved transaction: nothing new is written but its copy's op marker. */
  private async answerRepeat(prior: Resolution, half: MessageRecord, outcome: Outcome, req: EndTransactionRequest): Promise<EndTransactionResult> {
    await this.writeOp(half, prior);
    if (prior.outcome !== 'resolved' && prior.outcome !== outcome) {
      return { code: ResponseCode.SYSTEM_ERROR, remark: `the transaction was already ${prior.outcome}; END_TRANSACTION ${outcome === 'committed' ? 'commit' : 'rollback'} ignored` };
    }
    const via = req.fromTransactionCheck ? ' (check answer)' : '';
    return { code: ResponseCode.SUCCESS, remark: `the transaction was already ${prior.outcome}${via}; nothing written again` };
  }

  /** Has this half message's transaction been committed or rolled back (through any copy)? */
  isResolved(half: MessageRecord, props: Properties): boolean {
    return this.resolved.has(transactionKey(half, props));
  }

  private remember(key: string, r: Resolution): void {
    this.resolved.delete(key);
    this.resolved.set(key, r);
    // Map keeps insertion order: the first key is the oldest. Bounded by RESOLVED_TRANSACTIONS_MAX.
    while (this.resolved.size > RESOLVED_TRANSACTIONS_MAX) {
      const oldest = this.resolved.keys().next().value;
      if (oldest === undefined) break;
      this.resolved.delete(oldest);
    }
  }

  /**
   * TransactionalMessageBridge.putOpMessage(REMOVETAG). A failure is logged, not thrown: the
   * resolution stands, and the check service will ask again (the answer then writes the marker).
   */
  private async writeOp(half: MessageRecord, r: Resolution): Promise<void> {
    if (r.opHalfOffsets.includes(half.queueOffset)) return;
    try {
      await this.ensureTopic(TRANS_OP_HALF_TOPIC);
      await this.putStored(opMessageOf(half.queueOffset, half.queueId, this.host.storeHost, Date.now()));
      r.opHalfOffsets.push(half.queueOffset);
    } catch (err) {
      this.host.logger.warn(`transaction op marker for half offset ${half.queueOffset} not written: ${errText(err)}`);
    }
  }

  /**
   * A put whose message is stored even when SYNC_FLUSH timed out (sendFinalMessage treats
   * FLUSH_DISK_TIMEOUT as success). Delay levels apply to committed messages as CommitLog does.
   */
  async putStored(input: PutInput): Promise<PutOutput> {
    applyDelayLevel(input, this.host.delayLevelCount);
    try {
      return await this.host.store.put(input);
    } catch (err) {
      if (err instanceof PutFlushTimeoutError && err.results[0]) return err.results[0];
      throw err;
    }
  }

  // ---- start-up -----------------------------------------------------------------------------

  /**
   * Rebuild the resolutions from the newest op markers (at most RESOLVED_REBUILD_OPS_MAX, within
   * RESOLVED_REBUILD_BUDGET_MS): each names a half queue offset whose message says which
   * transaction was resolved. Returns how many were found.
   */
  async recover(): Promise<number> {
    const deadline = Date.now() + RESOLVED_REBUILD_BUDGET_MS;
    let found = 0;
    const queues = this.host.topicConfig(TRANS_OP_HALF_TOPIC)?.readQueueNums ?? 0;
    for (let q = 0; q < queues; q++) {
      const max = this.host.store.maxOffset(TRANS_OP_HALF_TOPIC, q);
      let offset = Math.max(0, this.host.store.minOffset(TRANS_OP_HALF_TOPIC, q), max - RESOLVED_REBUILD_OPS_MAX);
      while (offset < max && Date.now() < deadline) {
        const read = await this.readOps(q, offset);
        for (const m of read.markers) {
          if (!m.isRemove || m.halfOffset < 0) continue;
          const half = (await this.readHalf(q, m.halfOffset)).record;
          if (!half) continue;
          const key = transactionKey(half, decodeProperties(half.properties));
          const r = this.resolved.get(key) ?? { outcome: 'resolved' as const, opHalfOffsets: [] };
          if (!r.opHalfOffsets.includes(m.halfOffset)) r.opHalfOffsets.push(m.halfOffset);
          this.remember(key, r);
          found++;
        }
        if (read.end || read.nextBeginOffset <= offset) break;
        offset = read.nextBeginOffset;
      }
    }
    return found;
  }

  // ---- queue access (TransactionalMessageBridge) --------------------------------------------

  /** Half queues to check: the half topic's read queues (none before the first half message). */
  halfQueueIds(): number[] {
    const n = this.host.topicConfig(TRANS_HALF_TOPIC)?.readQueueNums ?? 0;
    return Array.from({ length: n }, (_, i) => i);
  }

  /**
   * TransactionalMessageBridge.fetchConsumeOffset: CID_RMQ_SYS_TRANS's offset, else the queue's
   * min offset (0 for a queue not written yet: Apache's store creates it on the lookup).
   */
  consumeOffset(topic: string, queueId: number): number {
    const committed = this.host.queryOffset(CID_RMQ_SYS_TRANS, topic, queueId);
    if (committed >= 0) return committed;
    return Math.max(0, this.host.store.minOffset(topic, queueId));
  }

  updateConsumeOffset(topic: string, queueId: number, offset: number): void {
    this.host.commitOffset(formatSocketAddr(this.host.storeHost), CID_RMQ_SYS_TRANS, topic, queueId, offset);
  }

  /** TransactionalMessageServiceImpl.getHalfMsg: one message at `offset` of a half queue. */
  async readHalf(queueId: number, offset: number): Promise<HalfRead> {
    const r = await this.host.store.get(TRANS_HALF_TOPIC, queueId, offset, 1, undefined, HALF_PULL_MAX_BYTES);
    if (r.status === 'FOUND' && r.records[0]) {
      try {
        return { record: decodeRecord(r.records[0], 0, { copyBody: true }), noNewMessage: false, nextBeginOffset: r.nextBeginOffset };
      } catch (err) {
        this.host.logger.warn(`half message at queue offset ${offset} unreadable: ${errText(err)}`);
        return { noNewMessage: false, nextBeginOffset: offset + 1 };
      }
    }
    // TransactionalMessageBridge.getMessage: NO_MESSAGE_IN_QUEUE / OFFSET_OVERFLOW_ONE = no new message.
    const noNew = r.status === 'NO_MESSAGE_IN_QUEUE' || r.status === 'OFFSET_OVERFLOW_ONE' || r.status === 'NO_MATCHED_LOGIC_QUEUE';
    return { noNewMessage: noNew, nextBeginOffset: r.nextBeginOffset };
  }

  /** TransactionalMessageServiceImpl.pullOpMsg: up to OP_PULL_BATCH op markers from `offset`. */
  async readOps(queueId: number, offset: number): Promise<OpRead> {
    const r = await this.host.store.get(TRANS_OP_HALF_TOPIC, queueId, offset, OP_PULL_BATCH, undefined, OP_PULL_MAX_BYTES);
    if (r.status === 'NO_MESSAGE_IN_QUEUE' || r.status === 'OFFSET_OVERFLOW_ONE' || r.status === 'NO_MATCHED_LOGIC_QUEUE') {
      return { markers: [], end: true, nextBeginOffset: offset, unreadable: [] };
    }
    if (r.status !== 'FOUND' && r.status !== 'NO_MATCHED_MESSAGE' && r.status !== 'OFFSET_FOUND_NULL') {
      // OFFSET_TOO_SMALL / OFFSET_OVERFLOW_BADLY: fillOpRemoveMap moves the op offset to nextBeginOffset.
      return { markers: [], end: r.nextBeginOffset === offset, nextBeginOffset: r.nextBeginOffset, unreadable: [] };
    }
    const markers: OpMarker[] = [];
    for (const buf of r.records) {
      try {
        markers.push(readOpMarker(decodeRecord(buf, 0, { copyBody: true })));
      } catch (err) {
        this.host.logger.warn(`transaction op marker unreadable: ${errText(err)}`);
      }
    }
    const seen = new Set(markers.map((m) => m.opOffset));
    const unreadable: number[] = [];
    for (let o = offset; o < r.nextBeginOffset; o++) if (!seen.has(o)) unreadable.push(o);
    return { markers, end: r.nextBeginOffset >= r.maxOffset, nextBeginOffset: Math.max(r.nextBeginOffset, offset + 1), unreadable };
  }

  /** Topics of the protocol are created on first use: 1 queue, read/write (createTopicInSendMessageBackMethod). */
  async ensureTopic(topic: string): Promise<void> {
    if (this.host.topicConfig(topic)) return;
    await this.host.createTopicInSendMessageBackMethod(topic, 1, Perm.READ | Perm.WRITE, 0);
  }
}

/**
 * EndTransactionProcessor.checkPrepareMessage (Apache's remarks), plus one check of ours: the
 * record must be a half message (Apache would "commit" any record with a matching PGROUP).
 */
function checkPrepareMessage(half: MessageRecord | undefined, req: EndTransactionRequest): string | undefined {
  if (!half) return 'Find prepared transaction message failed';
  if (half.topic !== TRANS_HALF_TOPIC) return `The message at commit log offset ${req.commitLogOffset} is not a half message (topic ${half.topic})`;
  const props = decodeProperties(half.properties);
  if (props[Prop.PGROUP] !== req.producerGroup) return 'The producer group wrong';
  if (half.queueOffset !== req.tranStateTableOffset) return 'The transaction state table offset wrong';
  if (half.commitLogOffset !== req.commitLogOffset) return 'The commit log offset wrong';
  return undefined;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
