/** traceRows: a message's trace records → rows (Sub = SubBefore + SubAfter of one requestId), by time. */
import { describe, expect, it } from 'vitest';
import { traceRows } from '../../src/client/admin-trace.js';
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
