/**
 * One DLedger node (openmessaging/dledger 0.3.1.2, DLedgerServer): member state, file store,
 * elector and entry pusher, answering its peers on a RemotingServer and reaching them through a
 * RemotingClient.
 *
 * In-process API (what a commit log built on DLedger uses, as RocketMQ's DLedgerCommitLog uses
 * DLedgerServer#handleAppend and the dispatch of committed entries):
 *  - appendAsLeader(bodies): appended here as leader, resolved with each entry's index and pos
 *    only once all are committed; rejected with a DLedgerError (NOT_LEADER, LEADER_PENDING_FULL,
 *    WAIT_QUORUM_ACK_TIMEOUT, TERM_CHANGED) otherwise. A rejected append may still be in the log
 *    and may commit later (as in Java): rejected means "not known to be committed", never "lost".
 *  - onCommitted(listener): every entry after the committed index at registration, in index order,
 *    as it commits; on every node.
 *  - transferLeadership(transfereeId): hand leadership to a caught-up follower (what a
 *    LEADERSHIP_TRANSFER from DLedgerClient#leadershipTransfer asks of the leader); resolves with
 *    the LeadershipTransferResponse, SUCCESS once the transferee is leader of a higher term.
 *
 * With preferredLeaderIds set, the leader hands leadership to a live, caught-up preferred node
 * (DLedgerServer#checkPreferredLeader, every checkPreferredLeaderIntervalMs).
 */
import type { RemotingClient } from '../../remoting/client.js';
import { silentLogger, type Logger, type RemotingServer } from '../../remoting/server.js';
import type { FileIO } from '../store/file-io.js';
import type { DLedgerEntry } from '../../protocol/dledger/entry.js';
import { DEFAULT_ELECTOR_CONFIG, DLedgerLeaderElector, preferredLeaderIdList, systemClock, type ElectorClock, type ElectorConfig } from './elector.js';
import { DEFAULT_PUSHER_CONFIG, DLedgerEntryPusher, type AppendResult, type PusherConfig } from './entry-pusher.js';
import { DLedgerFileStore, type AppendHook, type DLedgerRecoveryReport } from './file-store.js';
import { MemberState, type Role } from './member-state.js';
import { baseDefaults, DLedgerResponseCode, type AppendEntryRequest, type AppendEntryResponse, type GetEntriesRequest, type GetEntriesResponse, type LeadershipTransferRequest, type LeadershipTransferResponse, type PushEntryRequest, type PushEntryResponse, type RequestOrResponse } from '../../protocol/dledger/protocol.js';
import { DLedgerError } from './errors.js';
import { DLEDGER_RPC_TIMEOUT_MS, registerDLedgerHandlers, RemotingPeerTransport, type DLedgerReplicationHandlers } from './transport.js';

export interface DLedgerServerOptions {
  io: FileIO;
  storeBaseDir: string;
  group: string;
  selfId: string;
  /** `n0-host:port;n1-host:port;...` */
  peers: string;
  /** Listening on this node's peer address; the DLedger codes are registered on it. */
  remotingServer: RemotingServer;
  /** For calls to peers (owned by the caller, as the server is). */
  remotingClient: RemotingClient;
  rpcTimeoutMs?: number;
  clock?: ElectorClock;
  electorConfig?: ElectorConfig;
  pusherConfig?: PusherConfig;
  /** DLedgerConfig#flushFileInterval: appends are fsynced this often. */
  flushIntervalMs?: number;
  /** DLedgerConfig#checkPointInterval: the checkpoint is written this often. */
  checkpointIntervalMs?: number;
  dataFileBytes?: number;
  indexFileBytes?: number;
  appendHook?: AppendHook;
  logger?: Logger;
  /**
   * DLedgerConfig#preferredLeaderIds (`;`-separated; RocketMQ sets one, MessageStoreConfig#preferredLeaderId):
   * the leader hands leadership to one of these when it can. Overrides electorConfig's.
   */
  preferredLeaderIds?: string;
  transferConfig?: TransferConfig;
}

export interface TransferConfig {
  /** DLedgerConfig#maxLeadershipTransferWaitIndex: a transferee further behind than this is refused (FALL_BEHIND_TOO_MUCH). */
  maxLeadershipTransferWaitIndex: number;
  /** DLedgerConfig#leadershipTransferWaitTimeout: how long a transferee waits for its log to reach the leader's end. */
  leadershipTransferWaitTimeoutMs: number;
  /** DLedgerServer#startup schedules checkPreferredLeader at this fixed rate (1000 ms). */
  checkPreferredLeaderIntervalMs: number;
  /** The LEADERSHIP_TRANSFER RPC's timeout (DLedgerRpcNettyService: 3000 ms, as every RPC). */
  rpcTimeoutMs: number;
}

/** DLedgerConfig's defaults and DLedgerServer#startup's schedule. */
export const DEFAULT_TRANSFER_CONFIG: TransferConfig = { maxLeadershipTransferWaitIndex: 1000, leadershipTransferWaitTimeoutMs: 1000, checkPreferredLeaderIntervalMs: 1000, rpcTimeoutMs: DLEDGER_RPC_TIMEOUT_MS };
/** DLedgerServer#handleLeadershipTransfer polls the transferee's log end this often while it waits. */
const TAKE_LEADERSHIP_POLL_MS = 10;

/** DLedgerConfig: flushFileInterval 10 ms, checkPointInterval 3000 ms. */
export const DEFAULT_FLUSH_INTERVAL_MS = 10;
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 3000;
/** Bodies one appendAsLeader call takes at most (a bound, not a Java limit). */
export const MAX_BODIES_PER_APPEND = 1024;

export type CommittedListener = (entry: DLedgerEntry) => void;

export class DLedgerServer implements DLedgerReplicationHandlers {
  readonly elector: DLedgerLeaderElector;
  readonly pusher: DLedgerEntryPusher;
  private readonly listeners: Array<{ after: number; fn: CommittedListener }> = [];
  /** The last committed index handed to the listeners. */
  private appliedIndex: number;
  private applying: Promise<void> | undefined;
  private applyRunning = false;
  private readonly stopping = new AbortController();
  private maintenance: Promise<void> | undefined;
  private preferredLeaderLoop: Promise<void> | undefined;
  private closed = false;
  readonly transferConfig: TransferConfig;
  private readonly preferredLeaderIds: string[];

  private constructor(
    readonly state: MemberState,
    readonly store: DLedgerFileStore,
    readonly recovery: DLedgerRecoveryReport,
    private readonly opts: DLedgerServerOptions,
    private readonly clock: ElectorClock,
    private readonly logger: Logger,
  ) {
    this.transferConfig = opts.transferConfig ?? DEFAULT_TRANSFER_CONFIG;
    const transport = new RemotingPeerTransport(opts.remotingClient, state.peerMap, opts.rpcTimeoutMs ?? DLEDGER_RPC_TIMEOUT_MS, this.transferConfig.rpcTimeoutMs);
    state.updateLedgerIndexAndTerm(store.getLedgerEndIndex(), store.getLedgerEndTerm());
    const electorConfig = { ...(opts.electorConfig ?? DEFAULT_ELECTOR_CONFIG) };
    if (opts.preferredLeaderIds !== undefined) electorConfig.preferredLeaderIds = opts.preferredLeaderIds;
    this.preferredLeaderIds = preferredLeaderIdList(electorConfig.preferredLeaderIds);
    this.elector = new DLedgerLeaderElector(state, transport, clock, electorConfig, logger);
    this.pusher = new DLedgerEntryPusher(state, store, transport, clock, opts.pusherConfig ?? DEFAULT_PUSHER_CONFIG, logger);
    this.appliedIndex = store.getCommittedIndex();
    this.pusher.onCommittedIndexMoved(() => this.apply());
    // A role change may end a leadership with appends waiting: let the checker answer them now.
    this.elector.addRoleChangeHandler(() => this.pusher.wakeUp());
  }

  /** Open the store (recovering it) and the member state; start nothing yet. */
  static async open(opts: DLedgerServerOptions): Promise<DLedgerServer> {
    const state = await MemberState.open(opts.io, { storeBaseDir: opts.storeBaseDir, group: opts.group, selfId: opts.selfId, peers: opts.peers });
    const { store, report } = await DLedgerFileStore.open(opts.io, { storeBaseDir: opts.storeBaseDir, selfId: opts.selfId, dataFileBytes: opts.dataFileBytes, indexFileBytes: opts.indexFileBytes });
    return new DLedgerServer(state, store, report, opts, opts.clock ?? systemClock, opts.logger ?? silentLogger);
  }

  /** DLedgerServer#startup: handlers, elector, pusher, and the flush/checkpoint loop. */
  start(): void {
    registerDLedgerHandlers(this.opts.remotingServer, this.elector, this);
    this.elector.start();
    this.pusher.start();
    this.maintenance ??= this.runMaintenance();
    this.preferredLeaderLoop ??= this.runPreferredLeaderCheck();
  }

  /** DLedgerServer#shutdown: stop the loops, then flush and checkpoint the store and close it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopping.abort();
    await this.elector.stop();
    await this.pusher.stop();
    await this.maintenance;
    await this.preferredLeaderLoop;
    await this.applying;
    await this.store.close();
  }

  // ---- the in-process API ---------------------------------------------------------------------

  /**
   * Append `bodies` as leader (DLedgerServer#handleAppend's checks first) and resolve once every
   * one is committed. Appends of one call are consecutive entries.
   */
  async appendAsLeader(bodies: Buffer[]): Promise<AppendResult[]> {
    if (bodies.length === 0 || bodies.length > MAX_BODIES_PER_APPEND) throw new DLedgerError(DLedgerResponseCode.UNEXPECTED_ARGUMENT, `${bodies.length} bodies (1..${MAX_BODIES_PER_APPEND})`);
    this.checkLeader();
    if (this.pusher.config.maxPendingRequestsNum - this.pusher.pendingCount() < bodies.length) throw new DLedgerError(DLedgerResponseCode.LEADER_PENDING_FULL, `more than ${this.pusher.config.maxPendingRequestsNum} appends wait for a quorum`);
    const term = this.state.currTerm();
    const waits: Array<Promise<AppendResult>> = [];
    for (const body of bodies) {
      const entry = await this.appendOne(term, body);
      this.state.updateLedgerIndexAndTerm(this.store.getLedgerEndIndex(), this.store.getLedgerEndTerm());
      waits.push(this.pusher.waitAck(entry));
      // Leadership may have gone while we wrote; the waits already made will be failed for it.
      if (!this.state.isLeader() || this.state.currTerm() !== term) break;
    }
    const results = await Promise.allSettled(waits);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    if (waits.length < bodies.length) throw new DLedgerError(DLedgerResponseCode.TERM_CHANGED, `leadership of term ${term} ended during the append`);
    return results.map((r) => (r as PromiseFulfilledResult<AppendResult>).value);
  }

  /**
   * One entry in `term`. Leadership can end while the write waits its turn in the store (a new
   * leader's entries may even come first); the store then refuses an entry of an older term, and
   * that is a lost leadership, not a bug.
   */
  private async appendOne(term: number, body: Buffer): Promise<DLedgerEntry> {
    try {
      return await this.store.append({ term, body }, this.opts.appendHook);
    } catch (err) {
      if (err instanceof DLedgerError || (this.state.isLeader() && this.state.currTerm() === term)) throw err;
      throw new DLedgerError(DLedgerResponseCode.TERM_CHANGED, `leadership of term ${term} ended before the entry was written`);
    }
  }

  /**
   * Append `bodies` as leader and resolve once they are in the local log, with each entry's index
   * and pos; their commit comes through onCommitted. This is how RocketMQ's DLedgerCommitLog
   * appends (DLedgerCommitLog#asyncPutMessage waits on the AppendFuture itself): the quorum checker
   * learns of each entry (waitAck), and the caller bounds its own wait for the commit.
   */
  async appendLocal(bodies: Buffer[]): Promise<AppendResult[]> {
    if (bodies.length === 0 || bodies.length > MAX_BODIES_PER_APPEND) throw new DLedgerError(DLedgerResponseCode.UNEXPECTED_ARGUMENT, `${bodies.length} bodies (1..${MAX_BODIES_PER_APPEND})`);
    this.checkLeader();
    if (this.pusher.config.maxPendingRequestsNum - this.pusher.pendingCount() < bodies.length) throw new DLedgerError(DLedgerResponseCode.LEADER_PENDING_FULL, `more than ${this.pusher.config.maxPendingRequestsNum} appends wait for a quorum`);
    const term = this.state.currTerm();
    // All bodies are queued at once, so they are consecutive entries and one group write.
    const settled = await Promise.allSettled(bodies.map((body) => this.appendOne(term, body)));
    const placed: AppendResult[] = [];
    for (const r of settled) {
      if (r.status === 'rejected') throw r.reason;
      const entry = r.value;
      // The outcome is the caller's to wait for (through onCommitted); a failure here is not lost data.
      this.pusher.waitAck(entry).catch(() => undefined);
      placed.push({ index: entry.index, pos: entry.pos });
    }
    this.state.updateLedgerIndexAndTerm(this.store.getLedgerEndIndex(), this.store.getLedgerEndTerm());
    return placed;
  }

  /** Entries committed after the committed index now, in order, as they commit. Returns the unsubscribe. */
  onCommitted(listener: CommittedListener): () => void {
    const l = { after: this.store.getCommittedIndex(), fn: listener };
    this.listeners.push(l);
    return () => {
      const i = this.listeners.indexOf(l);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Called with the term and the new role whenever this node's role changes (DLedgerLeaderElector#addRoleChangeHandler). */
  onRoleChange(handler: (term: number, role: Role) => void): void {
    this.elector.addRoleChangeHandler(handler);
  }

  getCommittedIndex(): number {
    return this.store.getCommittedIndex();
  }

  getEntry(index: number): Promise<DLedgerEntry> {
    return this.store.get(index);
  }

  // ---- requests from peers and clients ------------------------------------------------------

  /** DLedgerServer#handleAppend. */
  async handleAppend(req: AppendEntryRequest): Promise<AppendEntryResponse> {
    const s = this.state;
    const answer = (code: number, index = -1, pos = -1): AppendEntryResponse => ({ ...baseDefaults(), group: s.group, code, term: s.currTerm(), leaderId: s.getLeaderId(), index, pos });
    const refused = this.memberRefusal(req);
    if (refused !== undefined) return answer(refused);
    if (!req.body) return answer(DLedgerResponseCode.REQUEST_WITH_EMPTY_BODYS);
    try {
      const [r] = await this.appendAsLeader([req.body]);
      return answer(DLedgerResponseCode.SUCCESS, r!.index, r!.pos);
    } catch (err) {
      if (err instanceof DLedgerError) return answer(err.dledgerCode);
      throw err;
    }
  }

  /** DLedgerServer#handleGet: the leader answers with the entry at beginIndex. */
  async handleGet(req: GetEntriesRequest): Promise<GetEntriesResponse> {
    const s = this.state;
    const answer = (code: number, entries: DLedgerEntry[] = []): GetEntriesResponse => ({ ...baseDefaults(), group: s.group, code, term: s.currTerm(), leaderId: s.getLeaderId(), entries });
    const refused = this.memberRefusal(req) ?? (s.isLeader() ? undefined : DLedgerResponseCode.NOT_LEADER);
    if (refused !== undefined) return answer(refused);
    try {
      return answer(DLedgerResponseCode.SUCCESS, [await this.store.get(req.beginIndex ?? 0)]);
    } catch (err) {
      if (err instanceof DLedgerError) return answer(err.dledgerCode);
      throw err;
    }
  }

  /**
   * Hand leadership to `transfereeId` as a LEADERSHIP_TRANSFER from a client would
   * (DLedgerClient#leadershipTransfer fills the request: this node as transferId, its current
   * term). Resolves with the answer: SUCCESS once the transferee leads a higher term, otherwise
   * the refusal (NOT_LEADER, UNKNOWN_MEMBER, FALL_BEHIND_TOO_MUCH, LEADER_TRANSFERRING,
   * TAKE_LEADERSHIP_FAILED, NETWORK_ERROR, ...). Never rejects for a DLedger refusal.
   */
  transferLeadership(transfereeId: string): Promise<LeadershipTransferResponse> {
    const s = this.state;
    return this.handleLeadershipTransfer({ ...baseDefaults(), group: s.group, remoteId: s.selfId, transferId: s.selfId, transfereeId, term: s.currTerm(), takeLeadershipLedgerIndex: 0 });
  }

  /**
   * DLedgerServer#handleLeadershipTransfer. At the leader (transferId is us): the transferee must
   * be a member, the term ours, we the leader, and the transferee less than
   * maxLeadershipTransferWaitIndex entries behind; then the elector hands over. At the transferee:
   * the request must come from our leader; wait (at most leadershipTransferWaitTimeoutMs) for our
   * log to reach takeLeadershipLedgerIndex, then take leadership. A refusal copies the request's
   * base with the code and our leader (the DLedgerException catch).
   */
  async handleLeadershipTransfer(req: LeadershipTransferRequest): Promise<LeadershipTransferResponse> {
    const s = this.state;
    const refuse = (code: number, why: string): LeadershipTransferResponse => {
      this.logger.warn(`dledger ${s.selfId}: leadership transfer ${req.transferId ?? '?'} -> ${req.transfereeId ?? '?'} refused: ${why}`);
      const { group, term, localId, remoteId } = req;
      return { group, term, localId, remoteId, code, leaderId: s.getLeaderId() };
    };
    const member = this.memberRefusal(req);
    if (member !== undefined) return refuse(member, `request for ${req.remoteId} of group ${req.group}`);
    if (req.transferId === s.selfId) {
      if (!s.isPeerMember(req.transfereeId)) return refuse(DLedgerResponseCode.UNKNOWN_MEMBER, `transferee ${req.transfereeId} is not a peer member`);
      // Java would send the take-leadership to itself and answer LEADER_TRANSFERRING; say what it is.
      if (req.transfereeId === s.selfId) return refuse(DLedgerResponseCode.UNEXPECTED_ARGUMENT, `transferee ${req.transfereeId} is the transferer`);
      if (s.currTerm() !== req.term) return refuse(DLedgerResponseCode.INCONSISTENT_TERM, `currTerm ${s.currTerm()} != request term ${req.term}`);
      if (!s.isLeader()) return refuse(DLedgerResponseCode.NOT_LEADER, `${s.selfId} is not the leader (leader: ${s.getLeaderId() ?? 'unknown'})`);
      const behind = this.fallBehind(req.transfereeId!);
      if (behind >= this.transferConfig.maxLeadershipTransferWaitIndex) return refuse(DLedgerResponseCode.FALL_BEHIND_TOO_MUCH, `transferee is ${behind} entries behind (max ${this.transferConfig.maxLeadershipTransferWaitIndex})`);
      return this.elector.handleLeadershipTransfer(req);
    }
    if (req.transfereeId === s.selfId) {
      if (req.transferId === undefined || req.transferId !== s.getLeaderId()) return refuse(DLedgerResponseCode.INCONSISTENT_LEADER, `transferer ${req.transferId} is not our leader ${s.getLeaderId() ?? '(none)'}`);
      const start = this.clock.now();
      // Bounded by leadershipTransferWaitTimeoutMs of the clock (and by close()).
      while (req.takeLeadershipLedgerIndex - s.getLedgerEndIndex() > 0) {
        if (this.clock.now() - start > this.transferConfig.leadershipTransferWaitTimeoutMs || this.closed) {
          return refuse(DLedgerResponseCode.TAKE_LEADERSHIP_FAILED, `log end ${s.getLedgerEndIndex()} did not reach ${req.takeLeadershipLedgerIndex} within ${this.transferConfig.leadershipTransferWaitTimeoutMs} ms`);
        }
        await this.clock.sleep(TAKE_LEADERSHIP_POLL_MS, this.stopping.signal);
      }
      return this.elector.handleTakeLeadership(req);
    }
    const { group, localId, remoteId, leaderId } = req;
    return { group, localId, remoteId, leaderId, term: s.currTerm(), code: DLedgerResponseCode.UNEXPECTED_ARGUMENT };
  }

  /** How far `peerId` is behind our log end (DLedgerEntryPusher#getPeerWaterMark of the current term). */
  private fallBehind(peerId: string): number {
    return this.store.getLedgerEndIndex() - this.pusher.getPeerWaterMark(peerId);
  }

  /**
   * DLedgerServer#checkPreferredLeader: as leader, not already handing over, and not preferred
   * ourselves, pick among the preferred ids that are members and answered our last heartbeat the
   * one least behind, and hand over to it if it is less than maxLeadershipTransferWaitIndex behind.
   * Resolves with the transfer's answer, or undefined when there was nothing to do.
   */
  async checkPreferredLeader(): Promise<LeadershipTransferResponse | undefined> {
    const s = this.state;
    if (!s.isLeader() || this.preferredLeaderIds.length === 0 || s.getTransferee() !== undefined) return undefined;
    if (this.preferredLeaderIds.includes(s.selfId)) return undefined;
    const candidates = this.preferredLeaderIds.filter((id) => s.isPeerMember(id) && s.peersLiveTable.get(id) === true);
    if (candidates.length === 0) return undefined;
    let best = candidates[0]!;
    let minBehind = Number.POSITIVE_INFINITY;
    for (const id of candidates) {
      const behind = this.fallBehind(id);
      if (behind < minBehind) {
        minBehind = behind;
        best = id;
      }
    }
    if (minBehind >= this.transferConfig.maxLeadershipTransferWaitIndex) return undefined;
    this.logger.info(`dledger ${s.selfId}: preferred leader ${best} is ${minBehind} entries behind: transferring leadership`);
    // Java calls the elector directly (no DLedgerServer checks) with only the term and transferee.
    return this.elector.handleLeadershipTransfer({ ...baseDefaults(), term: s.currTerm(), transfereeId: best, takeLeadershipLedgerIndex: 0 });
  }

  /** DLedgerServer#startup: checkPreferredLeader at a fixed rate; one check at a time (Java waits on each). */
  private async runPreferredLeaderCheck(): Promise<void> {
    if (this.preferredLeaderIds.length === 0) return;
    while (!this.stopping.signal.aborted) {
      await this.clock.sleep(this.transferConfig.checkPreferredLeaderIntervalMs, this.stopping.signal);
      if (this.stopping.signal.aborted) break;
      try {
        await this.checkPreferredLeader();
      } catch (err) {
        this.logger.warn(`dledger ${this.state.selfId}: checkPreferredLeader: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** DLedgerServer#handlePush: member and group, then the pusher's follower side. */
  async handlePush(req: PushEntryRequest): Promise<PushEntryResponse> {
    const refused = this.memberRefusal(req);
    if (refused !== undefined) return { ...baseDefaults(), group: req.group, term: req.term, code: refused, leaderId: this.state.getLeaderId(), beginIndex: -1, endIndex: -1, count: 0 };
    return this.pusher.handlePush(req);
  }

  private memberRefusal(req: RequestOrResponse): number | undefined {
    if (req.remoteId !== this.state.selfId) return DLedgerResponseCode.UNKNOWN_MEMBER;
    if (req.group !== this.state.group) return DLedgerResponseCode.UNKNOWN_GROUP;
    return undefined;
  }

  private checkLeader(): void {
    if (this.closed) throw new DLedgerError(DLedgerResponseCode.LEADER_NOT_READY, `DLedger ${this.state.selfId} is closed`);
    if (!this.state.isLeader()) throw new DLedgerError(DLedgerResponseCode.NOT_LEADER, `${this.state.selfId} is not the leader (leader: ${this.state.getLeaderId() ?? 'unknown'})`);
    // DLedgerServer#handleAppend: no appends while leadership is being handed over.
    const transferee = this.state.getTransferee();
    if (transferee !== undefined) throw new DLedgerError(DLedgerResponseCode.LEADER_TRANSFERRING, `${this.state.selfId} is handing leadership to ${transferee}`);
  }

  // ---- committed entries to the listeners, flush and checkpoint -----------------------------

  /** Hand every newly committed entry to the listeners, in order; one run at a time. */
  private apply(): void {
    if (this.applyRunning || this.closed) return;
    this.applyRunning = true;
    this.applying = this.applyCommitted().finally(() => {
      this.applyRunning = false;
      // The committed index may have moved while the last read was under way.
      if (this.appliedIndex < this.store.getCommittedIndex() && !this.closed) this.apply();
    });
  }

  private async applyCommitted(): Promise<void> {
    try {
      // Bounded: each round moves appliedIndex up by one towards a committed index that only grows.
      while (this.appliedIndex < this.store.getCommittedIndex() && !this.closed) {
        const entry = await this.store.get(this.appliedIndex + 1);
        this.appliedIndex = entry.index;
        for (const l of this.listeners) if (entry.index > l.after) this.deliver(l.fn, entry);
      }
    } catch (err) {
      this.logger.warn(`dledger ${this.state.selfId}: handing committed entries on: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private deliver(fn: CommittedListener, entry: DLedgerEntry): void {
    try {
      fn(entry);
    } catch (err) {
      this.logger.warn(`dledger ${this.state.selfId}: committed listener failed at ${entry.index}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** FlushDataService and the checkpoint thread of DLedgerMmapFileStore, as one bounded loop. */
  private async runMaintenance(): Promise<void> {
    const flushMs = this.opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    const checkpointMs = this.opts.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
    let flushedEnd = this.store.getLedgerEndIndex();
    let lastCheckpointAt = this.clock.now();
    let checkpointed = `${this.store.getLedgerEndIndex()}/${this.store.getCommittedIndex()}`;
    while (!this.stopping.signal.aborted) {
      try {
        if (this.store.getLedgerEndIndex() !== flushedEnd) {
          flushedEnd = this.store.getLedgerEndIndex();
          await this.store.flush();
        }
        const now = `${this.store.getLedgerEndIndex()}/${this.store.getCommittedIndex()}`;
        if (now !== checkpointed && this.clock.now() - lastCheckpointAt >= checkpointMs) {
          checkpointed = now;
          lastCheckpointAt = this.clock.now();
          await this.store.persistCheckpoint();
        }
      } catch (err) {
        this.logger.warn(`dledger ${this.state.selfId}: flush/checkpoint: ${err instanceof Error ? err.message : String(err)}`);
      }
      await this.clock.sleep(flushMs, this.stopping.signal);
    }
  }
}
