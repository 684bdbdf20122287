/**
 * DLedger RPC bodies (src/broker/dledger/protocol.ts). The expected JSON strings are written by
 * hand from the Java classes at openmessaging/dledger 0.3.1.2, as fastjson's JSON.toJSONBytes
 * renders them: one member per getter, keys sorted, nulls left out, enums by name, byte[] base64.
 * Each test names the class (and the code path that fills it) it follows.
 */
import { describe, expect, it } from 'vitest';
import { BodyFormatError } from '../../src/protocol/fastjson.js';
import { decodeFrame, encodeFrame, FLAG_RESPONSE } from '../../src/protocol/frame.js';
import { encodeEntry, decodeEntry, type DLedgerEntry } from '../../src/protocol/dledger/entry.js';
import {
  APPEND_ENTRY_REQUEST_SCHEMA,
  baseDefaults,
  decodeBody,
  dledgerCodeName,
  DLedgerRequestCode,
  dledgerRequestCommand,
  DLedgerResponseCode,
  dledgerResponseCommand,
  encodeBody,
  encodeBodyGeneric,
  encodePushEntryRequest,
  GET_ENTRIES_RESPONSE_SCHEMA,
  HEART_BEAT_RESPONSE_SCHEMA,
  LEADERSHIP_TRANSFER_REQUEST_SCHEMA,
  LEADERSHIP_TRANSFER_RESPONSE_SCHEMA,
  METADATA_RESPONSE_SCHEMA,
  PUSH_ENTRY_REQUEST_SCHEMA,
  PUSH_ENTRY_RESPONSE_SCHEMA,
  VOTE_REQUEST_SCHEMA,
  VOTE_RESPONSE_SCHEMA,
  type PushEntryRequest,
  type VoteRequest,
} from '../../src/protocol/dledger/protocol.js';

const text = (b: Buffer): string => b.toString('utf8');

function entry(index: number, term: number, pos: number, body: string): DLedgerEntry {
  const b = Buffer.from(body);
  return { magic: 1, size: 48 + b.length, index, term, pos, channel: 0, chainCrc: 0, bodyCrc: 0, body: b };
}

describe('DLedger codes', () => {
  it('request and response codes are DLedgerRequestCode / DLedgerResponseCode', () => {
    expect(DLedgerRequestCode).toEqual({ METADATA: 50000, APPEND: 50001, GET: 50002, VOTE: 51001, HEART_BEAT: 51002, PULL: 51003, PUSH: 51004, LEADERSHIP_TRANSFER: 51005 });
    expect(DLedgerResponseCode.SUCCESS).toBe(200);
    expect(DLedgerResponseCode.TERM_NOT_READY).toBe(416);
    expect(DLedgerResponseCode.LEADER_TRANSFERRING).toBe(506);
    expect(dledgerCodeName(409)).toBe('INCONSISTENT_LEADER');
    expect(dledgerCodeName(12345)).toBe('UNKNOWN');
  });
});

describe('DLedger bodies as fastjson writes them', () => {
  it('VoteRequest as DLedgerLeaderElector#voteForQuorumResponses fills it', () => {
    const req: VoteRequest = { ...baseDefaults(), group: 'g', ledgerEndIndex: -1, ledgerEndTerm: -1, leaderId: 'n0', term: 1, remoteId: 'n1', localId: 'n0' };
    const json = '{"code":200,"group":"g","leaderId":"n0","ledgerEndIndex":-1,"ledgerEndTerm":-1,"localId":"n0","remoteId":"n1","term":1}';
    expect(text(encodeBody(VOTE_REQUEST_SCHEMA, req))).toBe(json);
    expect(decodeBody(VOTE_REQUEST_SCHEMA, Buffer.from(json))).toEqual(req);
  });

  it('VoteResponse: new VoteResponse(request).term(t).voteResult(ACCEPT) (base copied from the request)', () => {
    const json = '{"code":200,"group":"g","leaderId":"n0","localId":"n0","remoteId":"n1","term":3,"voteResult":"ACCEPT"}';
    const res = decodeBody(VOTE_RESPONSE_SCHEMA, Buffer.from(json));
    expect(res).toEqual({ code: 200, group: 'g', leaderId: 'n0', localId: 'n0', remoteId: 'n1', term: 3, voteResult: 'ACCEPT' });
    expect(text(encodeBody(VOTE_RESPONSE_SCHEMA, res))).toBe(json);
    // fastjson also reads an enum's ordinal; a missing voteResult is the field's default UNKNOWN.
    expect(decodeBody(VOTE_RESPONSE_SCHEMA, Buffer.from('{"voteResult":7}')).voteResult).toBe('REJECT_TERM_NOT_READY');
    expect(decodeBody(VOTE_RESPONSE_SCHEMA, Buffer.from('{}'))).toEqual({ code: 200, term: -1, voteResult: 'UNKNOWN' });
  });

  it('HeartBeatResponse: new HeartBeatResponse() and .term(t).code(EXPIRED_TERM) (nothing copied)', () => {
    expect(text(encodeBody(HEART_BEAT_RESPONSE_SCHEMA, baseDefaults()))).toBe('{"code":200,"term":-1}');
    expect(decodeBody(HEART_BEAT_RESPONSE_SCHEMA, Buffer.from('{"code":403,"term":7}'))).toEqual({ code: 403, term: 7 });
  });

  it('PushEntryRequest with one entry (DLedgerEntryPusher APPEND): derived getters included, entry body base64', () => {
    const e = entry(4, 2, 240, 'hello');
    const req: PushEntryRequest = { ...baseDefaults(), group: 'g', localId: 'n0', remoteId: 'n1', leaderId: 'n0', term: 2, commitIndex: 3, type: 'APPEND', entry: e, batchEntry: [] };
    const json =
      '{"batch":false,"batchEntry":[],"code":200,"commitIndex":3,"count":1,' +
      '"entry":{"body":"aGVsbG8=","bodyCrc":0,"chainCrc":0,"channel":0,"index":4,"magic":1,"pos":240,"size":53,"term":2},' +
      '"firstEntryIndex":4,"group":"g","lastEntryIndex":4,"leaderId":"n0","localId":"n0","remoteId":"n1","term":2,"totalSize":0,"type":"APPEND"}';
    expect(text(encodeBody(PUSH_ENTRY_REQUEST_SCHEMA, req))).toBe(json);
    const back = decodeBody(PUSH_ENTRY_REQUEST_SCHEMA, Buffer.from(json));
    expect(back).toEqual(req);
    // The entry that travelled is the entry on disk: same bytes through DLedgerEntryCoder's layout.
    expect(decodeEntry(encodeEntry(back.entry!))).toEqual(e);
  });

  it('PushEntryRequest batch (#addEntry) and COMMIT (no entry)', () => {
    const batch = [entry(5, 2, 293, 'a'), entry(6, 2, 342, 'bc')];
    const req: PushEntryRequest = { ...baseDefaults(), term: 2, commitIndex: 4, type: 'APPEND', batchEntry: batch };
    const o = JSON.parse(text(encodeBody(PUSH_ENTRY_REQUEST_SCHEMA, req))) as Record<string, unknown>;
    expect(o).toMatchObject({ batch: true, count: 2, firstEntryIndex: 5, lastEntryIndex: 6, totalSize: 49 + 50 });
    expect(o.entry).toBeUndefined();
    const commit = text(encodeBody(PUSH_ENTRY_REQUEST_SCHEMA, { ...baseDefaults(), term: 2, commitIndex: 6, type: 'COMMIT', batchEntry: [] }));
    expect(commit).toBe('{"batch":false,"batchEntry":[],"code":200,"commitIndex":6,"count":0,"firstEntryIndex":-1,"lastEntryIndex":-1,"term":2,"totalSize":0,"type":"COMMIT"}');
  });

  it('the leader\'s push encoder writes exactly what the schema writer writes, whatever the request holds', () => {
    const e = entry(4, 2, 240, 'hello');
    const batch = [entry(5, 2, 293, 'a'), entry(6, 3, 342, 'bc\u00e9'), entry(7, 3, 394, '')];
    const reqs: PushEntryRequest[] = [
      { ...baseDefaults(), group: 'g', localId: 'n0', remoteId: 'n1', leaderId: 'n0', term: 2, commitIndex: 3, type: 'APPEND', entry: e, batchEntry: [] },
      { ...baseDefaults(), group: 'gr\u00fcppe "q"', localId: 'n0', remoteId: 'n2', leaderId: 'n0', term: 3, commitIndex: -1, type: 'APPEND', batchEntry: batch },
      { ...baseDefaults(), term: 9, commitIndex: 7, type: 'COMMIT', batchEntry: [] },
      { ...baseDefaults(), code: 406, leaderId: 'n1', term: 5, commitIndex: 2, type: 'TRUNCATE', entry: e, batchEntry: [] },
      { ...baseDefaults(), term: 5, commitIndex: 2, type: 'COMPARE', entry: e, batchEntry: batch },
    ];
    for (const req of reqs) {
      const generic = encodeBodyGeneric(PUSH_ENTRY_REQUEST_SCHEMA, req);
      // Twice: the second time the entries' bytes come from the per-entry cache.
      expect(Buffer.concat(encodePushEntryRequest(req)).equals(generic)).toBe(true);
      expect(text(Buffer.concat(encodePushEntryRequest(req)))).toBe(text(generic));
      expect(text(encodeBody(PUSH_ENTRY_REQUEST_SCHEMA, req))).toBe(text(generic));
      expect(decodeBody(PUSH_ENTRY_REQUEST_SCHEMA, generic)).toEqual(req);
    }
  });

  it('byte[] must be whole standard base64: anything else is refused, not half decoded', () => {
    const json = (body: string) => Buffer.from(`{"body":${JSON.stringify(body)}}`);
    expect(decodeBody(APPEND_ENTRY_REQUEST_SCHEMA, json('aGVsbG8=')).body!.toString()).toBe('hello');
    expect(decodeBody(APPEND_ENTRY_REQUEST_SCHEMA, json('')).body!.length).toBe(0);
    for (const bad of ['aGVsbG8', 'aGV sbG8=', 'aGVs*G8=', 'a-_b', 'aGVsbG8=\n', '====']) {
      expect(() => decodeBody(APPEND_ENTRY_REQUEST_SCHEMA, json(bad)), bad).toThrow(BodyFormatError);
    }
  });

  it('PushEntryResponse: index is a java.lang.Long (absent when null), the rest primitives', () => {
    const json = '{"beginIndex":0,"code":406,"count":0,"endIndex":0,"group":"g","term":2}';
    const res = decodeBody(PUSH_ENTRY_RESPONSE_SCHEMA, Buffer.from(json));
    expect(res.index).toBeUndefined();
    expect(text(encodeBody(PUSH_ENTRY_RESPONSE_SCHEMA, res))).toBe(json);
    expect(decodeBody(PUSH_ENTRY_RESPONSE_SCHEMA, Buffer.from('{"index":9}')).index).toBe(9);
  });

  it('AppendEntryRequest body byte[] as base64; GetEntriesResponse entries; MetadataResponse peers map', () => {
    const append = { ...baseDefaults(), group: 'g', remoteId: 'n0', body: Buffer.from([0, 1, 2, 0xff]) };
    expect(text(encodeBody(APPEND_ENTRY_REQUEST_SCHEMA, append))).toBe('{"body":"AAEC/w==","code":200,"group":"g","remoteId":"n0","term":-1}');
    // fastjson reads a byte[] given as numbers too.
    expect(decodeBody(APPEND_ENTRY_REQUEST_SCHEMA, Buffer.from('{"body":[0,1,2,-1]}')).body).toEqual(append.body);
    const got = { ...baseDefaults(), group: 'g', entries: [entry(0, 1, 0, 'x')] };
    expect(decodeBody(GET_ENTRIES_RESPONSE_SCHEMA, encodeBody(GET_ENTRIES_RESPONSE_SCHEMA, got))).toEqual(got);
    const meta = '{"code":200,"group":"g","leaderId":"n1","peers":{"n0":"127.0.0.1:40911","n1":"127.0.0.1:40912"},"term":-1}';
    expect(text(encodeBody(METADATA_RESPONSE_SCHEMA, decodeBody(METADATA_RESPONSE_SCHEMA, Buffer.from(meta))))).toBe(meta);
  });

  it('LeadershipTransferRequest as DLedgerLeaderElector#handleLeadershipTransfer forwards it', () => {
    const json = '{"code":200,"group":"g","leaderId":"n0","localId":"n0","remoteId":"n2","takeLeadershipLedgerIndex":41,"term":5,"transferId":"n0","transfereeId":"n2"}';
    expect(text(encodeBody(LEADERSHIP_TRANSFER_REQUEST_SCHEMA, decodeBody(LEADERSHIP_TRANSFER_REQUEST_SCHEMA, Buffer.from(json))))).toBe(json);
  });

  it('LeadershipTransferRequest as DLedgerClient#leadershipTransfer fills it (no localId, leaderId; index 0)', () => {
    const req = { ...baseDefaults(), group: 'g', remoteId: 'n0', transferId: 'n0', transfereeId: 'n1', term: 3, takeLeadershipLedgerIndex: 0 };
    const json = '{"code":200,"group":"g","remoteId":"n0","takeLeadershipLedgerIndex":0,"term":3,"transferId":"n0","transfereeId":"n1"}';
    expect(text(encodeBody(LEADERSHIP_TRANSFER_REQUEST_SCHEMA, req))).toBe(json);
    expect(decodeBody(LEADERSHIP_TRANSFER_REQUEST_SCHEMA, Buffer.from(json))).toEqual(req);
    // Missing members take the Java defaults (takeLeadershipLedgerIndex a primitive long: 0).
    expect(decodeBody(LEADERSHIP_TRANSFER_REQUEST_SCHEMA, Buffer.from('{"transfereeId":"n2"}'))).toEqual({ ...baseDefaults(), transfereeId: 'n2', takeLeadershipLedgerIndex: 0 });
  });

  it('LeadershipTransferResponse: only the base getters; TakeLeadershipTask and a refusal (copyBaseInfo)', () => {
    // new LeadershipTransferResponse().term(5).code(SUCCESS)
    expect(text(encodeBody(LEADERSHIP_TRANSFER_RESPONSE_SCHEMA, { ...baseDefaults(), term: 5, code: DLedgerResponseCode.SUCCESS }))).toBe('{"code":200,"term":5}');
    // DLedgerServer#handleLeadershipTransfer's catch: copyBaseInfo(request), code, leaderId.
    const refusal = { group: 'g', remoteId: 'n0', term: 3, code: DLedgerResponseCode.FALL_BEHIND_TOO_MUCH, leaderId: 'n0' };
    const json = '{"code":417,"group":"g","leaderId":"n0","remoteId":"n0","term":3}';
    expect(text(encodeBody(LEADERSHIP_TRANSFER_RESPONSE_SCHEMA, refusal))).toBe(json);
    expect(decodeBody(LEADERSHIP_TRANSFER_RESPONSE_SCHEMA, Buffer.from(json))).toEqual(refusal);
    expect([DLedgerResponseCode.FALL_BEHIND_TOO_MUCH, DLedgerResponseCode.TAKE_LEADERSHIP_FAILED, DLedgerResponseCode.LEADER_TRANSFERRING]).toEqual([417, 418, 506]);
  });

  it('bodies that are not the object are BodyFormatError, never a half-read object', () => {
    const bad = ['', '[]', '{"term":"x"}', '{"term":1.5}', '{"code":4294967296}', '{"voteResult":"MAYBE"}', '{"group":5}', '{"voteResult":99}'];
    for (const b of bad) expect(() => decodeBody(VOTE_RESPONSE_SCHEMA, Buffer.from(b)), b).toThrow(BodyFormatError);
    expect(() => decodeBody(PUSH_ENTRY_REQUEST_SCHEMA, Buffer.from('{"entry":{"index":1}}'))).toThrow(/entry.body is missing/);
    expect(() => decodeBody(APPEND_ENTRY_REQUEST_SCHEMA, Buffer.from('{"body":"***"}'))).toThrow(BodyFormatError);
    expect(() => decodeBody(VOTE_REQUEST_SCHEMA, undefined)).toThrow(BodyFormatError);
  });
});

describe('DLedger remoting commands (DLedgerRpcNettyService)', () => {
  /** Through the wire codec: encodeFrame adds the 4-byte length prefix decodeFrame does not take. */
  const roundTrip = (cmd: Parameters<typeof encodeFrame>[0]) => decodeFrame(encodeFrame(cmd).subarray(4));

  it('a request has the DLedger code, no extFields, the JSON body; the answer is code 200 with the opaque', () => {
    const body = encodeBody(VOTE_REQUEST_SCHEMA, { ...baseDefaults(), ledgerEndIndex: 3, ledgerEndTerm: 1, term: 2 });
    const req = roundTrip({ ...dledgerRequestCommand(DLedgerRequestCode.VOTE, body), opaque: 77 });
    expect(req.code).toBe(51001);
    expect(req.extFields ?? {}).toEqual({});
    expect(decodeBody(VOTE_REQUEST_SCHEMA, req.body as Buffer).ledgerEndIndex).toBe(3);
    const res = roundTrip(dledgerResponseCommand(req, encodeBody(VOTE_RESPONSE_SCHEMA, { ...baseDefaults(), voteResult: 'ACCEPT' })));
    expect(res.code).toBe(200);
    expect(res.opaque).toBe(77);
    expect(res.flag & FLAG_RESPONSE).toBe(FLAG_RESPONSE);
    expect(decodeBody(VOTE_RESPONSE_SCHEMA, res.body as Buffer).voteResult).toBe('ACCEPT');
  });
});
