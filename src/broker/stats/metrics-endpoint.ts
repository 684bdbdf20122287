/**
 * The embedded broker's Prometheus endpoint (`metricsPort`, GET /metrics): the cluster metrics of
 * this broker, as `rocketctl exporter` collects any broker (so both show the same names, labels and
 * values), plus what only the broker process knows: connections, requests by code and result, puts
 * per topic as counters, and the commit log's flush latency histogram.
 *
 * The cluster families are collected by the admin API (src/admin/metrics.ts
 * collectOwnBrokerMetrics, over the broker's own admin socket), which the broker may not import:
 * whoever starts the broker passes that collector in (BrokerStartOptions.clusterMetrics; `rocketctl
 * broker start` does). Without one, the endpoint serves the process families only.
 *
 * Requests are counted on the TCP ports only: the collection's own requests over the admin socket
 * (and admin commands run on this host) are not client traffic.
 */
import { CachedCollector, type ClusterMetricsCollector, type OwnBroker } from '../../metrics/collector.js';
import { requestCodeName, responseCodeName } from '../../protocol/codes.js';
import { gauge, renderExposition, type MetricFamily, type Sample } from '../../metrics/exposition.js';
import { serveMetrics, type MetricsServer } from '../../metrics/http.js';
import { NOT_ANSWERED } from '../../remoting/server.js';
import type { BrokerStats } from './broker-stats.js';
import type { Histogram } from '../../metrics/histogram.js';

/** Scrapes closer together than this share one collection (Prometheus' shortest usual interval is 5 s+). */
const BROKER_METRICS_CACHE_MS = 1_000;

interface BrokerMetricsSource extends OwnBroker {
  stats: BrokerStats;
  flushLatency: () => Histogram;
  /** Open connections per TCP listener. */
  connections: () => Array<{ listener: string; count: number }>;
}

export async function startBrokerMetrics(src: BrokerMetricsSource, clusterMetrics: ClusterMetricsCollector | undefined, host: string, port: number, onError: (err: unknown) => void): Promise<MetricsServer> {
  const cluster = clusterMetrics ? new CachedCollector(() => clusterMetrics(src), BROKER_METRICS_CACHE_MS) : undefined;
  return serveMetrics({ host, port, onError, render: async () => renderExposition([...((await cluster?.get()) ?? []), ...processFamilies(src)]) });
}

function processFamilies(src: BrokerMetricsSource): MetricFamily[] {
  const broker = src.brokerName;
  const requests: MetricFamily = { name: 'rocketctl_requests_total', help: 'Requests handled on the TCP ports, by request code and response code (ONEWAY: not answered; SUSPENDED: a pull parked for long polling, answered later).', type: 'counter', samples: [] };
  const counted = [...src.stats.requests].flatMap(([req, byResult]) => [...byResult].map(([res, n]) => [req, res, n] as const));
  for (const [req, res, n] of counted.sort((a, b) => a[0] - b[0] || a[1] - b[1])) {
    const result = res === NOT_ANSWERED.oneway ? 'ONEWAY' : res === NOT_ANSWERED.suspended ? 'SUSPENDED' : responseCodeName(res);
    requests.samples.push({ labels: { broker, code: requestCodeName(req), result }, value: n });
  }
  const puts = src.stats.topicPutStats().sort((a, b) => (a.topic < b.topic ? -1 : 1));
  return [
    gauge('rocketctl_connections', 'Open client connections per TCP listener.', src.connections().map((c) => [{ broker, listener: c.listener }, c.count])),
    requests,
    { name: 'rocketctl_topic_put_messages_total', help: 'Messages stored per topic since the broker started.', type: 'counter', samples: puts.map((p) => ({ labels: { broker, topic: p.topic }, value: p.putTotal })) },
    { name: 'rocketctl_topic_put_bytes_total', help: 'Message body bytes stored per topic since the broker started.', type: 'counter', samples: puts.map((p) => ({ labels: { broker, topic: p.topic }, value: p.putBytesTotal })) },
    histogramFamily('rocketctl_flush_latency_seconds', 'Time of each commit log flush pass (fdatasync of the dirty segments).', { broker }, src.flushLatency()),
  ];
}

function histogramFamily(name: string, help: string, labels: Record<string, string>, h: Histogram): MetricFamily {
  const samples: Sample[] = h.cumulative().map(([le, n]) => ({ suffix: '_bucket', labels: { ...labels, le: le === Infinity ? '+Inf' : String(le) }, value: n }));
  samples.push({ suffix: '_sum', labels, value: h.sumS }, { suffix: '_count', labels, value: h.count });
  return { name, help, type: 'histogram', samples };
}
