/**
 * What the broker's GET /metrics and `rocketctl exporter` share below the broker and the admin API:
 * the scrape cache, and the seam through which the broker is handed its cluster families (the
 * broker may not import admin, which collects them; README "Development").
 */
import type { MetricFamily } from './exposition.js';

/**
 * At most one collection per `cacheMs`: scrapes inside it get the last one, and concurrent scrapes
 * share the collection under way (so N Prometheus replicas cost one collection).
 */
export class CachedCollector<T> {
  private last: { at: number; value: T } | undefined;
  private running: Promise<T> | undefined;

  constructor(
    private readonly collect: () => Promise<T>,
    private readonly cacheMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(): Promise<T> {
    if (this.last && this.now() - this.last.at < this.cacheMs) return Promise.resolve(this.last.value);
    this.running ??= this.collect()
      .then((value) => {
        this.last = { at: this.now(), value };
        return value;
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }
}

/** How a broker process reaches itself: what collecting its own cluster metrics needs. */
export interface OwnBroker {
  brokerName: string;
  /** The broker's admin socket (a Unix socket path). */
  socket: string;
  /** The broker's advertised addresses (main and fast port): asked over the socket. */
  brokerAddrs: string[];
  /** Whether the embedded name server answers on the socket; else namesrvAddrs are asked. */
  embeddedNamesrv: boolean;
  namesrvAddrs: string[];
}

/** Collects one broker's cluster families (admin's collectOwnBrokerMetrics). */
export type ClusterMetricsCollector = (own: OwnBroker) => Promise<MetricFamily[]>;
