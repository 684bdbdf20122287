/**
 * The audit log end to end: a real broker with ACL on, changes made with the real CLI and with raw
 * requests; `rocketctl audit` reads them back through the broker and from the store dir.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemotingClient } from '../../src/remoting/client.js';
import { RequestCode } from '../../src/protocol/codes.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { ADMIN, APP, plainAclYaml, signedEnv, startAclBroker, type AclBroker, type TestAccount } from '../helpers/acl.js';
import type { TestBroker } from '../helpers/broker.js';
import { expectSuccessEnvelope, runCli } from '../helpers/cli.js';

const NEW_SECRET = 'audited-secret-77';
const YAML = plainAclYaml(['defaultTopicPerm: PUB|SUB', 'defaultGroupPerm: SUB']);

let acl: AclBroker;
let tb: TestBroker;
let admin: RemotingClient;
beforeAll(async () => {
  acl = await startAclBroker(YAML, 'rocketctl-audit-int-');
  tb = acl.tb;
  admin = new RemotingClient({ requestTimeoutMs: 5000, credentials: ADMIN });
});
afterAll(async () => {
  await admin?.close();
  await acl?.cleanup();
});

const as = signedEnv;
const cli = (args: string[], who: TestAccount = ADMIN) => runCli([...args, '-n', tb.namesrv!], { env: as(who) });
const audit = async (args: string[], who: TestAccount = ADMIN) => {
  const r = await cli(['audit', '-b', tb.addr, ...args, '--json'], who);
  return r;
};

describe('audit log', () => {
  it('topic create/change/delete: who (address + access key), before -> after, result', async () => {
    expect((await cli(['updateTopic', '-b', tb.addr, '-t', 'AuditT', '-r', '2', '-w', '2', '--json'])).code).toBe(0);
    expect((await cli(['updateTopic', '-b', tb.addr, '-t', 'AuditT', '-r', '4', '-w', '4', '--json'])).code).toBe(0);
    expect((await cli(['deleteTopic', '-c', tb.broker.config.brokerClusterName, '-t', 'AuditT', '--json'])).code).toBe(0);
    const r = await audit(['-t', 'AuditT']);
    expect(r.code).toBe(0);
    expectSuccessEnvelope('audit', r.json);
    const es = r.json.result.entries;
    expect(es.map((e: { what: string }) => e.what)).toEqual(['UPDATE_AND_CREATE_TOPIC', 'UPDATE_AND_CREATE_TOPIC', 'DELETE_TOPIC_IN_BROKER']);
    expect(es[0].who.accessKey).toBe(ADMIN.accessKey);
    expect(es[0].who.addr).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(es[0].before).toBeNull();
    expect(es[0].after).toMatchObject({ topicName: 'AuditT', readQueueNums: 2 });
    expect(es[1].before).toMatchObject({ readQueueNums: 2 });
    expect(es[1].after).toMatchObject({ readQueueNums: 4 });
    expect(es[2].before).toMatchObject({ readQueueNums: 4 });
    expect(es[2].after).toBeNull();
    expect(es[2].result).toEqual({ code: 0, name: 'SUCCESS', remark: null });
  });

  it('offsets: an UPDATE_CONSUMER_OFFSET request is logged with before -> after; consumers\' oneway commits are not', async () => {
    await cli(['updateTopic', '-b', tb.addr, '-t', 'OffT', '-r', '2', '-w', '2', '--json']);
    await cli(['updateSubGroup', '-b', tb.addr, '-g', 'OffG', '--json']);
    const header = (offset: number) => ({ consumerGroup: 'OffG', topic: 'OffT', queueId: 1, commitOffset: offset });
    expect((await admin.invoke(tb.addr, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, header(0)))).code).toBe(0);
    expect((await admin.invoke(tb.addr, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, header(0)))).code).toBe(0);
    await admin.invokeOneway(tb.addr, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, header(0)));
    // A request after the oneway one on the same connection: the oneway one has been handled.
    expect((await admin.invoke(tb.addr, makeRequest(RequestCode.GET_BROKER_RUNTIME_INFO))).code).toBe(0);
    const r = await audit(['-g', 'OffG', '--what', 'UPDATE_CONSUMER_OFFSET']);
    const es = r.json.result.entries;
    expect(es).toHaveLength(2);
    expect(es[0]).toMatchObject({ target: { topic: 'OffT', group: 'OffG', queueId: 1 }, before: { 1: -1 }, after: { 1: 0 } });
    const groups = await audit(['-g', 'OffG', '--what', 'UPDATE_AND_CREATE_SUBSCRIPTIONGROUP']);
    expect(groups.json.result.entries[0]).toMatchObject({ before: null, after: { groupName: 'OffG' } });
  });

  it('broker config: the keys changed, with their values before and after', async () => {
    const before = String(tb.broker.config.diskMaxUsedSpaceRatio);
    const res = await admin.invoke(tb.addr, makeRequest(RequestCode.UPDATE_BROKER_CONFIG, undefined, Buffer.from('diskMaxUsedSpaceRatio=81\n')));
    expect(res.code).toBe(0);
    const r = await audit(['--what', 'UPDATE_BROKER_CONFIG']);
    expect(r.json.result.entries.at(-1)).toMatchObject({ target: { keys: ['diskMaxUsedSpaceRatio'] }, before: { diskMaxUsedSpaceRatio: before }, after: { diskMaxUsedSpaceRatio: '81' } });
  });

  it('ACL changes are logged without the secret; a refused request is not logged; only admins may read', async () => {
    expect((await cli(['updateAclConfig', '-b', tb.addr, '-a', 'auditedApp', '-s', NEW_SECRET, '-i', 'SUB', '--json'])).code).toBe(0);
    const denied = await cli(['updateTopic', '-b', tb.addr, '-t', 'NotAllowed', '--json'], APP);
    expect(denied.json.code).toBe('E_ACL_DENIED');

    const r = await audit(['--what', 'UPDATE_AND_CREATE_ACL_CONFIG']);
    const e = r.json.result.entries.at(-1);
    expect(e.target).toEqual({ accessKey: 'auditedApp' });
    expect(e.after.asked).toMatchObject({ accessKey: 'auditedApp', defaultTopicPerm: 'SUB', secretKey: '(set, not recorded)' });
    expect(e.after.dataVersion).toBeGreaterThan(e.before.dataVersion);
    const files = fs.readdirSync(path.join(tb.storeDir, 'audit')).map((f) => fs.readFileSync(path.join(tb.storeDir, 'audit', f), 'utf8')).join('');
    expect(files).not.toContain(NEW_SECRET);
    expect(files).not.toContain(ADMIN.secretKey);
    expect(files).not.toContain('NotAllowed');

    const byApp = await audit([], APP);
    expect(byApp.code).toBe(1);
    expect(byApp.json.code).toBe('E_ACL_DENIED');
  });

  it('filters --who and --since; --store-dir reads the same entries from disk; the human table', async () => {
    const all = (await audit([])).json.result.entries;
    expect(all.length).toBeGreaterThan(5);
    expect((await audit(['--who', 'nobody-such'])).json.result.entries).toEqual([]);
    expect((await audit(['--who', ADMIN.accessKey])).json.result.entries.length).toBe(all.length);
    expect((await audit(['--since', '2999-01-01T00:00:00Z'])).json.result.entries).toEqual([]);
    expect((await audit(['--since', '1h'])).json.result.entries.length).toBe(all.length);

    const disk = await runCli(['audit', '--store-dir', tb.storeDir, '--json']);
    expect(disk.code).toBe(0);
    expectSuccessEnvelope('audit', disk.json);
    expect(disk.json.result.entries.map((e: { time: string; what: string }) => e.what)).toEqual(all.map((e: { what: string }) => e.what));
    expect(disk.json.result.entries[0].source).toBe(tb.storeDir);

    const human = await cli(['audit', '-b', tb.addr, '-t', 'AuditT']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('DELETE_TOPIC_IN_BROKER');
    expect(human.stdout).toContain(ADMIN.accessKey);
  });
});
