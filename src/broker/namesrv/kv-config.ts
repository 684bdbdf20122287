/**
 * The name server's KV config (apache/rocketmq namesrv KVConfigManager): tables
 * of string → string by namespace. The one namespace RocketMQ itself reads is ORDER_TOPIC_CONFIG
 * (topic → "brokerName:queueNums;..."), which becomes a route's orderTopicConf.
 *
 * Persisted, when a path is given, as `{"configTable":{"<namespace>":{"<key>":"<value>"}}}` after
 * every change (as KVConfigManager.persist), written atomically through FileIO.writeFileAtomic
 * (tmp + fsync, previous content kept as .bak, rename, fsync dir; MixAll.string2File).
 *
 * Loading: the main file, else `<path>.bak`. Unlike Java (which logs and starts empty), a file
 * that is unreadable with no usable .bak is an error: starting empty would overwrite it at the
 * first change and silently lose the order configs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../errors/index.js';
import { parseFastjson, toFastjson } from '../../protocol/fastjson.js';
import type { FileIO } from '../store/file-io.js';
import { NodeFileIO } from '../store/node-file-io.js';

/** NamesrvUtil.NAMESPACE_ORDER_TOPIC_CONFIG. */
export const ORDER_TOPIC_CONFIG_NAMESPACE = 'ORDER_TOPIC_CONFIG';
/** A kvConfig.json larger than this is not a name server's KV file (guards the synchronous read). */
const MAX_KV_CONFIG_FILE_BYTES = 64 * 1024 * 1024;

export interface KvLoadReport {
  path: string | undefined;
  source: 'file' | 'bak' | 'none';
  /** Why the main file was not used, when it was not. */
  problem?: string;
}

export class KVConfigManager {
  private readonly table = new Map<string, Map<string, string>>();
  private writeChain: Promise<void> = Promise.resolve();
  private readonly io: FileIO;
  readonly loadReport: KvLoadReport;

  constructor(private readonly filePath: string | undefined, io?: FileIO) {
    this.io = io ?? new NodeFileIO();
    this.loadReport = this.load();
  }

  get(namespace: string, key: string): string | undefined {
    return this.table.get(namespace)?.get(key);
  }

  /** The namespace's table, or undefined when it has never been written (QUERY_NOT_FOUND). */
  list(namespace: string): Record<string, string> | undefined {
    const t = this.table.get(namespace);
    return t && Object.fromEntries(t);
  }

  /** Resolves once the change is on disk (at once when not persisted); rejects if the write failed. */
  put(namespace: string, key: string, value: string): Promise<void> {
    let t = this.table.get(namespace);
    if (!t) this.table.set(namespace, (t = new Map()));
    t.set(key, value);
    return this.persist();
  }

  delete(namespace: string, key: string): Promise<void> {
    const t = this.table.get(namespace);
    if (!t?.delete(key)) return Promise.resolve();
    // As KVConfigManager.deleteKVConfig: an emptied namespace stays (GET_KVLIST answers {}).
    return this.persist();
  }

  /** KVConfigSerializeWrapper JSON (compact, as toJson()). */
  encode(): string {
    const configTable: Record<string, Record<string, string>> = {};
    for (const [ns, t] of this.table) configTable[ns] = Object.fromEntries(t);
    return toFastjson({ configTable });
  }

  /** Waits for every write started so far. */
  async flush(): Promise<void> {
    await this.writeChain.catch(() => undefined);
  }

  /** Writes run one at a time; each writes the state as it is when it starts. */
  private persist(): Promise<void> {
    const p = this.filePath;
    if (!p) return Promise.resolve();
    const write = this.writeChain
      .catch(() => undefined)
      .then(async () => {
        await this.io.mkdirp(path.dirname(p));
        await this.io.writeFileAtomic(p, this.encode());
      });
    this.writeChain = write;
    return write;
  }

  private load(): KvLoadReport {
    const p = this.filePath;
    if (!p) return { path: undefined, source: 'none' };
    const main = this.tryRead(p);
    if (main.ok) return { path: p, source: 'file' };
    const bak = this.tryRead(p + '.bak');
    if (bak.ok) return { path: p, source: 'bak', problem: main.problem };
    if (main.problem === 'missing' || main.problem === 'empty') return { path: p, source: 'none', problem: main.problem };
    throw new ConfigError(`${p} is unreadable (${main.problem}) and ${p}.bak is ${bak.problem}`, [
      `restore ${path.basename(p)} from a backup`,
      `or move it away to start the name server with no KV config`,
    ]);
  }

  private tryRead(file: string): { ok: true } | { ok: false; problem: string } {
    let text: string;
    try {
      const st = fs.statSync(file);
      if (st.size > MAX_KV_CONFIG_FILE_BYTES) return { ok: false, problem: `larger than ${MAX_KV_CONFIG_FILE_BYTES} bytes` };
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return { ok: false, problem: code === 'ENOENT' ? 'missing' : `not readable: ${code ?? String(err)}` };
    }
    if (text.trim() === '') return { ok: false, problem: 'empty' };
    let parsed: unknown;
    try {
      parsed = parseFastjson(text);
    } catch (err) {
      return { ok: false, problem: `not JSON: ${err instanceof Error ? err.message : String(err)}` };
    }
    const configTable = (parsed as { configTable?: unknown } | null)?.configTable;
    if (!isObject(configTable)) return { ok: false, problem: 'no "configTable" object' };
    this.table.clear();
    for (const [ns, t] of Object.entries(configTable)) {
      if (!isObject(t)) continue;
      this.table.set(ns, new Map(Object.entries(t).map(([k, v]) => [k, typeof v === 'string' ? v : String(v)])));
    }
    return { ok: true };
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}
