/**
 * Fan-out to many brokers with a bound on requests in flight, and the one failure shape every
 * admin result uses: a broker (or name server) whose request failed is listed in `failed`
 * ({kind, addr, brokerName, code, message}), never skipped, and commands exit 3 with the rest.
 */
import { BodyFormatError } from '../protocol/fastjson.js';
import { RocketError, notRocketmqReply } from '../errors/index.js';

export const BROKER_PARALLELISM = 8;

/** A broker or name server whose request failed: listed, never silently skipped. */
export interface BrokerFailure {
  kind: 'broker' | 'namesrv';
  addr: string;
  brokerName: string | null;
  code: string;
  message: string;
}

/** One warning line per failed broker / name server (commands exit 3 with them). */
export function failureWarnings(failed: BrokerFailure[]): string[] {
  return failed.map((f) => `${f.kind === 'namesrv' ? 'name server' : 'broker'} ${f.brokerName ? `${f.brokerName} (${f.addr})` : f.addr} failed: ${f.message}`);
}

export function failureOf(target: { addr: string; brokerName?: string | null }, err: unknown, kind: BrokerFailure['kind'] = 'broker'): BrokerFailure {
  const e = asRocketError(err, target.addr);
  return { kind, addr: target.addr, brokerName: target.brokerName ?? null, code: e.code, message: e.message };
}

export function asRocketError(err: unknown, peer?: string): RocketError {
  if (err instanceof RocketError) return err;
  if (err instanceof BodyFormatError) return notRocketmqReply(err.message, peer, err);
  // Anything else a reply made us throw: reported against that broker, not a crash.
  return new RocketError(err instanceof Error ? err.message : String(err), { code: 'E_BAD_RESPONSE', cause: err });
}

export type Settled<T, R> = { item: T; ok: true; value: R } | { item: T; ok: false; error: unknown };

/** Run `fn` over `items`, at most `limit` at a time; every outcome is returned, in input order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<Array<Settled<T, R>>> {
  const out: Array<Settled<T, R>> = new Array(items.length);
  let next = 0;
  const worker = async () => {
    // Each worker takes the next index until none is left: bounded by items.length.
    while (next < items.length) {
      const i = next++;
      const item = items[i]!;
      try {
        out[i] = { item, ok: true, value: await fn(item) };
      } catch (error) {
        out[i] = { item, ok: false, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** Split settled results; when nothing succeeded (and something was tried), throw the first error. */
export function partition<T extends { addr: string; brokerName?: string | null }, R>(
  settled: Array<Settled<T, R>>,
  opts: { throwIfAllFailed: boolean },
): { ok: Array<{ item: T; value: R }>; failed: BrokerFailure[] } {
  const ok: Array<{ item: T; value: R }> = [];
  const failed: BrokerFailure[] = [];
  let first: { error: unknown; addr: string } | undefined;
  for (const s of settled) {
    if (s.ok) ok.push({ item: s.item, value: s.value });
    else {
      first ??= { error: s.error, addr: s.item.addr };
      failed.push(failureOf(s.item, s.error));
    }
  }
  if (opts.throwIfAllFailed && ok.length === 0 && first) throw asRocketError(first.error, first.addr);
  return { ok, failed };
}

export function dedupeFailures(fs: BrokerFailure[]): BrokerFailure[] {
  const seen = new Set<string>();
  return fs.filter((f) => {
    const key = `${f.kind} ${f.addr} ${f.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export const DEFAULT_CONCURRENCY = 32;

/**
 * Run `fn` over `items` with at most `limit` in flight (admin.ts mapBounded); results in input
 * order. Every call finishes before the first failure is thrown, so none runs on unobserved.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const settled = await mapBounded(
    items.map((item, index) => ({ item, index })),
    limit,
    (x) => fn(x.item, x.index),
  );
  return settled.map((r) => {
    if (!r.ok) throw r.error;
    return r.value;
  });
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
