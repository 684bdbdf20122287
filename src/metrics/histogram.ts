/**
 * A fixed-bucket latency histogram (Prometheus' cumulative buckets, in seconds). Observing is O(buckets)
 * with no allocation; memory is bounded by the bucket list, whatever the uptime.
 */

/** fdatasync times: from a page-cache-only device (~50 µs) to a stalled disk (seconds). */
export const FLUSH_LATENCY_BUCKETS_S = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

export class Histogram {
  /** counts[i]: observations <= bounds[i] (not cumulative; cumulated when read). */
  private readonly counts: number[];
  count = 0;
  sumS = 0;

  constructor(readonly boundsS: readonly number[]) {
    this.counts = new Array<number>(boundsS.length).fill(0);
  }

  observe(seconds: number): void {
    const i = this.boundsS.findIndex((b) => seconds <= b);
    if (i >= 0) this.counts[i]!++;
    this.count++;
    this.sumS += seconds;
  }

  /** Cumulative counts per upper bound, ending with +Inf (= count). */
  cumulative(): Array<[number, number]> {
    let acc = 0;
    const out: Array<[number, number]> = this.boundsS.map((b, i) => [b, (acc += this.counts[i]!)]);
    out.push([Infinity, this.count]);
    return out;
  }
}
