/**
 * GET_BROKER_CONFIG (26), as AdminBrokerProcessor.getBrokerConfig (4.9.8): the body is the
 * broker's configuration as java.util.Properties text (`key=value\n`, UTF-8), the header `version`
 * the configuration's DataVersion as JSON. mqadmin getBrokerConfig and checkNoLoss read it.
 *
 * Every key of this broker's BrokerConfig is sent with its effective value (lists joined with
 * ';', as broker.conf writes them). Two Apache keys readers look for are added because they are
 * facts of this broker, not settings: `brokerRole=ASYNC_MASTER` (a master without slaves, as
 * GET_BROKER_RUNTIME_INFO says) and `enableDLegerCommitLog=false` (no DLedger). Keys this broker
 * accepts but does not act on (brokerIP2, haListenPort, ...) are NOT sent: a value that changes
 * nothing would read as a setting in force. Optional keys that are unset are left out too.
 */
import type { BrokerConfig } from '../broker-config.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { ok } from './util.js';

/** Facts of the embedded broker under Apache's key names (see above). */
const FIXED_KEYS: Record<string, string> = {
  brokerRole: 'ASYNC_MASTER',
  enableDLegerCommitLog: 'false',
};

export function getBrokerConfig(ctx: BrokerContext): RequestHandler {
  // The version moves with every UPDATE_BROKER_CONFIG (Configuration's DataVersion).
  return (req) => {
    // A DLedger member's role is live: SYNC_MASTER as leader, SLAVE otherwise (DLedgerRoleChangeHandler).
    const d = ctx.config.enableDLegerCommitLog ? ctx.runtimeFacts().dledger : undefined;
    const live: Record<string, string> = d ? { brokerRole: d.writable ? 'SYNC_MASTER' : 'SLAVE' } : {};
    return ok(req, { version: ctx.configuration.dataVersionJson() }, Buffer.from(brokerConfigProperties(ctx.config, live), 'utf8'));
  };
}

/**
 * `key=value\n` for every config key, sorted: MixAll.properties2String, which writes keys and values
 * as they are (no Properties escaping), so a reader's Properties.load sees the same text Java sends.
 */
export function brokerConfigProperties(config: BrokerConfig, live: Record<string, string> = {}): string {
  const entries: Array<[string, string]> = Object.entries(config as unknown as Record<string, unknown>)
    // The DLedger keys only in DLedger mode (Java leaves its null dLeger* keys out).
    .filter(([k, v]) => v !== undefined && (config.enableDLegerCommitLog || !k.startsWith('dLeger')))
    .map(([k, v]) => [k, Array.isArray(v) ? v.join(';') : String(v)]);
  for (const [k, v] of Object.entries({ ...FIXED_KEYS, ...live })) if (!(k in config)) entries.push([k, v]);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.map(([k, v]) => `${k}=${v}\n`).join('');
}
