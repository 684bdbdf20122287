import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildBrokerConfig, defaultBrokerConfig, toStoreConfig } from '../../src/broker/broker-config.js';
import { parseProperties } from '../../src/protocol/java-properties.js';
import { ConfigError } from '../../src/errors/index.js';

const file = (text: string) => ({ path: 'broker.conf', entries: parseProperties(text) });

describe('parseProperties (java.util.Properties syntax)', () => {
  it('reads key=value, key: value and key value, skipping comments and blank lines', () => {
    const e = parseProperties('# comment\n! also a comment\n\na=1\nb: 2\nc 3\n  d  =  four  \n');
    expect(e.map((x) => [x.key, x.value, x.line])).toEqual([
      ['a', '1', 4],
      ['b', '2', 5],
      ['c', '3', 6],
      ['d', 'four', 7],
    ]);
  });

  it('joins continuation lines and decodes escapes', () => {
    const e = parseProperties('messageDelayLevel=1s 5s \\\n    10s\nk\\=x=\\u0041\\tb\r\nlast=');
    expect(e[0]).toMatchObject({ key: 'messageDelayLevel', value: '1s 5s 10s', line: 1 });
    expect(e[1]).toMatchObject({ key: 'k=x', value: 'A\tb' });
    expect(e[2]).toMatchObject({ key: 'last', value: '' });
  });
});

describe('buildBrokerConfig', () => {
  it('defaults: loopback, 10911/9876, embedded name server, ~/.rocketctl/store, RocketMQ 4.9.8 values', () => {
    const { config, warnings } = buildBrokerConfig({});
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({
      brokerClusterName: 'DefaultCluster',
      brokerId: 0,
      brokerIP1: '127.0.0.1',
      bindAddress: '127.0.0.1',
      listenPort: 10911,
      embeddedNamesrv: true,
      namesrvListenPort: 9876,
      storePathRootDir: path.join(os.homedir(), '.rocketctl', 'store'),
      flushDiskType: 'ASYNC_FLUSH',
      autoCreateTopicEnable: true,
      autoCreateSubscriptionGroup: true,
      defaultTopicQueueNums: 8,
      longPollingEnable: true,
      traceTopicEnable: false,
      msgTraceTopicName: 'RMQ_SYS_TRACE_TOPIC',
      brokerTraceEnable: false,
      maxMessageSize: 4 * 1024 * 1024,
      registerNameServerPeriod: 30_000,
    });
    expect(config).toEqual({ ...defaultBrokerConfig(), storePathRootDir: config.storePathRootDir });
  });

  it('reads RocketMQ key names from a file', () => {
    const { config, warnings } = buildBrokerConfig({
      file: file(
        [
          'brokerClusterName=C1',
          'brokerName=b-1',
          'brokerId=0',
          'listenPort=0',
          'storePathRootDir=/tmp/rocketctl-x',
          'flushDiskType=SYNC_FLUSH',
          'autoCreateTopicEnable=false',
          'autoCreateSubscriptionGroup=FALSE',
          'messageDelayLevel=1s 1s 1s 2s',
          'mappedFileSizeCommitLog=1048576',
          'mappedFileSizeConsumeQueue=6000',
          'maxMessageSize=1024',
          'syncFlushTimeout=2000',
          'flushIntervalCommitLog=100',
          'defaultTopicQueueNums=4',
          'traceTopicEnable=true',
          'msgTraceTopicName=MY_TRACE',
          'longPollingEnable=false',
        ].join('\n'),
      ),
    });
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({
      brokerClusterName: 'C1',
      brokerName: 'b-1',
      listenPort: 0,
      storePathRootDir: '/tmp/rocketctl-x',
      flushDiskType: 'SYNC_FLUSH',
      autoCreateTopicEnable: false,
      autoCreateSubscriptionGroup: false,
      messageDelayLevel: '1s 1s 1s 2s',
      mappedFileSizeCommitLog: 1048576,
      mappedFileSizeConsumeQueue: 6000,
      maxMessageSize: 1024,
      syncFlushTimeout: 2000,
      flushIntervalCommitLog: 100,
      defaultTopicQueueNums: 4,
      traceTopicEnable: true,
      msgTraceTopicName: 'MY_TRACE',
      longPollingEnable: false,
    });
    const store = toStoreConfig(config, 12345);
    expect(store.delayLevelMillis).toEqual([1000, 1000, 1000, 2000]);
    expect(store.storeHost.port).toBe(12345);
    expect(store.flushDiskType).toBe('SYNC_FLUSH');
  });

  it('flags override the file', () => {
    const { config } = buildBrokerConfig({
      file: file('listenPort=20911\nstorePathRootDir=/tmp/a\nflushDiskType=SYNC_FLUSH'),
      overrides: { listenPort: '0', storePathRootDir: '/tmp/b', flushDiskType: 'ASYNC_FLUSH' },
    });
    expect(config.listenPort).toBe(0);
    expect(config.storePathRootDir).toBe('/tmp/b');
    expect(config.flushDiskType).toBe('ASYNC_FLUSH');
  });

  it('expands ~ in storePathRootDir', () => {
    const { config } = buildBrokerConfig({ file: file('storePathRootDir=~/s') });
    expect(config.storePathRootDir).toBe(path.join(os.homedir(), 's'));
  });

  it('namesrvAddr implies no embedded name server, unless embeddedNamesrv is set', () => {
    expect(buildBrokerConfig({ overrides: { namesrvAddr: '10.0.0.1:9876;10.0.0.2:9876' } }).config).toMatchObject({
      namesrvAddr: ['10.0.0.1:9876', '10.0.0.2:9876'],
      embeddedNamesrv: false,
    });
    expect(buildBrokerConfig({ file: file('embeddedNamesrv=true'), overrides: { namesrvAddr: '10.0.0.1:9876' } }).config.embeddedNamesrv).toBe(true);
  });

  it('binds where it advertises unless a bind address is chosen explicitly', () => {
    expect(buildBrokerConfig({ file: file('brokerIP1=10.1.2.3') }).config).toMatchObject({ brokerIP1: '10.1.2.3', bindAddress: '10.1.2.3' });
    expect(buildBrokerConfig({ overrides: { bindAddress: '127.0.0.2' } }).config).toMatchObject({ brokerIP1: '127.0.0.2', bindAddress: '127.0.0.2' });
  });

  it('warns about unknown keys and keys with no effect, naming file and line', () => {
    const { warnings } = buildBrokerConfig({ file: file('listenPort=10911\nlistenPrt=1\nhaListenPort=10912') });
    expect(warnings).toEqual([
      'broker.conf:2: unknown key listenPrt (ignored)',
      'broker.conf:3: haListenPort has no effect in rocketctl\'s embedded broker (ignored)',
    ]);
  });

  it('reads the retention keys (MessageStoreConfig names) and passes them to the store', () => {
    const { config, warnings } = buildBrokerConfig({ file: file('fileReservedTime=48\ndeleteWhen=04;16\ndiskMaxUsedSpaceRatio=80\ncleanFileForciblyEnable=false\ncleanResourceInterval=500') });
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({ fileReservedTime: 48, deleteWhen: '04;16', diskMaxUsedSpaceRatio: 80, cleanFileForciblyEnable: false, cleanResourceInterval: 500 });
    expect(toStoreConfig(config, 10911)).toMatchObject({ fileReservedTime: 48, deleteWhen: '04;16', diskMaxUsedSpaceRatio: 80, cleanFileForciblyEnable: false, cleanResourceInterval: 500, testOnlyFileReservedTimeMs: 0 });
    const knob = buildBrokerConfig({ file: file('testOnlyFileReservedTimeMs=1500') });
    expect(toStoreConfig(knob.config, 10911).testOnlyFileReservedTimeMs).toBe(1500);
    expect(knob.warnings).toEqual(['testOnlyFileReservedTimeMs=1500: commit log segments are kept 1500 ms, not fileReservedTime=72 h (a rocketctl test setting)']);
    expect(defaultBrokerConfig()).toMatchObject({ fileReservedTime: 72, deleteWhen: '04', diskMaxUsedSpaceRatio: 75, cleanFileForciblyEnable: true, cleanResourceInterval: 10_000 });
  });

  const invalid: Array<[string, RegExp]> = [
    ['deleteWhen=4am', /invalid deleteWhen: deleteWhen must be hours of the day 0\.\.23/],
    ['deleteWhen=04;24', /invalid deleteWhen/],
    ['fileReservedTime=-1', /invalid fileReservedTime: expected an integer in 0\.\./],
    ['diskMaxUsedSpaceRatio=101', /invalid diskMaxUsedSpaceRatio/],
    ['listenPort=abc', /broker\.conf:1: invalid listenPort: expected an integer/],
    ['listenPort=70000', /invalid listenPort: expected an integer in 0\.\.65535/],
    ['listenPort=2', /fast port is listenPort-2/],
    ['flushDiskType=SOMETIMES', /invalid flushDiskType: expected ASYNC_FLUSH or SYNC_FLUSH/],
    ['autoCreateTopicEnable=yes', /invalid autoCreateTopicEnable: expected true or false/],
    ['messageDelayLevel=1s 5x', /invalid messageDelayLevel: bad messageDelayLevel item "5x"/],
    ['mappedFileSizeConsumeQueue=1001', /multiple of 20/],
    ['mappedFileSizeCommitLog=100', /invalid mappedFileSizeCommitLog/],
    ['brokerIP1=my-host', /invalid brokerIP1: expected an IP address/],
    ['namesrvAddr=localhost', /invalid namesrvAddr: expected host:port/],
    ['brokerId=1', /only a master \(brokerId=0\)/],
    ['brokerRole=SLAVE', /brokerRole=SLAVE is not supported/],
    ['enableDLegerCommitLog=true', /enableDLegerCommitLog=true needs dLegerPeers/],
    ['enableDLegerCommitLog=true\ndLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1:40912\ndLegerSelfId=n5', /dLegerSelfId=n5 is not one of the ids in dLegerPeers \(n0, n1\)/],
    ['enableDLegerCommitLog=true\ndLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1:40912\ndLegerSelfId=n0\npreferredLeaderId=n7', /preferredLeaderId=n7 is not one of the ids in dLegerPeers \(n0, n1\)/],
    ['dLegerPeers=n0-127.0.0.1:40911;n0-127.0.0.1:40912', /invalid dLegerPeers: id n0 appears twice/],
    ['dLegerPeers=127.0.0.1:40911', /invalid dLegerPeers: 127\.0\.0\.1:40911: expected id-host:port/],
    ['brokerName=a.b', /invalid brokerName/],
    ['brokerName=DefaultCluster', /name two different system topics/],
  ];
  for (const [line, re] of invalid) {
    it(`rejects ${line} with one clear line`, () => {
      let err: unknown;
      try {
        buildBrokerConfig({ file: file(line) });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).not.toContain('\n');
    });
  }

  it('preferredLeaderId: one of the dLegerPeers ids, unset by default', () => {
    const base = 'enableDLegerCommitLog=true\ndLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913\ndLegerSelfId=n0';
    expect(buildBrokerConfig({ file: file(base) }).config.preferredLeaderId).toBe('');
    expect(buildBrokerConfig({ file: file(`${base}\npreferredLeaderId=n2`) }).config.preferredLeaderId).toBe('n2');
  });

  it('names the flag when a flag value is invalid', () => {
    expect(() => buildBrokerConfig({ overrides: { listenPort: 'x' } })).toThrow(/--listen-port: invalid listenPort/);
  });
});
