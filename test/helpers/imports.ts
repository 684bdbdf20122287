/**
 * The import graph of src/, read with the TypeScript parser (syntax only: no program, no type
 * checker, so it takes well under a second). Used by test/architecture/imports.test.ts.
 *
 * An import is type-only when it is erased from the emitted JavaScript for certain: `import type`,
 * `export type ... from`, `import { type A, type B }` (every name marked), and `import('./x.js')`
 * in a type position. Anything else counts as a runtime import, including names that happen to be
 * used only as types: tsc (without verbatimModuleSyntax) would elide those too, but only a type
 * checker can tell, so we ask for the `type` keyword instead.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export interface ImportEdge {
  /** Importing file, relative to the repo root (src/admin/audit.ts). */
  from: string;
  line: number;
  /** The specifier as written ('../broker/broker-config.js', 'node:net'). */
  specifier: string;
  /** The resolved file (relative to the root) for relative specifiers; undefined for packages. */
  target: string | undefined;
  kind: 'import' | 'export' | 'dynamic' | 'import-type';
  typeOnly: boolean;
  /** The names taken: `{ a, b as c }` gives a and b; a default binding `default`; `* as ns` and
   * export-star `*`; a dynamic import `*` (it can reach anything); a side-effect import none. */
  names: string[];
}

/** `src/a.ts:12 -> src/b.ts` (with ` (type-only)` when erased): how failures name an import. */
export function describeEdge(e: ImportEdge): string {
  return `${e.from}:${e.line} -> ${e.target ?? e.specifier}${e.typeOnly ? ' (type-only)' : ''}`;
}

/** Every .ts file under `dir` (relative to `root`), sorted. */
export function listTsFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(path.join(root, d), { withFileTypes: true })) {
      const rel = path.posix.join(d, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
    }
  };
  walk(dir);
  return out.sort();
}

/** The imports of one file's text. `from` is the file's path relative to the repo root. */
export function parseImports(from: string, text: string, resolve: (from: string, specifier: string) => string | undefined): ImportEdge[] {
  const sf = ts.createSourceFile(from, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const out: ImportEdge[] = [];
  const add = (node: ts.Node, literal: ts.Expression | undefined, kind: ImportEdge['kind'], typeOnly: boolean, names: string[]): void => {
    if (!literal || !ts.isStringLiteralLike(literal)) return; // import(variable): nothing to check statically
    const specifier = literal.text;
    out.push({ from, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1, specifier, target: resolve(from, specifier), kind, typeOnly, names });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) add(node, node.moduleSpecifier, 'import', isTypeOnlyImport(node.importClause), importedNames(node.importClause));
    else if (ts.isExportDeclaration(node)) add(node, node.moduleSpecifier, 'export', isTypeOnlyExport(node), exportedNames(node));
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node, node.arguments[0], 'dynamic', false, ['*']);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node, node.argument.literal, 'import-type', true, ['*']);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function importedNames(clause: ts.ImportClause | undefined): string[] {
  if (!clause) return [];
  const names = clause.name ? ['default'] : [];
  const named = clause.namedBindings;
  if (named && ts.isNamespaceImport(named)) names.push('*');
  else if (named) names.push(...named.elements.map((e) => (e.propertyName ?? e.name).text));
  return names;
}

function exportedNames(node: ts.ExportDeclaration): string[] {
  const clause = node.exportClause;
  if (!clause || ts.isNamespaceExport(clause)) return ['*'];
  return clause.elements.map((e) => (e.propertyName ?? e.name).text);
}

function isTypeOnlyImport(clause: ts.ImportClause | undefined): boolean {
  if (!clause) return false; // import './x.js': a side effect, runtime by definition
  if (clause.isTypeOnly) return true;
  const named = clause.namedBindings;
  // `import { type A, type B }` is elided whole; a default or namespace binding is a value.
  return !clause.name && named !== undefined && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
}

function isTypeOnlyExport(node: ts.ExportDeclaration): boolean {
  if (node.isTypeOnly) return true;
  const clause = node.exportClause;
  return clause !== undefined && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((e) => e.isTypeOnly);
}

/**
 * NodeNext resolution of a relative specifier: './x.js' is './x.ts' in the sources; a directory
 * is never imported by name under NodeNext, so it is not tried. Packages and node: builtins: undefined.
 */
export function resolveRelative(root: string): (from: string, specifier: string) => string | undefined {
  return (from, specifier) => {
    if (!specifier.startsWith('.')) return undefined;
    const joined = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
    const candidates = [joined.replace(/\.js$/, '.ts'), joined];
    return candidates.find((c) => fs.existsSync(path.join(root, c))) ?? `${joined} (unresolved)`;
  };
}

/** Strongly connected components with more than one node (or a self-loop): Tarjan, iterative. */
export function cyclesOf(nodes: Iterable<string>, next: (n: string) => Iterable<string>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  let counter = 0;
  for (const start of nodes) {
    if (index.has(start)) continue;
    // Each frame: a node and the iterator over its successors (recursion would be bounded by the
    // call stack; the graph here is a few hundred files, but the frame stack costs nothing).
    const frames: Array<{ node: string; it: Iterator<string> }> = [];
    const open = (n: string): void => {
      index.set(n, counter);
      low.set(n, counter++);
      stack.push(n);
      onStack.add(n);
      frames.push({ node: n, it: next(n)[Symbol.iterator]() });
    };
    open(start);
    while (frames.length > 0) {
      const top = frames[frames.length - 1]!;
      const step = top.it.next();
      if (!step.done) {
        const w = step.value;
        if (!index.has(w)) open(w);
        else if (onStack.has(w)) low.set(top.node, Math.min(low.get(top.node)!, index.get(w)!));
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(top.node)!));
      if (low.get(top.node) !== index.get(top.node)) continue;
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== top.node);
      const selfLoop = component.length === 1 && [...next(top.node)].includes(top.node);
      if (component.length > 1 || selfLoop) out.push(component.sort());
    }
  }
  return out;
}
