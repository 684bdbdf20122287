import { describe, expect, it } from 'vitest';
import { preflight, suggest } from '../../src/output/command-line.js';

const IDS = ['broker:start', 'store:verify', 'topicStatus', 'topicList', 'topicRoute', 'consumerProgress', 'consumerConnection', 'queryMsgById'];

describe('preflight', () => {
  it('runs known commands, topics and root flags as given; -h is --help', () => {
    expect(preflight(['topicStatus', '-t', 'T'], IDS)).toEqual({ kind: 'run', argv: ['topicStatus', '-t', 'T'] });
    expect(preflight(['broker', 'start', '-c', 'b.conf'], IDS)).toEqual({ kind: 'run', argv: ['broker', 'start', '-c', 'b.conf'] });
    expect(preflight(['broker'], IDS)).toEqual({ kind: 'run', argv: ['broker'] });
    expect(preflight([], IDS)).toEqual({ kind: 'run', argv: [] });
    expect(preflight(['--version'], IDS)).toEqual({ kind: 'run', argv: ['--version'] });
    expect(preflight(['-h'], IDS)).toEqual({ kind: 'run', argv: ['--help'] });
    expect(preflight(['topicStatus', '-h'], IDS)).toEqual({ kind: 'run', argv: ['topicStatus', '--help'] });
    expect(preflight(['topicStatus', '-t', 'T', '-h'], IDS)).toEqual({ kind: 'run', argv: ['topicStatus', '-t', 'T', '--help'] });
    // A value "-h" after a flag is left to the command (sendMessage -p -h sends the body "-h").
    expect(preflight(['queryMsgById', '-t', 'T', '-p', '-h'], IDS)).toEqual({ kind: 'run', argv: ['queryMsgById', '-t', 'T', '-p', '-h'] });
  });

  it('help COMMAND is COMMAND --help (also for topics)', () => {
    expect(preflight(['help'], IDS)).toEqual({ kind: 'run', argv: ['--help'] });
    expect(preflight(['help', 'topicStatus'], IDS)).toEqual({ kind: 'run', argv: ['topicStatus', '--help'] });
    expect(preflight(['help', 'broker', 'start'], IDS)).toEqual({ kind: 'run', argv: ['broker', 'start', '--help'] });
  });

  it('an unknown command is named, with the closest ids', () => {
    expect(preflight(['topicstatus', '--json'], IDS)).toEqual({ kind: 'unknown', command: 'topicstatus', suggestions: ['topicStatus'] });
    expect(preflight(['consumerprogres'], IDS)).toMatchObject({ suggestions: ['consumerProgress'] });
    expect(preflight(['frobnicate'], IDS)).toEqual({ kind: 'unknown', command: 'frobnicate', suggestions: [] });
    expect(preflight(['broker', 'strat'], IDS)).toEqual({ kind: 'unknown', command: 'broker strat', suggestions: ['broker start'] });
    expect(preflight(['broker', 'nope'], IDS)).toEqual({ kind: 'unknown', command: 'broker nope', suggestions: [] });
  });

  it('suggest: a prefix lists the commands it starts', () => {
    expect(suggest('topic', IDS)).toEqual(['topicList', 'topicRoute', 'topicStatus']);
    expect(suggest('consumer', IDS)).toEqual(['consumerConnection', 'consumerProgress']);
  });
});
