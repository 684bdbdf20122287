/**
 * Shared by the Java client suites (javaclient*.apache.test.ts): what the drivers printed, sorted
 * into sends and deliveries, and the comparison of a delivery with its send.
 */
import { expect } from 'vitest';
import type { JavaRun } from './support.js';

/** One message as Produce/Transaction printed it (a batch: its per-message lines). */
export interface Sent {
  i: number;
  msgId: string;
  offsetMsgId: string | null;
  tags: string | null;
  keys: string | null;
  bodyLen: number;
  bodyMd5: string;
  props: Record<string, string>;
  queueId?: number;
}

/** The messages a Produce run sent: sync/async lines with SEND_OK, oneway lines, a batch's per-message lines. */
export function sentOf(run: JavaRun): Sent[] {
  expect(run.lines.at(-1), `producer did not finish:\n${run.stderr}`).toMatchObject({ done: true });
  const out = run.lines.filter((l) => l.i >= 0 && l.msgId && (l.batch || l.status === 'SEND_OK' || l.status === 'ONEWAY'));
  expect(out.length, `sends of this run:\n${run.stdout}`).toBe(run.lines.at(-1).count);
  return out;
}

/** Every delivery a Consume run printed. */
export function deliveriesOf(run: JavaRun): any[] {
  expect(run.lines.at(-1), `consumer did not finish:\n${run.stderr}`).toMatchObject({ done: true });
  return run.lines.filter((l) => l.event === 'msg');
}

/** The clientId a Consume run printed when it started. */
export function clientIdOf(run: JavaRun): string {
  return run.lines.find((l) => l.event === 'started')!.clientId;
}

/** The delivery is the sent message: ids, tags, keys, user properties and the (uncompressed) body. */
export function expectSame(got: any, sent: Sent, extraProps: Record<string, string> = {}): void {
  expect(
    { msgId: got.msgId, tags: got.tags, keys: got.keys, bodyLen: got.bodyLen, bodyMd5: got.bodyMd5, props: got.props },
    `delivery of message ${sent.i} (${sent.msgId})`,
  ).toEqual({ msgId: sent.msgId, tags: sent.tags, keys: sent.keys, bodyLen: sent.bodyLen, bodyMd5: sent.bodyMd5, props: { ...sent.props, ...extraProps } });
  // A oneway send has no answer, so no offsetMsgId to compare.
  if (sent.offsetMsgId) expect(got.offsetMsgId).toBe(sent.offsetMsgId);
}

/** Deliveries by msgId, each a list (so duplicates show). */
export function byMsgId(deliveries: any[]): Map<string, any[]> {
  const m = new Map<string, any[]>();
  for (const d of deliveries) m.set(d.msgId, [...(m.get(d.msgId) ?? []), d]);
  return m;
}

/** Each sent message delivered exactly once, as sent. */
export function expectExactlyOnce(deliveries: any[], sent: Sent[]): void {
  const got = byMsgId(deliveries);
  expect([...got.keys()].sort()).toEqual(sent.map((s) => s.msgId).sort());
  for (const s of sent) {
    expect(got.get(s.msgId), `deliveries of ${s.msgId}`).toHaveLength(1);
    expectSame(got.get(s.msgId)![0], s);
  }
}
