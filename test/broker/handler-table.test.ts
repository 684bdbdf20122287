import { describe, expect, it } from 'vitest';
import { ADMIN_TABLE } from '../../src/broker/handlers/admin-table.js';
import { HANDLED_CODES } from '../../src/broker/handlers/index.js';
import { CHECK_TABLE } from '../../src/broker/handlers/check-table.js';
import { PROGRESS_TABLE } from '../../src/broker/handlers/progress-table.js';
import { NameServer } from '../../src/broker/namesrv/namesrv.js';
import { RequestCode } from '../../src/protocol/codes.js';

describe('broker handler table', () => {
  it('merges the admin tables without one silently replacing another code', () => {
    const admin = Object.keys(ADMIN_TABLE);
    const progress = Object.keys(PROGRESS_TABLE);
    const check = Object.keys(CHECK_TABLE);
    expect(admin.filter((c) => progress.includes(c))).toEqual([]);
    expect(check.filter((c) => admin.includes(c) || progress.includes(c))).toEqual([]);
    expect(HANDLED_CODES).toEqual(expect.arrayContaining([...admin, ...progress, ...check].map(Number)));
  });

  it('shares no request code with the name server (both are served on the local socket)', async () => {
    const ns = new NameServer();
    try {
      const nsCodes = Object.keys(ns.handlers()).map(Number);
      expect(HANDLED_CODES.filter((c) => nsCodes.includes(c))).toEqual([]);
      expect(nsCodes).toContain(RequestCode.GET_ROUTEINFO_BY_TOPIC);
    } finally {
      await ns.close();
    }
  });
});
