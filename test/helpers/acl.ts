import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestBroker, type TestBroker } from './broker.js';

/** Accounts and a plain_acl.yml for tests of brokers with aclEnable=true. */
export interface TestAccount {
  accessKey: string;
  secretKey: string;
}

export const ADMIN: TestAccount = { accessKey: 'adminKey1', secretKey: 'admin-secret-1' };
export const APP: TestAccount = { accessKey: 'appKey01', secretKey: 'app-secret-01' };

/** ADMIN (admin: true) and APP with the given permission lines (YAML, indented 4). */
export function plainAclYaml(appLines: string[]): string {
  return [
    'accounts:',
    `  - accessKey: ${ADMIN.accessKey}`,
    `    secretKey: ${ADMIN.secretKey}`,
    '    admin: true',
    `  - accessKey: ${APP.accessKey}`,
    `    secretKey: ${APP.secretKey}`,
    ...appLines.map((l) => `    ${l}`),
    '',
  ].join('\n');
}

/** The CLI's environment signing as `c` (and no credentials file). */
export function signedEnv(c: TestAccount): NodeJS.ProcessEnv {
  return { ROCKETCTL_ACCESS_KEY: c.accessKey, ROCKETCTL_SECRET_KEY: c.secretKey, ROCKETCTL_CREDENTIALS_FILE: '' };
}

export interface AclBroker {
  tb: TestBroker;
  /** Temp dir holding plain_acl.yml (tests may put more files there). */
  dir: string;
  aclFile: string;
  cleanup(): Promise<void>;
}

/** A real broker (in this process, port 0) with aclEnable=true and `yaml` as its plain_acl.yml in a temp dir. */
export async function startAclBroker(yaml: string, prefix = 'rocketctl-acl-'): Promise<AclBroker> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const aclFile = path.join(dir, 'plain_acl.yml');
  fs.writeFileSync(aclFile, yaml);
  try {
    const tb = await startTestBroker({ config: { aclEnable: 'true', plainAclFile: aclFile } });
    return {
      tb,
      dir,
      aclFile,
      async cleanup() {
        await tb.cleanup();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
