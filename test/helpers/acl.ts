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
