/**
 * What the broker sends its name servers, counted at a recording name server: a real NameServer
 * behind a RemotingServer whose REGISTER_BROKER / QUERY_DATA_VERSION handlers note each request
 * before the name server answers it. The broker is a real one (in-process, port 0, temp store).
 *
 * Bounded in frequency: the full table goes at start and on the period only, never because a
 * topic changed. Bounded in size: a topic change sends the changed topics, at most
 * MAX_TOPICS_PER_REGISTRATION per request, and concurrent changes share requests. Counts and
 * sizes only; no timing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { NameServer } from '../../src/broker/namesrv/namesrv.js';
import { RemotingServer, type RequestHandler } from '../../src/remoting/server.js';
import { MAX_TOPICS_PER_REGISTRATION } from '../../src/broker/registration.js';
import { RequestCode } from '../../src/protocol/codes.js';
import { bodyBuffer, makeRequest } from '../../src/protocol/frame.js';
import { encodeProperties } from '../../src/protocol/properties.js';
import { decodeRegisterBrokerBody } from '../../src/protocol/register-broker.js';
import { createTopic, eventually, startTestBroker, type TestBroker } from '../helpers/broker.js';

interface Registration {
  topics: string[];
  bodyBytes: number;
  compressed: boolean;
  counter: number;
}

class RecordingNamesrv {
  readonly ns = new NameServer();
  readonly registrations: Registration[] = [];
  queryDataVersions = 0;
  private readonly server = new RemotingServer({ name: 'recording-namesrv' });
  addr = '';

  async start(): Promise<void> {
    const handlers = this.ns.handlers();
    const register = handlers[RequestCode.REGISTER_BROKER]!;
    const query = handlers[RequestCode.QUERY_DATA_VERSION]!;
    const recordRegister: RequestHandler = (req, ch) => {
      const raw = bodyBuffer(req);
      const compressed = req.extFields?.compressed === 'true';
      const body = decodeRegisterBrokerBody(raw, compressed).topicConfigSerializeWrapper;
      this.registrations.push({ topics: Object.keys(body.topicConfigTable), bodyBytes: raw.length, compressed, counter: body.dataVersion.counter });
      return register(req, ch);
    };
    const recordQuery: RequestHandler = (req, ch) => {
      this.queryDataVersions++;
      return query(req, ch);
    };
    this.server.registerAll({ ...handlers, [RequestCode.REGISTER_BROKER]: recordRegister, [RequestCode.QUERY_DATA_VERSION]: recordQuery });
    this.addr = await this.server.listen({ host: '127.0.0.1', port: 0 });
  }

  hasRoute(topic: string): boolean {
    return this.ns.routeInfo.pickupTopicRouteData(topic) !== undefined;
  }

  async close(): Promise<void> {
    await this.server.close();
    await this.ns.close();
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setUp(config: Record<string, string> = {}): Promise<{ rec: RecordingNamesrv; tb: TestBroker }> {
  const rec = new RecordingNamesrv();
  await rec.start();
  cleanups.push(() => rec.close());
  // The longest period there is (60 s), so no periodic registration lands inside a test.
  const tb = await startTestBroker({ namesrv: false, config: { namesrvAddr: rec.addr, registerNameServerPeriod: '60000', ...config } });
  cleanups.push(() => tb.cleanup());
  return { rec, tb };
}

describe('registration with the name servers', () => {
  it('sends the whole table once at start, then only the topic each updateTopic changed', async () => {
    const { rec, tb } = await setUp();
    expect(rec.registrations).toHaveLength(1);
    const startTopics = rec.registrations[0]!.topics;
    expect(startTopics).toContain('TBW102');
    expect(startTopics.length).toBe(tb.broker.topics.size);

    for (let i = 0; i < 100; i++) expect((await createTopic(tb.client, tb.addr, `Seq${i}`, 4)).code).toBe(0);

    const after = rec.registrations.slice(1);
    // One request per change (the call waits for its registration), each carrying that topic alone.
    expect(after.map((r) => r.topics)).toEqual(Array.from({ length: 100 }, (_, i) => [`Seq${i}`]));
    for (const r of after) expect(r.bodyBytes).toBeLessThan(1024);
    // Versions rise with every change, so the name server applied each of them: every route exists.
    expect(new Set(rec.registrations.map((r) => r.counter)).size).toBe(rec.registrations.length);
    for (let i = 0; i < 100; i++) expect(rec.hasRoute(`Seq${i}`)).toBe(true);
    expect(tb.broker.registrationStats).toMatchObject({ full: 1, incremental: 100 });
  });

  it('shares requests among concurrent changes, at most MAX_TOPICS_PER_REGISTRATION topics each', async () => {
    const { rec, tb } = await setUp();
    const n = MAX_TOPICS_PER_REGISTRATION + 200;
    const names = Array.from({ length: n }, (_, i) => `Par${i}`);
    const results = await Promise.all(names.map((t) => createTopic(tb.client, tb.addr, t, 2)));
    expect(results.every((r) => r.code === 0)).toBe(true);

    const after = rec.registrations.slice(1);
    expect(after.length).toBeGreaterThanOrEqual(2);
    expect(after.length).toBeLessThan(n);
    for (const r of after) expect(r.topics.length).toBeLessThanOrEqual(MAX_TOPICS_PER_REGISTRATION);
    const sent = new Set(after.flatMap((r) => r.topics));
    expect(names.filter((t) => !sent.has(t))).toEqual([]);
    expect(names.filter((t) => !rec.hasRoute(t))).toEqual([]);
    // No change made the broker send its whole table again.
    expect(tb.broker.registrationStats?.full).toBe(1);
  });

  it('registers an auto-created topic by itself, after the send that created it', async () => {
    const { rec, tb } = await setUp();
    const send = await tb.client.invoke(
      tb.addr,
      makeRequest(RequestCode.SEND_MESSAGE_V2, { a: 'PG', b: 'AutoT', c: 'TBW102', d: 4, e: 0, f: 0, g: Date.now(), h: 0, i: encodeProperties({ WAIT: 'true' }), j: 0, k: false }, Buffer.from('x')),
    );
    expect(send.code).toBe(0);
    await eventually(() => (rec.hasRoute('AutoT') ? true : undefined), 'route of AutoT');
    expect(rec.registrations.slice(1).map((r) => r.topics)).toEqual([['AutoT']]);
  });

  it('with forceRegister=false the periodic registration asks QUERY_DATA_VERSION and sends no body when nothing changed', async () => {
    const { rec, tb } = await setUp({ forceRegister: 'false' });
    expect((await createTopic(tb.client, tb.addr, 'Q1')).code).toBe(0);
    const before = rec.registrations.length;

    await tb.broker.registerBrokerAll({ force: false });
    expect(rec.queryDataVersions).toBe(1);
    expect(rec.registrations.length).toBe(before);

    // A change the name server has not seen (a delete registers nothing) makes it send the table.
    expect((await tb.client.invoke(tb.addr, makeRequest(RequestCode.DELETE_TOPIC_IN_BROKER, { topic: 'Q1' }))).code).toBe(0);
    await tb.broker.registerBrokerAll({ force: false });
    expect(rec.queryDataVersions).toBe(2);
    expect(rec.registrations.length).toBe(before + 1);
    expect(rec.registrations.at(-1)!.topics.length).toBe(tb.broker.topics.size);
  });

  it('compressedRegister=true sends zlib bodies the name server takes', async () => {
    const { rec, tb } = await setUp({ compressedRegister: 'true' });
    expect((await createTopic(tb.client, tb.addr, 'Z1', 3)).code).toBe(0);
    expect(rec.registrations.map((r) => r.compressed)).toEqual([true, true]);
    expect(rec.registrations[1]!.topics).toEqual(['Z1']);
    expect(rec.ns.routeInfo.pickupTopicRouteData('Z1')?.queueDatas[0]).toMatchObject({ readQueueNums: 3, writeQueueNums: 3 });
  });
});
