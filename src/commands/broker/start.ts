import fs from 'node:fs';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../output/base-command.js';
import { colors } from '../../output/colors.js';
import { ConfigError, ExitCode, RocketError, UsageError } from '../../errors/index.js';
import { buildBrokerConfig, type BrokerConfig } from '../../broker/broker-config.js';
import { parseProperties } from '../../protocol/java-properties.js';
import { BrokerController, type BrokerAddresses, type BrokerCloseReport } from '../../broker/broker.js';
import type { Logger } from '../../remoting/server.js';
import { collectOwnBrokerMetrics } from '../../admin/metrics.js';
import { serverLogger, waitForSignal } from '../../output/signals.js';
import { GROUP_SIZES, startLocalGroup, type LocalGroup } from '../../broker/dledger/local-group.js';
import type { StoreRecoveryReport } from '../../broker/store/recovery.js';

export interface BrokerStartResult {
  addresses: BrokerAddresses;
  /** How the store was found at start ('abnormal' = the previous run did not shut down cleanly). */
  recovery: {
    mode: 'clean' | 'abnormal';
    truncatedFromOffset: number | null;
    bytesDropped: number;
    queuesRebuilt: string[];
    recordsRedispatched: number;
  };
  /** The signal that stopped the broker. */
  stoppedBy: string;
  /** How the shutdown went: not clean when config or store could not be written (e.g. a full disk). */
  shutdown: BrokerCloseReport;
  /** With --dledger-group: the name server and every member (addresses and recovery above are member n0's). */
  group?: {
    namesrv: string;
    peers: string;
    members: Array<{ selfId: string; addresses: BrokerAddresses; recovery: BrokerStartResult['recovery'] }>;
  };
}

/** Bound on a graceful shutdown; a second signal (or this timeout) ends the process at once. */
const SHUTDOWN_TIMEOUT_MS = 30_000;

export default class BrokerStart extends BaseCommand<BrokerStartResult> {
  // It stops cleanly on SIGINT/SIGTERM itself (waitForSignal).
  static override ownsSignals = true;
  static override summary = 'Run a name server and a RocketMQ 4.x compatible broker in this process.';

  static override description = [
    'Starts an embedded name server (127.0.0.1:9876) and a broker (127.0.0.1:10911, plus the fast port 10909 = listenPort-2) that unmodified RocketMQ 4.x clients can produce to and consume from, storing messages in RocketMQ\'s on-disk layout under ~/.rocketctl/store (storePathRootDir). Admin commands reach it through the Unix socket <store dir>/broker.sock (mode 0600) by default.',
    'When ready it prints one line: "broker ready: broker=HOST:PORT fast=HOST:PORT namesrv=HOST:PORT socket=PATH store=DIR". It runs until SIGINT or SIGTERM, then stops accepting, answers suspended pulls, persists offsets and topics, and closes the store cleanly ("store closed cleanly"). When that cannot be done (a full disk), it says what failed and exits 1; the next start recovers the store.',
    '-c reads a RocketMQ broker.conf (properties, RocketMQ\'s key names: brokerClusterName, brokerName, listenPort, namesrvAddr, storePathRootDir, flushDiskType, autoCreateTopicEnable, messageDelayLevel, ...; rocketctl adds embeddedNamesrv and namesrvListenPort). Unknown keys are warned about; invalid values stop the start with one line. Flags override the file. Port 0 picks a free port (the ready line says which).',
    '--metrics-port P (metricsPort) serves Prometheus text metrics at http://127.0.0.1:P/metrics (metricsHost / --metrics-host to bind elsewhere): rocketmq-exporter\'s metric names and labels for topics, groups and the broker runtime, and rocketctl_* for connections, requests and flush latency (README "Metrics").',
    '--broker-trace (brokerTraceEnable=true) makes the broker write trace records itself, in Apache\'s trace format, into the trace topic (msgTraceTopicName, created at start): when each message was stored, delivered by a pull and passed by its group\'s committed offset, so `rocketctl queryMsgTrace` (and mqadmin queryMsgTraceById) find traces of messages from clients that never enabled tracing. Its records have groups prefixed %BROKER% (docs/broker-trace.md).',
    '--dledger-group N (3, 5 or 7) runs a whole DLedger group in this process, for development: a name server (namesrvListenPort, default 9876) and N brokers of one broker name (brokerName), each with enableDLegerCommitLog=true, storing under <store dir>/dledger-group/nI. Member I listens on listenPort + 10·I and on DLedger port listenPort + 10·I + 30000 (10911 → 40911); --listen-port 0 picks free ports. It prints a "member nI ready:" line per member, then "dledger group ready: namesrv=HOST:PORT members=n0@HOST:PORT,..." The elected leader registers as master (brokerId 0), the others as slaves; point clients and admin commands at the name server (-n). To see failover, run the members as separate processes instead (README "DLedger").',
    'Everything listens on loopback unless brokerIP1 or --bind says otherwise. -n names external name servers and then no embedded one is started, unless embeddedNamesrv=true.',
    'mqadmin updateBrokerConfig (UPDATE_BROKER_CONFIG) changes these keys while the broker runs: autoCreateTopicEnable, autoCreateSubscriptionGroup, brokerPermission, traceOn, rejectTransactionMessage, regionId, defaultQueryMaxNum, maxMsgsNumBatch, maxTransferCountOnMessageInMemory, maxTransferBytesOnMessageInMemory, transactionTimeOut, transactionCheckMax. Each change is saved in the -c file (its line replaced or appended, the old file kept as .bak) or, without -c, in <store dir>/config/broker.properties (read at start only when given with -c). Other keys are ignored, as Apache ignores keys it does not know.',
  ].join('\n\n');

  static override examples = [
    { description: 'Start with the defaults (store in ~/.rocketctl/store).', command: '<%= config.bin %> broker start' },
    { description: 'Use a RocketMQ broker.conf, with another store dir.', command: '<%= config.bin %> broker start -c broker.conf --store-dir /data/store' },
    { description: 'Serve Prometheus metrics on a free loopback port (the ready line ends with metrics=http://127.0.0.1:PORT/metrics).', command: '<%= config.bin %> broker start --metrics-port 0' },
    { description: 'Free ports, for tests: the ready line says which were chosen.', command: '<%= config.bin %> broker start --listen-port 0 --namesrv-port 0 --store-dir /tmp/store' },
    { description: 'Trace every message on the broker (find traces with: rocketctl queryMsgTrace -i MSGID or -k KEY).', command: '<%= config.bin %> broker start --broker-trace' },
    { description: 'Register with an existing name server instead of running one.', command: '<%= config.bin %> broker start -n 10.0.0.5:9876' },
    { description: 'A DLedger group of three brokers and a name server in one process (then: rocketctl clusterList -n 127.0.0.1:9876).', command: '<%= config.bin %> broker start --dledger-group 3 --flush-disk-type SYNC_FLUSH' },
  ];

  static override flags = {
    config: Flags.string({ char: 'c', summary: 'RocketMQ-style broker.conf (java properties) to read.' }),
    namesrvAddr: Flags.string({ char: 'n', summary: 'External name server(s), host:port[;host:port]; no embedded name server then, unless embeddedNamesrv=true.' }),
    'store-dir': Flags.string({ summary: 'Store root dir (storePathRootDir). Default: ~/.rocketctl/store.' }),
    'listen-port': Flags.integer({ summary: 'Broker port (listenPort, default 10911; the fast port is this - 2). 0 = any free port P whose P - 2 is free too.', min: 0, max: 65535 }),
    'namesrv-port': Flags.integer({ summary: 'Embedded name server port (namesrvListenPort, default 9876). 0 = any free port.', min: 0, max: 65535 }),
    'metrics-port': Flags.integer({ summary: 'Serve Prometheus metrics on this port, GET /metrics (metricsPort; default: none). 0 = any free port (the ready line says which).', min: 0, max: 65535 }),
    'metrics-host': Flags.string({ summary: 'Address the metrics endpoint binds to (metricsHost, default 127.0.0.1).' }),
    'flush-disk-type': Flags.option({ summary: 'SYNC_FLUSH answers a send only once it is on disk (flushDiskType).', options: ['ASYNC_FLUSH', 'SYNC_FLUSH'] as const })(),
    'broker-ip': Flags.string({ summary: 'Address advertised to clients and written into messages (brokerIP1, default 127.0.0.1).' }),
    bind: Flags.string({ summary: 'Address to listen on (default: the advertised address). 0.0.0.0 accepts remote clients.' }),
    'embedded-namesrv': Flags.boolean({ summary: 'Run the embedded name server (embeddedNamesrv).', allowNo: true }),
    'dledger-group': Flags.integer({ summary: 'Run a DLedger group of this many brokers (3, 5 or 7) and a name server in this process, for development.', min: 3, max: 7 }),
    'broker-trace': Flags.boolean({ summary: 'Write trace records of every message (stored, delivered, committed) into the trace topic, for clients that do not trace (brokerTraceEnable; default off).', allowNo: true }),
  };

  async run(): Promise<BrokerStartResult> {
    const { flags } = await this.parse(BrokerStart);
    const overrides: Record<string, string> = {};
    const set = (key: string, v: string | number | boolean | undefined) => {
      if (v !== undefined) overrides[key] = String(v);
    };
    set('storePathRootDir', flags['store-dir']);
    set('listenPort', flags['listen-port']);
    set('namesrvListenPort', flags['namesrv-port']);
    set('metricsPort', flags['metrics-port']);
    set('metricsHost', flags['metrics-host']);
    set('flushDiskType', flags['flush-disk-type']);
    set('namesrvAddr', flags.namesrvAddr);
    set('brokerIP1', flags['broker-ip']);
    set('bindAddress', flags.bind);
    set('embeddedNamesrv', flags['embedded-namesrv']);
    set('brokerTraceEnable', flags['broker-trace']);

    const { config, warnings } = buildBrokerConfig({ file: flags.config ? readConfigFile(flags.config) : undefined, overrides });
    for (const w of warnings) this.warnNow(w);

    // Listen for signals before anything is printed: a supervisor may signal as soon as it reads
    // the ready line, and a signal during start-up must still lead to a clean close.
    const signalled = waitForSignal();
    if (flags['dledger-group'] !== undefined) return this.runGroup(flags['dledger-group'], config, signalled);
    const broker = await startBroker(config, serverLogger(), flags.config);
    const r = broker.recovery;
    if (r.mode === 'abnormal') {
      const cut = r.truncatedFromOffset === null ? 'nothing was cut' : `${r.bytesDropped} bytes cut from commit log offset ${r.truncatedFromOffset}`;
      this.warnNow(`the previous run did not shut down cleanly; recovery: ${cut}, ${r.recordsRedispatched} records re-dispatched`);
    }
    const line = readyLine(broker.addresses);
    if (this.jsonEnabled()) process.stderr.write(line + '\n');
    else process.stdout.write(line + '\n');

    const stoppedBy = await signalled;
    const shutdown = await this.closeWithin(() => broker.close(), stoppedBy);
    return { addresses: broker.addresses, recovery: recoveryOf(r), stoppedBy, shutdown };
  }

  /** --dledger-group: the name server and N members in this process (broker/dledger/local-group.ts). */
  private async runGroup(size: number, config: BrokerConfig, signalled: Promise<string>): Promise<BrokerStartResult> {
    if (!(GROUP_SIZES as readonly number[]).includes(size)) throw new UsageError(`--dledger-group ${size}: a DLedger group has ${GROUP_SIZES.join(', ')} members (odd, so that a majority is more than half)`);
    if (config.enableDLegerCommitLog) throw new ConfigError('--dledger-group starts its own DLedger members: remove enableDLegerCommitLog and the dLeger* keys from the config');
    const group = await startGroup(size, config);
    for (const m of group.members) {
      const line = `member ${m.selfId} ready: ${readyLine(m.addresses).slice('broker ready: '.length)}`;
      if (this.jsonEnabled()) process.stderr.write(line + '\n');
      else process.stdout.write(line + '\n');
    }
    const summary = `dledger group ready: namesrv=${group.namesrv} members=${group.members.map((m) => `${m.selfId}@${m.addresses.broker}`).join(',')}`;
    if (this.jsonEnabled()) process.stderr.write(summary + '\n');
    else process.stdout.write(summary + '\n');
    const stoppedBy = await signalled;
    const shutdown = await this.closeWithin(() => group.close(), stoppedBy);
    const first = group.members[0]!;
    return {
      addresses: first.addresses,
      recovery: recoveryOf(first.recovery),
      stoppedBy,
      shutdown,
      group: { namesrv: group.namesrv, peers: group.peers, members: group.members.map((m) => ({ selfId: m.selfId, addresses: m.addresses, recovery: recoveryOf(m.recovery) })) },
    };
  }

  /** Close within SHUTDOWN_TIMEOUT_MS (a second signal ends the process at once), and say how it went. */
  private async closeWithin(close: () => Promise<BrokerCloseReport>, stoppedBy: string): Promise<BrokerCloseReport> {
    const forced = setTimeout(() => {
      process.stderr.write(`error: shutdown took over ${SHUTDOWN_TIMEOUT_MS} ms; exiting without a clean close\n`);
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    forced.unref();
    const again = () => {
      process.stderr.write('error: second signal during shutdown; exiting without a clean close\n');
      process.exit(1);
    };
    process.once('SIGINT', again);
    process.once('SIGTERM', again);
    let shutdown: BrokerCloseReport;
    try {
      shutdown = await close();
    } finally {
      clearTimeout(forced);
      process.off('SIGINT', again);
      process.off('SIGTERM', again);
    }
    if (shutdown.clean) {
      if (!this.jsonEnabled()) process.stderr.write(`broker stopped (${stoppedBy}); store closed cleanly\n`);
    } else {
      // Each failed step was logged as it happened; this is the verdict, and exit 1.
      const verdict = `broker stopped (${stoppedBy}) but not cleanly: ${shutdown.problems.join('; ')}; the next start recovers what was written`;
      if (this.jsonEnabled()) this.setStatus(ExitCode.ERROR, verdict);
      else {
        process.stderr.write(colors.fail(`error: ${verdict}`) + '\n');
        this.setStatus(ExitCode.ERROR);
      }
    }
    return shutdown;
  }

  /** Warnings matter now (the command runs for hours): stderr at once, or the JSON envelope. */
  private warnNow(w: string): void {
    if (this.jsonEnabled()) this.warnUser(w);
    else process.stderr.write(colors.warn(`warning: ${w}`) + '\n');
  }
}

function recoveryOf(r: StoreRecoveryReport): BrokerStartResult['recovery'] {
  return { mode: r.mode, truncatedFromOffset: r.truncatedFromOffset, bytesDropped: r.bytesDropped, queuesRebuilt: r.queuesRebuilt, recordsRedispatched: r.recordsRedispatched };
}

async function startGroup(size: number, config: BrokerConfig): Promise<LocalGroup> {
  try {
    return await startLocalGroup({ size, base: config, logger: serverLogger(), clusterMetrics: collectOwnBrokerMetrics });
  } catch (err) {
    if (err instanceof RocketError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new RocketError(`a port of the DLedger group is in use: ${(err as Error).message}`, { code: 'E_PORT_IN_USE', cause: err, actions: ['choose other ports with --listen-port / --namesrv-port (0 picks free ones)'] });
    throw err;
  }
}

function readConfigFile(file: string): { path: string; entries: ReturnType<typeof parseProperties> } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`cannot read config file ${file} (${code})`, ['check the path given with -c']);
  }
  return { path: file, entries: parseProperties(text) };
}

/** Start, turning file-system failures on the store dir into one-line errors. */
async function startBroker(config: BrokerConfig, logger: Logger, configFile: string | undefined): Promise<BrokerController> {
  try {
    return await BrokerController.start(config, { logger, configFile, clusterMetrics: collectOwnBrokerMetrics });
  } catch (err) {
    if (err instanceof RocketError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'ENOTDIR' || code === 'EROFS' || code === 'ENOSPC') {
      throw new RocketError(`cannot use store dir ${config.storePathRootDir}: ${(err as Error).message}`, {
        code: 'E_STORE_DIR',
        cause: err,
        actions: ['choose a writable directory with --store-dir (storePathRootDir)'],
      });
    }
    throw err;
  }
}

/** One line, parseable: values containing spaces are JSON-quoted. */
export function readyLine(a: BrokerAddresses): string {
  const q = (s: string) => (/\s|"/.test(s) ? JSON.stringify(s) : s);
  const parts = [`broker=${a.broker}`, `fast=${a.fast}`];
  if (a.namesrv) parts.push(`namesrv=${a.namesrv}`);
  else if (a.namesrvAddrs.length > 0) parts.push(`namesrvAddr=${a.namesrvAddrs.join(';')}`);
  parts.push(`socket=${q(a.socket)}`, `store=${q(a.storeDir)}`);
  if (a.metrics) parts.push(`metrics=http://${a.metrics}/metrics`);
  return `broker ready: ${parts.join(' ')}`;
}
