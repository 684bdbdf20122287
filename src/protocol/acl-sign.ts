/**
 * Request signatures of RocketMQ's plain ACL, shared by our client (which signs) and our broker
 * (which checks). As AclClientRPCHook#doBeforeRequest and AclUtils#combineRequestContent at 4.9.8:
 * the header gets `AccessKey` (and `SecurityToken` when there is one), then the values of every
 * extField except `Signature`, in the order of their keys (Java TreeMap: UTF-16 code unit order),
 * are concatenated, the body appended, and HmacSHA1 over those bytes with the secret key
 * (both UTF-8) is base64-encoded into `Signature`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { RemotingCommand } from './frame.js';

/** SessionCredentials' header keys. */
export const ACCESS_KEY = 'AccessKey';
export const SIGNATURE = 'Signature';
const SECURITY_TOKEN = 'SecurityToken';
/**
 * MixAll.UNIQUE_MSG_QUERY_FLAG: PlainAccessValidator#parse leaves it out of the signed content
 * (the Java client adds it before signing, so Apache brokers refuse its unique-key queries).
 */
export const UNIQUE_MSG_QUERY_FLAG = '_UNIQUE_KEY_QUERY';

export interface Credentials {
  accessKey: string;
  secretKey: string;
  securityToken?: string;
}

/** The bytes signed: sorted extField values (minus `Signature` and `exclude`) + the body. */
export function signedContent(extFields: Record<string, string> | undefined, body: Buffer | Buffer[] | undefined, exclude: ReadonlySet<string> = NONE): Buffer {
  const fields = extFields ?? {};
  const keys = Object.keys(fields)
    .filter((k) => k !== SIGNATURE && !exclude.has(k))
    .sort();
  let text = '';
  for (const k of keys) text += fields[k];
  const head = Buffer.from(text, 'utf8');
  if (!body) return head;
  return Buffer.concat([head, ...(Buffer.isBuffer(body) ? [body] : body)]);
}

export function signature(content: Buffer, secretKey: string): string {
  return createHmac('sha1', Buffer.from(secretKey, 'utf8')).update(content).digest('base64');
}

/** Constant-time comparison of two base64 signatures (no timing hint of how much matched). */
export function sameSignature(a: string, b: string | undefined): boolean {
  if (b === undefined) return false;
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

const NONE: ReadonlySet<string> = new Set();
/** What our client leaves out, so that what it signs is what brokers check (see UNIQUE_MSG_QUERY_FLAG). */
const CLIENT_EXCLUDED: ReadonlySet<string> = new Set([UNIQUE_MSG_QUERY_FLAG]);

/** A copy of the request with AccessKey, SecurityToken and Signature in its header. */
export function signRequest(req: RemotingCommand, creds: Credentials): RemotingCommand {
  const extFields: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.extFields ?? {})) if (v !== undefined && v !== null) extFields[k] = String(v);
  extFields[ACCESS_KEY] = creds.accessKey;
  if (creds.securityToken) extFields[SECURITY_TOKEN] = creds.securityToken;
  delete extFields[SIGNATURE];
  extFields[SIGNATURE] = signature(signedContent(extFields, req.body, CLIENT_EXCLUDED), creds.secretKey);
  return { ...req, extFields };
}
