import { describe, expect, it } from 'vitest';
import { HANDLED_CODES } from '../../src/broker/handlers/index.js';
import { NameServer } from '../../src/broker/namesrv/namesrv.js';
import { RequestCode } from '../../src/protocol/codes.js';

describe('broker handler table', () => {
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
