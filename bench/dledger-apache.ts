/**
 * The reference for the DLedger part (issue 12): what the same workload gets from Apache RocketMQ
 * itself, one SYNC_FLUSH broker against a 3-node DLedger group (enableDLegerCommitLog=true,
 * Apache's DLedgerCommitLog on DLedger 0.3.1.2), on this machine in the same run. Apache 4.9.7
 * from the conformance kit (test/apache/kit.mjs, by Maven coordinates), full JIT, each server its
 * own JVM on 127.0.0.1; the client is src/client's Producer, as on our side, so only the servers
 * differ. When every member of a group shares the machine's cores, the group's throughput is
 * bounded by them: this ratio says how much of ours is that bound and how much is our code.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Producer } from '../src/client/producer.js';
import { RemotingClient } from '../src/remoting/client.js';
import { getBrokerClusterInfo } from '../src/remoting/namesrv-api.js';
import { RequestCode } from '../src/protocol/codes.js';
import { makeRequest } from '../src/protocol/frame.js';
import { freePort, kit, missingKit } from './compare-servers.js';
import { producePhase, round2, type ProducePhase } from './e2e.js';
import { eventually } from './spawn.js';
import { median } from './trace.js';

export interface ApacheSide {
  msgsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

export interface ApacheDLedgerReference {
  version: '4.9.7';
  single: ApacheSide;
  replicated: ApacheSide & { members: 3 };
  /** replicated.msgsPerSec / single.msgsPerSec. */
  ratio: number;
}

export interface ApacheReferenceOptions {
  phaseMs: number;
  rounds: number;
  concurrency: number;
  bodyBytes: number;
  queues: number;
}

const SINGLE = 'apache-single';
const GROUP = 'apache-dledger';
const MASTER_TIMEOUT_MS = 120_000;
const REQUEST_TIMEOUT_MS = 10_000;
const POLL_MS = 200;
const WARMUP_MS = 2000;
/** Sparse files; a phase stays in one (as on our side). */
const DATA_FILE_BYTES = String(256 * 1024 * 1024);

function sideOf(rounds: ProducePhase[]): ApacheSide {
  return {
    msgsPerSec: Math.round(median(rounds.map((r) => r.msgsPerSec))),
    p50Ms: round2(median(rounds.map((r) => r.latencyMs.p50))),
    p99Ms: round2(median(rounds.map((r) => r.latencyMs.p99))),
  };
}

/** The Apache reference, or why it was not measured (no Java/Maven kit here). */
export async function apacheDLedgerReference(root: string, o: ApacheReferenceOptions): Promise<ApacheDLedgerReference | { skipped: string }> {
  const missing = await missingKit(root);
  if (missing) return { skipped: missing };
  const k = await kit(root);
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'rocketctl-bench-dledger-apache-'));
  const dirs: string[] = [];
  const client = new RemotingClient({ requestTimeoutMs: REQUEST_TIMEOUT_MS });
  let producer: Producer | undefined;
  try {
    const singleDir = path.join(base, 'single');
    dirs.push(singleDir);
    const single = await k.start('4', singleDir, { flushDiskType: 'SYNC_FLUSH', brokerName: SINGLE, mappedFileSizeCommitLog: DATA_FILE_BYTES }, { bench: true });
    const namesrv = single.namesrv;
    const ports = [await freePort(), await freePort(), await freePort()];
    const peers = ports.map((p, i) => `n${i}-127.0.0.1:${p}`).join(';');
    await Promise.all(
      ports.map((_, i) => {
        const dir = path.join(base, `n${i}`);
        dirs.push(dir);
        const config = { namesrvAddr: namesrv, brokerName: GROUP, enableDLegerCommitLog: 'true', dLegerGroup: GROUP, dLegerPeers: peers, dLegerSelfId: `n${i}`, flushDiskType: 'SYNC_FLUSH', mappedFileSizeCommitLog: DATA_FILE_BYTES };
        return k.start('4', dir, config, { bench: true });
      }),
    );
    const addrs = async (name: string) => (await getBrokerClusterInfo(client, namesrv, REQUEST_TIMEOUT_MS)).brokerAddrTable[name]?.brokerAddrs ?? {};
    const singleAddr = await eventually(async () => (await addrs(SINGLE))['0'], 'the Apache single broker registered', MASTER_TIMEOUT_MS, POLL_MS);
    const master = await eventually(async () => (await addrs(GROUP))['0'], 'a master of the Apache DLedger group registered', MASTER_TIMEOUT_MS, POLL_MS);
    const topic = (name: string) => `BenchApache${name}`;
    for (const [addr, name] of [[singleAddr, 'Single'], [master, 'Group']] as const) {
      const header = { topic: topic(name), defaultTopic: 'TBW102', readQueueNums: o.queues, writeQueueNums: o.queues, perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false };
      const res = await client.invoke(addr, makeRequest(RequestCode.UPDATE_AND_CREATE_TOPIC, header), REQUEST_TIMEOUT_MS);
      if (res.code !== 0) throw new Error(`creating ${topic(name)} on Apache ${addr}: ${res.code} ${res.remark ?? ''}`);
    }
    producer = new Producer({ namesrvAddr: namesrv, producerGroup: 'BENCH_DLEDGER_APACHE_PG', instanceName: 'bench-dledger-apache' });
    await producer.start();
    const body = Buffer.alloc(o.bodyBytes, 'x');
    // The JIT warms up on both sides first.
    await producePhase(producer, topic('Single'), body, o.concurrency, WARMUP_MS);
    await producePhase(producer, topic('Group'), body, o.concurrency, WARMUP_MS);
    const singleRounds: ProducePhase[] = [];
    const groupRounds: ProducePhase[] = [];
    for (let i = 0; i < o.rounds; i++) {
      singleRounds.push(await producePhase(producer, topic('Single'), body, o.concurrency, o.phaseMs));
      groupRounds.push(await producePhase(producer, topic('Group'), body, o.concurrency, o.phaseMs));
    }
    const s = sideOf(singleRounds);
    const g = sideOf(groupRounds);
    return { version: '4.9.7', single: s, replicated: { ...g, members: 3 }, ratio: s.msgsPerSec > 0 ? Math.round((g.msgsPerSec / s.msgsPerSec) * 1000) / 1000 : 0 };
  } finally {
    await producer?.close().catch(() => undefined);
    await client.close();
    for (const d of dirs.reverse()) await k.stop(d).catch(() => undefined);
    fs.rmSync(base, { recursive: true, force: true });
  }
}
