/**
 * The architecture rule of README "Development", checked on every import of src/**.ts:
 *
 *   commands -> admin/client/output -> remoting -> protocol;   broker -> store/remoting/protocol
 *
 * (a) every import between folders is on the allow-list below; (b) the folders form no cycle;
 * (c) no two files import each other at runtime, directly or around a loop (type-only imports are
 * erased and cannot cycle at load time). A failure names each offending import as
 * `file:line -> target`. Syntax only (test/helpers/imports.ts): no build, no network.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { cyclesOf, describeEdge, listTsFiles, parseImports, resolveRelative, type ImportEdge } from '../helpers/imports.js';

/**
 * The folders, bottom up. src/broker/store is its own folder (the store must not reach the broker
 * above it); the rest of src/broker (handlers/, namesrv/, acl/, stats/, ...) is `broker`. The two
 * files at the top of src are their own units: `cli` (the bundle's entry) and `index` (the package's).
 */
const FOLDERS = ['protocol', 'util', 'errors', 'metrics', 'remoting', 'broker/store', 'broker', 'client', 'admin', 'output', 'checks', 'commands', 'cli', 'index'] as const;
type Folder = (typeof FOLDERS)[number];

/**
 * Who may import whom. Every line is a dependency the rule allows and the code uses; a new one is
 * a design decision, to be argued here, not added to make the test pass.
 */
const ALLOWED: Record<Folder, readonly Folder[]> = {
  // Codecs, codes, headers, the message format: the bottom layer. No sockets (checked below).
  protocol: [],
  // Small helpers without a layer of their own (a directory made durable, the audit log's files).
  util: [],
  // RemoteError maps RocketMQ response codes (protocol/codes.ts) to our error codes, in one table.
  errors: ['protocol'],
  // Exposition format, histogram and the /metrics HTTP server: errors for a port in use.
  metrics: ['errors'],
  // The frame transport, client and server side, and the name-server requests.
  remoting: ['protocol', 'errors', 'util'],
  // The store: RocketMQ's file layout. Never the broker above it (it is driven by the broker, and
  // tested and verified (`store verify`) without one).
  'broker/store': ['protocol', 'errors', 'metrics', 'util'],
  // The broker and name server: the store, the server side of remoting, the formats. Never admin,
  // client or commands: what the broker needs of them is passed in (BrokerStartOptions.clusterMetrics).
  broker: ['broker/store', 'remoting', 'protocol', 'errors', 'metrics', 'util'],
  // The client library: talks to brokers through remoting only; it never links the broker.
  client: ['remoting', 'protocol', 'errors', 'util'],
  // The admin API (part of the package with the client): the client for message decoding and
  // traces, remoting for sessions, metrics for `exporter`. Never the broker: reading a broker's
  // files on this host goes through formats kept below both (util/audit-log.ts,
  // protocol/java-properties.ts).
  admin: ['client', 'remoting', 'protocol', 'errors', 'metrics', 'util'],
  // Tables, colours, spinners, the JSON envelope and shared flags: renders the typed results of
  // admin and client, and parses flags into their option types.
  output: ['admin', 'client', 'protocol', 'errors', 'util'],
  // checkOS, checkNoLoss, checkSecurity: libraries of three commands, on the commands' tier (only
  // commands import them). checkSecurity reads a local plain_acl.yml with the broker's own parser
  // (broker/acl/plain-acl.ts), so what it judges is what the broker would load.
  checks: ['admin', 'client', 'broker', 'remoting', 'protocol', 'errors', 'util'],
  // Thin commands: flags -> admin/client/checks call (or the broker and store: `broker start`,
  // `store verify`) -> typed result -> output.
  commands: ['admin', 'client', 'output', 'checks', 'broker', 'broker/store', 'remoting', 'protocol', 'errors', 'metrics', 'util'],
  // The bundle's entry: the command registry and the error envelope.
  cli: ['commands', 'output', 'errors'],
  // The package entry: the client library and the admin API, never the broker or the CLI.
  index: ['admin', 'client', 'errors', 'protocol'],
};

/**
 * Node modules that open sockets: src/protocol must not import them (it is pure codecs), except
 * node:net's address parsers, which are string functions (message.ts reads "host:port" with them).
 */
const SOCKET_MODULES = new Set(['net', 'tls', 'dgram', 'http', 'https', 'http2'].flatMap((m) => [m, `node:${m}`]));
const PURE_NET_NAMES = new Set(['isIP', 'isIPv4', 'isIPv6']);
const opensSockets = (e: ImportEdge): boolean => SOCKET_MODULES.has(e.specifier) && !(/^(node:)?net$/.test(e.specifier) && e.names.length > 0 && e.names.every((n) => PURE_NET_NAMES.has(n)));

/**
 * Imports that break the rule and cannot be fixed now, each with why. Matched on file and target
 * (not line, so unrelated edits above them do not break the list). An exception that no longer
 * matches any import fails the test: remove it.
 */
const KNOWN_EXCEPTIONS: ReadonlyArray<{ from: string; target: string; why: string }> = [];

function folderOf(file: string): Folder {
  const parts = file.split('/');
  const name = parts.length === 2 ? parts[1]!.replace(/\.ts$/, '') : parts[1] === 'broker' && parts[2] === 'store' ? 'broker/store' : parts[1]!;
  if (!(FOLDERS as readonly string[]).includes(name)) throw new Error(`${file}: folder "${name}" is not in FOLDERS/ALLOWED of ${path.relative(ROOT, import.meta.filename)}: place it in the layers`);
  return name as Folder;
}

const FILES = listTsFiles(ROOT, 'src');
const resolve = resolveRelative(ROOT);
const EDGES: ImportEdge[] = FILES.flatMap((f) => parseImports(f, fs.readFileSync(path.join(ROOT, f), 'utf8'), resolve));
const LOCAL = EDGES.filter((e): e is ImportEdge & { target: string } => e.target !== undefined);
const isException = (e: ImportEdge): boolean => KNOWN_EXCEPTIONS.some((x) => x.from === e.from && x.target === e.target);

describe('the import parser', () => {
  const parse = (text: string) => parseImports('src/a/x.ts', text, (_from, s) => s).map((e) => `${e.line} ${e.kind} ${e.specifier}${e.typeOnly ? ' type' : ''} [${e.names.join(',')}]`);

  it('tells type-only imports from runtime ones', () => {
    const text = [
      "import type { A } from './t1.js';",
      "import { type B, type C } from './t2.js';",
      "import { type D, e } from './r1.js';",
      "import f, { type G } from './r2.js';",
      "import './r3.js';",
      "export type { H } from './t3.js';",
      "export { i } from './r4.js';",
      "export * from './r5.js';",
      "const m = await import('./r6.js');",
      "let n: import('./t4.js').N;",
      "import * as o from './r7.js';",
    ].join('\n');
    expect(parse(text)).toEqual([
      '1 import ./t1.js type [A]',
      '2 import ./t2.js type [B,C]',
      '3 import ./r1.js [D,e]',
      '4 import ./r2.js [default,G]',
      '5 import ./r3.js []',
      '6 export ./t3.js type [H]',
      '7 export ./r4.js [i]',
      '8 export ./r5.js [*]',
      '9 dynamic ./r6.js [*]',
      '10 import-type ./t4.js type [*]',
      '11 import ./r7.js [*]',
    ]);
  });

  it('lets src/protocol parse addresses with node:net, and nothing more of it', () => {
    const [pure, sockets, all] = parseImports('src/protocol/x.ts', "import { isIPv4 } from 'node:net';\nimport { connect } from 'net';\nimport * as net from 'node:net';", () => undefined);
    expect([opensSockets(pure!), opensSockets(sockets!), opensSockets(all!)]).toEqual([false, true, true]);
  });

  it('finds cycles, and none in a tree', () => {
    const g: Record<string, string[]> = { a: ['b'], b: ['c'], c: ['a'], d: ['a', 'd'], e: [] };
    expect(cyclesOf(Object.keys(g), (n) => g[n] ?? [])).toEqual([['a', 'b', 'c'], ['d']]);
    expect(cyclesOf(['a', 'b'], (n) => (n === 'a' ? ['b'] : []))).toEqual([]);
  });
});

describe('architecture: imports of src/', () => {
  it('reads every file and resolves every relative import', () => {
    expect(FILES.length).toBeGreaterThan(100);
    expect(LOCAL.filter((e) => e.target.endsWith('(unresolved)')).map(describeEdge)).toEqual([]);
  });

  it('allows only listed folder dependencies (a)', () => {
    const bad = LOCAL.filter((e) => {
      const [a, b] = [folderOf(e.from), folderOf(e.target)];
      return a !== b && !ALLOWED[a].includes(b) && !isException(e);
    });
    const why = bad.map((e) => `${describeEdge(e)}: ${folderOf(e.from)} may not import ${folderOf(e.target)}`);
    expect(why, 'imports against the architecture rule (README "Development"); fix the code, or argue a new line in ALLOWED').toEqual([]);
  });

  it('keeps sockets out of src/protocol', () => {
    const bad = EDGES.filter((e) => folderOf(e.from) === 'protocol' && opensSockets(e));
    expect(bad.map((e) => `${describeEdge(e)} { ${e.names.join(', ')} }`)).toEqual([]);
  });

  it('has an acyclic allow-list, and no cycle between folders in the code (b)', () => {
    expect(cyclesOf(FOLDERS, (f) => ALLOWED[f as Folder])).toEqual([]);
    const folderEdges = new Map<string, ImportEdge>(); // "a -> b": the first import that makes it
    for (const e of LOCAL) {
      const [a, b] = [folderOf(e.from), folderOf(e.target)];
      if (a !== b && !folderEdges.has(`${a} -> ${b}`)) folderEdges.set(`${a} -> ${b}`, e);
    }
    const next = (f: string): string[] => FOLDERS.filter((g) => folderEdges.has(`${f} -> ${g}`));
    const cycles = cyclesOf(FOLDERS, next).map((c) => explainCycle(c, next, (a, b) => folderEdges.get(`${a} -> ${b}`)!));
    expect(cycles, 'folders that import each other').toEqual([]);
  });

  it('has no runtime import cycle between files (c)', () => {
    const runtime = new Map<string, Map<string, ImportEdge>>(FILES.map((f) => [f, new Map()]));
    for (const e of LOCAL) if (!e.typeOnly && !runtime.get(e.from)!.has(e.target)) runtime.get(e.from)!.set(e.target, e);
    const next = (f: string): string[] => [...(runtime.get(f)?.keys() ?? [])];
    const cycles = cyclesOf(FILES, next).map((c) => explainCycle(c, next, (a, b) => runtime.get(a)!.get(b)!));
    expect(cycles, 'files that import each other at runtime (if only types cross, write `import type`)').toEqual([]);
  });

  it('lists no exception that is no longer needed', () => {
    const stale = KNOWN_EXCEPTIONS.filter((x) => !LOCAL.some((e) => e.from === x.from && e.target === x.target && !ALLOWED[folderOf(e.from)].includes(folderOf(e.target))));
    expect(stale).toEqual([]);
  });
});

/** One loop through a strongly connected component, as the imports that make it. */
function explainCycle(component: string[], next: (n: string) => string[], edgeOf: (a: string, b: string) => ImportEdge): string[] {
  const inside = new Set(component);
  const path: string[] = [component[0]!];
  const seen = new Set(path);
  // Walk inside the component until a node repeats: that closes a loop (every node of an SCC has a
  // successor inside it, so the walk is bounded by the component's size).
  for (;;) {
    const here = path[path.length - 1]!;
    const to = next(here).find((n) => inside.has(n))!;
    if (seen.has(to)) {
      const loop = path.slice(path.indexOf(to));
      return loop.map((a, i) => describeEdge(edgeOf(a, loop[(i + 1) % loop.length]!)));
    }
    path.push(to);
    seen.add(to);
  }
}
