/**
 * Apache mqadmin 4.9.8 queryMsgTraceById decodes the records our broker writes itself
 * (brokerTraceEnable; docs/broker-trace.md): a message from a client that does not trace, consumed
 * by one that does not either, shows a Pub of %BROKER%<producer group> and a Sub (the SubAfter of
 * the commit) of %BROKER%<consumer group>, with the times and costs rocketctl reads.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Producer, PushConsumer } from '../../src/client/index.js';
import { eventually, startTestBroker, type TestBroker } from '../helpers/broker.js';
import { runCli } from '../helpers/cli.js';
import { describeApache } from './support.js';
import { javaTime, mqadminOk, rows } from './mqadmin-support.js';

const TOPIC = 'BtTopic';
const PG = 'PG_bt';
const CG = 'CG_bt';

describeApache('Apache mqadmin 4.9.8 reads our broker-side traces', () => {
  let t: TestBroker;
  let msgId: string;

  beforeAll(async () => {
    t = await startTestBroker({ config: { brokerTraceEnable: 'true' } });
    const p = new Producer({ namesrvAddr: t.namesrv!, producerGroup: PG, instanceName: 'bt-producer' });
    await p.start();
    try {
      msgId = (await p.send({ topic: TOPIC, body: 'traced by the broker', keys: 'bt-key' })).msgId;
    } finally {
      await p.close();
    }
    const c = new PushConsumer({ namesrvAddr: t.namesrv!, consumerGroup: CG, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', instanceName: 'bt-consumer', persistConsumerOffsetIntervalMs: 300 });
    let got = 0;
    c.subscribe(TOPIC, '*');
    await c.start(() => void got++);
    try {
      await eventually(() => (got >= 1 ? true : undefined), 'consumed');
    } finally {
      await c.close();
    }
  }, 120_000);
  afterAll(async () => {
    await t?.cleanup();
  });

  it('queryMsgTraceById prints the broker\'s Pub and commit (Sub) rows, as rocketctl reads them', async () => {
    const trace = await eventually(async () => {
      const r = await runCli(['queryMsgTrace', '-n', t.namesrv!, '-i', msgId, '--json']);
      const rs = r.json?.result?.rows ?? [];
      return rs.some((x: any) => x.type === 'Pub') && rs.some((x: any) => x.type === 'Sub' && x.records.length === 2) ? r.json.result : undefined;
    }, 'the broker trace', 30_000, 300);
    const out = await mqadminOk(['queryMsgTraceById', '-n', t.namesrv!, '-i', msgId]);
    const printed = rows(out, /^(Pub|Sub)\s+(\S+)\s+(\S+)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s+(-?\d+)ms\s+(\S+)$/).map((x) => x.slice(1, 7).join(' '));
    const expected = trace.rows.map((row: any) => {
      const rec = row.type === 'Pub' ? row.records[0] : row.records.find((r: any) => r.type === 'SubAfter');
      // mqadmin's #ClientHost is the trace message's born host: the broker, for broker records.
      return [row.type, row.group, '127.0.0.1', javaTime(rec.timeStamp, false), String(rec.costTime), rec.success ? 'success' : 'failed'].join(' ');
    });
    expect(printed.sort()).toEqual(expected.sort());
    expect(printed.some((x) => x.startsWith(`Pub %BROKER%${PG} `))).toBe(true);
    expect(printed.some((x) => x.startsWith(`Sub %BROKER%${CG} `))).toBe(true);
  }, 240_000);
});
