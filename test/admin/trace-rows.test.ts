/** traceRows: a message's trace records → rows (Sub = SubBefore + SubAfter of one requestId), by time; traceTimelines: the merged steps. */
import { describe, expect, it } from 'vitest';
import { traceRows } from '../../src/admin/trace.js';
import { traceTimelines } from '../../src/admin/trace-timeline.js';
import type { TraceRecord } from '../../src/protocol/trace.js';

const before = (requestId: string, ts: number): TraceRecord => ({ type: 'SubBefore', timeStamp: ts, regionId: null, groupName: 'CG', requestId, msgId: 'M', retryTimes: 0, keys: null });
const after = (requestId: string, ts: number | null, ok = true): TraceRecord => ({ type: 'SubAfter', requestId, msgId: 'M', costTime: 4, success: ok, keys: null, contextCode: ok ? 0 : 4, timeStamp: ts, groupName: ts === null ? null : 'CG' });

describe('traceRows', () => {
  it('pairs SubBefore and SubAfter whatever their order; time = the SubAfter\'s', () => {
    const rows = traceRows([{ rec: after('R', 120), host: 'h2' }, { rec: before('R', 100), host: 'h1' }]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ type: 'Sub', group: 'CG', clientHost: 'h2', timeStamp: 120, costTimeMs: 4, success: true, status: 'success' });
    expect(rows[0]!.records.map((r) => r.type)).toEqual(['SubBefore', 'SubAfter']);
  });

  it('a SubBefore alone has no result; a SubAfter without time (CLOUD) takes its SubBefore\'s; rows sort by time', () => {
    const rows = traceRows([{ rec: before('A', 300), host: 'h' }, { rec: before('B', 200), host: 'h' }, { rec: after('B', null, false), host: 'h' }]);
    expect(rows.map((r) => [r.timeStamp, r.status, r.group])).toEqual([[200, 'failed', 'CG'], [300, 'no result', 'CG']]);
  });
});

describe('traceTimelines: client and broker records of a message, merged', () => {
  const M = 'M';
  const pub = (group: string, ts: number, topic: string, clientHost: string | null): TraceRecord => ({
    type: 'Pub', timeStamp: ts, regionId: null, groupName: group, topic, msgId: M, tags: null, keys: 'k', storeHost: 'b:1', bodyLength: 1, costTime: 2, msgType: 0, offsetMsgId: 'O', success: true, clientHost,
  });
  const sb = (group: string, requestId: string, ts: number): TraceRecord => ({ type: 'SubBefore', timeStamp: ts, regionId: null, groupName: group, requestId, msgId: M, retryTimes: 0, keys: 'k' });
  const sa = (group: string, requestId: string, ts: number, ok = true): TraceRecord => ({ type: 'SubAfter', requestId, msgId: M, costTime: 3, success: ok, keys: 'k', contextCode: 0, timeStamp: ts, groupName: group });

  it('sent → stored → delivered → consume failed → retried → delivered → consumed → committed, gaps in ms', () => {
    const rows = traceRows([
      { rec: pub('PG', 100, 'T', null), host: 'c' },
      { rec: pub('%BROKER%PG', 105, 'T', 'c:9'), host: 'b' },
      { rec: sb('%BROKER%CG', '1@c:8', 110), host: 'b' },
      { rec: sb('CG', 'R1', 111), host: 'c' },
      { rec: sa('CG', 'R1', 115, false), host: 'c' },
      { rec: pub('%BROKER%CG', 116, '%RETRY%CG', 'c:8'), host: 'b' },
      { rec: sb('%BROKER%CG', '2@c:8', 1200), host: 'b' },
      { rec: sb('CG', 'R2', 1201), host: 'c' },
      { rec: sa('CG', 'R2', 1204), host: 'c' },
      { rec: sa('%BROKER%CG', '2@c:8', 1300), host: 'b' },
    ]);
    const [t] = traceTimelines(rows);
    expect(t).toMatchObject({ msgId: M, topic: 'T', keys: 'k' });
    expect(t!.steps.map((s) => [s.step, s.source, s.gapMs])).toEqual([
      ['sent', 'client', null],
      ['stored', 'broker', 5],
      ['delivered', 'broker', 5],
      ['consume failed', 'client', 5],
      ['retried', 'broker', 1],
      ['delivered', 'broker', 1084],
      ['consumed', 'client', 4],
      ['committed', 'broker', 96],
    ]);
    // A broker record shows the client it served, not the broker that wrote the trace message.
    expect(t!.steps.filter((s) => s.source === 'broker').map((s) => s.clientHost)).toEqual(['c:9', 'c:8', 'c:8', 'c:8', 'c:8']);
    // The first delivery was never committed: a broker Sub row with no result.
    expect(rows.filter((r) => r.source === 'broker' && r.type === 'Sub').map((r) => r.status)).toEqual(['no result', 'success']);
  });
});
