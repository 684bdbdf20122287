/**
 * Transactional producer (Java TransactionMQProducer): a half message (TRAN_MSG=true,
 * PGROUP=<group>) that consumers cannot see, the caller's local transaction, then END_TRANSACTION
 * (oneway) with commit (8), rollback (12) or unknown (0). For unknown or lost outcomes the broker
 * later asks with CHECK_TRANSACTION_STATE; the user's checker answers and the producer sends
 * END_TRANSACTION again with fromTransactionCheck=true.
 */
import { RequestCode } from '../protocol/codes.js';
import { makeRequest } from '../protocol/frame.js';
import { decodeOffsetMsgId } from '../protocol/message.js';
import { Prop } from '../protocol/properties.js';
import { UsageError } from '../errors/index.js';
import { errText } from './client-instance.js';
import type { Message, MessageExt } from './message.js';
import { Producer, type PreparedMessage, type ProducerOptions, type SendResult } from './producer.js';

export type LocalTransactionState = 'COMMIT_MESSAGE' | 'ROLLBACK_MESSAGE' | 'UNKNOW';

/** commitOrRollback values (MessageSysFlag transaction types). */
export const TransactionType = { NOT_TYPE: 0, COMMIT_TYPE: 8, ROLLBACK_TYPE: 12 } as const;

export interface TransactionSendResult extends SendResult {
  /** What the local transaction decided (ROLLBACK_MESSAGE when the half message was not stored). */
  localTransactionState: LocalTransactionState;
  /** The local transaction threw: its message (the outcome is then UNKNOW). */
  localTransactionError?: string;
}

/** The message as the local transaction sees it: sent, with its id. */
export interface HalfMessage extends Message {
  msgId: string;
  transactionId: string;
}

export type LocalTransactionExecutor<A> = (msg: HalfMessage, arg: A) => LocalTransactionState | Promise<LocalTransactionState>;
export type TransactionChecker = (msg: MessageExt) => LocalTransactionState | Promise<LocalTransactionState>;

export interface TransactionProducerOptions extends ProducerOptions {
  /** Called for CHECK_TRANSACTION_STATE: decide a transaction whose outcome the broker lacks. */
  checkLocalTransaction: TransactionChecker;
  /** Reports failures of the background check path. */
  onCheckError?: (err: unknown, msg: MessageExt) => void;
}

function typeOf(state: LocalTransactionState): number {
  if (state === 'COMMIT_MESSAGE') return TransactionType.COMMIT_TYPE;
  if (state === 'ROLLBACK_MESSAGE') return TransactionType.ROLLBACK_TYPE;
  return TransactionType.NOT_TYPE;
}

function normalizeState(v: unknown): LocalTransactionState {
  return v === 'COMMIT_MESSAGE' || v === 'ROLLBACK_MESSAGE' ? v : 'UNKNOW';
}

export class TransactionProducer extends Producer {
  private readonly checker: TransactionChecker;
  private readonly onCheckError?: (err: unknown, msg: MessageExt) => void;

  constructor(opts: TransactionProducerOptions) {
    super({ ...opts, outboxDir: undefined });
    if (typeof opts.checkLocalTransaction !== 'function') {
      throw new UsageError('checkLocalTransaction is required for a transactional producer');
    }
    this.checker = opts.checkLocalTransaction;
    this.onCheckError = opts.onCheckError;
  }

  /**
   * Send `msg` as a half message, run `execute` (only if the broker stored it), and tell the broker
   * the outcome. A throwing executor counts as UNKNOW (the broker will ask the checker later).
   */
  async sendMessageInTransaction<A>(msg: Message, execute: LocalTransactionExecutor<A>, arg: A): Promise<TransactionSendResult> {
    this.ensureRunning();
    if (msg.delayLevel) msg = { ...msg, delayLevel: 0 }; // delay is not allowed on transactional messages
    const prepared = this.prepare(msg, { [Prop.TRAN_MSG]: 'true', [Prop.PGROUP]: this.group });
    const sent = await this.sendRaw(prepared);
    let state: LocalTransactionState = 'ROLLBACK_MESSAGE';
    let localError: string | undefined;
    const transactionId = sent.transactionId ?? sent.msgId;
    if (sent.status === 'SEND_OK') {
      try {
        state = normalizeState(await execute({ ...msg, msgId: sent.msgId, transactionId }, arg));
      } catch (err) {
        state = 'UNKNOW';
        localError = errText(err);
      }
    }
    await this.endTransaction(sent, state, localError, prepared);
    const result: TransactionSendResult = { ...sent, transactionId, localTransactionState: state };
    if (localError !== undefined) result.localTransactionError = localError;
    return result;
  }

  /** END_TRANSACTION (oneway) to the master that stored the half message. */
  private async endTransaction(sent: SendResult, state: LocalTransactionState, localError: string | undefined, prepared: PreparedMessage): Promise<void> {
    const instance = this.requireInstance();
    const decoded = sent.offsetMsgId ? decodeOffsetMsgId(sent.offsetMsgId) : undefined;
    if (!decoded || !sent.messageQueue) return;
    const addr = await instance.brokerAddrForQueue(sent.messageQueue);
    this.traceEndTransaction({
      topic: prepared.topic,
      msgId: sent.msgId,
      tags: prepared.properties[Prop.TAGS] ?? null,
      keys: prepared.properties[Prop.KEYS] ?? null,
      storeHost: addr,
      regionId: sent.regionId ?? null,
      transactionId: sent.transactionId ?? null,
      transactionState: state,
      fromTransactionCheck: false,
    });
    const req = makeRequest(RequestCode.END_TRANSACTION, {
      producerGroup: this.group,
      tranStateTableOffset: sent.queueOffset ?? 0,
      commitLogOffset: decoded.commitLogOffset,
      commitOrRollback: typeOf(state),
      fromTransactionCheck: false,
      msgId: sent.msgId,
      transactionId: sent.transactionId ?? sent.msgId,
      bname: sent.messageQueue.brokerName,
    });
    if (localError !== undefined) req.remark = `executeLocalTransactionBranch exception: ${localError}`;
    // Oneway, as Java: a lost END_TRANSACTION is what CHECK_TRANSACTION_STATE exists for.
    await instance.remoting.invokeOneway(addr, req).catch(() => undefined);
  }

  /** CHECK_TRANSACTION_STATE (oneway, from `brokerAddr`): ask the checker, answer END_TRANSACTION. */
  checkTransactionState(brokerAddr: string, msg: MessageExt, header: Record<string, string>): void {
    void (async () => {
      let state: LocalTransactionState = 'UNKNOW';
      let remark: string | undefined;
      try {
        state = normalizeState(await this.checker(msg));
      } catch (err) {
        remark = `checkLocalTransactionState exception: ${errText(err)}`;
      }
      const instance = this.requireInstance();
      const uniqKey = msg.properties[Prop.UNIQ_KEY] ?? header.msgId ?? msg.msgId;
      const req = makeRequest(RequestCode.END_TRANSACTION, {
        producerGroup: this.group,
        tranStateTableOffset: header.tranStateTableOffset ?? msg.queueOffset,
        commitLogOffset: header.commitLogOffset ?? msg.commitLogOffset,
        commitOrRollback: typeOf(state),
        fromTransactionCheck: true,
        msgId: uniqKey,
        transactionId: header.transactionId || uniqKey,
      });
      if (remark) req.remark = remark;
      this.traceEndTransaction({
        topic: msg.topic,
        msgId: uniqKey,
        tags: msg.tags ?? null,
        keys: msg.keys.length > 0 ? msg.keys.join(' ') : null,
        storeHost: brokerAddr,
        regionId: msg.properties[Prop.MSG_REGION] ?? null,
        transactionId: header.transactionId || null,
        transactionState: state,
        fromTransactionCheck: true,
      });
      await instance.remoting.invokeOneway(brokerAddr, req);
    })().catch((err: unknown) => this.onCheckError?.(err, msg));
  }
}
