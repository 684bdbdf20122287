import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StoreDirError, StoreLockedError } from '../../errors/index.js';
import { ensureDir } from '../../util/ensure-dir.js';

/**
 * The store's `lock` file (apache/rocketmq DefaultMessageStore's constructor and start()). RocketMQ holds a FileChannel.tryLock() on it; Node has
 * no flock, so the file itself is the lock: created O_EXCL with the owner's pid, its start time
 * (from /proc, to tell a live owner from a recycled pid) and host. A lock whose owner is dead is
 * stale and taken over, unless a live process holds a kernel lock on the file (/proc/locks): that
 * is how an Apache broker running on the store shows (it writes "lock", not an owner). The reverse
 * is not covered: an Apache broker's tryLock succeeds on a store we hold, since Node cannot take an
 * fcntl lock. This goes straight to node:fs, not FileIO: exclusivity needs the real OS.
 *
 * Within one process, dirs locked by live MessageStore instances are remembered, so a second open
 * from the same process fails too, while a lock left behind by a halted (simulated-crash) instance
 * of this process counts as stale.
 */

const LOCK_FILE = 'lock';
/** An empty lock file younger than this may be a peer between create and write: don't steal it. */
const EMPTY_LOCK_GRACE_MS = 2000;
/** Bound on create/inspect/steal rounds (each round is a few syscalls). */
const MAX_ATTEMPTS = 5;

const heldInThisProcess = new Set<string>();

interface LockOwner {
  pid: number;
  /** /proc/<pid>/stat starttime (clock ticks since boot), or null where /proc is absent. */
  startTicks: number | null;
  host: string;
}

/** /proc/<pid>/stat's state (field 3) and starttime (field 22), or null where /proc is absent. */
function procStat(pid: number): { state: string; startTicks: number | null } | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is parenthesised and may contain spaces.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[19]);
    return { state: rest[0] ?? '', startTicks: Number.isFinite(ticks) ? ticks : null };
  } catch {
    return null;
  }
}

function procStartTicks(pid: number): number | null {
  return procStat(pid)?.startTicks ?? null;
}

/**
 * Whether `pid` still runs. A zombie (killed, not yet reaped by its parent) answers kill(pid, 0)
 * but runs no code and holds nothing: Apache's lock is a FileChannel lock, which the kernel
 * releases when the process dies, before it is reaped; so a zombie owner is dead here too.
 */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = procStat(pid)?.state;
  return state !== 'Z' && state !== 'X';
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid !== 'number' || !Number.isInteger(o.pid) || o.pid <= 0) return undefined;
    return { pid: o.pid, startTicks: typeof o.startTicks === 'number' ? o.startTicks : null, host: String(o.host ?? '') };
  } catch {
    return undefined;
  }
}

export class StoreLock {
  private released = false;

  private constructor(
    readonly dir: string,
    readonly lockPath: string,
    private readonly key: string,
  ) {}

  /** Take the lock or throw StoreLockedError at once (no waiting for the holder). */
  static acquire(storePathRootDir: string): StoreLock {
    try {
      ensureDir(storePathRootDir);
    } catch (err) {
      throw new StoreDirError(storePathRootDir, err);
    }
    const key = fs.realpathSync(storePathRootDir);
    const lockPath = path.join(storePathRootDir, LOCK_FILE);
    if (heldInThisProcess.has(key)) throw new StoreLockedError(storePathRootDir, `this process, pid ${process.pid}`);
    const me: LockOwner = { pid: process.pid, startTicks: procStartTicks(process.pid), host: os.hostname() };
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (tryCreate(lockPath, me)) {
        heldInThisProcess.add(key);
        return new StoreLock(storePathRootDir, lockPath, key);
      }
      const holder = liveHolder(lockPath);
      if (holder !== undefined) throw new StoreLockedError(storePathRootDir, holder);
      stealStale(lockPath);
    }
    throw new StoreLockedError(storePathRootDir, 'lock file keeps changing; another process is starting on it');
  }

  /** Remove the lock file (clean close). */
  release(): void {
    if (this.released) return;
    this.released = true;
    heldInThisProcess.delete(this.key);
    try {
      const owner = parseOwner(fs.readFileSync(this.lockPath, 'utf8'));
      if (owner?.pid === process.pid) fs.unlinkSync(this.lockPath);
    } catch {
      // Already gone: nothing to release.
    }
  }

  /** Forget the lock without touching the file, as a killed process would (tests' halt()). */
  abandon(): void {
    this.released = true;
    heldInThisProcess.delete(this.key);
  }
}

function tryCreate(lockPath: string, me: LockOwner): boolean {
  let fd: number;
  try {
    fd = fs.openSync(lockPath, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    fs.writeSync(fd, JSON.stringify(me) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/** A description of the live holder, or undefined when the lock is stale (or vanished). */
function liveHolder(lockPath: string): string | undefined {
  let text: string;
  let stat: fs.Stats;
  try {
    text = fs.readFileSync(lockPath, 'utf8');
    stat = fs.statSync(lockPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const mtimeMs = stat.mtimeMs;
  const kernelHolder = kernelLockHolder(stat);
  if (kernelHolder !== undefined) return `pid ${kernelHolder} (it holds a file lock on ${lockPath}: an Apache RocketMQ broker?)`;
  const owner = parseOwner(text);
  if (!owner) {
    // Empty or garbled: a peer may be between O_EXCL create and its write; give it a grace period.
    return Date.now() - mtimeMs < EMPTY_LOCK_GRACE_MS ? 'a process that is just starting' : undefined;
  }
  const who = `pid ${owner.pid}${owner.host ? ` on ${owner.host}` : ''}`;
  if (owner.host && owner.host !== os.hostname()) return who; // can't probe another host's pids
  if (owner.pid === process.pid) return undefined; // not in heldInThisProcess: left by a halted instance
  if (!pidAlive(owner.pid)) return undefined;
  const ticks = procStartTicks(owner.pid);
  if (owner.startTicks !== null && ticks !== null && ticks !== owner.startTicks) return undefined; // pid recycled
  return who;
}

/** /proc/locks: one line per lock, "N: POSIX  ADVISORY  WRITE <pid> <major>:<minor>:<inode> <start> <end>". */
const PROC_LOCKS = '/proc/locks';
const PROC_LOCK_LINE = /^\d+:\s+(?:POSIX|FLOCK|OFDLCK)\s+\S+\s+\S+\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/;

/**
 * The pid of a process holding a kernel file lock on the lock file, if any. Apache's broker takes
 * FileChannel.tryLock (fcntl) on `lock` and writes "lock" into it, which our JSON owner check cannot
 * read; without this, a store an Apache broker is running on would look stale. Undefined where
 * /proc/locks is unreadable (not Linux).
 */
function kernelLockHolder(stat: fs.Stats): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(PROC_LOCKS, 'utf8');
  } catch {
    return undefined;
  }
  // Linux dev_t: major = bits 8-19 and 32+, minor = bits 0-7 and 20-31.
  const dev = BigInt(stat.dev);
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  // Bounded by the kernel's lock table.
  for (const line of text.split('\n')) {
    const m = PROC_LOCK_LINE.exec(line);
    if (!m || Number(m[4]) !== stat.ino || parseInt(m[2]!, 16) !== major || parseInt(m[3]!, 16) !== minor) continue;
    const pid = Number(m[1]);
    if (pid > 0 && pid !== process.pid && pidAlive(pid)) return pid;
  }
  return undefined;
}

/**
 * Remove a stale lock without ever removing a fresh one: rename it aside (atomic), check that what
 * we moved is still stale, and put it back with link() (fails if someone re-created it) otherwise.
 */
function stealStale(lockPath: string): void {
  const aside = `${lockPath}.stale-${process.pid}-${Date.now()}`;
  try {
    fs.renameSync(lockPath, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (liveHolder(aside) !== undefined) {
    try {
      fs.linkSync(aside, lockPath);
    } catch {
      // Someone else created a lock meanwhile; theirs wins, and the live one we moved is restored
      // on a best-effort basis only. The next attempt re-inspects.
    }
  }
  fs.rmSync(aside, { force: true });
}
