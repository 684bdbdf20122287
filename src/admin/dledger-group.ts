/**
 * A DLedger group's members and how far each is behind its leader (`dledgerGroup`, issue 12).
 *
 * mqadmin has no such command; DLedger's own tooling asks a member for METADATA
 * (DLedgerServer#handleMetadata, openmessaging/dledger 0.3.1.2). Here, per broker name known to the
 * name server:
 *  - every registered address is asked for its runtime info: rocketctl members report role, term,
 *    ledger end and committed index in their dLeger* keys (protocol/dledger-state.ts), and name
 *    every member of the group in dLegerPeers;
 *  - each member of dLegerPeers that no registered broker reported (a candidate not yet
 *    registered, a stopped member, an Apache member) is asked METADATA on its DLedger port. Its
 *    answer carries its known leader only: LEADER when it names itself, FOLLOWER when it names
 *    another, CANDIDATE when none; term and indexes stay unknown. No answer is UNREACHABLE.
 * lag = the leader's ledger end index - the member's (entries the member still has to receive).
 */
import { RocketError, UsageError } from '../errors/index.js';
import { bodyBuffer } from '../protocol/frame.js';
import { dledgerStateOf, type DLedgerState } from '../protocol/dledger-state.js';
import { baseDefaults, decodeBody, DLedgerRequestCode, dledgerRequestCommand, DLedgerResponseCode, dledgerCodeName, encodeBody, METADATA_REQUEST_SCHEMA, METADATA_RESPONSE_SCHEMA } from '../protocol/dledger/protocol.js';
import type { BrokerData } from '../protocol/bodies.js';
import { asRocketError, BROKER_PARALLELISM, errorText, failureOf, mapBounded, type BrokerFailure } from './fanout.js';
import { getBrokerRuntimeInfo } from './requests.js';
import { sessionInvoke, type AdminSession } from './session.js';
import { clusterInfo } from './targets.js';
import { parseDLedgerPeers } from './dledger.js';

export type MemberRole = 'LEADER' | 'FOLLOWER' | 'CANDIDATE' | 'UNKNOWN' | 'UNREACHABLE';

export interface DLedgerGroupMember {
  selfId: string;
  /** Its DLedger address, from dLegerPeers. */
  dledgerAddr: string;
  /** Its broker address and id as registered with the name server; null when not registered. */
  addr: string | null;
  brokerId: number | null;
  role: MemberRole;
  /** Where the state came from: the broker's runtime info, the DLedger port's METADATA, or nowhere. */
  source: 'runtime-info' | 'metadata' | 'none';
  term: number | null;
  leaderId: string | null;
  writable: boolean | null;
  ledgerEndIndex: number | null;
  committedIndex: number | null;
  /** The leader's ledger end index minus this member's; null when either is unknown. */
  lag: number | null;
  /** Why the member is UNREACHABLE, or what its DLedger port refused. */
  error: string | null;
}

export interface DLedgerGroupStatus {
  brokerName: string;
  /** dLegerGroup. */
  group: string;
  /** Self id of the leader (the highest term's, when two claim it), null during an election. */
  leader: string | null;
  term: number | null;
  leaderEndIndex: number | null;
  /** Members in dLegerPeers, those that answered, and how many make a majority. */
  size: number;
  up: number;
  majority: number;
  majorityOk: boolean;
  members: DLedgerGroupMember[];
}

export interface DLedgerGroupResult {
  groups: DLedgerGroupStatus[];
  /** Registered addresses whose runtime info could not be read (their member is still probed by METADATA). */
  failed: BrokerFailure[];
}

/** Every DLedger group known to the name server, or only broker name `brokerName`. */
export async function dledgerGroupStatus(s: AdminSession, brokerName?: string): Promise<DLedgerGroupResult> {
  const info = await clusterInfo(s);
  const names = brokerName !== undefined ? [brokerName] : Object.keys(info.brokerAddrTable).sort();
  if (brokerName !== undefined && !info.brokerAddrTable[brokerName]) {
    throw new UsageError(`no broker named ${brokerName} is registered with the name server`, ['list the brokers: rocketctl clusterList']);
  }
  const groups: DLedgerGroupStatus[] = [];
  const failed: BrokerFailure[] = [];
  for (const name of names) {
    const r = await groupOf(s, name, info.brokerAddrTable[name]!);
    failed.push(...r.failed);
    if (r.group) groups.push(r.group);
    else if (brokerName !== undefined) {
      if (r.failed.length > 0 && r.failed.length === Object.keys(info.brokerAddrTable[name]!.brokerAddrs).length) throw new RocketError(`no member of ${name} answered: ${r.failed[0]!.message}`, { code: r.failed[0]!.code });
      throw new RocketError(`${name} reports no DLedger state: it is not a DLedger group of rocketctl brokers (enableDLegerCommitLog=true)`, {
        code: 'E_NOT_DLEDGER',
        actions: ['see each broker\'s role with: rocketctl clusterList'],
      });
    }
  }
  return { groups, failed };
}

interface Registered {
  brokerId: number;
  addr: string;
}

async function groupOf(s: AdminSession, brokerName: string, bd: BrokerData): Promise<{ group?: DLedgerGroupStatus; failed: BrokerFailure[] }> {
  const registered: Registered[] = Object.entries(bd.brokerAddrs).map(([id, addr]) => ({ brokerId: Number(id), addr }));
  const settled = await mapBounded(registered, BROKER_PARALLELISM, (t) => getBrokerRuntimeInfo(s, t.addr));
  const failed: BrokerFailure[] = [];
  const reported: Array<Registered & { state: DLedgerState; peers: Map<string, string> }> = [];
  for (const r of settled) {
    if (!r.ok) failed.push(failureOf({ addr: r.item.addr, brokerName }, r.error));
    else {
      const state = dledgerStateOf(r.value);
      if (state) reported.push({ ...r.item, state, peers: parseDLedgerPeers(r.value.dLegerPeers) });
    }
  }
  if (reported.length === 0) return { failed };

  // The peers as the most recent term's member sees them (all members are configured alike).
  const newest = [...reported].sort((a, b) => b.state.term - a.state.term)[0]!;
  const group = newest.state.group;
  const unmatched = registered.filter((r) => !reported.some((m) => m.addr === r.addr));
  const members = await mapBounded([...newest.peers], BROKER_PARALLELISM, async ([selfId, dledgerAddr]): Promise<DLedgerGroupMember> => {
    const m = reported.find((x) => x.state.selfId === selfId);
    if (m) return fromState(m, dledgerAddr);
    return probe(s, group, selfId, dledgerAddr, unmatched);
  });
  const list = members.map((r) => (r.ok ? r.value : unreachable(r.item[0], r.item[1], r.error)));
  return { group: summarise(brokerName, group, list), failed };
}

function fromState(m: Registered & { state: DLedgerState }, dledgerAddr: string): DLedgerGroupMember {
  const st = m.state;
  const role: MemberRole = st.role === 'LEADER' || st.role === 'FOLLOWER' || st.role === 'CANDIDATE' ? st.role : 'UNKNOWN';
  const idx = (n: number) => (n >= -1 ? n : null);
  return {
    selfId: st.selfId,
    dledgerAddr,
    addr: m.addr,
    brokerId: m.brokerId,
    role,
    source: 'runtime-info',
    term: st.term >= 0 ? st.term : null,
    leaderId: st.leaderId,
    writable: st.writable,
    ledgerEndIndex: idx(st.ledgerEndIndex),
    committedIndex: idx(st.committedIndex),
    lag: null,
    error: null,
  };
}

/**
 * METADATA to the member's DLedger port, filled as DLedgerClient fills it (group, remoteId = the
 * member). The registered address of such a member (an Apache member reports no dLeger* keys) is
 * the one whose brokerId it would register under: 0 as leader, else the number in its id + 1
 * (DLedgerCommitLog#getId, DLedgerRoleChangeHandler#handle).
 */
async function probe(s: AdminSession, group: string, selfId: string, dledgerAddr: string, unmatched: Registered[]): Promise<DLedgerGroupMember> {
  const req = { ...baseDefaults(), group, remoteId: selfId };
  let res;
  try {
    res = decodeBody(METADATA_RESPONSE_SCHEMA, bodyBuffer(await sessionInvoke(s, dledgerAddr, dledgerRequestCommand(DLedgerRequestCode.METADATA, encodeBody(METADATA_REQUEST_SCHEMA, req)))));
  } catch (err) {
    return unreachable(selfId, dledgerAddr, err);
  }
  const base = { ...unreachable(selfId, dledgerAddr, undefined), source: 'metadata' as const, error: null };
  if (res.code !== DLedgerResponseCode.SUCCESS) return { ...base, role: 'UNKNOWN', error: `METADATA refused: ${dledgerCodeName(res.code)}` };
  const leaderId = res.leaderId ?? null;
  const role: MemberRole = leaderId === selfId ? 'LEADER' : leaderId ? 'FOLLOWER' : 'CANDIDATE';
  const digits = /\d+/.exec(selfId)?.[0];
  const expectedId = role === 'LEADER' ? 0 : digits !== undefined ? Number(digits) + 1 : -1;
  const reg = unmatched.find((r) => r.brokerId === expectedId);
  return { ...base, role, leaderId, addr: reg?.addr ?? null, brokerId: reg?.brokerId ?? null };
}

function unreachable(selfId: string, dledgerAddr: string, err: unknown): DLedgerGroupMember {
  return {
    selfId,
    dledgerAddr,
    addr: null,
    brokerId: null,
    role: 'UNREACHABLE',
    source: 'none',
    term: null,
    leaderId: null,
    writable: null,
    ledgerEndIndex: null,
    committedIndex: null,
    lag: null,
    error: err === undefined ? null : asRocketError(err, dledgerAddr).message || errorText(err),
  };
}

function summarise(brokerName: string, group: string, members: DLedgerGroupMember[]): DLedgerGroupStatus {
  const leaders = members.filter((m) => m.role === 'LEADER').sort((a, b) => (b.term ?? -1) - (a.term ?? -1));
  const leader = leaders[0] ?? null;
  const leaderEnd = leader?.ledgerEndIndex ?? null;
  for (const m of members) m.lag = leaderEnd !== null && m.ledgerEndIndex !== null ? leaderEnd - m.ledgerEndIndex : null;
  const size = members.length;
  const up = members.filter((m) => m.role !== 'UNREACHABLE').length;
  const majority = Math.floor(size / 2) + 1;
  members.sort((a, b) => a.selfId.localeCompare(b.selfId, 'en', { numeric: true }));
  return { brokerName, group, leader: leader?.selfId ?? null, term: leader?.term ?? null, leaderEndIndex: leaderEnd, size, up, majority, majorityOk: up >= majority, members };
}

/** Members more than `maxLag` entries behind their leader (--max-lag). */
export function lagViolations(r: DLedgerGroupResult, maxLag: number): Array<{ brokerName: string; selfId: string; lag: number }> {
  return r.groups.flatMap((g) => g.members.filter((m) => m.lag !== null && m.lag > maxLag).map((m) => ({ brokerName: g.brokerName, selfId: m.selfId, lag: m.lag! })));
}
