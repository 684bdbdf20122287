/**
 * checkOS --fix / --apply: the commands that bring a host to the checklist, and the file writes
 * --apply performs itself (sysctl values under /proc/sys, the store disk's scheduler, THP).
 * limits.conf, prlimit and NODE_OPTIONS changes are printed only: they take effect at the next
 * login or broker start, and editing a shared file like limits.conf is the operator's decision.
 */
import { realpathSync, statSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { ExitCode, RocketError } from '../errors/index.js';
import type { OsCheckItem } from './os.js';

export interface ApplyOutcome {
  id: string;
  path: string;
  value: string;
  ok: boolean;
  error?: string;
}

/** True when `root` is this machine's own root, where --apply changes the live kernel. */
function isLiveRoot(root: string): boolean {
  return realpathSync(root) === '/';
}

/**
 * Root is needed only for the live `/`. Under another --root (a copy of a tree, a host's tree
 * mounted in a container) the writes are ordinary file writes and the file permissions decide.
 */
export function assertMayApply(root: string, euid: number | undefined): void {
  if (isLiveRoot(root) && euid !== 0) {
    throw new RocketError('--apply changes kernel settings and must run as root; nothing was changed', {
      code: 'E_NOT_ROOT',
      exitCode: ExitCode.ERROR,
      actions: ['rerun with sudo, or run the commands printed by --fix yourself'],
    });
  }
}

/** The shell lines --fix prints: each failing or warning item's commands under a comment naming it. */
export function fixLines(items: OsCheckItem[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    if (item.status === 'pass' || !item.fix || item.fix.length === 0) continue;
    // Items can share a remedy (limits.conf serves this shell and the broker): print it once.
    const fresh = item.fix.filter((l) => !seen.has(l));
    for (const l of fresh) seen.add(l);
    const header = `# ${item.id} (${item.status}): ${item.current} -> ${item.recommended}`;
    out.push(header, ...(fresh.length > 0 ? fresh : ['# (see above)']));
  }
  if (out.some((l) => l.startsWith('sysctl -w'))) {
    out.push('# sysctl -w lasts until reboot; to keep the values, put the same vm.* lines in /etc/sysctl.d/');
  }
  return out;
}

/**
 * Perform every write of every item that is not passing. A target that does not exist is an
 * error, never created: under a fake or partial tree that would invent a setting the kernel lacks.
 */
export function applyWrites(root: string, items: OsCheckItem[]): ApplyOutcome[] {
  const rootReal = realpathSync(root);
  const outcomes: ApplyOutcome[] = [];
  for (const item of items) {
    if (item.status === 'pass') continue;
    for (const w of item.writes ?? []) {
      const target = rootReal === '/' ? w.path : posix.join(rootReal, w.path);
      const outcome: ApplyOutcome = { id: item.id, path: w.path, value: w.value, ok: false };
      try {
        statSync(target);
        writeFileSync(target, w.value + '\n');
        outcome.ok = true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        outcome.error = code === 'ENOENT' ? 'not found' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (code ?? String(err));
      }
      outcomes.push(outcome);
    }
  }
  return outcomes;
}
