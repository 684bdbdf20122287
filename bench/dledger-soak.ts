/**
 * `npm run bench:soak`: the kill -9 soak of a DLedger group (docs/dledger.md, README "DLedger").
 *
 * Three `rocketctl broker start -c nX.conf` processes (SYNC_FLUSH) and a `rocketctl namesrv start`
 * process on 127.0.0.1. A producer sends unique bodies one after another; every round the
 * registered master is killed with SIGKILL while sends go on, a new master must be registered
 * (the group converges to one leader: exactly one member reports LEADER, the others FOLLOWER in
 * the same term), and the killed member is started again on its store. After the last round
 * every acknowledged message is read back from every member.
 *
 * Prints one JSON line: kills, acknowledged sends, failed sends, lost (acknowledged and missing on
 * some member: must be 0), unretried duplicates (must be 0), failover times (kill -> a new master
 * registered, and kill -> the first acknowledged send after it), and the verdict; exit 0 when
 * nothing was lost and the group always converged, 1 otherwise.
 *
 * Environment: ROCKETCTL_SOAK_KILLS (default 100), ROCKETCTL_SOAK_PER_ROUND (acknowledged sends
 * between kills, default 30), ROCKETCTL_SOAK_DEFAULT_ELECTION=1 keeps DLedger's default election
 * timing (the soak shortens it to heartbeats every 200 ms so a hundred rounds take minutes).
 * Every wait is bounded (dledger-group.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Producer } from '../src/client/producer.js';
import { RemotingClient } from '../src/remoting/client.js';
import { AckBook, createTopicAt, ProcessGroup, SHORT_ELECTION, SMALL_FILES, type GroupMember } from './dledger-group.js';
import { eventually, spawnReady } from './spawn.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const KILLS = Number(process.env.ROCKETCTL_SOAK_KILLS ?? 100);
const PER_ROUND = Number(process.env.ROCKETCTL_SOAK_PER_ROUND ?? 30);
const DEFAULT_ELECTION = process.env.ROCKETCTL_SOAK_DEFAULT_ELECTION === '1';
const QUEUES = 4;
const BROKER_NAME = 'dl-soak';
/** Bounds: the namesrv ready line, every member agreeing on one leader, catching up at the end. */
const START_TIMEOUT_MS = 60_000;
const CONVERGE_TIMEOUT_MS = 30_000;
const CATCH_UP_TIMEOUT_MS = 60_000;

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Exactly one running member is LEADER and every other running one a FOLLOWER of the same term. */
async function converged(g: ProcessGroup): Promise<boolean> {
  const running = g.members.filter((m) => m.proc);
  const states = await Promise.all(running.map((m) => g.state(m).catch(() => undefined)));
  if (states.some((s) => s === undefined)) return false;
  const leaders = states.filter((s) => s!.role === 'LEADER');
  if (leaders.length !== 1) return false;
  return states.every((s) => s!.term === leaders[0]!.term && (s!.role === 'LEADER' || s!.role === 'FOLLOWER'));
}

async function main(): Promise<number> {
  if (!Number.isInteger(KILLS) || KILLS < 1 || !Number.isInteger(PER_ROUND) || PER_ROUND < 1) {
    process.stderr.write('soak: ROCKETCTL_SOAK_KILLS and ROCKETCTL_SOAK_PER_ROUND must be positive integers\n');
    return 2;
  }
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'rocketctl-soak-'));
  const client = new RemotingClient({ requestTimeoutMs: 3000 });
  const nsDir = path.join(base, 'namesrv');
  fs.mkdirSync(nsDir);
  const ns = await spawnReady(ROOT, ['namesrv', 'start', '--listen-port', '0', '--kv-config', path.join(nsDir, 'kvConfig.json')], (out) => /namesrv ready: namesrv=(\S+)/.exec(out)?.[1], START_TIMEOUT_MS);
  const g = await ProcessGroup.create({
    root: ROOT,
    brokerName: BROKER_NAME,
    namesrvAddr: ns.ready,
    client,
    tempDir: (id) => {
      const d = path.join(base, id);
      fs.mkdirSync(d);
      return d;
    },
    conf: { flushDiskType: 'SYNC_FLUSH', ...(DEFAULT_ELECTION ? {} : SHORT_ELECTION), ...SMALL_FILES },
  });
  const producer = new Producer({ namesrvAddr: ns.ready, producerGroup: 'SOAK_DLEDGER_PG', instanceName: 'soak-dledger', sendMsgTimeoutMs: 5000 });
  const book = new AckBook();
  const masterMs: number[] = [];
  const firstAckMs: number[] = [];
  let notConverged = 0;
  let kills = 0;
  const t0 = Date.now();
  try {
    await g.startAll();
    let master = await g.waitMaster();
    const topic = `SoakDLedger_${process.pid}`;
    await createTopicAt(client, master.proc!.ready, topic, QUEUES);
    await producer.start();
    let next = 0;
    const sendOne = () => book.sendUntilAcked(producer, topic, `k${next++}`);

    for (; kills < KILLS; kills++) {
      for (let i = 0; i < PER_ROUND; i++) await sendOne();
      const victim: GroupMember = master;
      const killedAt = Date.now();
      await g.kill(victim);
      // The next acknowledged send after the kill goes to the new master.
      const firstAck = sendOne().then(() => Date.now() - killedAt);
      master = await g.waitMaster(victim);
      masterMs.push(Date.now() - killedAt);
      firstAckMs.push(await firstAck);
      await g.start(victim);
      try {
        await eventually(async () => ((await converged(g)) ? true : undefined), 'one leader, the others its followers', CONVERGE_TIMEOUT_MS, 100);
      } catch {
        notConverged++;
      }
      master = await g.waitMaster();
      if ((kills + 1) % 10 === 0) process.stderr.write(`soak: ${kills + 1}/${KILLS} kills, ${book.acked.length} acknowledged\n`);
    }
    for (let i = 0; i < PER_ROUND; i++) await sendOne();
    await producer.close();

    // Every member holds every acknowledged message (bounded wait for the one restarted last).
    const lost = new Set<string>();
    let twiceUnretried = 0;
    let duplicates = 0;
    for (const m of g.members) {
      let report = book.check([]);
      try {
        await eventually(async () => {
          report = book.check(await g.readAll(m.proc!.ready, topic, QUEUES));
          return report.missing.length === 0 ? true : undefined;
        }, `${m.id} caught up`, CATCH_UP_TIMEOUT_MS, 500);
      } catch {
        // reported below
      }
      for (const b of report.missing) lost.add(b);
      twiceUnretried += report.twiceUnretried.length;
      duplicates = Math.max(duplicates, report.duplicates);
    }
    const ok = lost.size === 0 && twiceUnretried === 0 && notConverged === 0;
    const result = {
      bench: 'dledger-soak',
      kills,
      flushDiskType: 'SYNC_FLUSH',
      election: DEFAULT_ELECTION ? 'default' : 'short (heartbeat 200 ms)',
      acknowledged: book.acked.length,
      failedSends: book.failures,
      lost: lost.size,
      lostSample: [...lost].slice(0, 10),
      twiceUnretried,
      duplicatesOfRetriedSends: duplicates,
      notConverged,
      masterRegisteredMs: { median: median(masterMs), max: Math.max(0, ...masterMs) },
      firstAckAfterKillMs: { median: median(firstAckMs), max: Math.max(0, ...firstAckMs) },
      durationS: Math.round((Date.now() - t0) / 1000),
      ok,
    };
    process.stdout.write(JSON.stringify(result) + '\n');
    return ok ? 0 : 1;
  } finally {
    await producer.close().catch(() => undefined);
    await g.stopAll();
    await ns.stop('SIGKILL').catch(() => undefined);
    await client.close();
    fs.rmSync(base, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
