/**
 * The retention warning through the real CLI against real in-process brokers: a broker with
 * fileReservedTime=1 (one hour, Apache's unit) deletes any message within a day, so every group
 * with a backlog there must be warned about; with the default 72 h a fresh backlog must not be.
 * consumerProgress -g (diagnosis and progress.retentionWarning), consumerProgress --lag (a field per
 * row, lines under the table) and checkNoLoss -g (item `retention`, --require makes it fail).
 */
import { describe, expect, it } from 'vitest';
import { Producer } from '../../src/client/producer.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { RequestCode } from '../../src/protocol/codes.js';
import type { TestBroker } from '../helpers/broker.js';
import { expectSuccessEnvelope, runCli } from '../helpers/cli.js';
import { broker, defer, maxOffset, namesrvOf, topic, uniq } from '../client/support.js';

const QUEUES = 2;

function cli(b: TestBroker, args: string[]) {
  return runCli([...args, '--socket', b.broker.addresses.socket]);
}

async function commit(b: TestBroker, group: string, t: string, queueId: number, offset: number): Promise<void> {
  const res = await b.client.invoke(b.addr, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic: t, queueId, commitOffset: offset }));
  expect(res.code).toBe(0);
}

/** A topic with 6 messages; `lagging` committed nothing consumed (offset 0), `caughtUp` everything. */
async function setup(b: TestBroker) {
  const t = await topic(b, uniq('T'), QUEUES);
  const p = new Producer({ namesrvAddr: namesrvOf(b), producerGroup: uniq('PG') });
  await p.start();
  defer(() => p.close());
  for (let i = 0; i < 6; i++) await p.send({ topic: t, body: `m${i}` });
  const lagging = uniq('LAG');
  const caughtUp = uniq('OK');
  // As a consumer's first heartbeat would: the groups exist (consumerProgress without -g lists them).
  for (const g of [lagging, caughtUp]) expect((await cli(b, ['updateSubGroup', '-g', g])).code).toBe(0);
  for (let q = 0; q < QUEUES; q++) {
    await commit(b, lagging, t, q, 0);
    await commit(b, caughtUp, t, q, await maxOffset(b, t, q));
  }
  return { t, lagging, caughtUp };
}

describe('retention warning (real CLI, real brokers)', () => {
  it('fileReservedTime=1: consumerProgress and checkNoLoss warn about a group whose backlog retention deletes within a day', async () => {
    const b = await broker({ config: { fileReservedTime: '1' } });
    const { t, lagging, caughtUp } = await setup(b);

    const r = await cli(b, ['consumerProgress', '-g', lagging, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expectSuccessEnvelope('consumerProgress', r.json);
    const p = r.json.result.progress;
    const w = p.retentionWarning;
    expect(w).toMatchObject({ topic: t, brokerName: b.broker.config.brokerName, retentionMs: 3_600_000, retentionKnown: true });
    expect(w.ageMs).toBeGreaterThanOrEqual(0);
    expect(w.deletedInMs).toBe(w.retentionMs - w.ageMs);
    expect(w.message).toMatch(/^oldest unconsumed is \d+ s old, retention 1 h: deleted in ~(\d+ min|1 h)$/);
    expect(p.diagnosis).toMatch(/^messages will be lost to retention: oldest unconsumed is .* \(T_.* queue \d on .*\); offline/);

    const human = await cli(b, ['consumerProgress', '-g', lagging]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/Diagnosis: messages will be lost to retention: oldest unconsumed is \d+ s old, retention 1 h: deleted in ~/);

    const ok = await cli(b, ['consumerProgress', '-g', caughtUp, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json.result.progress.retentionWarning).toBeNull();
    expect(ok.json.result.progress.diagnosis).not.toMatch(/retention/);

    // Every group: a field per row when the lag is measured (--lag), lines under the table.
    const all = await cli(b, ['consumerProgress', '--lag', '--json']);
    expect(all.code, all.stderr).toBe(0);
    expectSuccessEnvelope('consumerProgress', all.json);
    const rows = new Map(all.json.result.groups.map((g: { group: string }) => [g.group, g]));
    expect((rows.get(lagging) as { retentionWarning: { message: string } }).retentionWarning.message).toMatch(/retention 1 h: deleted in ~/);
    expect((rows.get(caughtUp) as { retentionWarning: unknown }).retentionWarning).toBeNull();
    const table = await cli(b, ['consumerProgress', '--lag']);
    expect(table.stdout).toContain(`retention: ${lagging}: oldest unconsumed is`);
    expect(table.stdout).not.toContain(`retention: ${caughtUp}`);
    // Without --lag the ages are not read: nothing to judge, no warning claimed.
    const unmeasured = await cli(b, ['consumerProgress', '--json']);
    expect((unmeasured.json.result.groups as Array<{ group: string; retentionWarning: unknown }>).find((g) => g.group === lagging)!.retentionWarning).toBeNull();

    const check = await cli(b, ['checkNoLoss', '-g', lagging, '--json']);
    expect([0, 4]).toContain(check.code); // the machine's disk may fail disk-headroom; retention alone only warns
    expectSuccessEnvelope('checkNoLoss', check.json);
    const item = check.json.result.items.find((i: { id: string }) => i.id === 'retention');
    expect(item).toMatchObject({ status: 'warn', required: false });
    expect(item.current).toMatch(/^oldest unconsumed is \d+ s old, retention 1 h: deleted in ~.* \(T_.* queue \d on /);
    expect(item.fix.join(' ')).toContain(`consumerProgress -g ${lagging}`);
    const required = await cli(b, ['checkNoLoss', '-g', lagging, '--require', 'retention', '--json']);
    expect(required.code).toBe(4);
    expect(required.json.result.unmet).toContainEqual({ id: 'retention', status: 'fail' });
    const fine = await cli(b, ['checkNoLoss', '-g', caughtUp, '--json']);
    expect(fine.json.result.items.find((i: { id: string }) => i.id === 'retention')).toMatchObject({ status: 'pass', current: 'no backlog' });
  });

  it('the default 72 h: a fresh backlog is far from retention, no warning', async () => {
    const b = await broker();
    const { lagging } = await setup(b);
    const r = await cli(b, ['consumerProgress', '-g', lagging, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.result.progress.totals.diff).toBe(6);
    expect(r.json.result.progress.retentionWarning).toBeNull();
    const check = await cli(b, ['checkNoLoss', '-g', lagging, '--json']);
    const item = check.json.result.items.find((i: { id: string }) => i.id === 'retention');
    expect(item.status).toBe('pass');
    expect(item.current).toMatch(/^backlog 6, oldest unconsumed 0 min old: more than a day inside the retention$/);
  });
});
