/**
 * Where our CLI finds the access key and secret key of a broker with ACL on: flags or environment
 * variables (both keys), else a credentials file. The file is read as Java's SessionCredentials
 * reads its key file (java.util.Properties: `AccessKey=...`, `SecretKey=...`); `accessKey: ...`
 * lines, as in mqadmin's conf/tools.yml, read the same way. Like an ssh key, a file that others
 * can read is refused.
 */
import fs from 'node:fs';
import { RocketError, UsageError } from '../errors/index.js';
import { parseProperties } from '../protocol/java-properties.js';
import type { Credentials } from '../protocol/acl-sign.js';

interface CredentialSources {
  accessKey?: string;
  secretKey?: string;
  credentialsFile?: string;
}

/** Keys (both, or neither) win over the file; an empty value (e.g. a variable set to '') is no value. */
export function resolveCredentials(src: CredentialSources): Credentials | undefined {
  const accessKey = src.accessKey || undefined;
  const secretKey = src.secretKey || undefined;
  if (accessKey || secretKey) {
    if (!accessKey || !secretKey) {
      throw new UsageError(`${accessKey ? '--secret-key' : '--access-key'} is missing: give both keys (flags, or ROCKETCTL_ACCESS_KEY and ROCKETCTL_SECRET_KEY)`);
    }
    return { accessKey, secretKey };
  }
  return src.credentialsFile ? readCredentialsFile(src.credentialsFile) : undefined;
}

export function readCredentialsFile(file: string): Credentials {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw new RocketError(`credentials file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { code: 'E_CREDENTIALS', exitCode: 2 });
  }
  if ((st.mode & 0o077) !== 0) {
    throw new RocketError(`credentials file ${file} can be read by others (mode ${(st.mode & 0o777).toString(8)}): refused`, {
      code: 'E_CREDENTIALS',
      exitCode: 2,
      actions: [`chmod 600 ${file}`],
    });
  }
  const props = new Map(parseProperties(fs.readFileSync(file, 'utf8')).map((p) => [p.key, p.value]));
  const accessKey = props.get('AccessKey') ?? props.get('accessKey');
  const secretKey = props.get('SecretKey') ?? props.get('secretKey');
  if (!accessKey || !secretKey) {
    throw new RocketError(`credentials file ${file} needs both AccessKey=... and SecretKey=... (or accessKey: / secretKey: lines)`, { code: 'E_CREDENTIALS', exitCode: 2 });
  }
  const securityToken = props.get('SecurityToken');
  return securityToken ? { accessKey, secretKey, securityToken } : { accessKey, secretKey };
}
