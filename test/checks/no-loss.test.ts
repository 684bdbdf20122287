/**
 * checkNoLoss verdicts on hand-made facts: the shapes an Apache cluster answers with (SYNC_MASTER
 * and ASYNC_MASTER with slaves, DLedger, a broker whose config is unreadable, a disk over its
 * limit) that the integration tests cannot start, plus --require's rules and the config handler.
 */
import { describe, expect, it } from 'vitest';
import { buildNoLossReport, judgeNoLoss, parseRequire, replicationOf, type BrokerFacts, type NoLossFacts } from '../../src/checks/no-loss.js';
import { brokerConfigProperties } from '../../src/broker/handlers/get-broker-config.js';
import { defaultBrokerConfig } from '../../src/broker/broker-config.js';
import { parseProperties } from '../../src/protocol/java-properties.js';

function apache(name: string, config: Record<string, string>, slaveIds: number[] = [], ratio = '0.2'): BrokerFacts {
  return {
    clusterName: 'DefaultCluster',
    brokerName: name,
    addr: `10.0.0.1:${name.length}0911`,
    brokerId: 0,
    slaveIds,
    runtime: { commitLogDiskRatio: ratio, brokerVersionDesc: 'V4_9_8' },
    config: { flushDiskType: 'ASYNC_FLUSH', brokerRole: 'ASYNC_MASTER', diskMaxUsedSpaceRatio: '75', ...config },
  };
}

const facts = (brokers: BrokerFacts[], extra: Partial<NoLossFacts> = {}): NoLossFacts => ({ brokers, failed: [], ...extra });
const byId = (f: NoLossFacts, require: Parameters<typeof judgeNoLoss>[1] = {}) => Object.fromEntries(judgeNoLoss(f, require).map((i) => [i.id, i]));

describe('checkNoLoss verdicts', () => {
  it('SYNC_FLUSH + SYNC_MASTER with a slave: flush and replication pass', () => {
    const i = byId(facts([apache('broker-a', { flushDiskType: 'SYNC_FLUSH', brokerRole: 'SYNC_MASTER' }, [1])]));
    expect(i['sync-flush']!.status).toBe('pass');
    expect(i.replication!.status).toBe('pass');
    expect(i.replication!.current).toContain('SYNC_MASTER');
  });

  it('ASYNC_MASTER with a slave warns; DLedger passes as majority; no slave warns', () => {
    expect(replicationOf(apache('a', {}, [1]))).toMatchObject({ mode: 'master-slave-async', status: 'warn' });
    const peers = 'n0-10.0.0.1:40911;n1-10.0.0.2:40911;n2-10.0.0.3:40911';
    expect(replicationOf(apache('a', { enableDLegerCommitLog: 'true', dLegerPeers: peers }, [1, 2]))).toMatchObject({ mode: 'majority', status: 'pass' });
    // Two of three: one more failure leaves no majority.
    const degraded = replicationOf(apache('a', { enableDLegerCommitLog: 'true', dLegerPeers: peers }, [2]));
    expect(degraded).toMatchObject({ mode: 'majority', status: 'warn' });
    expect(degraded.text).toContain('2 of 3 member(s) registered: one more failure leaves no majority');
    expect(replicationOf(apache('a', { enableDLegerCommitLog: 'true' }, [1, 2]))).toMatchObject({ mode: 'unknown', status: 'unknown' });
    expect(replicationOf(apache('a', { brokerRole: 'SYNC_MASTER' }))).toMatchObject({ mode: 'none', status: 'warn' });
    const i = byId(facts([apache('a', {}, [1])]));
    expect(i.replication!.fix[0]).toContain('brokerRole=SYNC_MASTER');
  });

  it('a broker whose config and runtime are unreadable: unknown, never a guess', () => {
    const b: BrokerFacts = { clusterName: 'C', brokerName: 'b', addr: '10.0.0.2:10911', brokerId: 0, slaveIds: [1], runtimeError: 'timed out', configError: 'timed out' };
    const i = byId(facts([b]));
    expect(i['sync-flush']!.status).toBe('unknown');
    expect(i['sync-flush']!.current).toContain('unknown (timed out)');
    expect(i.replication!.status).toBe('unknown');
    expect(i['disk-headroom']!.status).toBe('unknown');
  });

  it('only runtime info (flushDiskType there, as rocketctl\'s broker reports it) is enough for the flush verdict', () => {
    const b: BrokerFacts = { clusterName: 'C', brokerName: 'b', addr: 'x:1', brokerId: 0, slaveIds: [], runtime: { flushDiskType: 'SYNC_FLUSH', commitLogDiskRatio: '0.1' }, configError: 'REQUEST_CODE_NOT_SUPPORTED' };
    expect(byId(facts([b]))['sync-flush']!.status).toBe('pass');
  });

  it('disk: pass below limit-10, warn within 10 points, fail at the limit (even without --require)', () => {
    expect(byId(facts([apache('a', {}, [], '0.5')]))['disk-headroom']!.status).toBe('pass');
    expect(byId(facts([apache('a', {}, [], '0.70')]))['disk-headroom']!.status).toBe('warn');
    const f = byId(facts([apache('a', { diskMaxUsedSpaceRatio: '60' }, [], '0.61')]));
    expect(f['disk-headroom']!.status).toBe('fail');
    expect(f['disk-headroom']!.current).toContain('diskMaxUsedSpaceRatio 60%');
    // No diskMaxUsedSpaceRatio in the config: the Apache default, said so.
    const d = byId(facts([apache('a', { diskMaxUsedSpaceRatio: undefined as unknown as string }, [], '0.1')]));
    expect(d['disk-headroom']!.current).toMatch(/75%/);
  });

  it('--require turns warn into fail and lists fail/unknown as unmet; unrequired items keep their status', () => {
    const f = facts([apache('a', {})], { producer: { group: 'PG', connections: [] } });
    const r = buildNoLossReport('t', f, { producerGroup: 'PG', require: ['sync-flush', 'outbox'] });
    const i = Object.fromEntries(r.items.map((x) => [x.id, x]));
    expect(i['sync-flush']).toMatchObject({ status: 'fail', required: true });
    expect(i.replication).toMatchObject({ status: 'warn', required: false });
    expect(i.outbox).toMatchObject({ status: 'unknown', required: true });
    expect(i.outbox!.current).toContain('no producer of PG connected');
    expect(r.unmet).toEqual([
      { id: 'sync-flush', status: 'fail' },
      { id: 'outbox', status: 'unknown' },
    ]);
    expect(r.summary).toEqual({ pass: 1, warn: 1, fail: 1, unknown: 2, skip: 4 });
  });

  it('group facts: unknown group, Java consumers (unknown commit), DLQ with expired messages', () => {
    const g = byId(
      facts([apache('a', {})], {
        group: {
          group: 'G',
          subscriptions: [],
          clients: [{ clientId: '10.0.0.9@1', language: 'JAVA', runningLanguage: undefined }],
          consumeType: 'CONSUME_PASSIVELY',
          dlq: { exists: true, stored: 2, total: 5, perBroker: [{ brokerName: 'a', stored: 2, total: 5 }] },
        },
      }),
    );
    expect(g['retry-dlq']!.status).toBe('unknown');
    expect(g['consumer-commit']!.status).toBe('unknown');
    expect(g['consumer-commit']!.why).toContain('Java push consumers commit only after the listener returns CONSUME_SUCCESS');
    expect(g['dlq-empty']!.status).toBe('warn');
    expect(g['dlq-empty']!.current).toBe('2 message(s) in %DLQ%G, 3 more already deleted by retention');
  });

  it('every item carries why, fix list and price', () => {
    for (const i of judgeNoLoss(facts([apache('a', {})]))) {
      expect(i.why.length, i.id).toBeGreaterThan(0);
      expect(i.price.length, i.id).toBeGreaterThan(0);
      expect(Array.isArray(i.fix)).toBe(true);
    }
  });
});

describe('--require parsing', () => {
  it('accepts known ids, dedupes, refuses unknown and empty', () => {
    expect(parseRequire('sync-flush, replication,sync-flush')).toEqual({ ids: ['sync-flush', 'replication'] });
    expect(parseRequire(undefined)).toEqual({ ids: [] });
    expect(parseRequire('sync')).toMatchObject({ error: expect.stringContaining('--require sync: not a checklist item') });
    expect(parseRequire(' , ')).toMatchObject({ error: expect.stringContaining('at least one') });
  });
});

describe('GET_BROKER_CONFIG body', () => {
  it('is properties text a Properties reader parses back, with flushDiskType and the fixed Apache keys', () => {
    const cfg = { ...defaultBrokerConfig(), flushDiskType: 'SYNC_FLUSH' as const, namesrvAddr: ['10.0.0.1:9876', '10.0.0.2:9876'] };
    const text = brokerConfigProperties(cfg);
    expect(text.endsWith('\n')).toBe(true);
    const map = Object.fromEntries(parseProperties(text).map((e) => [e.key, e.value]));
    expect(map.flushDiskType).toBe('SYNC_FLUSH');
    expect(map.brokerRole).toBe('ASYNC_MASTER');
    expect(map.enableDLegerCommitLog).toBe('false');
    expect(map.namesrvAddr).toBe('10.0.0.1:9876;10.0.0.2:9876');
    // Retention keys are in force, so they are sent; the unset test knob is not.
    expect([map.diskMaxUsedSpaceRatio, map.fileReservedTime, map.deleteWhen]).toEqual(['75', '72', '04']);
    expect('testOnlyFileReservedTimeMs' in map).toBe(false);
  });
});
