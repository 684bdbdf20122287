/**
 * The shared machinery of the broker's JSON config files (`<root>/config/*.json`,
 * as apache/rocketmq common/ConfigManager.java, MixAll.string2File):
 *  - load reads `<file>`; when it is missing, empty or unreadable, `<file>.bak`;
 *  - persist writes through FileIO.writeFileAtomic (tmp + fsync, previous content kept as .bak,
 *    rename, fsync dir), one write at a time per file, and only when something changed;
 *  - the text is fastjson's pretty format (tabs, `"key":value`, bare integer map keys).
 *
 * Unlike ConfigManager, a main file that is unreadable with no usable .bak is an error, not an
 * empty table: starting with no offsets or topics would silently lose them.
 */
import path from 'node:path';
import { ConfigError, fromNodeError } from '../../../errors/index.js';
import { parseFastjsonLarge } from '../../../protocol/fastjson.js';
import type { DataVersion } from '../../../protocol/bodies.js';
import type { FileData, FileIO } from '../file-io.js';

export type { DataVersion } from '../../../protocol/bodies.js';

/** Where a manager's state came from. `problem` says why the main file was not used. */
export interface ConfigLoadReport {
  path: string;
  source: 'file' | 'bak' | 'none';
  problem?: string;
}

/** DataVersion.nextVersion: counter + 1, timestamp = now. */
export function nextVersion(v: DataVersion, nowMs: number = Date.now()): DataVersion {
  return { counter: v.counter + 1, timestamp: nowMs };
}

export function newDataVersion(nowMs: number = Date.now()): DataVersion {
  return { counter: 0, timestamp: nowMs };
}

interface DurableChange {
  apply: () => { result: unknown; undo: () => void };
  resolve: (result: unknown) => void;
  reject: (err: unknown) => void;
}

export abstract class ConfigFileManager {
  readonly path: string;
  private writeChain: Promise<unknown> = Promise.resolve();
  private changeSeq = 0;
  private persistedSeq = 0;
  /** Loaded from .bak: the main file is garbage and must not become the next .bak. */
  private mainUnusable = false;
  /** Durable changes waiting for the next write (see durably()). */
  private batch: DurableChange[] | undefined;

  protected constructor(
    protected readonly io: FileIO,
    storePathRootDir: string,
    fileName: string,
  ) {
    this.path = path.join(storePathRootDir, 'config', fileName);
  }

  /** Parse `text` and replace the state; throw (changing nothing) if it is not valid. */
  protected abstract decode(text: string): void;
  /** The file content for the current state. */
  abstract encode(): string;

  /** The same for writing, maybe in pieces (a manager may have them ready without the text). */
  protected encodeBytes(): FileData {
    return this.encode();
  }

  /**
   * Replace the whole state with `text`, in this file's format, and persist it: a slave taking its
   * master's table (SlaveSynchronize). Throws, changing nothing, when the text is not valid.
   */
  async replaceWith(text: string): Promise<void> {
    this.decode(text);
    this.markChanged();
    await this.persist();
  }

  /** Call after every mutation: the next persist() writes. */
  protected markChanged(): void {
    this.changeSeq++;
  }

  /** Changed since the last successful persist. */
  get dirty(): boolean {
    return this.changeSeq !== this.persistedSeq;
  }

  async load(): Promise<ConfigLoadReport> {
    const main = await this.tryDecode(this.path);
    if (main.ok) return { path: this.path, source: 'file' };
    const bak = await this.tryDecode(this.path + '.bak');
    if (bak.ok) {
      this.mainUnusable = main.present;
      this.markChanged();
      return { path: this.path, source: 'bak', problem: main.problem };
    }
    if (main.present && main.problem !== 'empty') {
      throw new ConfigError(`${this.path} is unreadable (${main.problem}) and ${this.path}.bak is ${bak.problem}`, [
        `restore ${path.basename(this.path)} from a backup`,
        `or move it away to start with an empty ${path.basename(this.path)}`,
      ]);
    }
    return { path: this.path, source: 'none', problem: main.problem };
  }

  private async tryDecode(p: string): Promise<{ ok: true } | { ok: false; present: boolean; problem: string }> {
    let text: string;
    try {
      text = (await this.io.readFile(p)).toString('utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: false, present: false, problem: 'missing' };
      throw err;
    }
    if (text.trim() === '') return { ok: false, present: true, problem: 'empty' };
    try {
      this.decode(text);
      return { ok: true };
    } catch (err) {
      return { ok: false, present: true, problem: err instanceof Error ? err.message : String(err) };
    }
  }

  /**
   * Write the file if anything changed (or `force`). Calls queue behind each other, so two
   * writes of one file never overlap; a queued call writes the state current when it runs.
   * Resolves true when it wrote.
   */
  persist(opts: { force?: boolean } = {}): Promise<boolean> {
    const run = this.writeChain.then(() => this.writeNow(opts.force === true));
    this.writeChain = run.catch(() => undefined);
    return run;
  }

  /**
   * A change that must be on disk before it is acknowledged (admin changes of topics, groups and
   * offsets): `apply` makes it and returns how to undo it; then the file is written. When the write
   * fails (a full disk), the change is undone, so the table in memory stays what is on disk, and
   * the write's error is thrown (DiskFullError for ENOSPC). Changes that arrive while a write is
   * queued or running are applied together and share the next write (group commit), so a burst of
   * them costs one write, not one each.
   */
  protected durably<T>(apply: () => { result: T; undo: () => void }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.batch === undefined) {
        const batch: DurableChange[] = [];
        this.batch = batch;
        const run = this.writeChain.then(() => this.writeBatch(batch));
        this.writeChain = run.catch(() => undefined);
      }
      this.batch.push({ apply, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  private async writeBatch(batch: DurableChange[]): Promise<void> {
    if (this.batch === batch) this.batch = undefined;
    const applied: Array<{ change: DurableChange; result: unknown; undo: () => void }> = [];
    for (const change of batch) {
      try {
        applied.push({ change, ...change.apply() });
      } catch (err) {
        change.reject(err);
      }
    }
    try {
      await this.writeNow(false);
    } catch (err) {
      for (const a of [...applied].reverse()) a.undo();
      for (const a of applied) a.change.reject(err);
      return;
    }
    for (const a of applied) a.change.resolve(a.result);
  }

  private async writeNow(force: boolean): Promise<boolean> {
    if (!force && !this.dirty) return false;
    const seq = this.changeSeq;
    const text = this.encodeBytes();
    try {
      await this.io.mkdirp(path.dirname(this.path));
      if (this.mainUnusable) {
        // Remove the garbage first, so writeFileAtomic does not copy it over the good .bak.
        await this.io.unlink(this.path).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
        this.mainUnusable = false;
      }
      await this.io.writeFileAtomic(this.path, text);
    } catch (err) {
      throw fromNodeError(err, this.path) ?? err;
    }
    this.persistedSeq = seq;
    return true;
  }
}

// ---- decoding helpers: lenient about missing and unknown fields (as fastjson), strict on types ----

/** Config files are read field by field (never walked recursively), so the fast parser is safe. */
export function parseConfigObject(text: string): Record<string, unknown> {
  const v = parseFastjsonLarge(text);
  if (!isObject(v)) throw new Error('not a JSON object');
  return v;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function objectField(o: Record<string, unknown>, key: string, where: string): Record<string, unknown> {
  const v = o[key];
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new Error(`${where}.${key} is not an object`);
  return v;
}

/** An integer field; fastjson also reads numeric strings into int/long fields. */
export function intField(o: Record<string, unknown>, key: string, dflt: number, where: string): number {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new Error(`${where}.${key} is not an integer: ${JSON.stringify(v)}`);
  return n;
}

export function boolField(o: Record<string, unknown>, key: string, dflt: boolean, where: string): boolean {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw new Error(`${where}.${key} is not a boolean: ${JSON.stringify(v)}`);
}

export function stringField(o: Record<string, unknown>, key: string, dflt: string, where: string): string {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'string') throw new Error(`${where}.${key} is not a string: ${JSON.stringify(v)}`);
  return v;
}

export function decodeDataVersion(o: Record<string, unknown>): DataVersion {
  const dv = objectField(o, 'dataVersion', '');
  return { counter: intField(dv, 'counter', 0, 'dataVersion'), timestamp: intField(dv, 'timestamp', 0, 'dataVersion') };
}

/** A map written by fastjson with Integer keys: every key must be an integer, every value a long. */
export function decodeIntKeyedLongs(v: Record<string, unknown>, where: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const [k, val] of Object.entries(v)) {
    if (!/^-?\d+$/.test(k)) throw new Error(`${where}: key ${JSON.stringify(k)} is not an integer`);
    out.set(Number(k), intField(v, k, 0, where));
  }
  return out;
}

// ---- fastjson pretty writing of Integer-keyed maps --------------------------------------------

/**
 * fastjson's PrettyFormat for a map with non-String keys (MapSerializer): entries are not put on
 * lines of their own, only the closing brace is (`{0:250,1:249\n\t\t}`), as in consumerOffset.json
 * and delayOffset.json. `depth` = nesting level of the map itself. Keys ascending.
 */
export function prettyIntKeyedMap(m: ReadonlyMap<number, number>, depth: number): string {
  if (m.size === 0) return '{}';
  const items = [...m.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${k}:${v}`);
  return `{${items.join(',')}\n${'\t'.repeat(depth)}}`;
}
