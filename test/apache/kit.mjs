#!/usr/bin/env node
/**
 * The Apache RocketMQ conformance kit: fetches Apache RocketMQ by Maven coordinates (pom.xml beside
 * this file; nothing is vendored), starts and stops Apache name servers and brokers on loopback, and
 * runs Apache's mqadmin and our Java driver programs (java/*.java, compiled against the 4.9.8 client).
 *
 *   node test/apache/kit.mjs check                        one line: whether java, javac and mvn are here
 *   node test/apache/kit.mjs setup                        resolve the classpaths, compile the drivers
 *   node test/apache/kit.mjs start 4|5 DIR [key=value..]  name server + broker in DIR (temp ROCKETMQ_HOME,
 *                                                         store, logs); extra keys go to broker.conf;
 *                                                         namesrvAddr=H:P registers with that name server
 *                                                         instead of starting one. Prints one JSON line.
 *   node test/apache/kit.mjs stop DIR                     stop them by PID (TERM, then KILL after 10 s)
 *   node test/apache/kit.mjs mqadmin ARGS...              Apache mqadmin 4.9.8
 *   node test/apache/kit.mjs java CLASS ARGS...           a driver program on the 4.9.8 Java client
 *
 * Versions: Apache published rocketmq-broker and rocketmq-namesrv up to 4.9.7 to Maven Central, not
 * 4.9.8 (4.9.8's client, tools, acl, store and common are there). So "Apache 4.x" servers here are
 * 4.9.7 and the Java client and mqadmin are 4.9.8; the 5.x server is the newest 5.x whose broker
 * and name server both resolve (pom.xml says which).
 *
 * Classpath files and compiled drivers are cached in test/apache/.build (keyed by the pom and the
 * driver sources); the jars stay in the local Maven cache (~/.m2), so a second run fetches nothing.
 */
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const KIT_DIR = path.dirname(fileURLToPath(import.meta.url));
const BUILD = path.join(KIT_DIR, '.build');
const CLASSES = path.join(BUILD, 'classes');
export const SETS = ['server4', 'client4', 'server5'];
/** JDK 17 closes what RocketMQ 4.x reaches into (direct buffer cleaners, Unsafe). */
const JVM_OPENS = [
  '--add-opens', 'java.base/java.nio=ALL-UNNAMED', '--add-opens', 'java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-exports', 'java.base/sun.nio.ch=ALL-UNNAMED', '--add-opens', 'java.base/java.lang=ALL-UNNAMED',
  '--add-opens', 'java.base/java.util=ALL-UNNAMED', '--add-opens', 'java.base/java.lang.reflect=ALL-UNNAMED',
  // A 4.x broker recovering an existing store unmaps files through jdk.internal.ref.Cleaner.
  '--add-exports', 'java.base/jdk.internal.ref=ALL-UNNAMED', '--add-opens', 'java.base/jdk.internal.ref=ALL-UNNAMED',
];
const READY_TIMEOUT_MS = Number(process.env.KIT_READY_TIMEOUT_MS ?? 120_000);
const STOP_GRACE_MS = 10_000;

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** null when the kit can run here, else the one line saying what is missing. */
export function missingTools() {
  const missing = ['java', 'javac', 'mvn'].filter((t) => !has(t));
  if (missing.length === 0) return null;
  return `Apache conformance tier not run: ${missing.join(', ')} not found (install JDK 17 and Maven: apt-get install openjdk-17-jdk-headless maven)`;
}

function hashOf(files) {
  const h = crypto.createHash('sha1');
  for (const f of files) h.update(fs.readFileSync(f));
  return h.digest('hex').slice(0, 16);
}

/** Resolve the three classpaths (Maven) and compile the drivers; idempotent and cached. */
export function setup({ log = () => {} } = {}) {
  const why = missingTools();
  if (why) throw new Error(why);
  fs.mkdirSync(BUILD, { recursive: true });
  const pomHash = hashOf([path.join(KIT_DIR, 'pom.xml')]);
  for (const set of SETS) {
    const out = path.join(BUILD, `cp-${set}-${pomHash}.txt`);
    if (!fs.existsSync(out)) {
      log(`kit: resolving ${set} with Maven`);
      const r = spawnSync('mvn', ['-q', '-B', '-f', path.join(KIT_DIR, 'pom.xml'), '-P', set,
        'dependency:build-classpath', `-Dmdep.outputFile=${out}.tmp`], { encoding: 'utf8', timeout: 15 * 60_000 });
      if (r.status !== 0) throw new Error(`kit: Maven could not resolve ${set}: ${(r.stdout + r.stderr).split('\n').filter((l) => l.includes('ERROR')).slice(0, 3).join(' ') || r.error?.message}`);
      fs.renameSync(`${out}.tmp`, out);
    }
    fs.copyFileSync(out, path.join(BUILD, `cp-${set}.txt`));
  }
  const sources = fs.readdirSync(path.join(KIT_DIR, 'java')).filter((f) => f.endsWith('.java')).sort()
    .map((f) => path.join(KIT_DIR, 'java', f));
  const srcHash = hashOf([...sources, path.join(BUILD, 'cp-client4.txt')]);
  const stamp = path.join(CLASSES, '.hash');
  if (!fs.existsSync(stamp) || fs.readFileSync(stamp, 'utf8') !== srcHash) {
    log('kit: compiling the Java drivers');
    fs.rmSync(CLASSES, { recursive: true, force: true });
    fs.mkdirSync(CLASSES, { recursive: true });
    const r = spawnSync('javac', ['-nowarn', '-encoding', 'UTF-8', '-d', CLASSES, '-cp', classpath('client4'), ...sources], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`kit: javac failed:\n${r.stderr}`);
    fs.writeFileSync(stamp, srcHash);
  }
}

export function classpath(set) {
  const f = path.join(BUILD, `cp-${set}.txt`);
  if (!fs.existsSync(f)) setup();
  return fs.readFileSync(f, 'utf8').trim();
}

function listenProbe(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function ephemeralPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * The low end of the kernel's ephemeral port range (net.ipv4.ip_local_port_range): ports below it
 * are never handed out for an outgoing connection or a listen on port 0, so another test's
 * connection cannot take them between our probe and the broker's bind.
 */
function ephemeralLow() {
  try {
    const low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 20_000) return low;
  } catch {
    // not Linux: Linux's default below
  }
  return 32768;
}

/**
 * A free port P whose neighbours P-2 (the broker's VIP channel) and P+1 (HA) are free too, picked
 * at random below the ephemeral range: an Apache broker binds P+1 only once its store has started,
 * and a port in the ephemeral range could meanwhile be taken by any outgoing connection on the
 * machine (a CI run once failed so: BindException in HAService$AcceptSocketService#beginAccept).
 * 11000 and up stays clear of the RocketMQ defaults (9876, 10909, 10911, 10912).
 */
export async function freeBrokerPort() {
  const low = 11_000;
  const high = ephemeralLow() - 2;
  for (let i = 0; i < 100; i++) {
    const p = low + Math.floor(Math.random() * (high - low));
    if ((await listenProbe(p - 2)) && (await listenProbe(p + 1)) && (await listenProbe(p))) return p;
  }
  throw new Error('kit: no free port with free neighbours after 100 tries');
}
export const freePort = ephemeralPort;

function logback(file, logDir, name) {
  fs.writeFileSync(file, `<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>${logDir}/${name}.log</file>
    <encoder><pattern>%d{HH:mm:ss.SSS} %-5p [%t] %c{0} - %m%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
`);
}

/** A ROCKETMQ_HOME with the logback files Apache's start-up classes load from conf/. */
export function makeHome(dir) {
  const home = path.join(dir, 'home');
  const logs = path.join(dir, 'logs');
  fs.mkdirSync(path.join(home, 'conf'), { recursive: true });
  fs.mkdirSync(logs, { recursive: true });
  for (const n of ['namesrv', 'broker', 'tools']) {
    logback(path.join(home, 'conf', `logback_${n}.xml`), logs, n);
    logback(path.join(home, 'conf', `rmq.${n}.logback.xml`), logs, n);
  }
  return home;
}

function writeHomeFiles(home, files) {
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(home, rel)), { recursive: true });
    fs.writeFileSync(path.join(home, rel), text, { mode: 0o600 });
  }
}

/** A ROCKETMQ_HOME for mqadmin with these files, e.g. { 'conf/tools.yml': 'accessKey: ...' } (ACL keys). */
export function makeToolsHome(dir, files = {}) {
  const home = makeHome(dir);
  writeHomeFiles(home, files);
  return home;
}

/**
 * c1Only (the default): -XX:TieredStopAtLevel=1 starts JVMs faster, what short tests want; a
 * benchmark (bench/compare.ts) turns it off so Apache's broker and the Java client run at full speed.
 */
function javaArgs(home, heapMb, cp, cls, args, { c1Only = true } = {}) {
  return ['-server', `-Xms${heapMb}m`, `-Xmx${heapMb}m`, '-XX:MaxDirectMemorySize=256m', '-XX:+UseG1GC',
    ...(c1Only ? ['-XX:TieredStopAtLevel=1'] : []), ...JVM_OPENS, `-Duser.home=${home}`, `-Drocketmq.home.dir=${home}`,
    '-Drocketmq.client.logRoot=' + path.join(home, 'logs'), '-Drocketmq.client.logLevel=WARN',
    '-cp', cp, cls, ...args];
}

async function waitForLine(file, pattern, child, what) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const m = text.match(pattern);
    if (m) return m;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`kit: ${what} exited before it was ready (${file}):\n${text.split('\n').slice(-20).join('\n')}`);
    }
    if (Date.now() > deadline) throw new Error(`kit: ${what} not ready after ${READY_TIMEOUT_MS} ms (${file})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function startJava(dir, name, set, home, heapMb, cls, args, jvm = {}) {
  const out = path.join(dir, `${name}.out`);
  const fd = fs.openSync(out, 'w');
  const child = spawn('java', javaArgs(home, heapMb, classpath(set), cls, args, jvm), {
    env: { ...process.env, ROCKETMQ_HOME: home }, stdio: ['ignore', fd, fd], detached: true,
  });
  fs.closeSync(fd);
  child.unref();
  fs.appendFileSync(path.join(dir, 'pids'), `${child.pid}\n`);
  return { child, out };
}

/**
 * Start an Apache name server (unless config.namesrvAddr names one) and broker in dir.
 * `homeFiles` ({ 'conf/plain_acl.yml': text, ... }) are written into its ROCKETMQ_HOME first
 * (the broker reads plain_acl.yml there with aclEnable=true).
 * `bench: true`: JIT at full speed (no C1-only) and a 1 GiB broker heap, for bench/compare.ts.
 * Returns { version, namesrv, broker, vip, storeDir, dir, brokerName, clusterName, pids }.
 */
export async function start(major, dir, config = {}, { homeFiles = {}, bench = false } = {}) {
  const set = major === '5' || major === 5 ? 'server5' : 'server4';
  fs.mkdirSync(dir, { recursive: true });
  dir = path.resolve(dir);
  const home = makeHome(dir);
  writeHomeFiles(home, homeFiles);
  const result = { version: set === 'server5' ? 5 : 4, dir, home, pids: [] };
  let namesrv = config.namesrvAddr;
  if (!namesrv) {
    const port = await ephemeralPort();
    fs.writeFileSync(path.join(dir, 'namesrv.conf'), `listenPort=${port}\n`);
    const n = startJava(dir, 'namesrv', set, home, 128, 'org.apache.rocketmq.namesrv.NamesrvStartup', ['-c', path.join(dir, 'namesrv.conf')], { c1Only: !bench });
    result.pids.push(n.child.pid);
    await waitForLine(n.out, /Name Server boot success/, n.child, 'Apache name server');
    namesrv = `127.0.0.1:${port}`;
  }
  const port = config.listenPort ? Number(config.listenPort) : await freeBrokerPort();
  const storeDir = config.storePathRootDir ?? path.join(dir, 'store');
  const conf = {
    brokerClusterName: 'DefaultCluster', brokerName: 'apache-broker', brokerId: '0', brokerIP1: '127.0.0.1',
    listenPort: String(port), namesrvAddr: namesrv, storePathRootDir: storeDir,
    storePathCommitLog: path.join(storeDir, 'commitlog'), autoCreateTopicEnable: 'true',
    autoCreateSubscriptionGroup: 'true', mappedFileSizeCommitLog: String(64 * 1024 * 1024),
    flushDiskType: 'ASYNC_FLUSH', ...config,
  };
  delete conf.namesrvAddr; conf.namesrvAddr = namesrv;
  fs.writeFileSync(path.join(dir, 'broker.conf'), Object.entries(conf).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  const b = startJava(dir, 'broker', set, home, bench ? 1024 : 512, 'org.apache.rocketmq.broker.BrokerStartup', ['-c', path.join(dir, 'broker.conf')], { c1Only: !bench });
  result.pids.push(b.child.pid);
  await waitForLine(b.out, /boot success/, b.child, 'Apache broker');
  Object.assign(result, {
    namesrv, broker: `127.0.0.1:${port}`, vip: `127.0.0.1:${port - 2}`, storeDir,
    brokerName: conf.brokerName, clusterName: conf.brokerClusterName,
  });
  fs.writeFileSync(path.join(dir, 'kit.json'), JSON.stringify(result));
  return result;
}

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** Stop every process start() left in dir (broker first), by PID; bounded. */
export async function stop(dir, { signal = 'SIGTERM' } = {}) {
  const f = path.join(dir, 'pids');
  if (!fs.existsSync(f)) return;
  const pids = fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map(Number).reverse();
  for (const pid of pids) {
    if (!alive(pid)) continue;
    try { process.kill(pid, signal); } catch { /* gone */ }
    const deadline = Date.now() + STOP_GRACE_MS;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (alive(pid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    // A killed child of ours is a zombie until reaped; wait until /proc says it is gone or dead.
    for (let i = 0; i < 100 && alive(pid) && !isZombie(pid); i++) await new Promise((r) => setTimeout(r, 50));
  }
  fs.rmSync(f, { force: true });
}

function isZombie(pid) {
  try { return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z'); } catch { return true; }
}

let toolsHome;
function kitToolsHome() {
  toolsHome ??= makeHome(fs.mkdtempSync(path.join(os.tmpdir(), 'rocketctl-kit-tools-')));
  return toolsHome;
}

/**
 * Run Apache mqadmin 4.9.8; resolves { code, stdout, stderr }. Bounded by timeoutMs. `home`: its
 * ROCKETMQ_HOME (default the kit's shared one); mqadmin signs with the keys of home/conf/tools.yml.
 */
export function mqadmin(args, { timeoutMs = 60_000, home } = {}) {
  return runJava('client4', 'org.apache.rocketmq.tools.command.MQAdminStartup', args, { timeoutMs, home });
}

/** Run one of our driver programs (class in test/apache/java); resolves { code, stdout, stderr, lines }. */
export function driver(cls, args, { timeoutMs = 90_000, env = {} } = {}) {
  return runJava('client4', cls, args, { timeoutMs, extraCp: CLASSES, env });
}

/**
 * The command line of one of our driver programs, for a caller that talks to it while it runs
 * (bench/compare.ts spawns BenchClient and answers its stdin handshake). Needs setup() first.
 */
export function driverCommand(cls, args, { heapMb = 256, c1Only = true } = {}) {
  const home = kitToolsHome();
  return { command: 'java', args: javaArgs(home, heapMb, `${CLASSES}:${classpath('client4')}`, cls, args, { c1Only }), env: { ...process.env, ROCKETMQ_HOME: home } };
}

function runJava(set, cls, args, { timeoutMs, extraCp, env = {}, jvm = [], home = kitToolsHome() }) {
  const cp = extraCp ? `${extraCp}:${classpath(set)}` : classpath(set);
  const props = Object.entries(env).filter(([k]) => k.startsWith('-D')).map(([k, v]) => `${k}=${v}`);
  return new Promise((resolve) => {
    const child = spawn('java', ['-Xmx256m', ...jvm, ...props, ...javaArgs(home, 256, cp, cls, args).slice(3)], {
      env: { ...process.env, ROCKETMQ_HOME: home, ...Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('-D'))) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { stderr += `\nkit: killed after ${timeoutMs} ms`; child.kill('SIGKILL'); }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      // Only our drivers print JSON lines; mqadmin's output (topicRoute's fastjson) is text to read.
      const lines = extraCp ? stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)) : [];
      resolve({ code, stdout, stderr, lines });
    });
  });
}

async function main(argv) {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'check': {
      const why = missingTools();
      console.log(why ?? 'ok: java, javac and mvn found');
      return why ? 1 : 0;
    }
    case 'setup': setup({ log: (m) => console.error(m) }); console.log('ok'); return 0;
    case 'start': {
      const [major, dir, ...kv] = rest;
      if (!['4', '5'].includes(major) || !dir) throw new Error('usage: kit.mjs start 4|5 DIR [key=value...]');
      const config = Object.fromEntries(kv.map((s) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)]));
      console.log(JSON.stringify(await start(major, dir, config)));
      return 0;
    }
    case 'stop': await stop(rest[0]); return 0;
    case 'mqadmin': case 'java': {
      const r = cmd === 'mqadmin' ? await mqadmin(rest) : await driver(rest[0], rest.slice(1));
      process.stdout.write(r.stdout); process.stderr.write(r.stderr);
      return r.code ?? 1;
    }
    case 'classpath': console.log(classpath(rest[0])); return 0;
    default:
      console.error('usage: kit.mjs check | setup | start 4|5 DIR [key=value...] | stop DIR | mqadmin ARGS... | java CLASS ARGS...');
      return 2;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => { console.error(e.message); process.exit(1); });
}
