/**
 * The audit log of admin changes: one JSON line per mutating admin request the broker handled
 * (after the ACL guard let it through), in `<storePathRootDir>/audit/audit.log`.
 *
 * Bounded: when a line would take the file past `maxFileBytes`, audit.log becomes audit.log.1
 * (replacing the older one) and a new audit.log starts, so the log never holds more than
 * 2 x maxFileBytes (the current file and one rotated file). Lines are appended synchronously before the answer is sent: a change
 * the client saw acknowledged is in the log (admin requests are rare; their cost is negligible).
 * An append that fails is logged and does not fail the request (the change is already made).
 *
 * Secrets never enter it: ACL changes record the account's fields without its secretKey.
 *
 * Here, below the broker, because two sides share the files: the broker writes them (and answers
 * ROCKETCTL_QUERY_AUDIT_LOG from them), and `rocketctl audit --store-dir` reads them on the broker's
 * host without one. The admin API may not import the broker (README "Development").
 */
import fs from 'node:fs';
import path from 'node:path';

/** Default size of one audit file; the log holds at most 2 x 8 MiB. */
export const AUDIT_FILE_MAX_BYTES_DEFAULT = 8 * 1024 * 1024;
/** Entries one AUDIT_QUERY answer carries at most (the newest ones that match). */
const AUDIT_QUERY_LIMIT_MAX = 10_000;

export interface AuditEntry {
  /** ISO-8601 time the request was handled. */
  time: string;
  /** Remote address ("ip:port", or "unix:<n>" for the local socket) and the signer's access key. */
  who: { addr: string; accessKey: string | null; command?: string };
  code: number;
  /** RequestCode name, e.g. UPDATE_AND_CREATE_TOPIC. */
  what: string;
  /** What was changed: topic, group, queue, ACL account or config keys, as the request names them. */
  target: { topic?: string; group?: string; queueId?: number; accessKey?: string; keys?: string[] };
  /** State before and after, where the broker knows it (null: did not exist / not known). */
  before: unknown;
  after: unknown;
  /** The response: SUCCESS or the failure code name, and its remark. */
  result: { code: number; name: string; remark: string | null };
}

export interface AuditFilter {
  sinceMs?: number;
  /** Request code names or numbers, any of them. */
  what?: string[];
  topic?: string;
  group?: string;
  /** Substring of "addr accessKey". */
  who?: string;
  /** The newest `limit` matching entries are returned. */
  limit?: number;
}


export function auditDir(storeRoot: string): string {
  return path.join(storeRoot, 'audit');
}

export class AuditLog {
  private readonly file: string;
  private size = 0;

  constructor(
    readonly dir: string,
    private readonly maxFileBytes: number = AUDIT_FILE_MAX_BYTES_DEFAULT,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = path.join(dir, 'audit.log');
    this.size = fs.existsSync(this.file) ? fs.statSync(this.file).size : 0;
  }

  append(entry: AuditEntry): void {
    const line = JSON.stringify(entry) + '\n';
    const bytes = Buffer.byteLength(line);
    try {
      if (this.size > 0 && this.size + bytes > this.maxFileBytes) this.rotate();
      fs.appendFileSync(this.file, line, { mode: 0o600 });
      this.size += bytes;
    } catch (err) {
      this.onError(err);
    }
  }

  private rotate(): void {
    fs.renameSync(this.file, `${this.file}.1`);
    this.size = 0;
  }
}

/** Read the audit files of `dir`, oldest first, keeping the newest `limit` entries that match. */
export function readAudit(dir: string, filter: AuditFilter): { entries: AuditEntry[]; truncated: boolean; skippedLines: number } {
  const limit = Math.min(filter.limit ?? AUDIT_QUERY_LIMIT_MAX, AUDIT_QUERY_LIMIT_MAX);
  const files = [path.join(dir, 'audit.log.1'), path.join(dir, 'audit.log')];
  const out: AuditEntry[] = [];
  let skippedLines = 0;
  let matched = 0;
  for (const f of files) {
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue; // not rotated yet, or no change made yet
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      let e: AuditEntry;
      try {
        e = JSON.parse(line) as AuditEntry;
      } catch {
        skippedLines++; // a torn last line after a crash
        continue;
      }
      if (!matches(e, filter)) continue;
      matched++;
      out.push(e);
      if (out.length > limit) out.shift();
    }
  }
  return { entries: out, truncated: matched > out.length, skippedLines };
}

function matches(e: AuditEntry, f: AuditFilter): boolean {
  if (f.sinceMs !== undefined && Date.parse(e.time) < f.sinceMs) return false;
  if (f.what && f.what.length > 0 && !f.what.some((w) => w.toUpperCase() === e.what || w === String(e.code))) return false;
  if (f.topic !== undefined && e.target.topic !== f.topic) return false;
  if (f.group !== undefined && e.target.group !== f.group) return false;
  if (f.who !== undefined && !`${e.who.addr} ${e.who.accessKey ?? ''} ${e.who.command ?? ''}`.includes(f.who)) return false;
  return true;
}
