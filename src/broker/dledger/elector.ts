/**
 * Leader election and heartbeats as openmessaging/dledger 0.3.1.2's DLedgerLeaderElector runs them,
 * with its defaults (DLedgerConfig: heartBeatTimeIntervalMs 2000, maxHeartBeatLeak 3, vote interval
 * 300-1000 ms). Time, sleeping and randomness come from an ElectorClock and peers are reached
 * through a DLedgerPeerTransport, so tests drive every step without wall time.
 *
 * The loop (StateMaintainer): every 10 ms, by role,
 *  - leader: every heartBeatTimeIntervalMs send HEART_BEAT to all peers and wait (bounded) for a
 *    quorum; step down to candidate on a larger term, an inconsistent leader, or no quorum of
 *    successes for maxHeartBeatLeak intervals;
 *  - follower: no heartbeat from the leader for maxHeartBeatLeak intervals: candidate;
 *  - candidate: at nextTimeToRequestVote (now + random [min, max) ms) vote for itself and ask the
 *    others; the term goes up only after a round that ended WAIT_TO_VOTE_NEXT or when a larger term
 *    was seen, which keeps terms from climbing while peers are down.
 *
 * Leadership transfer (DLedgerLeaderElector#handleLeadershipTransfer / #handleTakeLeadership and
 * TakeLeadershipTask): the leader marks the transferee (no appends meanwhile) and asks it to take
 * over; the transferee becomes a candidate of the next term at once and answers when it has won
 * (SUCCESS) or lost (TAKE_LEADERSHIP_FAILED, EXPIRED_TERM). A preferred leader taking over votes
 * sooner (min/maxTakeLeadershipVoteIntervalMs) and refuses a rival's vote
 * (REJECT_TAKING_LEADERSHIP). The checks before the elector's part are DLedgerServer's (server.ts).
 */
import { silentLogger, type Logger } from '../../remoting/server.js';
import type { MemberState, Role } from './member-state.js';
import {
  baseDefaults,
  DLedgerResponseCode,
  type HeartBeatRequest,
  type HeartBeatResponse,
  type LeadershipTransferRequest,
  type LeadershipTransferResponse,
  type RequestOrResponse,
  type VoteRequest,
  type VoteResponse,
  type VoteResult,
} from '../../protocol/dledger/protocol.js';

export interface ElectorClock {
  now(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** Uniform in [0, 1). */
  random(): number;
}

export const systemClock: ElectorClock = {
  now: () => Date.now(),
  // A timer and an abort listener, not timers/promises: an abort there rejects with a fresh
  // AbortError, and DLedger's loops are woken (aborted) for every append.
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    }),
  random: () => Math.random(),
};

/** How the elector reaches a peer. Never rejects: an unreachable peer is an answer too. */
export interface DLedgerPeerTransport {
  /** DLedgerRpcNettyService#vote: no answer is a VoteResponse left UNKNOWN. */
  vote(peerId: string, req: VoteRequest): Promise<VoteResponse>;
  /** DLedgerRpcNettyService#heartBeat: no answer is code NETWORK_ERROR. */
  heartBeat(peerId: string, req: HeartBeatRequest): Promise<HeartBeatResponse>;
  /** DLedgerRpcNettyService#leadershipTransfer: no answer is the request's base with code NETWORK_ERROR. */
  leadershipTransfer(peerId: string, req: LeadershipTransferRequest): Promise<LeadershipTransferResponse>;
}

export interface ElectorConfig {
  heartBeatTimeIntervalMs: number;
  maxHeartBeatLeak: number;
  minVoteIntervalMs: number;
  maxVoteIntervalMs: number;
  /** DLedgerConfig#preferredLeaderIds: `;`-separated ids; unset by default. */
  preferredLeaderIds?: string;
  /** DLedgerConfig#minTakeLeadershipVoteIntervalMs / #maxTakeLeadershipVoteIntervalMs (30, 100). */
  minTakeLeadershipVoteIntervalMs?: number;
  maxTakeLeadershipVoteIntervalMs?: number;
}

/** DLedgerConfig#minTakeLeadershipVoteIntervalMs, #maxTakeLeadershipVoteIntervalMs. */
export const DEFAULT_MIN_TAKE_LEADERSHIP_VOTE_INTERVAL_MS = 30;
export const DEFAULT_MAX_TAKE_LEADERSHIP_VOTE_INTERVAL_MS = 100;

/** DLedgerConfig#preferredLeaderIds split as Java splits it (`;`), empty items dropped. */
export function preferredLeaderIdList(ids: string | undefined): string[] {
  return ids === undefined ? [] : ids.split(';').filter((x) => x !== '');
}

/** DLedgerConfig's defaults. */
export const DEFAULT_ELECTOR_CONFIG: ElectorConfig = { heartBeatTimeIntervalMs: 2000, maxHeartBeatLeak: 3, minVoteIntervalMs: 300, maxVoteIntervalMs: 1000 };
/** StateMaintainer#doWork sleeps this long between rounds. */
export const MAINTAIN_INTERVAL_MS = 10;
/** A vote round waits this long plus random [0, maxVoteIntervalMs) for answers (#maintainAsCandidate). */
const VOTE_WAIT_BASE_MS = 2000;

/** VoteResponse.ParseResult. */
export type ParseResult = 'WAIT_TO_REVOTE' | 'REVOTE_IMMEDIATELY' | 'PASSED' | 'WAIT_TO_VOTE_NEXT';

export type RoleChangeHandler = (term: number, role: Role) => void;

export class DLedgerLeaderElector {
  private lastLeaderHeartBeatTime = -1;
  private lastSendHeartBeatTime = -1;
  private lastSuccHeartBeatTime = -1;
  private nextTimeToRequestVote = -1;
  private needIncreaseTermImmediately = false;
  private lastParseResult: ParseResult = 'WAIT_TO_REVOTE';
  /** TakeLeadershipTask: the take-leadership request this node answers once its role settles. */
  private takeLeadership: { request: LeadershipTransferRequest; resolve: (r: LeadershipTransferResponse) => void } | undefined;
  private readonly roleChangeHandlers: RoleChangeHandler[] = [];
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    readonly state: MemberState,
    private readonly transport: DLedgerPeerTransport,
    private readonly clock: ElectorClock = systemClock,
    readonly config: ElectorConfig = DEFAULT_ELECTOR_CONFIG,
    private readonly logger: Logger = silentLogger,
  ) {}

  addRoleChangeHandler(h: RoleChangeHandler): void {
    this.roleChangeHandlers.push(h);
  }

  /** Result of the last vote round (tests and status). */
  lastVoteParseResult(): ParseResult {
    return this.lastParseResult;
  }

  /** StateMaintainer#start: run maintainState every MAINTAIN_INTERVAL_MS until stop(). */
  start(): void {
    if (this.loop) return;
    this.loop = (async () => {
      while (!this.stopping.signal.aborted) {
        try {
          await this.maintainState();
        } catch (err) {
          this.logger.warn(`dledger ${this.state.selfId}: ${err instanceof Error ? err.message : String(err)}`);
        }
        await this.clock.sleep(MAINTAIN_INTERVAL_MS, this.stopping.signal);
      }
    })();
  }

  /** Stop the loop; resolves when the round under way has ended (its waits end at once). */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  /** DLedgerLeaderElector#maintainState: one round for the current role. */
  async maintainState(): Promise<void> {
    if (this.state.isLeader()) await this.maintainAsLeader();
    else if (this.state.isFollower()) this.maintainAsFollower();
    else await this.maintainAsCandidate();
  }

  // ---- requests from peers ------------------------------------------------------------------

  /** DLedgerServer#handleHeartBeat: the member and group checks, then the elector's rules. */
  handleHeartBeatRequest(req: HeartBeatRequest): HeartBeatResponse {
    return this.refusal(req) ?? this.handleHeartBeat(req);
  }

  /** DLedgerServer#handleVote: the member and group checks, then the elector's rules. */
  async handleVoteRequest(req: VoteRequest): Promise<VoteResponse> {
    const refused = this.refusal(req);
    return refused ? { ...refused, voteResult: 'UNKNOWN' } : this.handleVote(req, false);
  }

  /** Not for this node or not this group: the answer DLedgerServer gives (base copied, our leader). */
  private refusal(req: RequestOrResponse): RequestOrResponse | undefined {
    const code = req.remoteId !== this.state.selfId ? DLedgerResponseCode.UNKNOWN_MEMBER : req.group !== this.state.group ? DLedgerResponseCode.UNKNOWN_GROUP : undefined;
    return code === undefined ? undefined : { ...copyBase(req), code, leaderId: this.state.getLeaderId() };
  }

  /** DLedgerLeaderElector#handleHeartBeat. */
  handleHeartBeat(req: HeartBeatRequest): HeartBeatResponse {
    const s = this.state;
    const answer = (code: number, term = -1): HeartBeatResponse => ({ ...baseDefaults(), code, term });
    if (!s.isPeerMember(req.leaderId)) return answer(DLedgerResponseCode.UNKNOWN_MEMBER, s.currTerm());
    if (req.leaderId === s.selfId) return answer(DLedgerResponseCode.UNEXPECTED_MEMBER, s.currTerm());
    if (req.term < s.currTerm()) return answer(DLedgerResponseCode.EXPIRED_TERM, s.currTerm());
    if (req.term === s.currTerm()) {
      if (s.getLeaderId() === undefined) {
        this.changeRoleToFollower(req.term, req.leaderId!);
        return answer(DLedgerResponseCode.SUCCESS);
      }
      if (req.leaderId === s.getLeaderId()) {
        this.lastLeaderHeartBeatTime = this.clock.now();
        return answer(DLedgerResponseCode.SUCCESS);
      }
      this.logger.error(`dledger ${s.selfId}: term ${s.currTerm()} has leader ${s.getLeaderId()}, heartbeat from ${req.leaderId}`);
      return answer(DLedgerResponseCode.INCONSISTENT_LEADER);
    }
    // A larger term: become a candidate of it first; the candidate loop moves to it at once.
    this.changeRoleToCandidate(req.term);
    this.needIncreaseTermImmediately = true;
    return answer(DLedgerResponseCode.TERM_NOT_READY);
  }

  /**
   * DLedgerLeaderElector#handleVote. One vote per term: it is taken before anything is awaited
   * (a second candidate sees it) and ACCEPT is answered only once it is on disk.
   */
  async handleVote(req: VoteRequest, self: boolean): Promise<VoteResponse> {
    const s = this.state;
    const answer = (voteResult: VoteResult, term = s.currTerm()): VoteResponse => ({ ...copyBase(req), term, voteResult });
    if (!s.isPeerMember(req.leaderId)) return answer('REJECT_UNKNOWN_LEADER');
    if (!self && req.leaderId === s.selfId) return answer('REJECT_UNEXPECTED_LEADER');
    if (req.ledgerEndTerm < s.getLedgerEndTerm()) return answer('REJECT_EXPIRED_LEDGER_TERM');
    if (req.ledgerEndTerm === s.getLedgerEndTerm() && req.ledgerEndIndex < s.getLedgerEndIndex()) return answer('REJECT_SMALL_LEDGER_END_INDEX');
    if (req.term < s.currTerm()) return answer('REJECT_EXPIRED_VOTE_TERM');
    if (req.term > s.currTerm()) {
      // Stepped down by a larger term; votes are only given in our own current term.
      this.changeRoleToCandidate(req.term);
      this.needIncreaseTermImmediately = true;
      return answer('REJECT_TERM_NOT_READY');
    }
    const votedFor = s.currVoteFor();
    if (votedFor !== undefined && votedFor !== req.leaderId) return answer(s.getLeaderId() !== undefined ? 'REJECT_ALREADY_HAS_LEADER' : 'REJECT_ALREADY_VOTED');
    if (req.term < s.getLedgerEndTerm()) return answer('REJECT_TERM_SMALL_THAN_LEDGER', s.getLedgerEndTerm());
    // A preferred leader taking over does not give its vote away to a rival whose log is no longer.
    if (!self && this.isTakingLeadership() && req.ledgerEndTerm === s.getLedgerEndTerm() && s.getLedgerEndIndex() >= req.ledgerEndIndex) return answer('REJECT_TAKING_LEADERSHIP');
    try {
      await s.setCurrVoteFor(req.leaderId!);
    } catch (err) {
      this.logger.error(`dledger ${s.selfId}: cannot persist the vote for ${req.leaderId} in term ${req.term}: ${err instanceof Error ? err.message : String(err)}`);
      return { ...answer('UNKNOWN'), code: DLedgerResponseCode.DISK_ERROR };
    }
    return answer('ACCEPT');
  }

  // ---- role changes -------------------------------------------------------------------------

  private changeRoleToLeader(term: number): void {
    if (this.state.currTerm() !== term) return;
    this.state.changeToLeader(term);
    this.lastSendHeartBeatTime = -1;
    this.roleChanged(term, 'LEADER');
  }

  private changeRoleToCandidate(term: number): void {
    if (term < this.state.currTerm()) return;
    this.state.changeToCandidate(term);
    this.roleChanged(term, 'CANDIDATE');
  }

  private changeRoleToFollower(term: number, leaderId: string): void {
    this.lastParseResult = 'WAIT_TO_REVOTE';
    this.state.changeToFollower(term, leaderId);
    this.lastLeaderHeartBeatTime = this.clock.now();
    this.roleChanged(term, 'FOLLOWER');
  }

  private roleChanged(term: number, role: Role): void {
    try {
      this.checkTakeLeadership(term, role);
    } catch (err) {
      this.logger.error(`dledger ${this.state.selfId}: take-leadership check failed in term ${term} as ${role}: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.logger.info(`dledger ${this.state.selfId}: ${role} in term ${term}${role === 'FOLLOWER' ? ` of ${this.state.getLeaderId()}` : ''}`);
    for (const h of this.roleChangeHandlers) {
      try {
        h(term, role);
      } catch (err) {
        this.logger.warn(`dledger ${this.state.selfId}: role change handler failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  // ---- the roles' rounds ----------------------------------------------------------------------

  /** Milliseconds since `t`; a time never set (-1) is long ago. */
  private since(t: number): number {
    return t < 0 ? Number.POSITIVE_INFINITY : this.clock.now() - t;
  }

  private async maintainAsLeader(): Promise<void> {
    if (this.since(this.lastSendHeartBeatTime) <= this.config.heartBeatTimeIntervalMs) return;
    const term = this.state.currTerm();
    const leaderId = this.state.getLeaderId()!;
    this.lastSendHeartBeatTime = this.clock.now();
    await this.sendHeartbeats(term, leaderId);
  }

  private maintainAsFollower(): void {
    const { heartBeatTimeIntervalMs, maxHeartBeatLeak } = this.config;
    if (this.since(this.lastLeaderHeartBeatTime) > maxHeartBeatLeak * heartBeatTimeIntervalMs) {
      this.logger.info(`dledger ${this.state.selfId}: no heartbeat from ${this.state.getLeaderId()} for ${maxHeartBeatLeak * heartBeatTimeIntervalMs} ms`);
      this.changeRoleToCandidate(this.state.currTerm());
    }
  }

  /** DLedgerLeaderElector#sendHeartbeats. */
  private async sendHeartbeats(term: number, leaderId: string): Promise<void> {
    const s = this.state;
    let succ = 1;
    let notReady = 0;
    let maxTerm = -1;
    let inconsistentLeader = false;
    const asks = this.others().map((id) =>
      this.transport.heartBeat(id, { ...baseDefaults(), group: s.group, localId: s.selfId, remoteId: id, leaderId, term }).then((x) => {
        // DLedgerLeaderElector#sendHeartbeats: anything but NETWORK_ERROR is a live peer.
        s.peersLiveTable.set(id, x.code !== DLedgerResponseCode.NETWORK_ERROR);
        if (x.code === DLedgerResponseCode.SUCCESS) succ++;
        else if (x.code === DLedgerResponseCode.EXPIRED_TERM) maxTerm = x.term;
        else if (x.code === DLedgerResponseCode.INCONSISTENT_LEADER) inconsistentLeader = true;
        else if (x.code === DLedgerResponseCode.TERM_NOT_READY) notReady++;
      }),
    );
    await this.latch(asks, () => s.isQuorum(succ) || s.isQuorum(succ + notReady), this.config.heartBeatTimeIntervalMs);
    if (s.isQuorum(succ)) {
      this.lastSuccHeartBeatTime = this.clock.now();
      return;
    }
    if (s.isQuorum(succ + notReady)) this.lastSendHeartBeatTime = -1;
    else if (maxTerm > term) this.changeRoleToCandidate(maxTerm);
    else if (inconsistentLeader) this.changeRoleToCandidate(term);
    else if (this.since(this.lastSuccHeartBeatTime) > this.config.maxHeartBeatLeak * this.config.heartBeatTimeIntervalMs) this.changeRoleToCandidate(term);
  }

  /** DLedgerLeaderElector#getNextTimeToRequestVote: sooner for a preferred leader taking over. */
  private nextVoteTime(): number {
    if (this.isTakingLeadership()) {
      const min = this.config.minTakeLeadershipVoteIntervalMs ?? DEFAULT_MIN_TAKE_LEADERSHIP_VOTE_INTERVAL_MS;
      const max = this.config.maxTakeLeadershipVoteIntervalMs ?? DEFAULT_MAX_TAKE_LEADERSHIP_VOTE_INTERVAL_MS;
      return this.clock.now() + min + Math.floor(this.clock.random() * (max - min));
    }
    const { minVoteIntervalMs, maxVoteIntervalMs } = this.config;
    return this.clock.now() + minVoteIntervalMs + Math.floor(this.clock.random() * (maxVoteIntervalMs - minVoteIntervalMs));
  }

  /** DLedgerLeaderElector#maintainAsCandidate. */
  private async maintainAsCandidate(): Promise<void> {
    const s = this.state;
    if (this.clock.now() < this.nextTimeToRequestVote && !this.needIncreaseTermImmediately) return;
    if (!s.isCandidate()) return;
    let term = s.currTerm();
    if (this.lastParseResult === 'WAIT_TO_VOTE_NEXT' || this.needIncreaseTermImmediately) {
      term = await s.nextTerm();
      this.lastParseResult = 'WAIT_TO_REVOTE';
      // The term is on disk; while it was written a peer may have made us a follower.
      if (!s.isCandidate() || s.currTerm() !== term) return;
    }
    if (this.needIncreaseTermImmediately) {
      this.nextTimeToRequestVote = this.nextVoteTime();
      this.needIncreaseTermImmediately = false;
      return;
    }
    const tally = await this.requestVotes(term, s.getLedgerEndTerm(), s.getLedgerEndIndex());
    const result = this.parseVotes(term, tally);
    this.lastParseResult = result;
    this.logger.info(`dledger ${s.selfId}: vote term ${term}: ${JSON.stringify(tally)} -> ${result}`);
    if (result === 'PASSED') this.changeRoleToLeader(term);
  }

  /** DLedgerLeaderElector#voteForQuorumResponses and the counting that follows it. */
  private async requestVotes(term: number, ledgerEndTerm: number, ledgerEndIndex: number): Promise<VoteTally> {
    const s = this.state;
    const t: VoteTally = { knownMaxTerm: term, valid: 0, accepted: 0, notReady: 0, biggerLedger: 0, alreadyHasLeader: false };
    const asks = [...s.peerMap.keys()].map((id) => {
      const req: VoteRequest = { ...baseDefaults(), group: s.group, ledgerEndIndex, ledgerEndTerm, leaderId: s.selfId, term, remoteId: id, localId: s.selfId };
      const answer = id === s.selfId ? this.handleVote(req, true) : this.transport.vote(id, req);
      return answer.then((x) => countVote(t, x));
    });
    const waitMs = VOTE_WAIT_BASE_MS + Math.floor(this.clock.random() * this.config.maxVoteIntervalMs);
    await this.latch(asks, () => t.alreadyHasLeader || s.isQuorum(t.accepted) || s.isQuorum(t.accepted + t.notReady), waitMs);
    return { ...t };
  }

  private parseVotes(term: number, t: VoteTally): ParseResult {
    const s = this.state;
    const { heartBeatTimeIntervalMs, maxHeartBeatLeak, maxVoteIntervalMs } = this.config;
    if (t.knownMaxTerm > term) {
      this.nextTimeToRequestVote = this.nextVoteTime();
      this.changeRoleToCandidate(t.knownMaxTerm);
      return 'WAIT_TO_VOTE_NEXT';
    }
    if (t.alreadyHasLeader) {
      this.nextTimeToRequestVote = this.nextVoteTime() + heartBeatTimeIntervalMs * maxHeartBeatLeak;
      return 'WAIT_TO_REVOTE';
    }
    if (!s.isQuorum(t.valid)) {
      this.nextTimeToRequestVote = this.nextVoteTime();
      return 'WAIT_TO_REVOTE';
    }
    if (!s.isQuorum(t.valid - t.biggerLedger)) {
      this.nextTimeToRequestVote = this.nextVoteTime() + maxVoteIntervalMs;
      return 'WAIT_TO_REVOTE';
    }
    if (s.isQuorum(t.accepted)) return 'PASSED';
    if (s.isQuorum(t.accepted + t.notReady)) return 'REVOTE_IMMEDIATELY';
    this.nextTimeToRequestVote = this.nextVoteTime();
    return 'WAIT_TO_VOTE_NEXT';
  }

  // ---- leadership transfer ------------------------------------------------------------------

  /** DLedgerLeaderElector#isTakingLeadership: a preferred leader asked to take over in this very term. */
  private isTakingLeadership(): boolean {
    const ids = preferredLeaderIdList(this.config.preferredLeaderIds);
    return ids.length > 0 && this.state.getTermToTakeLeadership() === this.state.currTerm() && ids.includes(this.state.selfId);
  }

  /**
   * DLedgerLeaderElector#handleLeadershipTransfer, the leader's part once DLedgerServer has checked
   * the transferee (a member, caught up): mark it (appends are refused while it is set), ask it to
   * take leadership with our log end as takeLeadershipLedgerIndex, and relay its answer. The mark
   * is cleared when the answer is a failure, or when we are still in the request's term.
   */
  async handleLeadershipTransfer(req: LeadershipTransferRequest): Promise<LeadershipTransferResponse> {
    const s = this.state;
    const answer = (code: number): LeadershipTransferResponse => ({ ...baseDefaults(), term: s.currTerm(), code });
    if (s.currTerm() !== req.term) return answer(DLedgerResponseCode.INCONSISTENT_TERM);
    if (!s.isLeader()) return answer(DLedgerResponseCode.NOT_LEADER);
    if (s.getTransferee() !== undefined) return answer(DLedgerResponseCode.LEADER_TRANSFERRING);
    const transfereeId = req.transfereeId!;
    s.setTransferee(transfereeId);
    const take: LeadershipTransferRequest = {
      ...baseDefaults(),
      group: s.group,
      leaderId: s.getLeaderId(),
      localId: s.selfId,
      remoteId: transfereeId,
      term: req.term,
      takeLeadershipLedgerIndex: s.getLedgerEndIndex(),
      transferId: s.selfId,
      transfereeId,
    };
    this.logger.info(`dledger ${s.selfId}: handing leadership of term ${req.term} to ${transfereeId} (log end ${take.takeLeadershipLedgerIndex})`);
    const res = await this.transport.leadershipTransfer(transfereeId, take);
    if (res.code !== DLedgerResponseCode.SUCCESS || (s.currTerm() === req.term && s.getTransferee() !== undefined)) s.setTransferee(undefined);
    this.logger.info(`dledger ${s.selfId}: leadership transfer to ${transfereeId}: code ${res.code}, term ${res.term}`);
    return res;
  }

  /**
   * DLedgerLeaderElector#handleTakeLeadership, the transferee's part (DLedgerServer waited for its
   * log to reach takeLeadershipLedgerIndex): become a candidate of the next term at once; the
   * answer comes when the role settles in that term (#checkTakeLeadership).
   */
  handleTakeLeadership(req: LeadershipTransferRequest): Promise<LeadershipTransferResponse> {
    const s = this.state;
    if (s.currTerm() !== req.term) return Promise.resolve({ ...baseDefaults(), term: s.currTerm(), code: DLedgerResponseCode.INCONSISTENT_TERM });
    const targetTerm = req.term + 1;
    s.setTermToTakeLeadership(targetTerm);
    const answer = new Promise<LeadershipTransferResponse>((resolve) => {
      this.takeLeadership = { request: req, resolve };
    });
    this.changeRoleToCandidate(targetTerm);
    this.needIncreaseTermImmediately = true;
    return answer;
  }

  /** TakeLeadershipTask#check: answer the pending take-leadership once the role in that term is known. */
  private checkTakeLeadership(term: number, role: Role): void {
    const task = this.takeLeadership;
    const target = this.state.getTermToTakeLeadership();
    if (target === -1 || task === undefined) return;
    let code: number;
    if (term > target) code = DLedgerResponseCode.EXPIRED_TERM;
    else if (term === target) {
      if (role === 'LEADER') code = DLedgerResponseCode.SUCCESS;
      else if (role === 'FOLLOWER') code = DLedgerResponseCode.TAKE_LEADERSHIP_FAILED;
      else return;
    } else {
      // A heartbeat of the old term may make us a follower before the term moves up.
      code = role === 'FOLLOWER' ? DLedgerResponseCode.TAKE_LEADERSHIP_FAILED : DLedgerResponseCode.INTERNAL_ERROR;
    }
    this.state.setTermToTakeLeadership(-1);
    this.takeLeadership = undefined;
    this.logger.info(`dledger ${this.state.selfId}: take leadership of term ${target}: code ${code} (now ${role} in term ${term})`);
    task.resolve({ ...baseDefaults(), term, code });
  }

  // ---- helpers ------------------------------------------------------------------------------

  private others(): string[] {
    return [...this.state.peerMap.keys()].filter((id) => id !== this.state.selfId);
  }

  /**
   * The CountDownLatch the Java rounds wait on: resolves when `enough()` holds after an answer,
   * when every answer is in, after `timeoutMs`, or when the elector stops. Answers after that
   * still count into the caller's tallies, which are read no more.
   */
  private async latch(asks: Array<Promise<void>>, enough: () => boolean, timeoutMs: number): Promise<void> {
    const done = new AbortController();
    const onStop = (): void => done.abort();
    this.stopping.signal.addEventListener('abort', onStop, { once: true });
    let pending = asks.length;
    for (const a of asks) {
      void a.finally(() => {
        pending--;
        if (pending === 0 || enough()) done.abort();
      });
    }
    if (asks.length === 0 || enough()) done.abort();
    await this.clock.sleep(timeoutMs, done.signal);
    done.abort();
    this.stopping.signal.removeEventListener('abort', onStop);
  }
}

interface VoteTally {
  knownMaxTerm: number;
  valid: number;
  accepted: number;
  notReady: number;
  biggerLedger: number;
  alreadyHasLeader: boolean;
}

/** One answer into the tally, as the whenComplete of #maintainAsCandidate counts it. */
function countVote(t: VoteTally, x: VoteResponse): void {
  if (x.voteResult !== 'UNKNOWN') t.valid++;
  switch (x.voteResult) {
    case 'ACCEPT':
      t.accepted++;
      break;
    case 'REJECT_ALREADY_HAS_LEADER':
      t.alreadyHasLeader = true;
      break;
    case 'REJECT_TERM_SMALL_THAN_LEDGER':
    case 'REJECT_EXPIRED_VOTE_TERM':
      if (x.term > t.knownMaxTerm) t.knownMaxTerm = x.term;
      break;
    case 'REJECT_EXPIRED_LEDGER_TERM':
    case 'REJECT_SMALL_LEDGER_END_INDEX':
      t.biggerLedger++;
      break;
    case 'REJECT_TERM_NOT_READY':
      t.notReady++;
      break;
    default:
      break;
  }
}

/** RequestOrResponse#copyBaseInfo. */
function copyBase(req: RequestOrResponse): RequestOrResponse {
  const { group, term, code, localId, remoteId, leaderId } = req;
  return { group, term, code, localId, remoteId, leaderId };
}
