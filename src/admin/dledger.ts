/**
 * A DLedger group's leadership moved to a named member: DLedger's LEADERSHIP_TRANSFER (51005) sent
 * to the leader's DLedger port, as DLedgerClient#leadershipTransfer does (openmessaging/dledger
 * 0.3.1.2), then the name servers watched until the new leader is registered as master. The group
 * is found through the name server: its members' runtime info carries rocketctl's dLeger* keys
 * (protocol/dledger-state.ts), so this works on groups of rocketctl brokers.
 */
import { RocketError, UsageError } from '../errors/index.js';
import { bodyBuffer } from '../protocol/frame.js';
import { dledgerStateOf, type DLedgerState } from '../protocol/dledger-state.js';
import {
  baseDefaults,
  decodeBody,
  dledgerCodeName,
  DLedgerRequestCode,
  dledgerRequestCommand,
  DLedgerResponseCode,
  encodeBody,
  LEADERSHIP_TRANSFER_REQUEST_SCHEMA,
  LEADERSHIP_TRANSFER_RESPONSE_SCHEMA,
} from '../protocol/dledger/protocol.js';
import { getBrokerRuntimeInfo } from './requests.js';
import { sessionInvoke, type AdminSession } from './session.js';
import { clusterInfo } from './targets.js';

export interface DLedgerMember {
  brokerId: number;
  addr: string;
  state: DLedgerState;
  /** Its DLedger address (from dLegerPeers). */
  dledgerAddr: string;
}

export interface TransferLeadershipResult {
  brokerName: string;
  group: string;
  /** The leader before, and the member asked to lead. */
  from: string;
  to: string;
  /** False when `to` already led (nothing was sent). */
  transferred: boolean;
  /** The term the new leader leads in. */
  term: number;
  /** The new leader's broker address, once the name server lists it as master. */
  masterAddr: string;
}

/** How long the new leader has to appear as master in the name server's cluster info. */
const MASTER_WAIT_MS = 20_000;

/** The members of broker name `brokerName` that answer, with their DLedger state. */
export async function dledgerMembers(s: AdminSession, brokerName: string): Promise<DLedgerMember[]> {
  const info = await clusterInfo(s);
  const bd = info.brokerAddrTable[brokerName];
  if (!bd) throw new UsageError(`no broker named ${brokerName} is registered with the name server`, ['list the brokers: rocketctl clusterList']);
  const members: DLedgerMember[] = [];
  for (const [id, addr] of Object.entries(bd.brokerAddrs)) {
    const kv = await getBrokerRuntimeInfo(s, addr).catch(() => undefined);
    const state = kv && dledgerStateOf(kv);
    if (!kv || !state) continue;
    members.push({ brokerId: Number(id), addr, state, dledgerAddr: parseDLedgerPeers(kv.dLegerPeers).get(state.selfId) ?? '' });
  }
  return members;
}

/** dLegerPeers ("n0-host:port;n1-host:port") as self id -> DLedger address, in the order given. */
export function parseDLedgerPeers(peers: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of (peers ?? '').split(';')) {
    const dash = p.indexOf('-');
    if (dash > 0) out.set(p.slice(0, dash).trim(), p.slice(dash + 1).trim());
  }
  return out;
}

/** Refusals that a second try can get past (an election or another transfer under way, a slow take-over). */
const TRANSIENT: ReadonlySet<number> = new Set([
  DLedgerResponseCode.TAKE_LEADERSHIP_FAILED,
  DLedgerResponseCode.LEADER_TRANSFERRING,
  DLedgerResponseCode.EXPIRED_TERM,
  DLedgerResponseCode.NOT_LEADER,
  DLedgerResponseCode.NETWORK_ERROR,
]);
/** Tries of a transfer refused for a transient reason, TRANSFER_RETRY_MS apart. */
const TRANSFER_TRIES = 3;
const TRANSFER_RETRY_MS = 1000;

export async function transferLeadership(s: AdminSession, brokerName: string, to: string): Promise<TransferLeadershipResult> {
  // Bounded: TRANSFER_TRIES rounds; each re-reads the group (the leader or term may have moved).
  for (let attempt = 1; ; attempt++) {
    try {
      return await transferOnce(s, brokerName, to);
    } catch (err) {
      if (!(err instanceof TransferRefused) || !TRANSIENT.has(err.dledgerCode) || attempt >= TRANSFER_TRIES) throw err;
      await new Promise((r) => setTimeout(r, TRANSFER_RETRY_MS));
    }
  }
}

class TransferRefused extends RocketError {
  constructor(
    message: string,
    readonly dledgerCode: number,
    actions: string[],
  ) {
    super(message, { code: 'E_TRANSFER_REFUSED', actions });
  }
}

async function transferOnce(s: AdminSession, brokerName: string, to: string): Promise<TransferLeadershipResult> {
  const members = await dledgerMembers(s, brokerName);
  if (members.length === 0) throw new RocketError(`${brokerName} has no member that reports DLedger state (rocketctl brokers with enableDLegerCommitLog=true do)`, { code: 'E_NOT_DLEDGER' });
  const leader = members.find((m) => m.state.role === 'LEADER');
  if (!leader) throw new RocketError(`${brokerName} has no leader now (an election is under way?); try again in a few seconds`, { code: 'E_NO_LEADER' });
  const ids = new Set(members.map((m) => m.state.selfId));
  if (!ids.has(to)) throw new UsageError(`${to} is not a live member of ${brokerName} (members that answer: ${[...ids].sort().join(', ')})`);
  const { group, selfId: from, term } = leader.state;
  if (to === from) return { brokerName, group, from, to, transferred: false, term, masterAddr: leader.addr };

  const req = { ...baseDefaults(), group, remoteId: from, transferId: from, transfereeId: to, term, takeLeadershipLedgerIndex: 0 };
  const res = await sessionInvoke(s, leader.dledgerAddr, dledgerRequestCommand(DLedgerRequestCode.LEADERSHIP_TRANSFER, encodeBody(LEADERSHIP_TRANSFER_REQUEST_SCHEMA, req)));
  const answer = decodeBody(LEADERSHIP_TRANSFER_RESPONSE_SCHEMA, bodyBuffer(res));
  if (answer.code !== DLedgerResponseCode.SUCCESS) {
    throw new TransferRefused(
      `the leader ${from} refused to hand over to ${to}: ${dledgerCodeName(answer.code)}`,
      answer.code,
      answer.code === DLedgerResponseCode.FALL_BEHIND_TOO_MUCH ? [`let ${to} catch up, then try again`] : ['check the group with: rocketctl clusterList'],
    );
  }
  // The new leader registers as master once it has taken over (broker/dledger/broker-member.ts).
  const deadline = Date.now() + MASTER_WAIT_MS;
  for (;;) {
    const now = await dledgerMembers(s, brokerName).catch(() => []);
    const master = now.find((m) => m.brokerId === 0 && m.state.selfId === to && m.state.writable);
    if (master) return { brokerName, group, from, to, transferred: true, term: master.state.term, masterAddr: master.addr };
    if (Date.now() > deadline) throw new RocketError(`${to} took the leadership but is not registered as master after ${MASTER_WAIT_MS / 1000} s`, { code: 'E_TIMEOUT', actions: ['check the group with: rocketctl clusterList'] });
    await new Promise((r) => setTimeout(r, 200));
  }
}
