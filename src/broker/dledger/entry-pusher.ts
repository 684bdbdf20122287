/**
 * Log replication (openmessaging/dledger 0.3.1.2, DLedgerEntryPusher), in three parts:
 *
 *  - leader, per follower: an EntryDispatcher that moves through COMPARE → TRUNCATE → APPEND
 *    (→ COMMIT when idle). A new term always starts in COMPARE, which finds the last index where
 *    the follower agrees with us; TRUNCATE cuts the follower after it; APPEND then sends the
 *    entries after it. Each acknowledged index is the peer's water mark for the current term.
 *  - leader: the QuorumAckChecker, which turns the water marks into the committed index and
 *    completes (or times out, or fails) the appends waiting for it.
 *  - follower: the EntryHandler answering PUSH.
 *
 * Differences from Java, and why:
 *  - APPEND pushes carry batches of consecutive entries (up to maxBatchPushBytes) and up to
 *    maxPushesInFlight of them are in flight per follower: Java sends one entry per push unless
 *    isEnableBatchPush (then 4 KiB batches). A follower writes a batch as one group write.
 *  - an entry is committed only once an entry of the leader's own term is on a quorum (Raft §5.4.2).
 *    Java's QuorumAckChecker commits any quorum index, which can commit an older term's entry that
 *    a later leader then overwrites.
 *  - a follower commits at most up to the index it has verified against the current leader in
 *    this term (after an APPEND, COMPARE or TRUNCATE), not up to its own log end: an unverified
 *    tail may be a divergent one.
 *  - pending appends fail as soon as this node is no longer leader of their term (Java only clears
 *    them when the term changes).
 *  - a COMMIT push is also sent as soon as the committed index moved (Java: only every 1000 ms), so
 *    followers learn commits promptly.
 */
import { silentLogger, type Logger } from '../../remoting/server.js';
import { invariant } from '../../util/invariant.js';
import { sameEntry, type DLedgerEntry } from '../../protocol/dledger/entry.js';
import type { ElectorClock } from './elector.js';
import type { DLedgerFileStore } from './file-store.js';
import type { MemberState } from './member-state.js';
import { baseDefaults, DLedgerResponseCode, type PushEntryRequest, type PushEntryResponse, type PushEntryType } from '../../protocol/dledger/protocol.js';
import { DLedgerError } from './errors.js';

export interface PusherConfig {
  /** DLedgerConfig#maxWaitAckTimeMs: an append not committed by then completes WAIT_QUORUM_ACK_TIMEOUT. */
  maxWaitAckTimeMs: number;
  /** DLedgerConfig#maxPendingRequestsNum: more waiting appends are refused LEADER_PENDING_FULL. */
  maxPendingRequestsNum: number;
  /** EntryHandler's TimeoutFuture(1000): how long a follower holds an out-of-order APPEND. */
  maxOutOfOrderWaitMs: number;
  /** Out-of-order APPENDs a follower holds at most (Java's writeRequestMap is unbounded). */
  maxOutOfOrderPushes: number;
  /** EntryDispatcher#doCommit: an idle follower gets a COMMIT push at least this often. */
  commitPushIntervalMs: number;
  /**
   * A COMMIT push for a committed index that moved goes out once no APPEND was sent for this long
   * (under load the next APPEND carries the committed index anyway; Java sends COMMIT only every
   * commitPushIntervalMs).
   */
  commitPushDelayMs: number;
  /** EntryDispatcher#doWork sleeps 500 ms after an error; we wait this long after a failed push. */
  pushRetryMs: number;
  /** How long an idle dispatcher or the quorum checker sleeps when nothing wakes it. */
  idleCheckMs: number;
  /**
   * APPEND pushes a dispatcher has in flight to one follower at most (Java's EntryDispatcher keeps
   * up to maxPendingSize, 1000, in its pendingMap). Must not exceed the follower's out-of-order hold.
   */
  maxPushesInFlight: number;
  /**
   * APPEND pushes carry consecutive entries up to this many bytes (a push of one entry may be
   * bigger). DLedgerConfig#maxBatchPushSize is 4 KiB, and off by default (isEnableBatchPush);
   * followers of every DLedger version RocketMQ 4.9 ships take batches (EntryHandler#handleDoBatchAppend).
   */
  maxBatchPushBytes: number;
}

/** DLedgerConfig's defaults. */
export const DEFAULT_PUSHER_CONFIG: PusherConfig = {
  maxWaitAckTimeMs: 2500,
  maxPendingRequestsNum: 10000,
  maxOutOfOrderWaitMs: 1000,
  maxOutOfOrderPushes: 1000,
  commitPushIntervalMs: 1000,
  commitPushDelayMs: 5,
  pushRetryMs: 500,
  idleCheckMs: 50,
  maxPushesInFlight: 64,
  maxBatchPushBytes: 256 * 1024,
};

/** DLedgerRpcNettyService#push. Never rejects: no answer is code NETWORK_ERROR. */
export interface PushTransport {
  push(peerId: string, req: PushEntryRequest): Promise<PushEntryResponse>;
}

export interface AppendResult {
  index: number;
  pos: number;
}

/**
 * A one-shot wake-up: waiters resolve on wake(), on their timeout, or when `stop` aborts; a wake()
 * while nobody waits makes the next wait return at once. The
 * waiters of one round share one AbortController (wake() runs per append: one abort, not one per
 * waiter), created only when someone waits.
 */
const WOKEN = 'woken';

class Wakeup {
  private current: AbortController | undefined;
  constructor(
    private readonly clock: ElectorClock,
    private readonly stop: AbortSignal,
  ) {}
  /** A wake-up with nobody waiting is kept for the next wait (the loop was busy, not asleep). */
  private woken = false;
  wake(): void {
    const c = this.current;
    this.current = undefined;
    if (!c) {
      this.woken = true;
      return;
    }
    // A reason of our own: abort() without one builds a DOMException each time.
    c.abort(WOKEN);
  }
  async wait(ms: number): Promise<void> {
    if (this.stop.aborted) return;
    if (this.woken) {
      this.woken = false;
      return;
    }
    let c = this.current;
    if (!c) {
      const fresh = new AbortController();
      const onStop = (): void => fresh.abort();
      this.stop.addEventListener('abort', onStop, { once: true });
      fresh.signal.addEventListener('abort', () => this.stop.removeEventListener('abort', onStop), { once: true });
      this.current = c = fresh;
    }
    await this.clock.sleep(ms, c.signal);
  }
}

interface Pending extends AppendResult {
  term: number;
  deadline: number;
  resolve(r: AppendResult): void;
  reject(err: DLedgerError): void;
}

/**
 * The quorum index (QuorumAckChecker#doWork): the water marks sorted descending, the one at
 * [size / 2]: the largest index that a majority of the group holds.
 */
export function quorumIndexOf(waterMarks: readonly number[]): number {
  invariant(waterMarks.length > 0, () => 'no water marks');
  const sorted = [...waterMarks].sort((a, b) => b - a);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export class DLedgerEntryPusher {
  private readonly stopping = new AbortController();
  private readonly ackWake: Wakeup;
  /** One per dispatcher: a wake-up one of them is too busy to take must not be lost to another. */
  private readonly dispatchWakes: Wakeup[] = [];
  private loops: Array<Promise<void>> = [];
  /** Water marks of the term `waterMarkTerm` (peerWaterMarksByTerm, kept for one term only). */
  private waterMarks = new Map<string, number>();
  private waterMarkTerm = -1;
  /** The first index this node appended as leader in `waterMarkTerm`; the commit rule needs it. */
  private firstIndexOfTerm: number | undefined;
  private readonly pending = new Map<number, Pending>();
  private readonly handler: EntryHandler;
  private readonly commitListeners: Array<() => void> = [];

  constructor(
    private readonly state: MemberState,
    private readonly store: DLedgerFileStore,
    private readonly transport: PushTransport,
    private readonly clock: ElectorClock,
    readonly config: PusherConfig = DEFAULT_PUSHER_CONFIG,
    private readonly logger: Logger = silentLogger,
  ) {
    this.ackWake = new Wakeup(clock, this.stopping.signal);
    this.handler = new EntryHandler(state, store, clock, config, () => this.committedMoved(), logger);
  }

  /** Called (synchronously) whenever this node's committed index moved forward. */
  onCommittedIndexMoved(listener: () => void): void {
    this.commitListeners.push(listener);
  }

  /** DLedgerEntryPusher#startup: the dispatchers and the quorum checker. */
  start(): void {
    if (this.loops.length > 0) return;
    const others = [...this.state.peerMap.keys()].filter((id) => id !== this.state.selfId);
    this.loops = [...others.map((id) => new EntryDispatcher(id, this).run()), this.runQuorumChecker()];
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.all(this.loops);
    this.handler.close();
    this.failPending((p) => new DLedgerError(DLedgerResponseCode.LEADER_NOT_READY, `append ${p.index} abandoned: DLedger server stopping`));
  }

  // ---- leader: appends waiting for the quorum ------------------------------------------------

  /** Appends waiting for the quorum (DLedgerEntryPusher#isPendingFull compares it with maxPendingRequestsNum). */
  pendingCount(): number {
    return this.pending.size;
  }

  /**
   * DLedgerEntryPusher#waitAck for an entry this node just appended as leader of `term`: resolves
   * once it is committed, rejects WAIT_QUORUM_ACK_TIMEOUT after maxWaitAckTimeMs, TERM_CHANGED or
   * NOT_LEADER when this node stops being leader of that term first.
   */
  waitAck(entry: Pick<DLedgerEntry, 'index' | 'pos' | 'term'>): Promise<AppendResult> {
    this.freshTerm();
    if (entry.term === this.waterMarkTerm && (this.firstIndexOfTerm === undefined || entry.index < this.firstIndexOfTerm)) this.firstIndexOfTerm = entry.index;
    return new Promise<AppendResult>((resolve, reject) => {
      this.pending.set(entry.index, { index: entry.index, pos: entry.pos, term: entry.term, deadline: this.clock.now() + this.config.maxWaitAckTimeMs, resolve, reject });
      this.wakeUp();
    });
  }

  /** Something to push or to check (a local append, a new ack). */
  wakeUp(): void {
    this.wakeDispatchers();
    this.ackWake.wake();
  }

  getPeerWaterMark(peerId: string): number {
    return this.waterMarkTerm === this.state.currTerm() ? (this.waterMarks.get(peerId) ?? -1) : -1;
  }

  /** DLedgerEntryPusher#updatePeerWaterMark: only forward, only for the term it was earned in. */
  updatePeerWaterMark(term: number, peerId: string, index: number): void {
    this.freshTerm();
    if (term !== this.waterMarkTerm) return;
    if (index > (this.waterMarks.get(peerId) ?? -1)) this.waterMarks.set(peerId, index);
    this.ackWake.wake();
  }

  /** checkTermForWaterMark: a new term starts with every peer at -1. */
  private freshTerm(): void {
    const term = this.state.currTerm();
    if (term === this.waterMarkTerm) return;
    this.waterMarkTerm = term;
    this.firstIndexOfTerm = undefined;
    this.waterMarks = new Map([...this.state.peerMap.keys()].map((id) => [id, -1]));
  }

  /**
   * One round of QuorumAckChecker#doWork: fail what can no longer commit, advance the committed
   * index to the quorum index (only forward; only once the entry there is of our own term), then
   * complete what it covers and time out what waited longer than maxWaitAckTimeMs
   * (#checkResponseFuturesTimeout).
   */
  checkQuorum(): void {
    const term = this.state.currTerm();
    // The pending of another term, or of a node that is no longer leader, can never be answered
    // SUCCESS by this leadership: fail them (Java: TERM_CHANGED once the term moves).
    for (const p of this.pending.values()) {
      if (p.term !== term) this.settle(p, new DLedgerError(DLedgerResponseCode.TERM_CHANGED, `append ${p.index} of term ${p.term}: term is now ${term}`));
      else if (!this.state.isLeader()) this.settle(p, new DLedgerError(DLedgerResponseCode.NOT_LEADER, `append ${p.index}: no longer leader of term ${term}`));
    }
    if (!this.state.isLeader()) return;
    this.freshTerm();
    this.waterMarks.set(this.state.selfId, this.store.getLedgerEndIndex());
    const quorumIndex = quorumIndexOf([...this.waterMarks.values()]);
    if (this.firstIndexOfTerm !== undefined && quorumIndex >= this.firstIndexOfTerm && quorumIndex > this.store.getCommittedIndex()) {
      this.store.updateCommittedIndex(quorumIndex);
      this.committedMoved();
    }
    const committed = this.store.getCommittedIndex();
    const now = this.clock.now();
    for (const p of this.pending.values()) {
      if (p.index <= committed) this.settle(p, { index: p.index, pos: p.pos });
      else if (now >= p.deadline) this.settle(p, new DLedgerError(DLedgerResponseCode.WAIT_QUORUM_ACK_TIMEOUT, `append ${p.index} not on a quorum within ${this.config.maxWaitAckTimeMs} ms`));
    }
  }

  private settle(p: Pending, outcome: AppendResult | DLedgerError): void {
    this.pending.delete(p.index);
    if (outcome instanceof DLedgerError) p.reject(outcome);
    else p.resolve(outcome);
  }

  private failPending(err: (p: Pending) => DLedgerError): void {
    for (const p of this.pending.values()) this.settle(p, err(p));
  }

  private committedMoved(): void {
    this.wakeDispatchers();
    for (const l of this.commitListeners) l();
  }

  private async runQuorumChecker(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      try {
        this.checkQuorum();
      } catch (err) {
        this.logger.warn(`dledger ${this.state.selfId}: quorum check: ${errText(err)}`);
      }
      await this.ackWake.wait(this.config.idleCheckMs);
    }
  }

  // ---- follower ---------------------------------------------------------------------------------

  /** DLedgerEntryPusher#handlePush (DLedgerServer#handlePush checked member and group). */
  handlePush(req: PushEntryRequest): Promise<PushEntryResponse> {
    return this.handler.handlePush(req);
  }

  // ---- for the dispatchers ----------------------------------------------------------------------

  /** @internal */ get stopSignal(): AbortSignal {
    return this.stopping.signal;
  }
  private wakeDispatchers(): void {
    for (const w of this.dispatchWakes) w.wake();
  }

  /** @internal A dispatcher's own wake-up. */ newDispatchWake(): Wakeup {
    const w = new Wakeup(this.clock, this.stopping.signal);
    this.dispatchWakes.push(w);
    return w;
  }

  /** @internal */ get internals(): { state: MemberState; store: DLedgerFileStore; transport: PushTransport; clock: ElectorClock; logger: Logger } {
    return { state: this.state, store: this.store, transport: this.transport, clock: this.clock, logger: this.logger };
  }
}

/**
 * DLedgerEntryPusher.EntryDispatcher for one follower. `type` and the indexes mean what Java's do:
 * in APPEND, `writeIndex` is the next entry to send; in COMPARE, `compareIndex` the entry we ask
 * the follower about (-1: start from our end).
 */
class EntryDispatcher {
  private type: PushEntryType = 'COMPARE';
  private term = -1;
  private writeIndex = -1;
  private compareIndex = -1;
  private lastCommitPushAt = -1;
  private lastAppendPushAt = -1;
  /** How long the next idle wait may last at most (a COMMIT push waiting for its delay). */
  private waitMs: number | undefined;
  private lastCommitIndexSent = -1;
  private lastFailure: string | undefined;

  constructor(
    private readonly peerId: string,
    private readonly pusher: DLedgerEntryPusher,
  ) {}

  async run(): Promise<void> {
    const { state, clock, logger } = this.pusher.internals;
    const wake = this.pusher.newDispatchWake();
    const stop = this.pusher.stopSignal;
    while (!stop.aborted) {
      let busy = false;
      try {
        if (this.checkAndFreshState()) busy = this.type === 'APPEND' ? await this.doAppend() : await this.doCompare();
        this.lastFailure = undefined;
      } catch (err) {
        // The same failure again (a peer that keeps refusing) is logged once.
        const text = `dledger ${state.selfId} → ${this.peerId}: ${this.type}: ${errText(err)}`;
        if (text !== this.lastFailure) logger.warn(text);
        this.lastFailure = text;
        this.changeState(-1, 'COMPARE');
        await clock.sleep(this.pusher.config.pushRetryMs, stop);
        continue;
      }
      if (!busy) {
        const ms = Math.min(this.waitMs ?? Infinity, this.pusher.config.idleCheckMs);
        this.waitMs = undefined;
        await wake.wait(ms);
      }
    }
  }

  /** EntryDispatcher#checkAndFreshState: only a leader pushes; a new term starts with COMPARE. */
  private checkAndFreshState(): boolean {
    const { state } = this.pusher.internals;
    if (!state.isLeader()) return false;
    if (this.term !== state.currTerm()) {
      this.term = state.currTerm();
      this.changeState(-1, 'COMPARE');
    }
    return true;
  }

  /** EntryDispatcher#changeState. */
  private changeState(index: number, target: PushEntryType): void {
    if (target === 'APPEND') {
      this.pusher.updatePeerWaterMark(this.term, this.peerId, index);
      this.writeIndex = index + 1;
    }
    this.compareIndex = -1;
    this.type = target;
  }

  private request(type: PushEntryType, entry?: DLedgerEntry): PushEntryRequest {
    const { state, store } = this.pusher.internals;
    return { ...baseDefaults(), group: state.group, remoteId: this.peerId, localId: state.selfId, leaderId: state.selfId, term: this.term, type, entry, commitIndex: store.getCommittedIndex(), batchEntry: [] };
  }

  /** A failed push (no answer, or a refusal that is not about the log): wait, then start over. */
  private async pushFailed(res: PushEntryResponse): Promise<false> {
    this.pusher.internals.logger.info(`dledger → ${this.peerId}: push answered ${res.code}`);
    this.changeState(-1, 'COMPARE');
    await this.pusher.internals.clock.sleep(this.pusher.config.pushRetryMs, this.pusher.stopSignal);
    return false;
  }

  /**
   * EntryDispatcher#doAppend (#doBatchAppend): the entries from writeIndex on, in pushes of up to
   * maxBatchPushBytes each, up to maxPushesInFlight pushes at once (the follower holds an early
   * one until its turn); the answers are taken in index order. #doCommit when there is nothing to send.
   */
  private async doAppend(): Promise<boolean> {
    const { store, transport, clock } = this.pusher.internals;
    const { maxPushesInFlight, maxBatchPushBytes } = this.pusher.config;
    const end = store.getLedgerEndIndex();
    if (this.writeIndex > end) {
      const committed = store.getCommittedIndex();
      const now = clock.now();
      const due = now - this.lastCommitPushAt >= this.pusher.config.commitPushIntervalMs;
      const quietFor = now - this.lastAppendPushAt;
      if (committed > this.lastCommitIndexSent && quietFor < this.pusher.config.commitPushDelayMs) {
        this.waitMs = this.pusher.config.commitPushDelayMs - quietFor;
        return false;
      }
      if (committed > this.lastCommitIndexSent || due) {
        this.lastCommitPushAt = clock.now();
        const res = await transport.push(this.peerId, this.request('COMMIT'));
        if (res.code === DLedgerResponseCode.SUCCESS) this.lastCommitIndexSent = committed;
      }
      return false;
    }
    const batches: DLedgerEntry[][] = [];
    // Bounded: each round takes one entry, up to `end`.
    for (let index = this.writeIndex, bytes = 0; index <= end; index++) {
      const entry = await store.get(index);
      const batch = batches[batches.length - 1];
      if (batch && bytes + entry.size <= maxBatchPushBytes) {
        batch.push(entry);
        bytes += entry.size;
      } else {
        if (batches.length === Math.max(1, maxPushesInFlight)) break;
        batches.push([entry]);
        bytes = entry.size;
      }
    }
    const reqs = batches.map((b) => (b.length === 1 ? this.request('APPEND', b[0]) : { ...this.request('APPEND'), batchEntry: b }));
    this.lastAppendPushAt = clock.now();
    const answers = await Promise.all(reqs.map((req) => transport.push(this.peerId, req)));
    for (let k = 0; k < answers.length; k++) {
      if (!this.stillCurrent()) return true;
      const res = answers[k]!;
      if (res.code === DLedgerResponseCode.SUCCESS) {
        this.lastCommitIndexSent = Math.max(this.lastCommitIndexSent, reqs[k]!.commitIndex);
        this.changeState(batches[k]![batches[k]!.length - 1]!.index, 'APPEND');
        continue;
      }
      if (res.code === DLedgerResponseCode.INCONSISTENT_STATE) {
        this.changeState(-1, 'COMPARE');
        return true;
      }
      return this.pushFailed(res);
    }
    return true;
  }

  /** The term we push for is still ours (a push may have taken a while). */
  private stillCurrent(): boolean {
    const { state } = this.pusher.internals;
    return state.isLeader() && state.currTerm() === this.term;
  }

  /**
   * EntryDispatcher#doCompare, one round: ask about compareIndex; from the answer (SUCCESS, or
   * INCONSISTENT_STATE with the follower's begin and end) move to APPEND, to TRUNCATE, or to a
   * smaller compareIndex.
   */
  private async doCompare(): Promise<boolean> {
    const { store, transport } = this.pusher.internals;
    const begin = store.getLedgerBeginIndex();
    const end = store.getLedgerEndIndex();
    if (this.compareIndex === -1 && end === -1) return false;
    if (this.compareIndex === -1 || this.compareIndex > end || this.compareIndex < begin) this.compareIndex = end;
    const entry = await store.get(this.compareIndex);
    const res = await transport.push(this.peerId, this.request('COMPARE', entry));
    if (!this.stillCurrent()) return true;
    if (res.code !== DLedgerResponseCode.SUCCESS && res.code !== DLedgerResponseCode.INCONSISTENT_STATE) return this.pushFailed(res);
    let truncateIndex = -1;
    if (res.code === DLedgerResponseCode.SUCCESS) {
      if (this.compareIndex === res.endIndex) {
        this.changeState(this.compareIndex, 'APPEND');
        return true;
      }
      truncateIndex = this.compareIndex;
    } else if (res.endIndex < begin || res.beginIndex > end) {
      // No overlap at all (the follower is empty, or far behind what we keep): start it over.
      truncateIndex = begin;
    } else if (this.compareIndex < res.beginIndex) {
      truncateIndex = begin;
    } else if (this.compareIndex > res.endIndex) {
      this.compareIndex = res.endIndex;
    } else {
      this.compareIndex--;
    }
    if (truncateIndex === -1 && this.compareIndex < begin) truncateIndex = begin;
    if (truncateIndex !== -1) await this.doTruncate(truncateIndex);
    return true;
  }

  /** EntryDispatcher#doTruncate: the follower keeps what precedes `index` and takes our entry there. */
  private async doTruncate(index: number): Promise<void> {
    const { store, transport } = this.pusher.internals;
    this.changeState(index, 'TRUNCATE');
    const res = await transport.push(this.peerId, this.request('TRUNCATE', await store.get(index)));
    if (!this.stillCurrent()) return;
    if (res.code !== DLedgerResponseCode.SUCCESS) throw new DLedgerError(res.code, `truncate at ${index} answered ${res.code}`);
    this.changeState(index, 'APPEND');
  }
}

/**
 * DLedgerEntryPusher.EntryHandler: a follower's side of PUSH. Log changes run one at a time; an
 * APPEND ahead of our end waits (bounded in number and time) until the entries before it came.
 */
class EntryHandler {
  /** The last index known to agree with the current leader in `verifiedTerm`: commits stop there. */
  private verifiedIndex = -1;
  private verifiedTerm = -1;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly waiting = new Map<number, { req: PushEntryRequest; answer: (r: PushEntryResponse) => void; abort: AbortController }>();

  constructor(
    private readonly state: MemberState,
    private readonly store: DLedgerFileStore,
    private readonly clock: ElectorClock,
    private readonly config: PusherConfig,
    private readonly committedMoved: () => void,
    private readonly logger: Logger,
  ) {}

  close(): void {
    for (const w of this.waiting.values()) w.abort.abort();
  }

  async handlePush(req: PushEntryRequest): Promise<PushEntryResponse> {
    const refused = this.refusal(req);
    if (refused !== undefined) return { ...this.response(req, refused), leaderId: this.state.getLeaderId() };
    switch (req.type) {
      case 'COMMIT':
        this.commit(req.term, req.commitIndex);
        return this.response(req, DLedgerResponseCode.SUCCESS);
      case 'APPEND':
        if (!req.entry && req.batchEntry.length === 0) return this.response(req, DLedgerResponseCode.UNEXPECTED_ARGUMENT);
        return this.append(req);
      case 'COMPARE':
      case 'TRUNCATE':
        if (!req.entry) return this.response(req, DLedgerResponseCode.UNEXPECTED_ARGUMENT);
        // Java clears writeRequestMap: the leader starts over after it.
        for (const w of this.waiting.values()) w.abort.abort();
        return this.serial(() => (req.type === 'COMPARE' ? this.compare(req) : this.truncate(req)));
    }
  }

  /**
   * The checks DLedgerMmapFileStore#appendAsFollower and #truncate make: only a follower, only in
   * its term, only from its leader (an old leader that has not noticed yet is turned away).
   */
  private refusal(req: PushEntryRequest): number | undefined {
    if (!this.state.isFollower()) return DLedgerResponseCode.NOT_FOLLOWER;
    if (req.term !== this.state.currTerm()) return DLedgerResponseCode.INCONSISTENT_TERM;
    if (req.leaderId !== this.state.getLeaderId()) return DLedgerResponseCode.INCONSISTENT_LEADER;
    return undefined;
  }

  /** EntryHandler#buildResponse. */
  private response(req: PushEntryRequest, code: number): PushEntryResponse {
    const entries = pushedEntries(req);
    const single = req.type !== 'COMMIT' && entries.length > 0 ? { index: entries[0]!.index, count: entries.length } : { count: 0 };
    return { ...baseDefaults(), group: req.group, code, term: req.term, ...single, beginIndex: this.store.getLedgerBeginIndex(), endIndex: this.store.getLedgerEndIndex() };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * EntryHandler#handleDoAppend and #handleDoBatchAppend, with #checkAppendFuture's answers for
   * what is not next: entries we already hold must be exactly the leader's (a repeat whose ack was
   * lost), the rest is appended; a push that starts past our end waits its turn.
   */
  private append(req: PushEntryRequest): Promise<PushEntryResponse> {
    const entries = pushedEntries(req);
    return this.serial(async () => {
      const end = this.store.getLedgerEndIndex();
      const first = entries[0]!.index;
      if (first > end + 1) return undefined;
      const held = entries.filter((e) => e.index <= end);
      for (const e of held) {
        if (e.index < this.store.getLedgerBeginIndex() || !sameEntry(await this.store.get(e.index), e)) return this.response(req, DLedgerResponseCode.INCONSISTENT_STATE);
      }
      if (held.length === entries.length) {
        this.verified(req.term, entries[entries.length - 1]!.index);
        return this.response(req, DLedgerResponseCode.SUCCESS);
      }
      return this.appendNext(req, entries.slice(held.length));
    }).then((done) => done ?? this.waitForTurn(req));
  }

  /** Append `entries` (the first is next) as one group write. */
  private async appendNext(req: PushEntryRequest, entries: DLedgerEntry[]): Promise<PushEntryResponse> {
    const results = await Promise.allSettled(entries.map((e) => this.store.appendAsFollower(e)));
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed >= 0) {
      this.warnOnce(`dledger ${this.state.selfId}: append ${entries[failed]!.index} as follower: ${errText((results[failed] as PromiseRejectedResult).reason)}`);
      this.ledgerChanged();
      return this.response(req, DLedgerResponseCode.INCONSISTENT_STATE);
    }
    this.ledgerChanged();
    this.verified(req.term, entries[entries.length - 1]!.index);
    // The answer goes out first: the leader waits for it, and the commit's work (consume queues,
    // index) can follow.
    setImmediate(() => this.commit(req.term, req.commitIndex));
    this.releaseNext();
    return this.response(req, DLedgerResponseCode.SUCCESS);
  }

  /** Hold an APPEND ahead of our end until its turn, for at most maxOutOfOrderWaitMs. */
  private waitForTurn(req: PushEntryRequest): Promise<PushEntryResponse> {
    const index = pushedEntries(req)[0]!.index;
    if (this.waiting.has(index)) return Promise.resolve(this.response(req, DLedgerResponseCode.REPEATED_PUSH));
    if (this.waiting.size >= this.config.maxOutOfOrderPushes) return Promise.resolve(this.response(req, DLedgerResponseCode.PUSH_REQUEST_IS_FULL));
    return new Promise((resolve) => {
      const abort = new AbortController();
      const w = { req, answer: resolve, abort };
      this.waiting.set(index, w);
      // Not its turn in time (or the leader moved on to COMPARE): INCONSISTENT_STATE, as
      // #checkAppendFuture answers a fast-forward push, so the leader compares.
      void this.clock.sleep(this.config.maxOutOfOrderWaitMs, abort.signal).then(() => {
        if (this.waiting.get(index) !== w) return;
        this.waiting.delete(index);
        resolve(this.response(req, DLedgerResponseCode.INCONSISTENT_STATE));
      });
    });
  }

  /** The held APPEND that is now next, if any, goes through append again. */
  private releaseNext(): void {
    const next = this.waiting.get(this.store.getLedgerEndIndex() + 1);
    if (!next) return;
    this.waiting.delete(pushedEntries(next.req)[0]!.index);
    next.abort.abort();
    void this.append(next.req).then(next.answer);
  }

  /** EntryHandler#handleDoCompare: SUCCESS if we hold exactly the leader's entry at that index. */
  private async compare(req: PushEntryRequest): Promise<PushEntryResponse> {
    const entry = req.entry!;
    const s = this.store;
    const same = entry.index >= s.getLedgerBeginIndex() && entry.index <= s.getLedgerEndIndex() && sameEntry(await s.get(entry.index), entry);
    if (same) this.verified(req.term, entry.index);
    return this.response(req, same ? DLedgerResponseCode.SUCCESS : DLedgerResponseCode.INCONSISTENT_STATE);
  }

  /**
   * EntryHandler#handleDoTruncate (DLedgerMmapFileStore#truncate): cut everything after the
   * leader's entry and hold it at its index. When we already hold that very entry it stays (it
   * may be committed, and committed entries are never cut); otherwise we cut before it and append it.
   */
  private async truncate(req: PushEntryRequest): Promise<PushEntryResponse> {
    const entry = req.entry!;
    const s = this.store;
    try {
      const held = entry.index >= s.getLedgerBeginIndex() && entry.index <= s.getLedgerEndIndex() && sameEntry(await s.get(entry.index), entry);
      if (held) {
        await s.truncate(entry.index);
      } else {
        await s.truncate(entry.index - 1);
        await s.appendAsFollower(entry);
      }
    } catch (err) {
      this.warnOnce(`dledger ${this.state.selfId}: truncate at ${entry.index}: ${errText(err)}`);
      this.ledgerChanged();
      return this.response(req, DLedgerResponseCode.INCONSISTENT_STATE);
    }
    this.ledgerChanged();
    this.verified(req.term, entry.index);
    this.commit(req.term, req.commitIndex);
    return this.response(req, DLedgerResponseCode.SUCCESS);
  }

  /** A refusal the leader will provoke again every push retry is logged once, until the log moves. */
  private lastWarning: string | undefined;

  private warnOnce(text: string): void {
    if (text !== this.lastWarning) this.logger.warn(text);
    this.lastWarning = text;
  }

  private verified(term: number, index: number): void {
    if (term !== this.verifiedTerm) {
      this.verifiedTerm = term;
      this.verifiedIndex = -1;
    }
    if (index > this.verifiedIndex) this.verifiedIndex = index;
  }

  /** DLedgerEntryPusher#updateCommittedIndex, capped at what agrees with this term's leader. */
  private commit(term: number, leaderCommitIndex: number): void {
    if (term !== this.verifiedTerm) return;
    const before = this.store.getCommittedIndex();
    this.store.updateCommittedIndex(Math.min(leaderCommitIndex, this.verifiedIndex));
    if (this.store.getCommittedIndex() > before) this.committedMoved();
  }

  private ledgerChanged(): void {
    if (this.store.getLedgerEndIndex() !== this.state.getLedgerEndIndex()) this.lastWarning = undefined;
    this.state.updateLedgerIndexAndTerm(this.store.getLedgerEndIndex(), this.store.getLedgerEndTerm());
  }
}

/** The entries an APPEND carries: its batch, or its one entry (PushEntryRequest#isBatch). */
function pushedEntries(req: PushEntryRequest): DLedgerEntry[] {
  return req.batchEntry.length > 0 ? req.batchEntry : req.entry ? [req.entry] : [];
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
