// Writes dist/rocketctl.cjs.cache, the V8 code cache bin/run.js compiles the CLI bundle with, after
// compiling the code paths of typical commands: it starts a throw-away broker (temp store, port 0),
// runs a list of command lines in this process against its socket (output dropped), then saves
// what V8 compiled. A cache holding only the top level of the bundle saves far less: most of the
// compile time goes to the functions a command actually runs.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import loader from '../bin/load.cjs';
import { PushConsumer } from '../dist/src/client/index.js';

const { cachePath, loadBundle, root, writeCodeCache } = loader;

async function consumeOne(namesrvAddr, topic, group) {
  const consumer = new PushConsumer({ namesrvAddr, consumerGroup: group });
  consumer.subscribe(topic, '*');
  let done;
  const first = new Promise((r) => { done = r; });
  await consumer.start(async () => { done(); });
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('warm-cache: no message consumed in 20 s')), 20_000).unref());
  try { await Promise.race([first, timeout]); } finally { await consumer.close(); }
}

rmSync(cachePath, { force: true });
const dir = mkdtempSync(path.join(os.tmpdir(), 'rocketctl-warm-'));
const broker = spawn(process.execPath, [path.join(root, 'bin', 'run.js'), 'broker', 'start', '--store-dir', path.join(dir, 'store'), '--listen-port', '0', '--namesrv-port', '0'], {
  stdio: ['ignore', 'pipe', 'pipe'],
  env: { ...process.env, NO_COLOR: '1', ROCKETCTL_CODE_CACHE: 'off' },
});
try {
  const ready = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`warm-cache: broker not ready in 30 s: ${out}`)), 30_000);
    broker.stdout.on('data', (d) => {
      out += d;
      const m = /namesrv=(\S+) socket=(\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve({ namesrv: m[1], socket: m[2] }); }
    });
    broker.on('exit', (code) => { clearTimeout(timer); reject(new Error(`warm-cache: broker exited (${code}): ${out}`)); });
  });
  const { socket } = ready;
  const { exports: cli, script } = loadBundle();
  const s = ['--socket', socket];
  // A group that has consumed one of two messages, so consumerProgress -g and resetOffset run
  // their full paths (the client library from the tsc build; the CLI commands from the bundle).
  await cli.runQuietly(root, ['updateTopic', '-t', 'WarmTopic', '-r', '2', '-w', '2', ...s]);
  await cli.runQuietly(root, ['sendMessage', '-t', 'WarmTopic', '-p', 'warm', '-k', 'warm-key', ...s]);
  await consumeOne(ready.namesrv, 'WarmTopic', 'WarmGroup');
  const lines = [
    ['--version'], ['--help'], ['topicList', '--help'],
    ['updateSubGroup', '-g', 'WarmGroup', ...s],
    ['sendMessage', '-t', 'WarmTopic', '-p', 'warm', '-k', 'warm-key', '--json', ...s],
    ['consumeMessage', '-t', 'WarmTopic', '-c', '2', ...s],
    ['clusterList', ...s], ['brokerStatus', ...s],
    ['topicList', ...s], ['topicList', '--json', ...s],
    ['topicRoute', '-t', 'WarmTopic', ...s], ['topicStatus', '-t', 'WarmTopic', ...s],
    ['consumerProgress', ...s], ['consumerProgress', '--json', ...s],
    ['consumerProgress', '-g', 'WarmGroup', ...s], ['consumerProgress', '-g', 'WarmGroup', '--json', ...s],
    ['consumerConnection', '-g', 'WarmGroup', ...s], ['producerConnection', '-g', 'WarmGroup', '-t', 'WarmTopic', ...s],
    ['queryMsgByKey', '-t', 'WarmTopic', '-k', 'warm-key', ...s],
    ['queryMsgTrace', '-i', '7F00000100002A9F0000000000ABCDEF', ...s],
    ['resetOffset', '-g', 'WarmGroup', '-t', 'WarmTopic', '--earliest', ...s],
    ['migrateBacklog', '-g', 'WarmGroup', '-t', 'WarmTopic', '--to', 'WarmTopicWide', ...s],
    ['topicStatus', '-t', 'NoSuchTopic', '--json', ...s],
    ['topicList', '--socket', path.join(dir, 'absent.sock')],
    ['checkOS', '--json'],
  ];
  let failed = 0;
  for (const argv of lines) {
    const code = await cli.runQuietly(root, argv);
    if (code !== 0) failed++;
    if (process.env.ROCKETCTL_WARM_VERBOSE) console.log(code, argv.join(" "));
  }
  const ok = writeCodeCache(script);
  console.log(`${path.relative(root, cachePath)}: ${ok ? 'written' : 'NOT written'} after ${lines.length} command lines (${failed} exited non-zero; error paths are part of the list; ROCKETCTL_WARM_VERBOSE=1 lists them)`);
} finally {
  broker.kill('SIGTERM');
  await new Promise((r) => { if (broker.exitCode !== null) r(); else { broker.once('exit', r); setTimeout(() => { broker.kill('SIGKILL'); r(); }, 10_000).unref(); } });
  rmSync(dir, { recursive: true, force: true });
}
