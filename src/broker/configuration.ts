/**
 * The broker's configuration as UPDATE_BROKER_CONFIG / GET_BROKER_CONFIG see it, after Apache's
 * Configuration (4.9.8): a data version bumped by every update, and persistence of updated keys
 * to the file given with `-c` (BrokerPathConfigHelper.getBrokerConfigPath), or without one to
 * `<storePathRootDir>/config/broker.properties` (Apache: `~/store/config/broker.properties`; like
 * Apache's, that file is not read at start unless given with -c).
 *
 * Differences from Apache, on purpose (docs/conformance/mqadmin.md):
 * - Only RUNTIME_KEYS change. Another key (unknown, or one read only at start) is ignored and
 *   answered SUCCESS, as Apache answers a key it does not know; the remark names the ignored keys.
 * - An invalid value refuses the whole update (Apache's properties2Object skips it silently).
 * - The file is edited, not rewritten from memory: the updated keys' lines are replaced (or
 *   appended), everything else (comments, other keys) stays; Apache dumps every config key. The
 *   previous content is kept as `.bak`, as MixAll.string2File does.
 * - The file is written before the values are applied: a change that could not be saved is not
 *   made (Apache applies it and only logs the failed write).
 */
import path from 'node:path';
import { RUNTIME_KEYS, parseConfigValue, type BrokerConfig } from './broker-config.js';
import { parseProperties } from '../protocol/java-properties.js';
import type { FileIO } from './store/file-io.js';

/** Configuration's blacklist (AdminBrokerProcessor: configBlackList plus its defaults). */
const CONFIG_BLACKLIST: ReadonlySet<string> = new Set(['brokerConfigPath', 'rocketmqHome', 'configBlackList']);

export class ConfigUpdateError extends Error {
  constructor(
    message: string,
    /** Answered NO_PERMISSION (a blacklisted key), else SYSTEM_ERROR. */
    readonly blacklisted = false,
  ) {
    super(message);
  }
}

interface ConfigUpdateResult {
  /** Keys whose value is now in force (and saved). */
  applied: string[];
  /** Keys left alone: unknown, or read only at start. */
  ignored: string[];
}

interface ConfigurationOptions {
  config: BrokerConfig;
  /** The `-c` file; undefined: `<storePathRootDir>/config/broker.properties`. */
  configFile?: string;
  io: FileIO;
  /** Awaited after keys were applied (e.g. re-register when brokerPermission changed). */
  onApplied?: (keys: string[]) => Promise<void> | void;
}

export class BrokerConfiguration {
  readonly filePath: string;
  private counter = 0;
  private timestamp = Date.now();
  /** Updates run one at a time (AdminBrokerProcessor#updateBrokerConfig is synchronized). */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: ConfigurationOptions) {
    this.filePath = path.resolve(o.configFile ?? path.join(o.config.storePathRootDir, 'config', 'broker.properties'));
  }

  /** DataVersion#toJson, as GET_BROKER_CONFIG's `version` header. */
  dataVersionJson(): string {
    return JSON.stringify({ counter: this.counter, stateVersion: 0, timestamp: this.timestamp });
  }

  /** Configuration#update then #persist (see the top of this file for what differs). */
  update(entries: ReadonlyArray<{ key: string; value: string }>): Promise<ConfigUpdateResult> {
    const run = this.chain.then(() => this.updateNow(entries));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async updateNow(entries: ReadonlyArray<{ key: string; value: string }>): Promise<ConfigUpdateResult> {
    if (entries.some((e) => CONFIG_BLACKLIST.has(e.key))) throw new ConfigUpdateError('Can not update config in black list.', true);
    const changes = new Map<string, { field: keyof BrokerConfig; value: unknown; raw: string }>();
    const ignored: string[] = [];
    for (const { key, value } of entries) {
      if (!RUNTIME_KEYS.has(key)) {
        ignored.push(key);
        continue;
      }
      try {
        changes.set(key, { ...parseConfigValue(key, value), raw: value });
      } catch (err) {
        throw new ConfigUpdateError(`invalid ${key}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (changes.size > 0) {
      await this.persist(new Map([...changes].map(([k, c]) => [k, c.raw])));
      const target = this.o.config as unknown as Record<string, unknown>;
      for (const c of changes.values()) target[c.field] = c.value;
    }
    // Configuration#update: every accepted request is a new version, whether or not a key applied.
    this.counter++;
    this.timestamp = Date.now();
    const applied = [...changes.keys()];
    if (applied.length > 0) await this.o.onApplied?.(applied);
    return { applied, ignored };
  }

  private async persist(values: Map<string, string>): Promise<void> {
    let text = '';
    try {
      text = (await this.o.io.readFile(this.filePath)).toString('utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigUpdateError(`cannot read ${this.filePath}: ${(err as Error).message}`);
    }
    try {
      await this.o.io.mkdirp(path.dirname(this.filePath));
      await this.o.io.writeFileAtomic(this.filePath, withValues(text, values));
    } catch (err) {
      throw new ConfigUpdateError(`cannot save the change to ${this.filePath}: ${(err as Error).message}`);
    }
  }
}

/** Properties text with each key's definition lines replaced by `key=value` (appended if absent). */
export function withValues(text: string, values: ReadonlyMap<string, string>): string {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const lines = text === '' ? [] : text.split(/\r\n|\r|\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const seen = new Set<string>();
  // From the last definition backwards, so earlier line numbers stay valid while splicing.
  for (const e of parseProperties(text).reverse()) {
    const v = values.get(e.key);
    if (v === undefined) continue;
    lines.splice(e.line - 1, e.endLine - e.line + 1, `${e.key}=${escapeValue(v)}`);
    seen.add(e.key);
  }
  for (const [k, v] of values) if (!seen.has(k)) lines.push(`${k}=${escapeValue(v)}`);
  return lines.join(eol) + eol;
}

/** java.util.Properties#store escaping for a value: backslashes, line breaks, a leading blank. */
function escapeValue(v: string): string {
  return v
    .replace(/\\/g, '\\\\')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/^ /, '\\ ');
}
