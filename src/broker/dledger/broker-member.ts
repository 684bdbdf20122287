/**
 * A broker as a member of a DLedger group (enableDLegerCommitLog=true): apache/rocketmq 4.9.8
 * DLedgerCommitLog's construction (the DLedger server on the node's peer address, data files of
 * mappedFileSizeCommitLog, the PHYSICALOFFSET append hook) and DLedgerRoleChangeHandler#handle (the
 * leader registers as master, brokerId 0, once it has caught up; the others as slaves, brokerId
 * = the number in their self id + 1, as DLedgerCommitLog#getId gives it).
 *
 * Before the first role, a member does not register at all (BrokerController#start registers only
 * outside DLedger mode; the role handler does it): brokerId() is -1 then.
 */
import type { DLedgerState } from '../../protocol/dledger-state.js';
import type { RemotingClient } from '../../remoting/client.js';
import type { Logger, RemotingServer } from '../../remoting/server.js';
import type { BrokerConfig } from '../broker-config.js';
import { listenTcp } from '../listen.js';
import type { CommitLogFactory } from '../store/commitlog-service.js';
import { DLedgerCommitLog, physicalOffsetHook } from './dledger-commitlog.js';
import type { ElectorConfig } from './elector.js';
import { parsePeers, type Role } from './member-state.js';
import { DLedgerServer } from './server.js';
import { ServerLog } from './server-log.js';

/** What clusterList, brokerStatus and the metrics show of a member. */
export type DLedgerMemberStatus = DLedgerState & { peers: string };

export interface DLedgerMemberOptions {
  config: BrokerConfig;
  client: RemotingClient;
  /** A remoting server for the DLedger port (the broker owns and closes it). */
  newServer: () => RemotingServer;
  logger: Logger;
  electorConfig?: ElectorConfig;
  /** Called when the brokerId to register under changes (0 master, >0 slave). */
  onBrokerId: (brokerId: number) => void;
}

export class DLedgerMember {
  server: DLedgerServer | undefined;
  commitLog: DLedgerCommitLog | undefined;
  private readonly remoting: RemotingServer;
  private lastBrokerId = -1;

  constructor(private readonly o: DLedgerMemberOptions) {
    this.remoting = o.newServer();
  }

  /** The slave brokerId of this member: DLedgerCommitLog#getId + 1 (`n2` → 3); else its place among the peers + 1. */
  get slaveBrokerId(): number {
    const c = this.o.config;
    const digits = /(\d+)$/.exec(c.dLegerSelfId);
    if (digits) return Number(digits[1]) + 1;
    return [...parsePeers(c.dLegerPeers).keys()].indexOf(c.dLegerSelfId) + 1;
  }

  /** Listen on this member's peer address (the DLedger RPC port, DLedgerRpcNettyService). */
  async listen(): Promise<string> {
    const c = this.o.config;
    const addr = parsePeers(c.dLegerPeers).get(c.dLegerSelfId)!;
    const colon = addr.lastIndexOf(':');
    const host = addr.slice(0, colon).replace(/^\[|\]$/g, '');
    return listenTcp(this.remoting, `DLedger ${c.dLegerSelfId}`, host, Number(addr.slice(colon + 1)));
  }

  /** MessageStore's `commitLog`: a DLedgerCommitLog over this member's DLedger server. */
  commitLogFactory(): CommitLogFactory {
    const c = this.o.config;
    return (io, clOpts) => {
      const cl = new DLedgerCommitLog(io, clOpts, {
        open: async (fio) => {
          const server = await DLedgerServer.open({
            io: fio,
            storeBaseDir: clOpts.storePathRootDir,
            group: c.dLegerGroup,
            selfId: c.dLegerSelfId,
            peers: c.dLegerPeers,
            remotingServer: this.remoting,
            remotingClient: this.o.client,
            dataFileBytes: clOpts.segmentBytes,
            appendHook: physicalOffsetHook,
            electorConfig: this.o.electorConfig,
            // MessageStoreConfig#preferredLeaderId → DLedgerConfig#setPreferredLeaderId (DLedgerCommitLog's constructor).
            preferredLeaderIds: c.preferredLeaderId || undefined,
            logger: this.o.logger,
          });
          this.server = server;
          return { log: await ServerLog.open(server), report: server.recovery };
        },
      });
      this.commitLog = cl;
      return cl;
    };
  }

  /** Start the DLedger server (after the store has opened) and follow its roles. */
  start(): void {
    const server = this.server;
    const cl = this.commitLog;
    if (!server || !cl) throw new Error('internal: DLedger member started before its store opened');
    server.onRoleChange(() => this.roleChanged());
    cl.onWritableChange(() => this.roleChanged());
    server.start();
  }

  /** DLedgerRoleChangeHandler: master once writable; a follower or candidate is a slave. */
  brokerId(): number {
    const s = this.server;
    if (!s || !this.commitLog) return -1;
    if (this.commitLog.isWritable()) return 0;
    const role = s.state.getRole();
    return role === 'UNKNOWN' ? -1 : this.slaveBrokerId;
  }

  private roleChanged(): void {
    const id = this.brokerId();
    if (id === this.lastBrokerId) return;
    const was = this.lastBrokerId;
    this.lastBrokerId = id;
    const s = this.server!.state;
    this.o.logger.info(`dledger ${s.selfId}: ${id === 0 ? 'master' : `slave (brokerId ${id})`} in term ${s.currTerm()}${id !== 0 && s.getLeaderId() ? `, leader ${s.getLeaderId()}` : ''}${was >= 0 ? ` (was brokerId ${was})` : ''}`);
    this.o.onBrokerId(id);
  }

  status(): DLedgerMemberStatus | undefined {
    const s = this.server;
    if (!s) return undefined;
    const c = this.o.config;
    return {
      group: c.dLegerGroup,
      selfId: c.dLegerSelfId,
      peers: c.dLegerPeers,
      role: s.state.getRole(),
      term: s.state.currTerm(),
      leaderId: s.state.getLeaderId() ?? null,
      writable: this.commitLog?.isWritable() ?? false,
      committedIndex: s.getCommittedIndex(),
      ledgerEndIndex: s.store.getLedgerEndIndex(),
    };
  }
}
