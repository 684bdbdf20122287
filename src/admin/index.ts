/**
 * The rocketctl admin API: what the CLI's admin commands, checks and the exporter are built on,
 * for user code too. Every function takes an AdminSession (openAdminSession / withAdminSession:
 * a name server list, a broker address or the local broker's socket) and works against our
 * broker and Apache RocketMQ 4.x/5.x alike. Results that ask several brokers list the ones that
 * failed in `failed` (BrokerFailure) instead of throwing; README "Client library" shows use.
 */
export * from './session.js';
export * from './fanout.js';
export * from './targets.js';
export * from './requests.js';
export * from './cluster.js';
export * from './topics.js';
export * from './groups.js';
export * from './connections.js';
export * from './progress.js';
export * from './reset.js';
export * from './messages.js';
export * from './trace.js';
export * from './trace-timeline.js';
export * from './migrate.js';
export * from './acl.js';
export * from './audit.js';
export * from './metrics.js';
export * from './watch.js';
export * from './watch-samplers.js';
