// Builds dist/rocketctl.cjs: the production CLI (src/cli.ts, our code, @oclif/core and the runtime
// dependencies) as one CommonJS file, which bin/run.js loads with a V8 code cache. See src/cli.ts
// for why. TypeScript loaders that oclif only uses in development stay outside the bundle.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outfile = `${root}dist/rocketctl.cjs`;
rmSync(`${outfile}.cache`, { force: true }); // a cache of the previous bundle would be rejected anyway

// oclif sorts the command list with String#localeCompare on every start; the first call builds an
// ICU collator, which cost ~10 ms of each run. Command ids are ASCII, and ordering them by code
// unit gives the same list. The build fails if the line changes (an oclif upgrade), so that the
// patch is looked at again rather than silently dropped.
const OCLIF_SORT = '.sort((a, b) => a.id.localeCompare(b.id));';
const oclifStartupPatch = {
  name: 'oclif-startup',
  setup(b) {
    b.onLoad({ filter: /@oclif[\\/]core[\\/]lib[\\/]config[\\/]plugin\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!text.includes(OCLIF_SORT)) throw new Error(`scripts/bundle.mjs: ${args.path} no longer contains ${OCLIF_SORT} (see the comment above)`);
      return { contents: text.replace(OCLIF_SORT, '.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));'), loader: 'js' };
    });
  },
};

const result = await build({
  absWorkingDir: root,
  entryPoints: ['src/cli.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Only used by oclif to run TypeScript sources in development (bin/dev.js), never by the bundle.
  external: ['typescript', 'ts-node', 'tsx', 'tsx/*'],
  legalComments: 'none',
  // Smaller and ASCII-only (so V8 holds it as a one-byte string): comments and indentation go,
  // names stay (stack traces with ROCKETCTL_DEBUG=1 stay readable; node --enable-source-maps maps
  // them back to src/ through the .map file).
  minifyWhitespace: true,
  charset: 'ascii',
  sourcemap: 'linked',
  logLevel: 'warning',
  metafile: true,
  plugins: [oclifStartupPatch],
});
// esbuild leaves a few C1 control characters raw inside regular expression literals (ansis' ANSI
// pattern has U+009B); \\uXXXX means the same in a string, template or regex, so escape them.
let code = await readFile(outfile, 'utf8');
code = code.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
// bin/load.cjs compiles the bundle with vm.Script, where import() does not work (Node 20 offers
// only an experimental loader for it). esbuild bundles every import() of our code except those of
// Node built-ins and externals: those must be static imports. oclif's own import() calls take a
// variable (ES module plugins, which rocketctl has none of) and are left alone.
const literalImports = code.match(/\bimport\(\s*["'`][^)]*\)/g);
if (literalImports) throw new Error(`scripts/bundle.mjs: import() left in the bundle (make it a static import): ${literalImports.join(', ')}`);
await writeFile(outfile, code);
console.log(`dist/rocketctl.cjs: ${(code.length / 1024).toFixed(0)} KiB from ${Object.keys(result.metafile.inputs).length} modules`);
