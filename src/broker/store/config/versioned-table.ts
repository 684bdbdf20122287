/**
 * The shape topics.json and subscriptionGroup.json share: {dataVersion, <table>: {name: entry}}.
 * As Java's TopicConfigManager and SubscriptionGroupManager: every change bumps the DataVersion
 * (counter + 1, timestamp now), which is how name servers and slaves notice it.
 *
 * Like Apache (ConfigManager#persist), every change rewrites the whole file. What keeps that cheap
 * with tens of thousands of entries: the names are kept sorted in chunks (ChunkedNames), and each
 * chunk's text is rendered once and reused until an entry in it changes, so a write renders one
 * chunk and copies the others. The text is byte for byte what toFastjson(wrapper(), {pretty: true})
 * gives (test/store/config-table.test.ts).
 */
import { toFastjson } from '../../../protocol/fastjson.js';
import { fileDataBytes, type FileIO } from '../file-io.js';
import { ChunkedNames } from './chunked-names.js';
import { ConfigFileManager, type DataVersion, decodeDataVersion, newDataVersion, nextVersion, objectField, parseConfigObject } from './config-file.js';

/** What a chunk of the table renders to: its members (`"name":{...}`) as the file has them, and compact. */
interface ChunkText {
  pretty?: Buffer;
  compact?: string;
}

/** Between the file's table members. */
const PRETTY_MEMBER_SEP = ',\n\t\t';
const PRETTY_MEMBER_SEP_BYTES = Buffer.from(PRETTY_MEMBER_SEP);

export abstract class VersionedTableManager<T extends object> extends ConfigFileManager {
  private table = new Map<string, T>();
  /** The table's names in file order: ascending by UTF-16 code units (Java's String order). */
  private readonly names = new ChunkedNames<ChunkText>();
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

  /**
   * An entry's members, `"key":value`, in fastjson's order (keys sorted, nulls left out). Entries
   * are flat (every value a string, number or boolean), so the same members make both forms.
   */
  protected members(entry: T): string[] {
    const o = entry as Record<string, unknown>;
    const out: string[] = [];
    for (const k of Object.keys(o).sort()) {
      const v = o[k];
      if (v !== undefined && v !== null) out.push(`${toFastjson(k)}:${toFastjson(v)}`);
    }
    return out;
  }

  protected decode(text: string): void {
    const o = parseConfigObject(text);
    const table = new Map<string, T>();
    for (const [name, v] of Object.entries(objectField(o, this.tableField, ''))) table.set(name, this.decodeEntry(name, v));
    const version = decodeDataVersion(o);
    this.table = table;
    this.names.reset(table.keys());
    this.version = version;
  }

  /** Pretty fastjson, byte for byte as ConfigManager.persist writes it; entries sorted by name. */
  encode(): string {
    return fileDataBytes(this.encodeBytes()).toString('utf8');
  }

  /** encode()'s bytes in pieces: each chunk's rendered bytes (one chunk rendered per change), written as they are. */
  protected override encodeBytes(): Buffer[] {
    const dv = this.version;
    const head = `{\n\t"dataVersion":{\n\t\t"counter":${dv.counter},\n\t\t"timestamp":${dv.timestamp}\n\t},\n\t${toFastjson(this.tableField)}:`;
    if (this.names.size === 0) return [Buffer.from(`${head}{}\n}`, 'utf8')];
    const parts: Buffer[] = [Buffer.from(`${head}{\n\t\t`, 'utf8')];
    for (const chunk of this.names.all()) {
      if (parts.length > 1) parts.push(PRETTY_MEMBER_SEP_BYTES);
      const d = (chunk.derived ??= {});
      d.pretty ??= Buffer.from(chunk.names.map((n) => this.member(n, true)).join(PRETTY_MEMBER_SEP), 'utf8');
      parts.push(d.pretty);
    }
    parts.push(Buffer.from('\n\t}\n}', 'utf8'));
    return parts;
  }

  /**
   * Compact fastjson of {dataVersion, <table>} with the named entries only (all when omitted),
   * sorted by name, and `version` (default: the current one); names not in the table are left
   * out. Equals toFastjson of the same object.
   */
  compactJson(names?: Iterable<string>, version: DataVersion = this.version): string {
    let items: string;
    if (names === undefined) {
      items = this.names
        .all()
        .map((chunk) => {
          const d = (chunk.derived ??= {});
          return (d.compact ??= chunk.names.map((n) => this.member(n, false)).join(','));
        })
        .join(',');
    } else {
      items = [...new Set(names)]
        .filter((n) => this.table.has(n))
        .sort()
        .map((n) => this.member(n, false))
        .join(',');
    }
    return `{"dataVersion":{"counter":${version.counter},"timestamp":${version.timestamp}},${toFastjson(this.tableField)}:{${items}}}`;
  }

  /** One table member, `"name":{...}`: compact, or as the file has it (entries at depth 2: wrapper → table → entry). */
  private member(name: string, pretty: boolean): string {
    const m = this.members(this.table.get(name)!);
    const key = toFastjson(name);
    if (m.length === 0) return `${key}:{}`;
    return pretty ? `${key}:{\n\t\t\t${m.join(',\n\t\t\t')}\n\t\t}` : `${key}:{${m.join(',')}}`;
  }

  /** A copy of the table, sorted by name (for wrapper()). */
  protected sortedTable(): Record<string, T> {
    const out: Record<string, T> = {};
    for (const name of this.names) out[name] = { ...this.table.get(name)! };
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
    return [...this.names].map((n) => ({ ...this.table.get(n)! }));
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
    this.names.remove(name);
    this.bump();
    return true;
  }

  /**
   * upsert, on disk when it resolves; undone when it cannot be written (see durably()). Resolves
   * with the data version of this change (changes written together each keep their own, which
   * incremental registration needs: a name server ignores a second request with the same version).
   */
  upsertDurably(entry: T): Promise<DataVersion> {
    return this.durably(() => {
      const key = this.keyOf(entry);
      const prev = this.table.get(key);
      this.upsert(entry);
      const stored = this.table.get(key);
      return { result: this.dataVersion, undo: () => this.restore(key, stored, prev) };
    });
  }

  /** delete, on disk when it resolves; undone when it cannot be written (see durably()). */
  deleteDurably(name: string): Promise<boolean> {
    return this.durably(() => {
      const prev = this.table.get(name);
      return { result: this.delete(name), undo: () => this.restore(name, undefined, prev) };
    });
  }

  /** Put `prev` back under `key`, unless the entry changed again since (then that change stands). */
  private restore(key: string, expected: T | undefined, prev: T | undefined): void {
    if (this.table.get(key) !== expected || expected === prev) return;
    if (prev === undefined) {
      this.table.delete(key);
      this.names.remove(key);
    } else {
      // The very object, not a copy: an earlier change's undo compares identity (`expected`).
      if (this.table.has(key)) this.names.touch(key);
      else this.names.insert(key);
      this.table.set(key, prev);
    }
    this.bump();
  }

  /** DataVersion#nextVersion without a change to the table (a new brokerPermission re-registers). */
  nextVersion(): void {
    this.bump();
  }

  /** Store a validated entry and bump the version; returns a copy. */
  protected store(entry: T): T {
    const stored = this.setEntry(entry);
    this.bump();
    return { ...stored };
  }

  /** Put an entry without bumping the version (defaults added at load); returns the stored object. */
  protected setEntry(entry: T): T {
    const name = this.keyOf(entry);
    const stored = { ...entry };
    if (this.table.has(name)) this.names.touch(name);
    else this.names.insert(name);
    this.table.set(name, stored);
    return stored;
  }

  private bump(): void {
    this.version = nextVersion(this.version);
    this.markChanged();
  }
}
