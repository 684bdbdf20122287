import { Flags } from '@oclif/core';
import { DEFAULT_BROKER_TIMEOUT_MS, DEFAULT_METRICS_CONCURRENCY, scrapeCluster, startExporter, type ClusterSample } from '../admin/metrics.js';
import { ExitCode } from '../errors/index.js';
import { BaseCommand } from '../output/base-command.js';
import { targetFlags, targetOf } from '../output/flags.js';
import { colors } from '../output/colors.js';
import { waitForSignal } from '../output/signals.js';


/** rocketmq-exporter's default port, so scrape configs written for it keep working. */
const DEFAULT_EXPORTER_PORT = 5557;

export type ExporterResult = ClusterSample;

export default class Exporter extends BaseCommand<ExporterResult> {
  static override summary = 'Serve Prometheus metrics of a whole cluster (Apache brokers included) at GET /metrics.';

  static override description = [
    'Collects every broker the name servers know through the admin API (GET_BROKER_RUNTIME_INFO, GET_ALL_TOPIC_CONFIG, GET_TOPIC_STATS_INFO, GET_CONSUME_STATS, VIEW_BROKER_STATS_DATA, cluster info) with rocketmq-exporter\'s metric names and labels (README "Metrics"), so its Grafana dashboards work, and serves them until SIGINT or SIGTERM.',
    'Brokers are collected --concurrency at a time, each under --broker-timeout: a broker that fails or is too slow gets rocketctl_broker_up 0 and the others are still served. A collection is reused for --cache-ms, and scrapes arriving together share one.',
    'When ready it prints one line: "exporter ready: metrics=http://HOST:PORT/metrics" (--port 0 picks a free port). --once prints one collection as exposition text and exits; --json prints one collection as JSON and exits (3 when a broker failed).',
    'Exit codes: 0 ok (stopped by a signal); 1 error (port in use, unreachable name server); 2 bad flags; 3 with --once/--json: a broker failed.',
  ].join('\n\n');

  static override examples = [
    { description: 'Serve a cluster\'s metrics on port 5557 (rocketmq-exporter\'s), loopback only.', command: '<%= config.bin %> exporter -n 10.0.0.1:9876' },
    { description: 'Listen on every interface, collect at most every 15 s.', command: '<%= config.bin %> exporter -n 10.0.0.1:9876 --host 0.0.0.0 --port 9557 --cache-ms 15000' },
    { description: 'Print one collection as exposition text (e.g. for promtool check metrics).', command: '<%= config.bin %> exporter -n 10.0.0.1:9876 --once | promtool check metrics' },
    { description: 'One collection as JSON: which brokers answered, per topic and group.', command: '<%= config.bin %> exporter -n 10.0.0.1:9876 --json' },
  ];

  static override ownsSignals = true;

  static override flags = {
    port: Flags.integer({ summary: `Port to serve on (default ${DEFAULT_EXPORTER_PORT}, rocketmq-exporter's); 0 = any free port.`, default: DEFAULT_EXPORTER_PORT, min: 0, max: 65535 }),
    host: Flags.string({ summary: 'Address to listen on (default 127.0.0.1; 0.0.0.0 for remote Prometheus servers).', default: '127.0.0.1' }),
    'cache-ms': Flags.integer({ summary: 'Reuse a collection for scrapes within this many milliseconds (set it near the scrape interval).', default: 10_000, min: 0, max: 3_600_000 }),
    'broker-timeout': Flags.integer({ summary: 'Give up on a broker after this many milliseconds of a collection (it is reported with rocketctl_broker_up 0); it covers all of the broker\'s topics and groups.', default: DEFAULT_BROKER_TIMEOUT_MS, min: 1, max: 600_000 }),
    concurrency: Flags.integer({ summary: 'Brokers collected at once, and requests in flight per broker.', default: DEFAULT_METRICS_CONCURRENCY, min: 1, max: 256 }),
    once: Flags.boolean({ summary: 'Print one collection as exposition text on stdout and exit.' }),
    ...targetFlags,
  };

  async run(): Promise<ExporterResult> {
    const { flags } = await this.parse(Exporter);
    const target = { ...targetOf(flags), timeoutMs: Math.min(flags.timeout, flags['broker-timeout']) };
    const collect = { brokerTimeoutMs: flags['broker-timeout'], concurrency: flags.concurrency };
    if (this.jsonEnabled() || flags.once) {
      const { sample, text } = await scrapeCluster(target, collect);
      for (const b of sample.brokers) if (!b.up) this.setStatus(ExitCode.PARTIAL, `broker ${b.brokerName} (${b.addr}) failed: ${b.errors.join('; ')}`);
      if (flags.once && !this.jsonEnabled()) process.stdout.write(text);
      for (const w of this.warnings) if (!this.jsonEnabled()) process.stderr.write(colors.warn(`warning: ${w}`) + '\n');
      return sample;
    }
    const stopped = waitForSignal();
    const server = await startExporter({
      target,
      ...collect,
      host: flags.host,
      port: flags.port,
      cacheMs: flags['cache-ms'],
      onError: (err) => process.stderr.write(colors.warn(`warning: collection failed: ${err instanceof Error ? err.message : String(err)}`) + '\n'),
    });
    process.stdout.write(`exporter ready: metrics=http://${server.address}/metrics\n`);
    const signal = await stopped;
    await server.close();
    process.stderr.write(`exporter stopped (${signal})\n`);
    // Serving is never --json (that mode collects once, above): this result is not printed.
    return { collectedAt: Date.now(), collectMs: 0, brokers: [] };
  }
}
