/**
 * A DLedger member's state as rocketctl's broker reports it in GET_BROKER_RUNTIME_INFO (rocketctl's
 * `dLeger*` keys; docs/dledger.md "Admin"), written by the broker and read by the admin commands.
 * Apache brokers do not send these keys.
 */
export interface DLedgerState {
  group: string;
  selfId: string;
  /** LEADER, FOLLOWER, CANDIDATE (UNKNOWN before the first role). */
  role: string;
  term: number;
  leaderId: string | null;
  /** Leader and caught up: takes sends. */
  writable: boolean;
  committedIndex: number;
  ledgerEndIndex: number;
}

/** The runtime-info keys of a member (with its dLegerPeers). */
export function dledgerRuntimeKeys(d: DLedgerState & { peers: string }): Record<string, string> {
  return {
    dLegerGroup: d.group,
    dLegerSelfId: d.selfId,
    dLegerPeers: d.peers,
    dLegerRole: d.role,
    dLegerTerm: String(d.term),
    dLegerLeaderId: d.leaderId ?? '',
    dLegerWritable: String(d.writable),
    dLegerCommittedIndex: String(d.committedIndex),
    dLegerLedgerEndIndex: String(d.ledgerEndIndex),
  };
}

/** The member state from runtime-info keys; null when the broker sent none (not a DLedger member, or not rocketctl's). */
export function dledgerStateOf(kv: Record<string, string>): DLedgerState | null {
  if (kv.dLegerRole === undefined) return null;
  const num = (v: string | undefined) => (v !== undefined && /^-?\d+$/.test(v) ? Number(v) : -1);
  return {
    group: kv.dLegerGroup ?? '',
    selfId: kv.dLegerSelfId ?? '',
    role: kv.dLegerRole,
    term: num(kv.dLegerTerm),
    leaderId: kv.dLegerLeaderId || null,
    writable: kv.dLegerWritable === 'true',
    committedIndex: num(kv.dLegerCommittedIndex),
    ledgerEndIndex: num(kv.dLegerLedgerEndIndex),
  };
}
