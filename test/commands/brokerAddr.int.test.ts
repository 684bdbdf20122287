/**
 * `-b ADDR` on the commands that take a broker address talks to that broker directly, as mqadmin
 * does: no -n, no NAMESRV_ADDR, and no local socket (HOME points at an empty dir, so the default
 * ~/.rocketctl/store/broker.sock does not exist).
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSuccessEnvelope, runCli, type CliResult } from '../helpers/cli.js';
import { startTestBroker, tempDir, type TestBroker } from '../helpers/broker.js';

let tb: TestBroker;
let home: string;

beforeAll(async () => {
  tb = await startTestBroker({ namesrv: false });
  home = tempDir('rocketctl-home-');
});

afterAll(async () => {
  await tb?.cleanup();
  fs.rmSync(home, { recursive: true, force: true });
});

function direct(args: string[]): Promise<CliResult> {
  return runCli([...args, '-b', tb.addr, '--json'], { env: { NAMESRV_ADDR: '', ROCKETCTL_SOCKET: '', HOME: home } });
}

describe('-b ADDR without -n or a local broker socket', () => {
  it('brokerStatus reads that broker', async () => {
    const r = await direct(['brokerStatus']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expectSuccessEnvelope('brokerStatus', r.json);
    expect(r.json.result.brokers.map((b: { addr: string }) => b.addr)).toEqual([tb.addr]);
  });

  it('updateTopic, updateSubGroup and deleteSubGroup change that broker', async () => {
    const topic = await direct(['updateTopic', '-t', 'DirectTopic', '-r', '4', '-w', '4']);
    expect(topic.code, topic.stdout + topic.stderr).toBe(0);
    expectSuccessEnvelope('updateTopic', topic.json);
    expect(tb.broker.topics.get('DirectTopic')).toMatchObject({ readQueueNums: 4, writeQueueNums: 4 });

    const group = await direct(['updateSubGroup', '-g', 'DirectGroup', '-r', '3']);
    expect(group.code, group.stdout + group.stderr).toBe(0);
    expectSuccessEnvelope('updateSubGroup', group.json);
    expect(tb.broker.groups.get('DirectGroup')).toMatchObject({ retryMaxTimes: 3 });

    const del = await direct(['deleteSubGroup', '-g', 'DirectGroup']);
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expectSuccessEnvelope('deleteSubGroup', del.json);
    expect(tb.broker.groups.get('DirectGroup')).toBeUndefined();
  });

  it('consumerConnection asks that broker (which answers that the group is not online)', async () => {
    const r = await direct(['consumerConnection', '-g', 'NobodyHere']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.json.code).toBe('E_CONSUMER_NOT_ONLINE');
    expect(r.json.message).toContain(tb.addr);
  });
});
