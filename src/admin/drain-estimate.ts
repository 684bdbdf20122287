/**
 * The one-shot drain estimate of `consumerProgress -g`, from the brokers' own TPS statistics (a
 * single measurement, unlike --watch, which measures offsets between samples: watch.ts):
 *  - consume TPS: GET_CONSUME_STATS' consumeTps (messages pulled by the group, last minute);
 *  - produce TPS: each broker's TOPIC_PUT_NUMS statistic of the group's topics (VIEW_BROKER_STATS_DATA,
 *    statsMinute.tps, as mqadmin statsAll reads it), summed. A broker that does not serve it
 *    leaves it unknown: the estimate then assumes no new messages and says so.
 */
import { RequestCode, ResponseCode } from '../protocol/codes.js';
import { parseFastjson } from '../protocol/fastjson.js';
import { bodyBuffer, makeRequest } from '../protocol/frame.js';
import { sessionInvoke, type AdminSession } from './session.js';
import { roughDuration } from './retention.js';
import { drainEstimate, type Drain } from './watch.js';

export interface OneShotDrain extends Drain {
  backlog: number;
  consumeTps: number;
  /** Put TPS of the group's topics over the last minute; null when a broker does not serve it. */
  produceTps: number | null;
  /** Where produceTps came from, or why it is missing. */
  produceTpsSource: string;
  text: string;
}

/** statsMinute.tps of TOPIC_PUT_NUMS for `topic` on one broker; null when the broker does not serve it. */
async function topicPutTps(s: AdminSession, addr: string, topic: string): Promise<number | null> {
  const res = await sessionInvoke(s, addr, makeRequest(RequestCode.VIEW_BROKER_STATS_DATA, { statsName: 'TOPIC_PUT_NUMS', statsKey: topic }));
  if (res.code !== ResponseCode.SUCCESS) return null;
  const body = parseFastjson(bodyBuffer(res).toString('utf8')) as { statsMinute?: { tps?: number } } | null;
  const tps = body?.statsMinute?.tps;
  return typeof tps === 'number' && Number.isFinite(tps) ? tps : null;
}

/** `pairs`: each broker (address) and topic the group has queues of (a broker without the topic has no statistic for it). */
export async function oneShotDrain(s: AdminSession, o: { pairs: Array<{ addr: string; topic: string }>; backlog: number; consumeTps: number }): Promise<OneShotDrain> {
  let produceTps: number | null = 0;
  let why = '';
  for (const { addr, topic } of o.pairs) {
    const tps = await topicPutTps(s, addr, topic).catch(() => null);
    if (tps === null) {
      produceTps = null;
      why = `the put TPS of ${topic} is not available from broker ${addr} (VIEW_BROKER_STATS_DATA TOPIC_PUT_NUMS)`;
      break;
    }
    produceTps += tps;
  }
  const source = produceTps === null ? why : 'TOPIC_PUT_NUMS (VIEW_BROKER_STATS_DATA), last minute';
  // Unknown produce TPS: estimated as if nothing new arrived, and said so.
  const d = drainEstimate(o.backlog, o.consumeTps, produceTps ?? 0);
  return { ...d, backlog: o.backlog, consumeTps: o.consumeTps, produceTps, produceTpsSource: source, text: drainText(d, o.backlog, o.consumeTps, produceTps, why) };
}

function drainText(d: Drain, backlog: number, consumeTps: number, produceTps: number | null, why: string): string {
  const rates = `consume ${consumeTps.toFixed(1)}/s${produceTps === null ? '' : `, put ${produceTps.toFixed(1)}/s`} (brokers' last-minute TPS)`;
  const assumed = produceTps === null ? `; assuming no new messages: ${why}; --watch measures both rates` : '';
  switch (d.state) {
    case 'drained':
      return 'drain estimate: nothing to drain';
    case 'draining':
      return `drain estimate: ~${roughDuration(d.etaMs!)} for ${backlog} message(s) at ${rates}${assumed}`;
    case 'growing':
      return `drain estimate: never at the current rates, the backlog grows: ${rates}`;
    default:
      return `drain estimate: not draining: ${rates}${assumed}`;
  }
}
