import { describe, expect, it } from 'vitest';
import { renderAllGroups } from '../../src/output/progress-render.js';

describe('renderAllGroups', () => {
  const none = { groups: [], measuredAt: 0, failed: [] };

  it('shows the #Lag column whenever --lag was asked for, even with no groups', () => {
    expect(renderAllGroups(none, true)).toMatch(/#Diff Total\s+#Lag/);
    expect(renderAllGroups(none, true)).toMatch(/0 group\(s\): 0 online, 0 offline, 0 failed/);
  });

  it('leaves the #Lag column out when lag was not measured', () => {
    expect(renderAllGroups(none)).not.toMatch(/#Lag/);
    const row = { group: 'g', status: 'offline' as const, count: 0, version: 'OFFLINE', type: '' as const, model: '', tps: 0, diffTotal: 0, lagMs: null, retentionWarning: null, queues: [] };
    expect(renderAllGroups({ ...none, groups: [row] })).not.toMatch(/#Lag/);
    expect(renderAllGroups({ ...none, groups: [row] }, true)).toMatch(/#Lag/);
  });

  it('names each group whose backlog retention deletes within a day, under the table', () => {
    const warning = { topic: 'T', brokerName: 'b', queueId: 3, ageMs: 70 * 3_600_000, retentionMs: 72 * 3_600_000, deletedInMs: 2 * 3_600_000, retentionKnown: true, message: 'oldest unconsumed is 70 h old, retention 72 h: deleted in ~2 h' };
    const row = { group: 'late', status: 'offline' as const, count: 0, version: 'OFFLINE', type: '' as const, model: '', tps: 0, diffTotal: 5, lagMs: 70 * 3_600_000, retentionWarning: warning, queues: [] };
    const fine = { ...row, group: 'fine', lagMs: 1000, retentionWarning: null };
    const text = renderAllGroups({ ...none, groups: [row, fine] }, true);
    expect(text).toContain('retention: late: oldest unconsumed is 70 h old, retention 72 h: deleted in ~2 h (T queue 3 on b)');
    expect(text).not.toContain('retention: fine');
  });
});
