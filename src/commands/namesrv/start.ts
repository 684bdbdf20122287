import os from 'node:os';
import path from 'node:path';
import { Flags } from '@oclif/core';
import { BaseCommand } from '../../output/base-command.js';
import { serverLogger, waitForSignal } from '../../output/signals.js';
import { listenTcp, withoutListenErrors } from '../../broker/listen.js';
import { NameServer } from '../../broker/namesrv/namesrv.js';
import { RemotingServer } from '../../remoting/server.js';

export interface NamesrvStartResult {
  namesrv: string;
  kvConfigPath: string;
  /** The signal that stopped it. */
  stoppedBy: string;
}

/** Apache's NamesrvStartup default (NettyServerConfig listenPort 9876). */
const DEFAULT_NAMESRV_PORT = 9876;

export default class NamesrvStart extends BaseCommand<NamesrvStartResult> {
  // It stops cleanly on SIGINT/SIGTERM itself (waitForSignal).
  static override ownsSignals = true;
  static override summary = 'Run a name server alone in this process (as Apache\'s mqnamesrv).';

  static override description = [
    'Serves the name server\'s requests (brokers registering, clients asking for routes and cluster info, KV config) on 127.0.0.1:9876 until SIGINT or SIGTERM, without a broker: the process that outlives any broker when brokers run apart (`rocketctl broker start -n HOST:PORT`, or Apache brokers with namesrvAddr). Run several and give brokers and clients all of them, `-n a:9876;b:9876`: brokers register with every one, clients ask the next one when one does not answer.',
    'When ready it prints one line: "namesrv ready: namesrv=HOST:PORT kvConfig=PATH" (--listen-port 0 picks a free port). A broker that has not registered for 120 s, or whose connection closed, is dropped from the routes, as Apache\'s RouteInfoManager does. The KV config (mqadmin updateKvConfig, the order-topic config) is kept in --kv-config (default ~/.rocketctl/namesrv/kvConfig.json; Apache\'s is ~/namesrv/kvConfig.json).',
    'Exit codes: 0 stopped by a signal; 1 the port is taken or the KV config cannot be read; 2 bad flags.',
  ].join('\n\n');

  static override examples = [
    { description: 'A name server on 127.0.0.1:9876, and a broker registering with it.', command: '<%= config.bin %> namesrv start &\n<%= config.bin %> broker start -n 127.0.0.1:9876' },
    { description: 'A free port, for tests: the ready line says which.', command: '<%= config.bin %> namesrv start --listen-port 0 --kv-config /tmp/ns/kvConfig.json' },
    { description: 'Accept brokers and clients from other hosts.', command: '<%= config.bin %> namesrv start --bind 0.0.0.0' },
  ];

  static override flags = {
    'listen-port': Flags.integer({ summary: `Port to listen on (listenPort, default ${DEFAULT_NAMESRV_PORT}). 0 = any free port.`, default: DEFAULT_NAMESRV_PORT, min: 0, max: 65535 }),
    bind: Flags.string({ summary: 'Address to listen on (default 127.0.0.1; 0.0.0.0 accepts remote brokers and clients).', default: '127.0.0.1' }),
    'kv-config': Flags.string({ summary: 'KV config file (kvConfigPath). Default: ~/.rocketctl/namesrv/kvConfig.json.' }),
  };

  async run(): Promise<NamesrvStartResult> {
    const { flags } = await this.parse(NamesrvStart);
    const kvConfigPath = path.resolve(flags['kv-config'] ?? path.join(os.homedir(), '.rocketctl', 'namesrv', 'kvConfig.json'));
    const logger = serverLogger();
    const signalled = waitForSignal();
    const ns = new NameServer({ logger, kvConfigPath });
    const server = new RemotingServer({ name: 'namesrv', logger: withoutListenErrors(logger) });
    ns.attach(server);
    let address: string;
    try {
      address = await listenTcp(server, 'name server', flags.bind, flags['listen-port']);
    } catch (err) {
      await server.close();
      await ns.close();
      throw err;
    }
    const line = `namesrv ready: namesrv=${address} kvConfig=${/\s|"/.test(kvConfigPath) ? JSON.stringify(kvConfigPath) : kvConfigPath}`;
    if (this.jsonEnabled()) process.stderr.write(line + '\n');
    else process.stdout.write(line + '\n');
    const stoppedBy = await signalled;
    await server.close();
    await ns.close();
    if (!this.jsonEnabled()) process.stderr.write(`namesrv stopped (${stoppedBy})\n`);
    return { namesrv: address, kvConfigPath, stoppedBy };
  }
}
