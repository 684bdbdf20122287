import { describe, expect, it } from 'vitest';
import { renderAllGroups } from '../../src/output/progress-render.js';

describe('renderAllGroups', () => {
  const none = { groups: [], measuredAt: 0, failedBrokers: [] };

  it('shows the #Lag column whenever --lag was asked for, even with no groups', () => {
    expect(renderAllGroups(none, true)).toMatch(/#Diff Total\s+#Lag/);
    expect(renderAllGroups(none, true)).toMatch(/0 group\(s\): 0 online, 0 offline, 0 failed/);
  });

  it('leaves the #Lag column out when lag was not measured', () => {
    expect(renderAllGroups(none)).not.toMatch(/#Lag/);
    const row = { group: 'g', status: 'offline' as const, count: 0, version: 'OFFLINE', type: '' as const, model: '', tps: 0, diffTotal: 0, lagMs: null, queues: [] };
    expect(renderAllGroups({ ...none, groups: [row] })).not.toMatch(/#Lag/);
    expect(renderAllGroups({ ...none, groups: [row] }, true)).toMatch(/#Lag/);
  });
});
