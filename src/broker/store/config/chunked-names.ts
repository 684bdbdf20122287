/**
 * A sorted set of names (ascending by UTF-16 code units, as Array#sort and Java's String order)
 * held in chunks of at most 2 × CHUNK_NAMES, each with a slot for something derived from it (the
 * chunk's rendered bytes). A change touches one chunk: an insert moves at most a few hundred
 * references, and only that chunk's derived value is dropped, so rendering 50,000 entries after
 * one change re-renders one chunk and copies the rest.
 */

/** Names per chunk after a split; a chunk splits when it grows past twice this. */
export const CHUNK_NAMES = 256;

interface Chunk<D> {
  readonly names: string[];
  /** Derived from `names` (and their entries); undefined once any of them changed. */
  derived: D | undefined;
}

export class ChunkedNames<D> {
  private chunks: Array<Chunk<D>> = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Replace everything with these names (any order). */
  reset(names: Iterable<string>): void {
    const sorted = [...names].sort();
    this.chunks = [];
    for (let i = 0; i < sorted.length; i += CHUNK_NAMES) this.chunks.push({ names: sorted.slice(i, i + CHUNK_NAMES), derived: undefined });
    this.count = sorted.length;
  }

  /** Add a name that is not in the set. */
  insert(name: string): void {
    if (this.chunks.length === 0) {
      this.chunks.push({ names: [name], derived: undefined });
      this.count = 1;
      return;
    }
    const ci = this.chunkFor(name);
    const chunk = this.chunks[ci]!;
    chunk.names.splice(lowerBound(chunk.names, name), 0, name);
    chunk.derived = undefined;
    this.count++;
    if (chunk.names.length > 2 * CHUNK_NAMES) {
      const half = chunk.names.length >>> 1;
      this.chunks.splice(ci + 1, 0, { names: chunk.names.splice(half), derived: undefined });
    }
  }

  /** Remove a name; false when it was not there. */
  remove(name: string): boolean {
    const ci = this.chunkFor(name);
    const chunk = this.chunks[ci];
    if (!chunk) return false;
    const i = lowerBound(chunk.names, name);
    if (chunk.names[i] !== name) return false;
    chunk.names.splice(i, 1);
    chunk.derived = undefined;
    this.count--;
    if (chunk.names.length === 0) this.chunks.splice(ci, 1);
    return true;
  }

  /** The entry of `name` changed: forget what its chunk derived. */
  touch(name: string): void {
    const chunk = this.chunks[this.chunkFor(name)];
    if (chunk) chunk.derived = undefined;
  }

  /** The chunks in order (their `derived` slots are the caller's to fill). */
  all(): ReadonlyArray<Chunk<D>> {
    return this.chunks;
  }

  *[Symbol.iterator](): IterableIterator<string> {
    for (const c of this.chunks) yield* c.names;
  }

  /** Index of the chunk that holds (or would hold) `name`: the last one starting at or before it. */
  private chunkFor(name: string): number {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.chunks[mid]!.names[0]! <= name) lo = mid + 1;
      else hi = mid;
    }
    return Math.max(0, lo - 1);
  }
}

/** First index whose name is not below `name`. */
function lowerBound(names: string[], name: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (names[mid]! < name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
