// Loads dist/rocketctl.cjs, the CLI bundled into one file by `npm run build` (src/cli.ts says why),
// compiling it through a V8 code cache kept beside it: Node 20 has no compile cache of its own,
// and compiling the bundle's functions was most of what was left of start-up time.
// The build writes the cache after running typical commands (scripts/warm-cache.mjs); a run that
// finds it missing or rejected (another Node version) writes what it compiled itself. A cache that
// cannot be written (read-only install, full disk) is simply not used. ROCKETCTL_CODE_CACHE=off
// neither reads nor writes it (to measure without it, or to keep a child from writing it).
// CommonJS on purpose: an ES module importing node:fs pays for the ESM facade of all of fs.
'use strict';
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const vm = require('node:vm');

const root = path.resolve(__dirname, '..');
const bundlePath = path.join(root, 'dist', 'rocketctl.cjs');
const cachePath = `${bundlePath}.cache`;
const cacheOff = process.env.ROCKETCTL_CODE_CACHE === 'off';

/** Writes the code cache of what this process has compiled so far (atomically; errors ignored). */
function writeCodeCache(script) {
  if (cacheOff) return false;
  try {
    const tmp = `${cachePath}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, script.createCachedData());
    fs.renameSync(tmp, cachePath);
    return true;
  } catch {
    return false;
  }
}

/**
 * Loads the bundle as a regular CommonJS module: it goes into require.cache, so oclif's own
 * require of it (for the command list) gets this same instance. Returns its exports, the
 * vm.Script (for writeCodeCache) and whether a usable cache was found.
 */
function loadBundle() {
  let source;
  try {
    source = fs.readFileSync(bundlePath, 'utf8');
  } catch {
    process.stderr.write(`rocketctl is not built: run \`npm run build\` in ${root}\n`);
    process.exit(1);
  }
  let cached;
  if (!cacheOff) {
    try { cached = fs.readFileSync(cachePath); } catch { cached = undefined; }
  }
  const script = new vm.Script(Module.wrap(source), {
    filename: bundlePath,
    cachedData: cached,
    // No importModuleDynamically: the bundle has no import() of its own (scripts/bundle.mjs checks);
    // oclif's are for ES module plugins, which rocketctl has none of.
  });
  // oclif checks the Node version against package.json's engines with semver when it loads (a few
  // ms: semver's regexes); a major-version comparison does the same job here.
  if (Number(process.versions.node.split('.')[0]) < 20) process.emitWarning(`rocketctl needs Node.js 20 or newer; this is ${process.version}`);
  const engineCheck = process.env.OCLIF_DISABLE_ENGINE_WARNING;
  process.env.OCLIF_DISABLE_ENGINE_WARNING = '1';
  const mod = new Module(bundlePath, module);
  mod.filename = bundlePath;
  mod.paths = Module._nodeModulePaths(path.dirname(bundlePath));
  Module._cache[bundlePath] = mod;
  script.runInThisContext().call(mod.exports, mod.exports, (id) => mod.require(id), mod, bundlePath, path.dirname(bundlePath));
  mod.loaded = true;
  if (engineCheck === undefined) delete process.env.OCLIF_DISABLE_ENGINE_WARNING;
  else process.env.OCLIF_DISABLE_ENGINE_WARNING = engineCheck;
  return { exports: mod.exports, script, cacheUsed: cached !== undefined && !script.cachedDataRejected };
}

/** bin/run.js: run the CLI for process.argv; write the cache at exit when there was none to use. */
async function run() {
  const { exports: cli, script, cacheUsed } = loadBundle();
  if (!cacheUsed) process.once('exit', () => writeCodeCache(script));
  await cli.main(root);
}

module.exports = { root, bundlePath, cachePath, loadBundle, writeCodeCache, run };
