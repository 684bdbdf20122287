/**
 * The commit log's ReplicatedLog over a DLedgerServer: what apache/rocketmq 4.9.8 DLedgerCommitLog
 * reaches through `dLedgerServer` and `dLedgerFileStore` (handleAppend, getCommittedPos, the data
 * files), plus the role changes that DLedgerRoleChangeHandler#handle reacts to.
 *
 * The server is this log's: closing the log closes the server (and with it the DLedger files). The
 * server is started by its owner once the store has opened (recovery reads the files first).
 */
import { StoreError } from '../../errors/index.js';
import type { CommittedEntry, ReplicatedLog } from './dledger-commitlog.js';
import { NotLeaderError } from './dledger-commitlog.js';
import { DLedgerResponseCode } from '../../protocol/dledger/protocol.js';
import { DLedgerError } from './errors.js';
import type { DLedgerServer } from './server.js';

export class ServerLog implements ReplicatedLog {
  readonly dataFileBytes: number;
  /** Position just past the last committed entry this log has been told of. */
  private committedEnd: number;
  private readonly listeners = new Set<(e: CommittedEntry) => void>();
  private readonly roleListeners = new Set<(leader: boolean) => void>();

  private constructor(
    readonly server: DLedgerServer,
    committedEnd: number,
  ) {
    this.dataFileBytes = server.store.dataFileBytes;
    this.committedEnd = committedEnd;
    server.onCommitted((e) => {
      this.committedEnd = e.pos + e.size;
      const c = { index: e.index, pos: e.pos, size: e.size, body: e.body };
      for (const l of this.listeners) l(c);
    });
    server.onRoleChange((_term, role) => {
      for (const l of this.roleListeners) l(role === 'LEADER');
    });
  }

  /** The log of an opened (not yet started) server: the committed position from its store. */
  static async open(server: DLedgerServer): Promise<ServerLog> {
    const store = server.store;
    const committed = store.getCommittedIndex();
    let end = store.dataFileStarts()[0] ?? store.getWritePos();
    if (committed >= 0) {
      const e = await store.get(committed);
      end = e.pos + e.size;
    }
    return new ServerLog(server, end);
  }

  isLeader(): boolean {
    return this.server.state.isLeader();
  }
  endPos(): number {
    return this.server.store.getWritePos();
  }
  committedPos(): number {
    return this.committedEnd;
  }
  dataFileStarts(): number[] {
    return this.server.store.dataFileStarts();
  }
  readData(pos: number, length: number): Promise<Buffer | undefined> {
    return this.server.store.readData(pos, length);
  }
  async startDataAt(pos: number): Promise<void> {
    await this.server.store.startAt(pos);
    this.committedEnd = pos;
  }

  /** DLedgerServer#handleAppend as DLedgerCommitLog#asyncPutMessage calls it; the commit arrives through onCommitted. */
  async appendAsLeader(bodies: Buffer[]): Promise<Array<{ index: number; pos: number }>> {
    try {
      return await this.server.appendLocal(bodies);
    } catch (err) {
      if (!(err instanceof DLedgerError)) throw err;
      switch (err.dledgerCode) {
        case DLedgerResponseCode.NOT_LEADER:
        case DLedgerResponseCode.TERM_CHANGED:
        case DLedgerResponseCode.LEADER_NOT_READY:
          throw new NotLeaderError(`this broker stopped being the leader of its DLedger group (${err.message})`);
        case DLedgerResponseCode.LEADER_PENDING_FULL:
        // Leadership is being handed over (DLedgerServer#handleAppend refuses LEADER_TRANSFERRING):
        // busy for now; the new leader takes the retry.
        case DLedgerResponseCode.LEADER_TRANSFERRING:
          // DLedgerCommitLog#asyncPutMessage: LEADER_PENDING_FULL → OS_PAGECACHE_BUSY.
          throw new StoreError(err.message, { code: 'E_STORE_BUSY', actions: ['retry later'] });
        default:
          throw new StoreError(`DLedger append: ${err.message}`, { code: 'E_STORE_IO', cause: err });
      }
    }
  }

  onCommitted(listener: (e: CommittedEntry) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onRoleChange(listener: (leader: boolean) => void): () => void {
    this.roleListeners.add(listener);
    return () => this.roleListeners.delete(listener);
  }

  flush(): Promise<void> {
    return this.server.store.flush();
  }

  close(): Promise<void> {
    this.listeners.clear();
    this.roleListeners.clear();
    return this.server.close();
  }
}
