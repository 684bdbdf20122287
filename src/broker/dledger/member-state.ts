/**
 * A node's view of its group (openmessaging/dledger 0.3.1.2, MemberState): its role, the current
 * term and whom it voted for in it, the leader it knows, and the end of its log.
 *
 * `currTerm` and `voteFor` live in `<storeBaseDir>/dledger-<selfId>/currterm` as Java properties
 * `currTerm=<n>` and `voteLeader=<id or empty>` (MemberState#persistTerm / #loadTerm). Java writes
 * that file without fsync and logs a failure; here a change is durable (tmp, fsync, rename, fsync
 * dir) before the caller acts on it, and a failure is the caller's error: a vote is never granted
 * and a term never campaigned in that a restart could forget.
 */
import path from 'node:path';
import { parseProperties } from '../../protocol/java-properties.js';
import type { FileIO } from '../store/file-io.js';
import { invariant } from '../../util/invariant.js';
import { dledgerDir } from './file-store.js';
import { DLedgerResponseCode } from '../../protocol/dledger/protocol.js';
import { DLedgerError } from './errors.js';

/** MemberState.Role. */
export type Role = 'UNKNOWN' | 'CANDIDATE' | 'LEADER' | 'FOLLOWER';

export const TERM_PERSIST_FILE = 'currterm';
const TERM_KEY = 'currTerm';
const VOTE_FOR_KEY = 'voteLeader';

/**
 * `n0-127.0.0.1:40911;n1-...`: the id is what comes before the first `-`, the address the rest
 * (MemberState's constructor; DLedgerConfig#initPeerAddressMap reads it the same way).
 */
export function parsePeers(peers: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of peers.split(';')) {
    const dash = item.indexOf('-');
    if (dash <= 0 || dash === item.length - 1) throw new DLedgerError(DLedgerResponseCode.UNEXPECTED_ARGUMENT, `peer "${item}" is not id-host:port (in "${peers}")`);
    out.set(item.slice(0, dash), item.slice(dash + 1));
  }
  return out;
}

export interface MemberStateOptions {
  storeBaseDir: string;
  group: string;
  selfId: string;
  /** dLegerPeers: `n0-host:port;n1-host:port;...`, selfId among them. */
  peers: string;
}

export class MemberState {
  readonly group: string;
  readonly selfId: string;
  readonly peerMap: ReadonlyMap<string, string>;
  /** Java starts every node as a candidate (MemberState.role = CANDIDATE). */
  private role: Role = 'CANDIDATE';
  private leaderId: string | undefined;
  private term = 0;
  private voteFor: string | undefined;
  private ledgerEndIndex = -1;
  private ledgerEndTerm = -1;
  /** The largest term seen from others while a candidate; nextTerm jumps to it (MemberState#nextTerm). */
  private knownMaxTermInGroup = -1;
  /** The node leadership is being handed to; while set, the leader takes no appends (MemberState#transferee). */
  private transferee: string | undefined;
  /** The term this node was asked to take leadership in, or -1 (MemberState#termToTakeLeadership). */
  private termToTakeLeadership = -1;
  /**
   * Whether each peer answered the leader's last heartbeat (MemberState#peersLiveTable): filled by
   * the leader's heartbeats, cleared when a leadership starts; checkPreferredLeader reads it.
   */
  readonly peersLiveTable = new Map<string, boolean>();
  private readonly file: string;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly io: FileIO,
    opts: MemberStateOptions,
  ) {
    this.group = opts.group;
    this.selfId = opts.selfId;
    this.peerMap = parsePeers(opts.peers);
    if (!this.peerMap.has(opts.selfId)) throw new DLedgerError(DLedgerResponseCode.UNEXPECTED_ARGUMENT, `selfId ${opts.selfId} is not in peers ${opts.peers}`);
    this.file = path.join(dledgerDir(opts.storeBaseDir, opts.selfId), TERM_PERSIST_FILE);
  }

  /** MemberState#loadTerm: a missing file is term 0 and no vote. */
  static async open(io: FileIO, opts: MemberStateOptions): Promise<MemberState> {
    const s = new MemberState(io, opts);
    await io.mkdirp(path.dirname(s.file));
    if (await io.exists(s.file)) {
      const props = new Map(parseProperties((await io.readFile(s.file)).toString('utf8')).map((p) => [p.key, p.value]));
      const t = props.get(TERM_KEY);
      if (t !== undefined) {
        if (!/^\d+$/.test(t)) throw new DLedgerError(DLedgerResponseCode.DISK_ERROR, `${s.file}: ${TERM_KEY}=${t} is not a term`);
        s.term = Number(t);
      }
      const v = props.get(VOTE_FOR_KEY);
      s.voteFor = v === undefined || v === '' ? undefined : v;
    }
    return s;
  }

  currTerm(): number {
    return this.term;
  }
  currVoteFor(): string | undefined {
    return this.voteFor;
  }
  getRole(): Role {
    return this.role;
  }
  getLeaderId(): string | undefined {
    return this.leaderId;
  }
  getLedgerEndIndex(): number {
    return this.ledgerEndIndex;
  }
  getLedgerEndTerm(): number {
    return this.ledgerEndTerm;
  }
  isLeader(): boolean {
    return this.role === 'LEADER';
  }
  isFollower(): boolean {
    return this.role === 'FOLLOWER';
  }
  isCandidate(): boolean {
    return this.role === 'CANDIDATE';
  }
  peerSize(): number {
    return this.peerMap.size;
  }
  isPeerMember(id: string | undefined): boolean {
    return id !== undefined && this.peerMap.has(id);
  }
  /** MemberState#isQuorum: a strict majority (2 of 3, 3 of 5). */
  isQuorum(n: number): boolean {
    return n >= Math.floor(this.peerSize() / 2) + 1;
  }

  /**
   * MemberState#setCurrVoteFor. The vote is taken in memory at once (a second candidate asking
   * while the file is written sees it) and resolves once it is durable; if writing fails the vote
   * is given back and the error thrown, so it is never granted.
   */
  async setCurrVoteFor(id: string): Promise<void> {
    const before = this.voteFor;
    const term = this.term;
    this.voteFor = id;
    try {
      await this.persist();
    } catch (err) {
      if (this.term === term && this.voteFor === id) this.voteFor = before;
      throw err;
    }
  }

  /**
   * MemberState#nextTerm: only a candidate moves to a new term (the largest known, or one more),
   * with no vote yet; durable before it resolves, so no request in that term leaves first.
   */
  async nextTerm(): Promise<number> {
    if (this.role !== 'CANDIDATE') throw new DLedgerError(DLedgerResponseCode.ILLEGAL_MEMBER_STATE, `${this.role} != CANDIDATE`);
    this.term = this.knownMaxTermInGroup > this.term ? this.knownMaxTermInGroup : this.term + 1;
    this.voteFor = undefined;
    await this.persist();
    return this.term;
  }

  /** MemberState#changeToLeader. */
  changeToLeader(term: number): void {
    invariant(term === this.term, () => `leader of term ${term} in term ${this.term}`);
    this.role = 'LEADER';
    this.leaderId = this.selfId;
    this.peersLiveTable.clear();
  }

  /** MemberState#changeToFollower. */
  changeToFollower(term: number, leaderId: string): void {
    invariant(term === this.term, () => `follower in term ${term} in term ${this.term}`);
    this.role = 'FOLLOWER';
    this.leaderId = leaderId;
    this.transferee = undefined;
  }

  /** MemberState#changeToCandidate: the term is only noted; the candidate loop moves to it (nextTerm). */
  changeToCandidate(term: number): void {
    invariant(term >= this.term, () => `candidate for term ${term} in term ${this.term}`);
    if (term > this.knownMaxTermInGroup) this.knownMaxTermInGroup = term;
    this.role = 'CANDIDATE';
    this.leaderId = undefined;
    this.transferee = undefined;
  }

  getTransferee(): string | undefined {
    return this.transferee;
  }
  setTransferee(id: string | undefined): void {
    this.transferee = id;
  }
  getTermToTakeLeadership(): number {
    return this.termToTakeLeadership;
  }
  setTermToTakeLeadership(term: number): void {
    this.termToTakeLeadership = term;
  }

  /** MemberState#updateLedgerIndexAndTerm (the store tells it after each append or truncate). */
  updateLedgerIndexAndTerm(index: number, term: number): void {
    this.ledgerEndIndex = index;
    this.ledgerEndTerm = term;
  }

  /**
   * Write the term and vote as they are when the write starts. Writes run one after another (they
   * share the tmp file), so the last to resolve wrote the latest state.
   */
  private persist(): Promise<void> {
    const write = (): Promise<void> => this.io.writeFileAtomic(this.file, `${TERM_KEY}=${this.term}\n${VOTE_FOR_KEY}=${this.voteFor ?? ''}\n`);
    const run = this.writing.then(write, write);
    this.writing = run.catch(() => undefined);
    return run;
  }
}
