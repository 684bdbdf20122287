/**
 * Test-side helpers of the Apache conformance kit (kit.mjs does the work): Apache brokers started
 * per test file in their own temp dir, the Java drivers and Apache mqadmin, all on 127.0.0.1.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, inject } from 'vitest';
// @ts-expect-error plain ESM module without types (test/apache/kit.mjs doubles as a CLI)
import * as kit from './kit.mjs';

/** describe() that runs only where the kit could be set up (global-setup.ts says why not). */
export const describeApache: typeof describe = ((name: string, fn: () => void) =>
  describe.skipIf(inject('apacheKit') !== 'ok')(name, fn)) as typeof describe;

export interface ApacheServer {
  version: 4 | 5;
  namesrv: string;
  broker: string;
  /** The VIP channel (listenPort - 2). */
  vip: string;
  storeDir: string;
  brokerName: string;
  clusterName: string;
  dir: string;
  /** Stop broker and name server (TERM, bounded), keep the dir. */
  stop(): Promise<void>;
  /** stop() and remove the dir. */
  cleanup(): Promise<void>;
}

/**
 * Start an Apache name server + broker (4 = 4.9.7, 5 = 5.x; see pom.xml) with broker.conf keys;
 * `namesrvAddr` registers with an existing name server instead of starting one.
 */
export async function startApache(major: 4 | 5, config: Record<string, string> = {}, opts: { homeFiles?: Record<string, string> } = {}): Promise<ApacheServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rocketctl-apache${major}-`));
  try {
    const r = await kit.start(String(major), dir, config, { homeFiles: opts.homeFiles ?? {} });
    return {
      ...r,
      stop: () => kit.stop(dir),
      async cleanup() {
        await kit.stop(dir);
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await kit.stop(dir);
    throw err;
  }
}

export interface JavaRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Every stdout line that is a JSON object, parsed. */
  lines: any[];
}

/** Run a driver program of test/apache/java (key=value arguments) on the Java 4.9.8 client. */
export function javaDriver(cls: string, args: Record<string, string | number | boolean>, opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<JavaRun> {
  return kit.driver(cls, Object.entries(args).map(([k, v]) => `${k}=${v}`), opts);
}

/** Run Apache mqadmin 4.9.8; `home` from toolsHome() gives it ACL keys (conf/tools.yml). */
export function mqadmin(args: string[], opts: { timeoutMs?: number; home?: string } = {}): Promise<Omit<JavaRun, 'lines'>> {
  return kit.mqadmin(args, opts);
}

/** A ROCKETMQ_HOME in dir for mqadmin with these files (e.g. conf/tools.yml with accessKey/secretKey). */
export function toolsHome(dir: string, files: Record<string, string>): string {
  return kit.makeToolsHome(dir, files);
}
