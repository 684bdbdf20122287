/**
 * The transactional producer against a real broker: commit makes the message visible, rollback
 * never does, and an UNKNOW outcome is settled by the checker when the broker asks
 * (CHECK_TRANSACTION_STATE → END_TRANSACTION with fromTransactionCheck=true).
 */
import { describe, expect, it } from 'vitest';
import { TransactionProducer, type LocalTransactionState } from '../../src/client/transaction-producer.js';
import type { MessageExt } from '../../src/client/message.js';
import { eventually } from '../helpers/broker.js';
import { broker, defer, namesrvOf, readAll, sleep, topic, uniq } from './support.js';

describe('TransactionProducer (real broker)', () => {
  it('commit shows the message, rollback never does, unknown is settled by the checker', async () => {
    // transactionTimeOut / check interval shortened so the broker asks within the test.
    const b = await broker({ config: { transactionTimeOut: '1000', transactionCheckInterval: '1000' } });
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 1);
    const checked: MessageExt[] = [];
    const p = new TransactionProducer({
      namesrvAddr: ns,
      producerGroup: uniq('TPG'),
      checkLocalTransaction: (m): LocalTransactionState => {
        checked.push(m);
        return m.body.toString() === 'unknown-then-commit' ? 'COMMIT_MESSAGE' : 'ROLLBACK_MESSAGE';
      },
    });
    await p.start();
    defer(() => p.close());
    const seen: string[] = [];
    const commit = await p.sendMessageInTransaction({ topic: t, body: 'commit', tags: 'tx' }, (m, arg: number) => {
      seen.push(`${m.transactionId}:${arg}`);
      return 'COMMIT_MESSAGE';
    }, 7);
    expect(commit.localTransactionState).toBe('COMMIT_MESSAGE');
    expect(seen).toEqual([`${commit.msgId}:7`]);
    const rollback = await p.sendMessageInTransaction({ topic: t, body: 'rollback' }, () => 'ROLLBACK_MESSAGE', 0);
    const unknown = await p.sendMessageInTransaction({ topic: t, body: 'unknown-then-commit' }, () => {
      throw new Error('local transaction crashed');
    }, 0);
    expect(unknown.localTransactionState).toBe('UNKNOW');
    expect(unknown.localTransactionError).toMatch(/crashed/);
    await eventually(async () => {
      const bodies = (await readAll(ns, t)).map((m) => m.body.toString()).sort();
      return bodies.includes('commit') && bodies.includes('unknown-then-commit') ? bodies : undefined;
    }, 'committed and checked-then-committed messages visible', 60_000, 250);
    expect(checked.some((m) => m.msgId === unknown.msgId)).toBe(true);
    await sleep(500);
    const visible = (await readAll(ns, t)).map((m) => m.msgId);
    expect(visible).not.toContain(rollback.msgId);
    expect(visible.filter((id) => id === commit.msgId)).toHaveLength(1);
  });
});
