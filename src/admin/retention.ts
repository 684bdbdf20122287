/**
 * The retention warning (consumerProgress, checkNoLoss): Apache brokers delete a commit log segment
 * once it is older than fileReservedTime (72 h by default), consumed or not, and say nothing. A
 * group whose oldest unconsumed message will reach that age within a day is warned about:
 * "oldest unconsumed is 70 h old, retention 72 h: deleted in ~2 h".
 *
 * The estimate is the message's store time plus the broker's retention. It is the earliest the
 * message can go by age: its segment was last written at or after the message (so it expires a
 * little later), and deletion waits for a deleteWhen hour (04:00 by default) unless the broker's
 * disk is over diskMaxUsedSpaceRatio. A disk over 85 % deletes the oldest segments whatever their
 * age (checkNoLoss disk-headroom covers that). The retention is read from each broker's config
 * (GET_BROKER_CONFIG fileReservedTime; rocketctl's test knob testOnlyFileReservedTimeMs when set).
 */
import { RocketError } from '../errors/index.js';
import { parseProperties } from '../protocol/java-properties.js';
import { RequestCode, ResponseCode, responseCodeName } from '../protocol/codes.js';
import { bodyBuffer, makeRequest } from '../protocol/frame.js';
import type { AdminSession } from './session.js';

/** Warn when the oldest unconsumed message is deleted by retention within this (a day). */
export const RETENTION_WARNING_WINDOW_MS = 24 * 3_600_000;
/** MessageStoreConfig.fileReservedTime default, hours. */
export const DEFAULT_FILE_RESERVED_TIME_HOURS = 72;
const HOUR_MS = 3_600_000;

/** GET_BROKER_CONFIG (26): the properties text as a map. */
export async function getBrokerConfig(s: AdminSession, addr: string): Promise<Record<string, string>> {
  const res = await s.client.invoke(addr, makeRequest(RequestCode.GET_BROKER_CONFIG), s.timeoutMs);
  if (res.code !== ResponseCode.SUCCESS) throw new RocketError(`config of ${addr}: ${res.remark || responseCodeName(res.code)}`, { code: 'E_REMOTE' });
  const out: Record<string, string> = {};
  for (const { key, value } of parseProperties(bodyBuffer(res).toString('utf8'))) out[key] = value;
  return out;
}

export interface BrokerRetention {
  retentionMs: number;
  /** false: the broker's config could not be read or had no fileReservedTime; the default is assumed. */
  known: boolean;
  /** deleteWhen as configured ("04"), null when unknown. */
  deleteWhen: string | null;
}

/** A broker's retention from its GET_BROKER_CONFIG properties (undefined: not readable). */
export function retentionOfConfig(config: Record<string, string> | undefined): BrokerRetention {
  const knob = Number(config?.testOnlyFileReservedTimeMs);
  if (Number.isSafeInteger(knob) && knob > 0) return { retentionMs: knob, known: true, deleteWhen: config?.deleteWhen ?? null };
  const hours = Number(config?.fileReservedTime);
  if (config?.fileReservedTime !== undefined && Number.isFinite(hours)) return { retentionMs: hours * HOUR_MS, known: true, deleteWhen: config.deleteWhen ?? null };
  return { retentionMs: DEFAULT_FILE_RESERVED_TIME_HOURS * HOUR_MS, known: false, deleteWhen: config?.deleteWhen ?? null };
}

/** Each broker's retention, asked once per broker address (bounded by the brokers of a cluster). */
export function retentionReader(s: AdminSession): (addr: string) => Promise<BrokerRetention> {
  const cache = new Map<string, Promise<BrokerRetention>>();
  return (addr) => {
    let p = cache.get(addr);
    if (!p) {
      p = getBrokerConfig(s, addr).then(retentionOfConfig, () => retentionOfConfig(undefined));
      cache.set(addr, p);
    }
    return p;
  };
}

export interface RetentionWarning {
  topic: string;
  brokerName: string;
  queueId: number;
  /** Age of the group's oldest unconsumed message on that queue when measured. */
  ageMs: number;
  retentionMs: number;
  /** retentionMs − ageMs: when retention may delete it; 0 or less = already past the retention. */
  deletedInMs: number;
  /** false: the broker's retention could not be read; Apache's default 72 h was assumed. */
  retentionKnown: boolean;
  message: string;
}

/** 70 h, 1.5 h, 45 min, 12 s: rounded for a sentence. */
export function roughDuration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs >= 10 * HOUR_MS) return `${Math.round(ms / HOUR_MS)} h`;
  if (abs >= HOUR_MS) return `${Number((ms / HOUR_MS).toFixed(1))} h`;
  if (abs >= 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 1000)} s`;
}

export function retentionWarningText(ageMs: number, r: BrokerRetention): string {
  const retention = `retention ${roughDuration(r.retentionMs)}${r.known ? '' : ' (assumed: the broker\'s fileReservedTime could not be read)'}`;
  const left = r.retentionMs - ageMs;
  if (left <= 0) {
    const when = r.deleteWhen ? ` (deleteWhen ${r.deleteWhen})` : '';
    return `oldest unconsumed is ${roughDuration(ageMs)} old, ${retention}: past the retention, deleted at the broker's next clean-up${when}`;
  }
  return `oldest unconsumed is ${roughDuration(ageMs)} old, ${retention}: deleted in ~${roughDuration(left)}`;
}

/**
 * The queue of the group whose oldest unconsumed message retention deletes first, if that is
 * within RETENTION_WARNING_WINDOW_MS; null otherwise. Queues without a measured lag are skipped.
 */
export function retentionWarning(
  queues: Array<{ topic: string; brokerName: string; queueId: number; diff: number; lagMs?: number | null }>,
  retentionOf: (brokerName: string) => BrokerRetention,
): RetentionWarning | null {
  let worst: RetentionWarning | null = null;
  for (const q of queues) {
    if (q.diff <= 0 || q.lagMs === null || q.lagMs === undefined || q.lagMs <= 0) continue;
    const r = retentionOf(q.brokerName);
    const deletedInMs = r.retentionMs - q.lagMs;
    if (deletedInMs > RETENTION_WARNING_WINDOW_MS) continue;
    if (worst && worst.deletedInMs <= deletedInMs) continue;
    worst = {
      topic: q.topic,
      brokerName: q.brokerName,
      queueId: q.queueId,
      ageMs: q.lagMs,
      retentionMs: r.retentionMs,
      deletedInMs,
      retentionKnown: r.known,
      message: retentionWarningText(q.lagMs, r),
    };
  }
  return worst;
}

/** Retention of every broker holding one of `queues` with a lag (one GET_BROKER_CONFIG each). */
export async function retentionsOf(
  brokers: Array<{ brokerName: string; addr: string }>,
  queues: Array<{ brokerName: string; lagMs?: number | null }>,
  read: (addr: string) => Promise<BrokerRetention>,
): Promise<(brokerName: string) => BrokerRetention> {
  const wanted = new Set(queues.filter((q) => (q.lagMs ?? 0) > 0).map((q) => q.brokerName));
  const byName = new Map<string, BrokerRetention>();
  await Promise.all(brokers.filter((b) => wanted.has(b.brokerName)).map(async (b) => byName.set(b.brokerName, await read(b.addr))));
  return (name) => byName.get(name) ?? retentionOfConfig(undefined);
}
