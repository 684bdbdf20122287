/**
 * The failure answers of every admin command, through the real CLI: an unreachable name server
 * (closed port) is one line naming it and how to start a local broker, exit 1, and an error
 * envelope with --json; a name server that accepts but never answers fails within --timeout;
 * a bad or missing flag is a usage error (exit 2); an unknown topic, group or cluster on a real
 * broker is one line, exit 1 — never an empty table.
 */
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { expectErrorEnvelope, expectOneLineError, runCli } from '../helpers/cli.js';

/** Each admin command with the flags it needs to get as far as the network. */
const COMMANDS: Array<[string, string[]]> = [
  ['clusterList', []],
  ['brokerStatus', ['-c', 'DefaultCluster']],
  ['topicList', []],
  ['topicRoute', ['-t', 'T']],
  ['topicStatus', ['-t', 'T']],
  ['updateTopic', ['-t', 'T', '-c', 'DefaultCluster']],
  ['deleteTopic', ['-t', 'T', '-c', 'DefaultCluster']],
  ['updateSubGroup', ['-g', 'G', '-c', 'DefaultCluster']],
  ['deleteSubGroup', ['-g', 'G', '-c', 'DefaultCluster']],
  ['consumerConnection', ['-g', 'G']],
  ['producerConnection', ['-g', 'G', '-t', 'T']],
];

/** A required flag each command cannot run without (clusterList/topicList have none). */
const MISSING_REQUIRED: Array<[string, string[]]> = [
  ['topicRoute', []],
  ['topicStatus', []],
  ['updateTopic', ['-c', 'DefaultCluster']],
  ['deleteTopic', ['-c', 'DefaultCluster']],
  ['updateSubGroup', ['-c', 'DefaultCluster']],
  ['deleteSubGroup', ['-c', 'DefaultCluster']],
  ['consumerConnection', []],
  ['producerConnection', ['-g', 'G']],
];

let closed: string;
let blackhole: net.Server;
let blackholeAddr: string;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  closed = `127.0.0.1:${(s.address() as net.AddressInfo).port}`;
  await new Promise((r) => s.close(r));
  // Accepts connections and reads requests, never answers.
  blackhole = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('data', () => undefined);
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
  blackholeAddr = `127.0.0.1:${(blackhole.address() as net.AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => blackhole?.close(r));
});

describe('every admin command: unreachable name server', () => {
  for (const [cmd, args] of COMMANDS) {
    it(`${cmd}: one line naming the address, exit 1; --json error envelope`, async () => {
      const r = await runCli([cmd, ...args, '-n', closed, '--timeout', '2000'], { timeoutMs: 20_000 });
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expectOneLineError(r.stderr);
      expect(r.stderr.split('\n')[0]).toBe(`Error: cannot reach name server ${closed} (ECONNREFUSED)`);
      expect(r.stderr).toContain('try: start a local broker with: rocketctl broker start');
      const j = await runCli([cmd, ...args, '-n', closed, '--timeout', '2000', '--json'], { timeoutMs: 20_000 });
      expect(j.code).toBe(1);
      expectErrorEnvelope(j.json, 1);
      expect(j.json.code).toBe('E_BROKER_UNREACHABLE');
    });
  }

  it('a name server that never answers: the request times out at --timeout, exit 1', async () => {
    for (const [cmd, args] of [COMMANDS[0]!, COMMANDS[4]!]) {
      const r = await runCli([cmd, ...args, '-n', blackholeAddr, '--timeout', '500'], { timeoutMs: 20_000 });
      expect(r.code, cmd).toBe(1);
      expectOneLineError(r.stderr);
      expect(r.stderr).toMatch(new RegExp(`to ${blackholeAddr.replace(/\./g, '\\.')} timed out after \\d+ ms`));
      expect(r.stderr).toContain('try: start a local broker with: rocketctl broker start');
    }
    const json = await runCli(['clusterList', '-n', blackholeAddr, '--timeout', '500', '--json'], { timeoutMs: 20_000 });
    expectErrorEnvelope(json.json, 1);
    expect(json.json.code).toBe('E_TIMEOUT');
    expect(json.json.actions.join(' ')).toMatch(/larger --timeout.*rocketctl broker start/);
  });

  it('Ctrl-C (SIGINT) while waiting: one line "interrupted", exit 130; with --json an E_INTERRUPTED envelope', async () => {
    // A listener of its own: the command has connected (so it is running) when a connection arrives.
    const connected: Array<() => void> = [];
    const silent = net.createServer((sock) => {
      sock.on('error', () => undefined);
      connected.shift()?.();
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const addr = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
      for (const json of [false, true]) {
        const r = await runCli(['consumerProgress', '-n', addr, '--timeout', '20000', ...(json ? ['--json'] : [])], {
          timeoutMs: 15_000,
          onSpawn: (child) => connected.push(() => child.kill('SIGINT')),
        });
        expect(r.code).toBe(130);
        if (json) {
          expectErrorEnvelope(r.json, 130);
          expect(r.json.code).toBe('E_INTERRUPTED');
        } else {
          expectOneLineError(r.stderr);
          expect(r.stderr).toMatch(/^Error: interrupted \(SIGINT\)/);
        }
      }
    } finally {
      silent.close();
    }
  });
});

describe('every admin command: usage errors', () => {
  for (const [cmd, args] of COMMANDS) {
    it(`${cmd}: an unknown flag is exit 2, one line`, async () => {
      const r = await runCli([cmd, ...args, '--no-such-flag'], { env: { NAMESRV_ADDR: '' } });
      expect(r.code).toBe(2);
      expectOneLineError(r.stderr);
      expect(r.stderr).toMatch(/^Error: Nonexistent flag: --no-such-flag/);
      // A mistyped flag with its value (consumerProgress once took the value for mqadmin's "-s true").
      const typo = await runCli([cmd, ...args, '--grop', 'G'], { env: { NAMESRV_ADDR: '' } });
      expect(typo.code).toBe(2);
      expect(typo.stderr).toMatch(/^Error: Nonexistent flag: --grop/);
    });
  }

  for (const [cmd, args] of MISSING_REQUIRED) {
    it(`${cmd}: a missing required flag is exit 2, with --json an error envelope`, async () => {
      const r = await runCli([cmd, ...args, '--json'], { env: { NAMESRV_ADDR: '' } });
      expect(r.code).toBe(2);
      expectErrorEnvelope(r.json, 2);
      // Named as typed: "missing required flag -t/--topic".
      expect(r.json.message).toMatch(/^missing required flag -[a-zA-Z]\/--\w+$/);
    });
  }

  it('a flag given an empty value is a usage error naming the flag (exit 2, one line)', async () => {
    for (const args of [['topicStatus', '-t', ''], ['consumerConnection', '--consumerGroup=']]) {
      const r = await runCli([...args, '--socket', '/nonexistent/rocketctl.sock']);
      expect(r.code, args.join(' ')).toBe(2);
      expectOneLineError(r.stderr);
      expect(r.stderr).toMatch(/flag -[tg]\/--\w+ needs a value, not an empty string/);
    }
  });

  it('an integer flag beyond 2^53 is a usage error (it would lose digits)', async () => {
    const r = await runCli(['resetOffset', '-g', 'G', '-t', 'T', '--to-offset', '99999999999999999999', '--socket', '/nonexistent/rocketctl.sock']);
    expect(r.code).toBe(2);
    expectOneLineError(r.stderr);
    expect(r.stderr).toMatch(/^Error: flag --to-offset is too large: at most 9007199254740991/);
  });

  it('a malformed -n (a URL, a host without port, a bad port) is a usage error saying what -n takes', async () => {
    for (const bad of ['http://127.0.0.1:9876', 'localhost', '127.0.0.1:99999', '127.0.0.1:9876;nope']) {
      const r = await runCli(['topicList', '-n', bad]);
      expect(r.code, bad).toBe(2);
      expectOneLineError(r.stderr);
      expect(r.stderr).toMatch(/^Error: -n ".+" is not a name server address: expected host:port/);
      const env = await runCli(['topicList', '--json'], { env: { NAMESRV_ADDR: bad } });
      expectErrorEnvelope(env.json, 2);
      expect(env.json.message).toMatch(/^-n ".+" is not a name server address/);
    }
  });

  it('--help describes each command (summary and examples)', async () => {
    for (const [cmd] of COMMANDS) {
      const r = await runCli([cmd, '--help']);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toContain('EXAMPLES');
      expect(r.stdout, cmd).toContain('--namesrvAddr');
    }
  });
});

describe('unknown topic, group or cluster on a real broker', () => {
  let tb: TestBroker;
  const ENV = { NAMESRV_ADDR: '' };
  beforeAll(async () => {
    tb = await startTestBroker();
  });
  afterAll(async () => {
    await tb?.cleanup();
  });
  const local = (args: string[], json = false) => runCli([...args, '--socket', path.join(tb.storeDir, 'broker.sock'), ...(json ? ['--json'] : [])], { env: ENV });

  const CASES: Array<[string[], string, string]> = [
    [['topicRoute', '-t', 'NoSuchTopic'], 'topic NoSuchTopic does not exist', 'E_TOPIC_NOT_FOUND'],
    [['topicStatus', '-t', 'NoSuchTopic'], 'topic NoSuchTopic does not exist', 'E_TOPIC_NOT_FOUND'],
    [['deleteTopic', '-t', 'NoSuchTopic'], 'topic NoSuchTopic does not exist', 'E_TOPIC_NOT_FOUND'],
    [['producerConnection', '-g', 'PG', '-t', 'NoSuchTopic'], 'topic NoSuchTopic does not exist', 'E_TOPIC_NOT_FOUND'],
    [['deleteSubGroup', '-g', 'NoSuchGroup'], 'consumer group NoSuchGroup does not exist', 'E_GROUP_NOT_FOUND'],
    [['consumerConnection', '-g', 'NoSuchGroup'], 'consumer group NoSuchGroup does not exist', 'E_GROUP_NOT_FOUND'],
    [['brokerStatus', '-c', 'NoSuchCluster'], 'cluster NoSuchCluster is not known', 'E_CLUSTER_NOT_FOUND'],
    [['updateTopic', '-t', 'T', '-c', 'NoSuchCluster'], 'cluster NoSuchCluster is not known', 'E_CLUSTER_NOT_FOUND'],
    [['updateSubGroup', '-g', 'G', '-c', 'NoSuchCluster'], 'cluster NoSuchCluster is not known', 'E_CLUSTER_NOT_FOUND'],
    [['deleteTopic', '-t', 'TBW102', '-c', 'NoSuchCluster'], 'cluster NoSuchCluster is not known', 'E_CLUSTER_NOT_FOUND'],
  ];
  for (const [args, message, code] of CASES) {
    it(`${args.join(' ')}: one line, exit 1`, async () => {
      const r = await local(args);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expectOneLineError(r.stderr);
      expect(r.stderr).toContain(message);
      const j = await local(args, true);
      expect(j.code).toBe(1);
      expectErrorEnvelope(j.json, 1);
      expect(j.json.code).toBe(code);
    });
  }

  it('no -b/-c against a name server is a usage error naming the clusters', async () => {
    const r = await runCli(['updateTopic', '-t', 'T', '-n', tb.namesrv!]);
    expect(r.code).toBe(2);
    expectOneLineError(r.stderr);
    expect(r.stderr).toContain('give the target: -b/--brokerAddr host:port or -c/--clusterName NAME (clusters: DefaultCluster)');
  });
});
