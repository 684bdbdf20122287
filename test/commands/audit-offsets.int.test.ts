/**
 * The audit log of offset changes made by commands (issue 13): resetOffset --execute and
 * migrateBacklog --execute against a broker with ACL on, signed as an admin account. Each change
 * lands with who (address and access key), what, the target, and the offsets before -> after.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { ADMIN, APP, plainAclYaml, signedEnv, startAclBroker, type AclBroker } from '../helpers/acl.js';
import { makeBacklog } from '../helpers/backlog.js';
import { createTopic, tempDir } from '../helpers/broker.js';
import { runCli } from '../helpers/cli.js';
import { RemotingClient } from '../../src/remoting/client.js';

let acl: AclBroker;
let admin: RemotingClient;
beforeAll(async () => {
  acl = await startAclBroker(plainAclYaml(['defaultTopicPerm: PUB|SUB', 'defaultGroupPerm: SUB']), 'rocketctl-audit-offsets-');
  admin = new RemotingClient({ requestTimeoutMs: 10_000, credentials: ADMIN });
});
afterAll(async () => {
  await admin?.close();
  await acl?.cleanup();
});

const cli = (args: string[]) => runCli([...args, '-n', acl.tb.namesrv!, '--json'], { env: signedEnv(ADMIN) });

type Entry = { what: string; who: { addr: string; accessKey: string | null; command?: string }; target: Record<string, unknown>; before: Record<string, unknown> | null; after: Record<string, unknown> | null; result: { name: string } };

/** The audit entries of one group's (or topic's) changes, read through the broker. */
async function audit(filter: string[]): Promise<Entry[]> {
  const r = await cli(['audit', '-b', acl.tb.addr, ...filter]);
  expect(r.code, r.stderr).toBe(0);
  return r.json.result.entries as Entry[];
}

/** Each queue's offset move, as { queueId: [before, after] }, checking who (account and command) made it. */
function moves(es: Entry[], command: string): Record<string, [unknown, unknown]> {
  const out: Record<string, [unknown, unknown]> = {};
  for (const e of es) {
    expect(e).toMatchObject({ what: 'UPDATE_CONSUMER_OFFSET', who: { accessKey: ADMIN.accessKey, command }, result: { name: 'SUCCESS' } });
    expect(e.who.addr).toMatch(/^127\.0\.0\.1:\d+$/);
    const q = String(e.target.queueId);
    out[q] = [e.before![q], e.after![q]];
  }
  return out;
}

describe('audit of offset changes made by commands', () => {
  it('resetOffset --execute: each queue\'s offset, before -> after, by the signing account; the consumers\' own commits are not there', async () => {
    const t = 'AuditResetT';
    expect((await createTopic(admin, acl.tb.addr, t, 2)).code).toBe(0);
    const { group } = await makeBacklog(acl.tb.namesrv!, t, 4, 3, { credentials: APP });
    const r = await cli(['resetOffset', '-g', group, '-t', t, '--earliest', '--execute', '--undo-file', path.join(tempDir(), 'undo.json')]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const planned = r.json.result.apply.queues as Array<{ queueId: number; expectedOffset: number; resultOffset: number }>;
    expect(planned).toHaveLength(2);
    const es = await audit(['-g', group]);
    expect(es).toHaveLength(2);
    expect(planned.every((q) => q.resultOffset === 0 && q.expectedOffset > 0)).toBe(true);
    expect(moves(es, 'resetOffset')).toEqual(Object.fromEntries(planned.map((q) => [String(q.queueId), [q.expectedOffset, q.resultOffset]])));
    for (const e of es) expect(e.target).toMatchObject({ topic: t, group });
  });

  it('migrateBacklog --execute: the target topic created and the group\'s offsets moved past the copied backlog', async () => {
    const t = 'AuditMigT';
    expect((await createTopic(admin, acl.tb.addr, t, 2)).code).toBe(0);
    const { group } = await makeBacklog(acl.tb.namesrv!, t, 2, 5, { credentials: APP });
    const r = await cli(['migrateBacklog', '-g', group, '-t', t, '--to', 'AuditMigT2', '--execute']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const queues = r.json.result.execution.queues as Array<{ queueId: number; fromOffset: number | null; toOffset: number; newOffset: number | null }>;
    const es = await audit(['-g', group]);
    expect(es.length).toBeGreaterThan(0);
    expect(moves(es, 'migrateBacklog')).toEqual(Object.fromEntries(queues.filter((q) => q.fromOffset !== null && q.toOffset > q.fromOffset).map((q) => [String(q.queueId), [q.fromOffset, q.newOffset]])));
    const created = await audit(['-t', 'AuditMigT2']);
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({ what: 'UPDATE_AND_CREATE_TOPIC', who: { accessKey: ADMIN.accessKey, command: 'migrateBacklog' }, before: null, after: { topicName: 'AuditMigT2' } });
    // --who matches the command too; the table shows it.
    expect((await audit(['-g', group, '--who', 'migrateBacklog'])).length).toBe(es.length);
    const table = await runCli(['audit', '-b', acl.tb.addr, '-t', 'AuditMigT2', '-n', acl.tb.namesrv!], { env: signedEnv(ADMIN) });
    expect(table.stdout).toContain(`${ADMIN.accessKey} (migrateBacklog)`);
  });
});
