/**
 * The embedded broker's GET /metrics (metricsPort 0) with real traffic: a push consumer consumes a
 * first batch and stops, a second batch stays. What the endpoint says must equal what
 * `consumerProgress` and `topicStatus` (the real CLI, --json) say at the same moment: backlog per
 * group and topic, committed offsets, max offsets, and the age of the oldest unconsumed message.
 * Also: put/consume TPS, requests by code and result, connections, the flush latency histogram,
 * only this broker reported, and the exposition accepted by `promtool check metrics` (when the
 * prometheus package is installed).
 */
import { describe, expect, it } from 'vitest';
import { Producer } from '../../src/client/producer.js';
import { broker, namesrvOf, topic, uniq, defer } from '../client/support.js';
import { eventually } from '../helpers/broker.js';
import { runCli } from '../helpers/cli.js';
import { find, makeBacklog, PROMTOOL, promtoolCheck, scrape, valueOf } from '../helpers/metrics.js';

describe('broker metrics endpoint', () => {
  it('is off by default and serves GET /metrics on metricsPort (0 = a free loopback port)', async () => {
    const off = await broker();
    expect(off.broker.addresses.metrics).toBeUndefined();
    const b = await broker({ config: { metricsPort: '0' } });
    expect(b.broker.addresses.metrics).toMatch(/^127\.0\.0\.1:\d+$/);
    const other = await scrape(`http://${b.broker.addresses.metrics}/other`);
    expect(other.status).toBe(404);
    const m = await scrape(`http://${b.broker.addresses.metrics}/metrics`);
    expect(m.status).toBe(200);
    expect(valueOf(m.samples, 'rocketctl_broker_up', { broker: 'broker-a' })).toBe(1);
  });

  it('without an embedded name server, asks the external one (broker requests still over its socket)', async () => {
    const ns = await broker();
    const b = await broker({ namesrv: false, config: { metricsPort: '0', brokerName: 'broker-x', namesrvAddr: namesrvOf(ns) } });
    const t = await topic(b, uniq('T'), 2);
    const m = await eventually(async () => {
      const r = await scrape(`http://${b.broker.addresses.metrics}/metrics`);
      return find(r.samples, 'rocketmq_producer_offset', { topic: t }).length === 1 ? r : undefined;
    }, 'the topic registered and scraped');
    expect(valueOf(m.samples, 'rocketctl_broker_up', { broker: 'broker-x' })).toBe(1);
    expect(find(m.samples, 'rocketctl_broker_up').map((s) => s.labels.broker)).toEqual(['broker-x']);
  });

  it('reports what consumerProgress and topicStatus report, with traffic counters and flush latency', async () => {
    const b = await broker({ config: { metricsPort: '0' } });
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 4);
    const { group } = await makeBacklog(ns, t, 12, 7);
    // A producer kept open: one client connection at least.
    const p = new Producer({ namesrvAddr: ns, producerGroup: uniq('PG') });
    await p.start();
    defer(() => p.close());
    await p.send({ topic: t, body: 'c' });
    const url = `http://${b.broker.addresses.metrics}/metrics`;
    const socket = ['--socket', b.broker.addresses.socket];

    // The flush pass runs every flushIntervalCommitLog (500 ms): wait for one to be counted.
    const m = await eventually(async () => {
      const r = await scrape(url);
      return valueOf(r.samples, 'rocketctl_flush_latency_seconds_count', { broker: 'broker-a' }) > 0 ? r : undefined;
    }, 'a flush pass in the histogram');
    const [cp, ts] = await Promise.all([runCli(['consumerProgress', '-g', group, '--json', ...socket]), runCli(['topicStatus', '-t', t, '--json', ...socket])]);
    expect(cp.code, cp.stderr).toBe(0);
    expect(ts.code, ts.stderr).toBe(0);
    const queues = (cp.json.result.progress.queues as Array<{ topic: string; diff: number; consumerOffset: number | null; oldestUnconsumedTimestamp: number | null }>).filter((q) => q.topic === t);
    const diff = queues.reduce((n, q) => n + q.diff, 0);
    expect(diff).toBe(8);

    const g = { cluster: 'DefaultCluster', broker: 'broker-a', topic: t, group };
    expect(valueOf(m.samples, 'rocketmq_group_diff', { group, topic: t, msgModel: '1', countOfOnlineConsumers: '0' })).toBe(diff);
    expect(valueOf(m.samples, 'rocketctl_group_diff', g)).toBe(diff);
    expect(valueOf(m.samples, 'rocketmq_consumer_offset', g)).toBe(queues.reduce((n, q) => n + (q.consumerOffset ?? 0), 0));
    const maxOffsets = (ts.json.result.queues as Array<{ maxOffset: number }>).reduce((n, q) => n + q.maxOffset, 0);
    expect(maxOffsets).toBe(20);
    expect(valueOf(m.samples, 'rocketmq_producer_offset', { cluster: 'DefaultCluster', broker: 'broker-a', topic: t })).toBe(maxOffsets);

    // Lag: both measure now - store time of the oldest unconsumed message; the scrape measured
    // first, so its store time (collection start - lag) lies at most its collection time earlier.
    const cpStoreMs = Math.min(...queues.flatMap((q) => (q.oldestUnconsumedTimestamp === null ? [] : [q.oldestUnconsumedTimestamp])));
    const lagMs = valueOf(m.samples, 'rocketmq_group_get_latency_by_storetime', g);
    const collectedAtMs = valueOf(m.samples, 'rocketctl_collect_timestamp_seconds') * 1000;
    const collectMs = valueOf(m.samples, 'rocketctl_broker_collect_seconds', { broker: 'broker-a' }) * 1000;
    expect(lagMs).toBeGreaterThan(0);
    expect(cpStoreMs - (collectedAtMs - lagMs)).toBeGreaterThanOrEqual(-1);
    // (+ 1 s: the cluster info asked before the broker's own collection started)
    expect(cpStoreMs - (collectedAtMs - lagMs)).toBeLessThanOrEqual(collectMs + 1000);

    expect(valueOf(m.samples, 'rocketmq_producer_tps', { broker: 'broker-a', topic: t })).toBeGreaterThan(0);
    expect(valueOf(m.samples, 'rocketmq_producer_message_size', { broker: 'broker-a', topic: t })).toBeGreaterThan(0);
    expect(valueOf(m.samples, 'rocketmq_consumer_tps', g)).toBeGreaterThan(0);
    expect(valueOf(m.samples, 'rocketctl_topic_put_messages_total', { topic: t })).toBe(20);
    const sends = find(m.samples, 'rocketctl_requests_total', { result: 'SUCCESS' }).filter((s) => s.labels.code!.startsWith('SEND_'));
    expect(sends.reduce((n, s) => n + s.value, 0)).toBeGreaterThanOrEqual(20);
    expect(find(m.samples, 'rocketctl_requests_total', { code: 'PULL_MESSAGE' }).length).toBeGreaterThan(0);
    expect(find(m.samples, 'rocketctl_connections').reduce((n, s) => n + s.value, 0)).toBeGreaterThanOrEqual(1);
    expect(valueOf(m.samples, 'rocketmq_brokeruntime_commitlog_maxoffset', { brokerHost: 'broker-a' })).toBeGreaterThan(0);
    expect(valueOf(m.samples, 'rocketmq_brokeruntime_commitlog_disk_ratio', { brokerHost: 'broker-a' })).toBeGreaterThan(0);
    // Only this broker, and no system topic as a producer topic.
    expect(new Set(find(m.samples, 'rocketmq_producer_offset').map((s) => s.labels.broker))).toEqual(new Set(['broker-a']));
    expect(find(m.samples, 'rocketmq_producer_offset').map((s) => s.labels.topic)).not.toContain('TBW102');

    if (!PROMTOOL) return console.warn('skipped promtool check metrics: promtool not installed (apt-get install prometheus)');
    const check = promtoolCheck(m.text);
    // 0, or 3 (lint) for rocketmq-exporter's camelCase labels only; never 1 (format error).
    expect([0, 3], check.output).toContain(check.code);
    expect(check.problems).toEqual([]);
  });
});
