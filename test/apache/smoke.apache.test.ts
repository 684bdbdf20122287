/**
 * The kit itself: an Apache 4.x broker starts on loopback and serves the Java client, and the Java
 * client sends to our broker. The detailed conformance suites build on the same pieces.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { describeApache, javaDriver, startApache, type ApacheServer } from './support.js';

describeApache('conformance kit', () => {
  let apache: ApacheServer;
  let ours: TestBroker;
  beforeAll(async () => {
    [apache, ours] = await Promise.all([startApache(4), startTestBroker()]);
  }, 180_000);
  afterAll(async () => {
    await Promise.all([apache?.cleanup(), ours?.cleanup()]);
  });

  it('the Java client sends to an Apache 4.x broker and to ours alike', async () => {
    const [a, b] = await Promise.all([
      javaDriver('Produce', { namesrv: apache.namesrv, topic: 'KitSmoke', count: 2, tags: 'TagA', keys: 'k-' }),
      javaDriver('Produce', { namesrv: ours.namesrv!, topic: 'KitSmoke', count: 2, tags: 'TagA', keys: 'k-' }),
    ]);
    for (const run of [a, b]) {
      const sends = run.lines.filter((l) => 'status' in l);
      expect(sends.map((s) => s.status), run.stderr).toEqual(['SEND_OK', 'SEND_OK']);
      expect(run.lines.at(-1)).toMatchObject({ done: true, count: 2 });
    }
    expect(a.lines[0].brokerName).toBe(apache.brokerName);
    expect(b.lines[0].brokerName).toBe(ours.broker.config.brokerName);
  }, 120_000);
});
