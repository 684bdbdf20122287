/**
 * The shape topics.json and subscriptionGroup.json share: {dataVersion, <table>: {name: entry}}.
 * As Java's TopicConfigManager and SubscriptionGroupManager: every change bumps the DataVersion
 * (counter + 1, timestamp now), which is how name servers and slaves notice it.
 *
 * Like Apache (ConfigManager#persist), every change rewrites the whole file. What keeps that cheap
 * with tens of thousands of entries: the names are kept sorted (a binary-search insert per change,
 * not a sort per write) and each entry's text is rendered once and reused until the entry changes,
 * so a write joins ready strings instead of serialising every entry again. The text is byte for
 * byte what toFastjson(wrapper(), {pretty: true}) gives (test/store/config-table.test.ts).
 */
import { toFastjson } from '../../../protocol/fastjson.js';
import type { FileIO } from '../file-io.js';
import { ConfigFileManager, type DataVersion, decodeDataVersion, newDataVersion, nextVersion, objectField, parseConfigObject } from './config-file.js';

/** One table member (`"name":{...}`) rendered both ways: compact (bodies) and as the file has it (UTF-8). */
interface EntryText {
  compact: string;
  pretty: Buffer;
}

/** Between the file's table members. */
const PRETTY_MEMBER_SEP = Buffer.from(',\n\t\t');

export abstract class VersionedTableManager<T extends object> extends ConfigFileManager {
  private table = new Map<string, T>();
  /** The table's names in file order: ascending by UTF-16 code units (Java's String order). */
  private names: string[] = [];
  /** Rendered entries, made on first need and dropped when the entry changes. */
  private readonly texts = new Map<string, EntryText>();
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
    this.names = [...table.keys()].sort();
    this.texts.clear();
    this.version = version;
  }

  /** Pretty fastjson, byte for byte the §5 layout; entries sorted by name. */
  encode(): string {
    return this.encodeBytes().toString('utf8');
  }

  /** encode()'s bytes, copied together from the entries' rendered bytes (no text built per write). */
  protected override encodeBytes(): Buffer {
    const dv = this.version;
    const head = `{\n\t"dataVersion":{\n\t\t"counter":${dv.counter},\n\t\t"timestamp":${dv.timestamp}\n\t},\n\t${toFastjson(this.tableField)}:`;
    if (this.names.length === 0) return Buffer.from(`${head}{}\n}`, 'utf8');
    const parts: Buffer[] = [Buffer.from(`${head}{\n\t\t`, 'utf8')];
    for (let i = 0; i < this.names.length; i++) {
      if (i > 0) parts.push(PRETTY_MEMBER_SEP);
      parts.push(this.text(this.names[i]!).pretty);
    }
    parts.push(Buffer.from('\n\t}\n}', 'utf8'));
    return Buffer.concat(parts);
  }

  /**
   * Compact fastjson of {dataVersion, <table>} with the named entries only (all when omitted),
   * sorted by name, and `version` (default: the current one); names not in the table are left
   * out. Equals toFastjson of the same object.
   */
  compactJson(names?: Iterable<string>, version: DataVersion = this.version): string {
    const pick = names === undefined ? this.names : [...new Set(names)].filter((n) => this.table.has(n)).sort();
    const dv = version;
    const items = pick.map((n) => this.text(n).compact).join(',');
    return `{"dataVersion":{"counter":${dv.counter},"timestamp":${dv.timestamp}},${toFastjson(this.tableField)}:{${items}}}`;
  }

  private text(name: string): EntryText {
    let t = this.texts.get(name);
    if (t === undefined) {
      const key = toFastjson(name);
      const m = this.members(this.table.get(name)!);
      // Entries sit at depth 2 of the file (wrapper → table → entry), as fastjson's PrettyFormat indents them.
      t = m.length === 0
        ? { compact: `${key}:{}`, pretty: Buffer.from(`${key}:{}`, 'utf8') }
        : { compact: `${key}:{${m.join(',')}}`, pretty: Buffer.from(`${key}:{\n\t\t\t${m.join(',\n\t\t\t')}\n\t\t}`, 'utf8') };
      this.texts.set(name, t);
    }
    return t;
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
    return this.names.map((n) => ({ ...this.table.get(n)! }));
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
    this.texts.delete(name);
    const i = this.indexOf(name);
    if (this.names[i] === name) this.names.splice(i, 1);
    this.bump();
    return true;
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
    if (!this.table.has(name)) this.names.splice(this.indexOf(name), 0, name);
    this.table.set(name, stored);
    this.texts.delete(name);
    return stored;
  }

  /** Where `name` is or would go in `names` (binary search; code-unit order as Array#sort). */
  private indexOf(name: string): number {
    let lo = 0;
    let hi = this.names.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.names[mid]! < name) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private bump(): void {
    this.version = nextVersion(this.version);
    this.markChanged();
  }
}
