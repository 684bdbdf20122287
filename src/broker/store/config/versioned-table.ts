/**
 * The shape topics.json and subscriptionGroup.json share: {dataVersion, <table>: {name: entry}}.
 * As Java's TopicConfigManager and SubscriptionGroupManager: every change bumps the DataVersion
 * (counter + 1, timestamp now), which is how name servers and slaves notice it.
 */
import { toFastjson } from '../../../protocol/fastjson.js';
import type { FileIO } from '../file-io.js';
import { ConfigFileManager, type DataVersion, decodeDataVersion, newDataVersion, nextVersion, objectField, parseConfigObject } from './config-file.js';

export abstract class VersionedTableManager<T extends object> extends ConfigFileManager {
  protected table = new Map<string, T>();
  private version: DataVersion = newDataVersion();

  protected constructor(
    io: FileIO,
    storePathRootDir: string,
    fileName: string,
    /** The table's member name in the file (`topicConfigTable`, `subscriptionGroupTable`). */
    private readonly tableField: string,
    /** Strict decode of one entry; throws on a bad value (the file then falls back to .bak). */
    private readonly decodeEntry: (name: string, v: unknown) => T,
  ) {
    super(io, storePathRootDir, fileName);
  }

  /** The entry's name (its key in the table). */
  protected abstract keyOf(entry: T): string;

  /** Create or replace, validating; bumps dataVersion. */
  abstract upsert(entry: T): T;

  /** The body/file object: {dataVersion, <table>}. */
  abstract wrapper(): { dataVersion: DataVersion };

  protected decode(text: string): void {
    const o = parseConfigObject(text);
    const table = new Map<string, T>();
    for (const [name, v] of Object.entries(objectField(o, this.tableField, ''))) table.set(name, this.decodeEntry(name, v));
    const version = decodeDataVersion(o);
    this.table = table;
    this.version = version;
  }

  /** Pretty fastjson, byte for byte the §5 layout; entries sorted by name. */
  encode(): string {
    return toFastjson(this.wrapper(), { pretty: true });
  }

  /** A copy of the table, sorted by name (for wrapper()). */
  protected sortedTable(): Record<string, T> {
    const out: Record<string, T> = {};
    for (const name of [...this.table.keys()].sort()) out[name] = { ...this.table.get(name)! };
    return out;
  }

  get dataVersion(): DataVersion {
    return { ...this.version };
  }

  get(name: string): T | undefined {
    const e = this.table.get(name);
    return e && { ...e };
  }

  has(name: string): boolean {
    return this.table.has(name);
  }

  /** Sorted by name. */
  all(): T[] {
    return [...this.table.keys()].sort().map((n) => ({ ...this.table.get(n)! }));
  }

  get size(): number {
    return this.table.size;
  }

  /** Add unless present (system entries at start, auto-create races); true when added. */
  putIfAbsent(entry: T): boolean {
    if (this.table.has(this.keyOf(entry))) return false;
    this.upsert(entry);
    return true;
  }

  /** Remove; bumps dataVersion; true when it existed. */
  delete(name: string): boolean {
    if (!this.table.delete(name)) return false;
    this.bump();
    return true;
  }

  /** DataVersion#nextVersion without a change to the table (a new brokerPermission re-registers). */
  nextVersion(): void {
    this.bump();
  }

  /** Store a validated entry and bump the version; returns a copy. */
  protected store(entry: T): T {
    const stored = { ...entry };
    this.table.set(this.keyOf(entry), stored);
    this.bump();
    return { ...stored };
  }

  private bump(): void {
    this.version = nextVersion(this.version);
    this.markChanged();
  }
}
