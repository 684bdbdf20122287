/**
 * DLedger's RPC over our remoting (openmessaging/dledger 0.3.1.2, DLedgerRpcNettyService): the
 * elector's peer transport over a RemotingClient, and the handlers a RemotingServer listening on
 * the node's peer port answers with. Requests and answers are built in protocol.ts.
 */
import type { RemotingClient } from '../../remoting/client.js';
import type { RemotingServer, RequestHandler } from '../../remoting/server.js';
import type { RemotingCommand } from '../../protocol/frame.js';
import type { DLedgerLeaderElector, DLedgerPeerTransport } from './elector.js';
import type { PushTransport } from './entry-pusher.js';
import {
  baseDefaults,
  decodeBody,
  DLedgerRequestCode,
  dledgerRequestCommand,
  DLedgerResponseCode,
  dledgerResponseCommand,
  encodeBody,
  encodePushEntryRequest,
  APPEND_ENTRY_REQUEST_SCHEMA,
  APPEND_ENTRY_RESPONSE_SCHEMA,
  GET_ENTRIES_REQUEST_SCHEMA,
  GET_ENTRIES_RESPONSE_SCHEMA,
  HEART_BEAT_REQUEST_SCHEMA,
  HEART_BEAT_RESPONSE_SCHEMA,
  LEADERSHIP_TRANSFER_REQUEST_SCHEMA,
  LEADERSHIP_TRANSFER_RESPONSE_SCHEMA,
  METADATA_REQUEST_SCHEMA,
  METADATA_RESPONSE_SCHEMA,
  PUSH_ENTRY_REQUEST_SCHEMA,
  PUSH_ENTRY_RESPONSE_SCHEMA,
  VOTE_REQUEST_SCHEMA,
  VOTE_RESPONSE_SCHEMA,
  type AppendEntryRequest,
  type AppendEntryResponse,
  type GetEntriesRequest,
  type GetEntriesResponse,
  type HeartBeatRequest,
  type HeartBeatResponse,
  type LeadershipTransferRequest,
  type LeadershipTransferResponse,
  type PushEntryRequest,
  type PushEntryResponse,
  type VoteRequest,
  type VoteResponse,
} from '../../protocol/dledger/protocol.js';

/** DLedgerRpcNettyService invokes every peer RPC with this timeout. */
export const DLEDGER_RPC_TIMEOUT_MS = 3000;

export class RemotingPeerTransport implements DLedgerPeerTransport, PushTransport {
  constructor(
    private readonly client: RemotingClient,
    /** Peer id → "host:port" (MemberState#getPeerMap). */
    private readonly peers: ReadonlyMap<string, string>,
    private readonly timeoutMs = DLEDGER_RPC_TIMEOUT_MS,
    /**
     * For LEADERSHIP_TRANSFER, whose answer waits for the transferee to catch up and win an
     * election (Java uses its one RPC timeout, 3000 ms, for every code).
     */
    private readonly transferTimeoutMs = DLEDGER_RPC_TIMEOUT_MS,
  ) {}

  async vote(peerId: string, req: VoteRequest): Promise<VoteResponse> {
    const res = await this.call(peerId, DLedgerRequestCode.VOTE, encodeBody(VOTE_REQUEST_SCHEMA, req));
    // No answer, or one we cannot read: `new VoteResponse()`, which the candidate does not count.
    return (res && tryDecode(() => decodeBody(VOTE_RESPONSE_SCHEMA, bodyOf(res)))) ?? { ...baseDefaults(), voteResult: 'UNKNOWN' };
  }

  async heartBeat(peerId: string, req: HeartBeatRequest): Promise<HeartBeatResponse> {
    const res = await this.call(peerId, DLedgerRequestCode.HEART_BEAT, encodeBody(HEART_BEAT_REQUEST_SCHEMA, req));
    return (res && tryDecode(() => decodeBody(HEART_BEAT_RESPONSE_SCHEMA, bodyOf(res)))) ?? { ...baseDefaults(), code: DLedgerResponseCode.NETWORK_ERROR };
  }

  /** DLedgerRpcNettyService#push: no answer (or one we cannot read) is NETWORK_ERROR. */
  async push(peerId: string, req: PushEntryRequest): Promise<PushEntryResponse> {
    const res = await this.call(peerId, DLedgerRequestCode.PUSH, encodePushEntryRequest(req));
    return (res && tryDecode(() => decodeBody(PUSH_ENTRY_RESPONSE_SCHEMA, bodyOf(res)))) ?? { ...baseDefaults(), code: DLedgerResponseCode.NETWORK_ERROR, beginIndex: -1, endIndex: -1, count: 0 };
  }

  /** DLedgerRpcNettyService#leadershipTransfer: no answer is the request's base (copyBaseInfo) with NETWORK_ERROR. */
  async leadershipTransfer(peerId: string, req: LeadershipTransferRequest): Promise<LeadershipTransferResponse> {
    const res = await this.call(peerId, DLedgerRequestCode.LEADERSHIP_TRANSFER, encodeBody(LEADERSHIP_TRANSFER_REQUEST_SCHEMA, req), this.transferTimeoutMs);
    const { group, term, localId, remoteId, leaderId } = req;
    return (res && tryDecode(() => decodeBody(LEADERSHIP_TRANSFER_RESPONSE_SCHEMA, bodyOf(res)))) ?? { group, term, localId, remoteId, leaderId, code: DLedgerResponseCode.NETWORK_ERROR };
  }

  /** The answer, or undefined when the peer is unknown, unreachable or too slow. */
  private async call(peerId: string, code: number, body: Buffer | Buffer[], timeoutMs = this.timeoutMs): Promise<RemotingCommand | undefined> {
    const addr = this.peers.get(peerId);
    if (addr === undefined) return undefined;
    try {
      return await this.client.invoke(addr, dledgerRequestCommand(code, body), timeoutMs);
    } catch {
      return undefined;
    }
  }
}

function bodyOf(res: RemotingCommand): Buffer | undefined {
  return Array.isArray(res.body) ? Buffer.concat(res.body) : res.body;
}

function tryDecode<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

/** What a DLedger server answers besides the elector's codes (DLedgerServer#handleAppend, #handleGet, #handlePush, #handleLeadershipTransfer). */
export interface DLedgerReplicationHandlers {
  handleAppend(req: AppendEntryRequest): Promise<AppendEntryResponse>;
  handleGet(req: GetEntriesRequest): Promise<GetEntriesResponse>;
  handlePush(req: PushEntryRequest): Promise<PushEntryResponse>;
  handleLeadershipTransfer(req: LeadershipTransferRequest): Promise<LeadershipTransferResponse>;
}

/**
 * DLedgerRpcNettyService#registerProcessor: every DLedger code gets a handler. VOTE, HEART_BEAT and
 * METADATA are answered by the elector; APPEND, GET, PUSH and LEADERSHIP_TRANSFER by `replication`
 * (DLedgerServer) when given. What is not served (PULL; the other codes without `replication`) is answered UNSUPPORTED in its own response shape, so a peer gets a DLedger
 * answer rather than a remoting error. A body that does not decode throws, which the server answers SYSTEM_ERROR, as Netty does
 * when fastjson throws in processRequest.
 */
export function registerDLedgerHandlers(server: RemotingServer, elector: DLedgerLeaderElector, replication?: DLedgerReplicationHandlers): void {
  const answer = (req: RemotingCommand, body: Buffer): RemotingCommand => dledgerResponseCommand(req, body);
  const table: Record<number, RequestHandler> = {
    [DLedgerRequestCode.VOTE]: async (req) => answer(req, encodeBody(VOTE_RESPONSE_SCHEMA, await elector.handleVoteRequest(decodeBody(VOTE_REQUEST_SCHEMA, bodyOf(req))))),
    [DLedgerRequestCode.HEART_BEAT]: (req) => answer(req, encodeBody(HEART_BEAT_RESPONSE_SCHEMA, elector.handleHeartBeatRequest(decodeBody(HEART_BEAT_REQUEST_SCHEMA, bodyOf(req))))),
    [DLedgerRequestCode.METADATA]: (req) => {
      // DLedgerServer#handleMetadata.
      const m = decodeBody(METADATA_REQUEST_SCHEMA, bodyOf(req));
      const s = elector.state;
      const refused = m.remoteId !== s.selfId ? DLedgerResponseCode.UNKNOWN_MEMBER : m.group !== s.group ? DLedgerResponseCode.UNKNOWN_GROUP : undefined;
      const res = refused === undefined ? { ...baseDefaults(), group: s.group, leaderId: s.getLeaderId(), peers: Object.fromEntries(s.peerMap) } : { ...m, code: refused, leaderId: s.getLeaderId() };
      return answer(req, encodeBody(METADATA_RESPONSE_SCHEMA, res));
    },
  };
  // Their answers carry only the base members: Java reads the rest as the fields' defaults.
  const unsupported: RequestHandler = (req) => {
    const base = decodeBody(HEART_BEAT_REQUEST_SCHEMA, bodyOf(req));
    return answer(req, encodeBody(HEART_BEAT_RESPONSE_SCHEMA, { ...base, code: DLedgerResponseCode.UNSUPPORTED, leaderId: elector.state.getLeaderId() }));
  };
  for (const code of [DLedgerRequestCode.APPEND, DLedgerRequestCode.GET, DLedgerRequestCode.PULL, DLedgerRequestCode.PUSH, DLedgerRequestCode.LEADERSHIP_TRANSFER]) table[code] = unsupported;
  if (replication) {
    const r = replication;
    table[DLedgerRequestCode.APPEND] = async (req) => answer(req, encodeBody(APPEND_ENTRY_RESPONSE_SCHEMA, await r.handleAppend(decodeBody(APPEND_ENTRY_REQUEST_SCHEMA, bodyOf(req)))));
    table[DLedgerRequestCode.GET] = async (req) => answer(req, encodeBody(GET_ENTRIES_RESPONSE_SCHEMA, await r.handleGet(decodeBody(GET_ENTRIES_REQUEST_SCHEMA, bodyOf(req)))));
    table[DLedgerRequestCode.PUSH] = async (req) => answer(req, encodeBody(PUSH_ENTRY_RESPONSE_SCHEMA, await r.handlePush(decodeBody(PUSH_ENTRY_REQUEST_SCHEMA, bodyOf(req)))));
    // From a peer leader (take leadership) or from a client of the leader (DLedgerClient#leadershipTransfer).
    table[DLedgerRequestCode.LEADERSHIP_TRANSFER] = async (req) =>
      answer(req, encodeBody(LEADERSHIP_TRANSFER_RESPONSE_SCHEMA, await r.handleLeadershipTransfer(decodeBody(LEADERSHIP_TRANSFER_REQUEST_SCHEMA, bodyOf(req)))));
  }
  server.registerAll(table);
}
