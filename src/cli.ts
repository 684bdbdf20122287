/**
 * Entry of the production CLI bundle (`dist/rocketctl.cjs`, built by scripts/bundle.mjs with
 * esbuild; loaded by bin/run.js with a V8 code cache).
 *
 * Why a bundle: start-up is part of every admin call's cost, and on Node 20 most of it went to
 * resolving, reading and compiling the ~200 small files of @oclif/core, its dependencies and ours.
 * One file with a code cache loads in a fraction of that. oclif still does the work (manifest,
 * parsing, help, errors): its root plugin is told, through the `pjson` load option, to find
 * commands in `COMMANDS` below (oclif's "explicit" discovery) instead of the commands directory.
 *
 * Each `COMMANDS` entry is a getter around `require()`: esbuild turns that into a lazy,
 * synchronous initialisation inside the bundle, so running one command evaluates that command's
 * module graph only (a broker is not loaded to print `topicList`). This file is never run
 * unbundled: bin/dev.js (tsx) and the manifest script use the commands directory as before.
 */
import { execute, run, settings } from '@oclif/core';
import type { Command } from '@oclif/core';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from './errors/index.js';
import { formatErrorLine } from './output/base-command.js';
import { preflight } from './output/command-line.js';
import { errorEnvelope } from './output/envelope.js';

type CommandClass = Command.Class;

// `require` here is the bundle's own (CommonJS output); esbuild resolves each literal path.
declare const require: (id: string) => { default: CommandClass };

export const COMMANDS: Record<string, CommandClass> = {
  get audit() { return require('./commands/audit.js').default; },
  get 'broker:start'() { return require('./commands/broker/start.js').default; },
  get brokerStatus() { return require('./commands/brokerStatus.js').default; },
  get checkNoLoss() { return require('./commands/checkNoLoss.js').default; },
  get checkOS() { return require('./commands/checkOS.js').default; },
  get checkSecurity() { return require('./commands/checkSecurity.js').default; },
  get clusterAclConfigVersion() { return require('./commands/clusterAclConfigVersion.js').default; },
  get clusterList() { return require('./commands/clusterList.js').default; },
  get completion() { return require('./commands/completion.js').default; },
  get consumeMessage() { return require('./commands/consumeMessage.js').default; },
  get consumerConnection() { return require('./commands/consumerConnection.js').default; },
  get consumerProgress() { return require('./commands/consumerProgress.js').default; },
  get deleteAclConfig() { return require('./commands/deleteAclConfig.js').default; },
  get deleteSubGroup() { return require('./commands/deleteSubGroup.js').default; },
  get deleteTopic() { return require('./commands/deleteTopic.js').default; },
  get dledgerGroup() { return require('./commands/dledgerGroup.js').default; },
  get exporter() { return require('./commands/exporter.js').default; },
  get migrateBacklog() { return require('./commands/migrateBacklog.js').default; },
  get 'namesrv:start'() { return require('./commands/namesrv/start.js').default; },
  get producerConnection() { return require('./commands/producerConnection.js').default; },
  get queryMsgById() { return require('./commands/queryMsgById.js').default; },
  get queryMsgByKey() { return require('./commands/queryMsgByKey.js').default; },
  get queryMsgByUniqueKey() { return require('./commands/queryMsgByUniqueKey.js').default; },
  get queryMsgTrace() { return require('./commands/queryMsgTrace.js').default; },
  get resetOffset() { return require('./commands/resetOffset.js').default; },
  get sendMessage() { return require('./commands/sendMessage.js').default; },
  get skipAccumulatedMessage() { return require('./commands/skipAccumulatedMessage.js').default; },
  get 'store:verify'() { return require('./commands/store/verify.js').default; },
  get topicList() { return require('./commands/topicList.js').default; },
  get topicRoute() { return require('./commands/topicRoute.js').default; },
  get topicStatus() { return require('./commands/topicStatus.js').default; },
  get transferLeadership() { return require('./commands/transferLeadership.js').default; },
  get updateAclConfig() { return require('./commands/updateAclConfig.js').default; },
  get updateGlobalWhiteAddr() { return require('./commands/updateGlobalWhiteAddr.js').default; },
  get updateSubGroup() { return require('./commands/updateSubGroup.js').default; },
  get updateTopic() { return require('./commands/updateTopic.js').default; },
};

/** Where the bundle sits relative to the package root (oclif resolves the explicit target from there). */
export const BUNDLE_PATH = './dist/rocketctl.cjs';

/** oclif load options for the package at `root` (the directory of package.json). */
function loadOptions(root: string): { root: string; pjson: Record<string, unknown> } {
  // The bundle is compiled JavaScript: never look for TypeScript sources or register tsx/ts-node,
  // even when NODE_ENV is "test" or "development" (oclif would otherwise try, at a cost).
  settings.enableAutoTranspile = false;
  const pjson = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  pjson.oclif = { ...pjson.oclif, commands: { strategy: 'explicit', target: BUNDLE_PATH, identifier: 'COMMANDS' } };
  return { root, pjson };
}

/** Runs the CLI for `process.argv`: output, errors and the exit code as oclif and BaseCommand make them. */
export async function main(root: string): Promise<void> {
  const pre = preflight(process.argv.slice(2), Object.keys(COMMANDS));
  if (pre.kind === 'unknown') {
    const err = new UsageError(
      `unknown command "${pre.command}"${pre.suggestions.length > 0 ? `; did you mean ${pre.suggestions.join(', ')}?` : ''}`,
      ['rocketctl --help lists the commands'],
    );
    if (process.argv.includes('--json')) process.stdout.write(JSON.stringify(errorEnvelope(err), null, 2) + '\n');
    else process.stderr.write(formatErrorLine(err));
    process.exitCode = err.exitCode;
    return;
  }
  await execute({ args: pre.argv, loadOptions: loadOptions(root) as never });
}

/**
 * Runs one command line in this process without exiting or printing (its output is dropped), so
 * that scripts/warm-cache.mjs can compile the code paths of typical commands before it writes the
 * code cache. Returns the exit code the command would have had.
 */
export async function runQuietly(root: string, argv: string[]): Promise<number> {
  const out = process.stdout.write;
  const err = process.stderr.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    await run(argv, loadOptions(root) as never);
    return Number(process.exitCode ?? 0);
  } catch (e) {
    const code = (e as { oclif?: { exit?: number } }).oclif?.exit;
    return typeof code === 'number' ? code : Number(process.exitCode ?? 1);
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = 0;
  }
}
