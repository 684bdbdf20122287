/**
 * checkOS: compares a host's kernel and process settings with RocketMQ's tuning checklist
 * (apache/rocketmq distribution/bin/os.sh, docs/en/Configuration_System.md, runbroker.sh) and
 * says, per item, what is set, what is recommended, and pass / warn / fail / skip with one line why.
 *
 * Everything is read from a tree (`/` on a live host, a fake `proc/` + `sys/` tree in tests, a
 * host's tree mounted elsewhere in a container) plus facts about this Node process. Nothing here
 * prints or changes anything: fix commands and the file writes that `--apply` would perform are
 * returned as data (see fix.ts). A value that cannot be read is reported as such (warn), never guessed.
 */
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { posix, resolve } from 'node:path';

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

/** One file write that `--apply` performs: `path` as seen on the checked host (under --root). */
interface FileWrite {
  path: string;
  value: string;
}

export interface OsCheckItem {
  /** Stable id: the sysctl name (`vm.swappiness`) or a dotted name (`limits.nofile.self`). */
  id: string;
  current: string;
  recommended: string;
  status: CheckStatus;
  /** One line: why this verdict, citing where the recommendation comes from. */
  why: string;
  /** Exact shell commands to run as root (comments start with '#'); absent when nothing to do. */
  fix?: string[];
  /** The subset of `fix` that --apply performs itself, as file writes. */
  writes?: FileWrite[];
}

interface BrokerRef {
  pid: number;
  source: 'flag' | 'lock';
  /** /proc/<pid>/comm when readable. */
  command?: string;
}

export interface OsReport {
  root: string;
  storeDir: string;
  broker: BrokerRef | null;
  items: OsCheckItem[];
  summary: Record<CheckStatus, number>;
}

/** Facts about the Node process running the check (injected so tests are deterministic). */
export interface ProcessFacts {
  /** v8.getHeapStatistics().heap_size_limit */
  heapSizeLimitBytes: number;
  execArgv: string[];
  nodeOptions?: string;
}

interface DeviceId {
  major: number;
  minor: number;
}

export interface OsCheckOptions {
  /** Directory whose proc/ and sys/ are read; every path checked (store dir too) is under it. */
  root: string;
  /** Absolute store dir as seen on the checked host. */
  storeDir: string;
  /** --pid: the broker to check instead of the one owning the store's lock file. */
  pid?: number;
  process: ProcessFacts;
  /** Replaces the file reader (tests use it to simulate EACCES, which root cannot otherwise see). */
  reader?: TreeReader;
}

// ---- recommended values (apache/rocketmq distribution/bin/os.sh) -----------------------------------

/** os.sh: `ulimit -n 655350`, limits.conf `* hard nofile 655350`. */
const NOFILE_RECOMMENDED = 655350;
/** Below this a broker with a few thousand queues and connections runs out of descriptors. */
const NOFILE_FAIL_BELOW = 65536;
/** Docs: never set vm.min_free_kbytes below 1024 KB. */
const MIN_FREE_KBYTES_FLOOR = 1024;
const MAX_MAP_COUNT_RECOMMENDED = 655360;
/** Docs recommend 10; os.sh sets 1. Anything up to 10 passes; fixes use os.sh's 1. */
const SWAPPINESS_MAX = 10;
/** Heap limit above this share of memory warns; above all of it fails. */
const HEAP_WARN_FRACTION = 0.5;
/** runbroker.sh pins -Xms8g -Xmx8g; the suggested --max-old-space-size is capped the same. */
const HEAP_SUGGEST_CAP_MB = 8192;

const MB = 1024 * 1024;
/** cgroup v1 reports "no limit" as a huge page-aligned number (2^63 - 4096). */
const CGROUP_UNLIMITED_BYTES = 2 ** 62;

// ---- reading the tree ---------------------------------------------------------------------------

type ReadResult = { ok: true; text: string } | { ok: false; code: string; reason: string };

/** Read-only view of a host tree; paths are absolute as seen on that host ('/proc/meminfo'). */
export interface TreeReader {
  read(path: string): ReadResult;
  exists(path: string): boolean;
  /** Symlinks resolved, as a path inside the tree; undefined if missing or escaping the tree. */
  resolve(path: string): string | undefined;
  list(path: string): string[] | undefined;
}

export function treeReader(root: string): TreeReader {
  const rootReal = realpathSync(root);
  const onHost = (p: string) => (rootReal === '/' ? p : posix.join(rootReal, p));
  return {
    read(p) {
      try {
        return { ok: true, text: readFileSync(onHost(p), 'utf8') };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
        return { ok: false, code, reason: `${p}: ${describeErrno(code)}` };
      }
    },
    exists(p) {
      try {
        statSync(onHost(p));
        return true;
      } catch {
        return false;
      }
    },
    resolve(p) {
      let real: string;
      try {
        real = realpathSync(onHost(p));
      } catch {
        return undefined;
      }
      if (rootReal === '/') return real;
      if (real === rootReal) return '/';
      return real.startsWith(rootReal + '/') ? real.slice(rootReal.length) : undefined;
    },
    list(p) {
      try {
        return readdirSync(onHost(p)).sort();
      } catch {
        return undefined;
      }
    },
  };
}

function describeErrno(code: string): string {
  if (code === 'ENOENT') return 'not found';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return code;
}

function readInt(t: TreeReader, path: string): { value: number } | { error: string } {
  const r = t.read(path);
  if (!r.ok) return { error: r.reason };
  const s = r.text.trim();
  if (!/^-?\d+$/.test(s)) return { error: `${path}: unexpected content ${JSON.stringify(s.slice(0, 40))}` };
  return { value: Number(s) };
}

// ---- parsers (exported for tests) ---------------------------------------------------------------

/** "always [madvise] never" → active 'madvise'. A lone word without brackets is the active one. */
export function parseChoice(text: string): { active?: string; available: string[] } {
  const tokens = text.trim().split(/\s+/).filter((s) => s !== '');
  const available = tokens.map((s) => s.replace(/^\[(.*)\]$/, '$1'));
  const bracketed = tokens.find((s) => /^\[.+\]$/.test(s));
  if (bracketed) return { active: bracketed.slice(1, -1), available };
  return { active: tokens.length === 1 ? tokens[0] : undefined, available };
}

type Limit = number | 'unlimited';

/** The "Max open files" line of /proc/<pid>/limits. */
export function parseNofile(limitsText: string): { soft: Limit; hard: Limit } | undefined {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limitsText);
  if (!m) return undefined;
  const v = (s: string): Limit | undefined => (s === 'unlimited' ? s : /^\d+$/.test(s) ? Number(s) : undefined);
  const soft = v(m[1]!);
  const hard = v(m[2]!);
  return soft === undefined || hard === undefined ? undefined : { soft, hard };
}

function parseMemTotalBytes(meminfo: string): number | undefined {
  const m = /^MemTotal:\s+(\d+)\s*kB/m.exec(meminfo);
  return m ? Number(m[1]) * 1024 : undefined;
}

interface MountEntry {
  mountPoint: string;
  major: number;
  minor: number;
  fsType: string;
  source: string;
}

/** /proc/<pid>/mountinfo (proc(5)): "id parent maj:min root mountpoint opts [optional...] - fstype source super". */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    const sep = f.indexOf('-');
    const dev = /^(\d+):(\d+)$/.exec(f[2] ?? '');
    if (f.length < 5 || sep < 6 || !dev) continue;
    out.push({
      mountPoint: unescapeMount(f[4]!),
      major: Number(dev[1]),
      minor: Number(dev[2]),
      fsType: f[sep + 1] ?? '?',
      source: f[sep + 2] ?? '?',
    });
  }
  return out;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The mount holding `path`: the longest mount point that contains it; the last one listed wins (stacked mounts). */
export function findMount(mounts: MountEntry[], path: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const mp = m.mountPoint;
    const contains = mp === '/' || path === mp || path.startsWith(mp.endsWith('/') ? mp : mp + '/');
    if (contains && (!best || mp.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/** glibc's gnu_dev_major / gnu_dev_minor on a stat dev_t. */
export function splitDev(dev: bigint): DeviceId {
  const major = ((dev & 0xfff00n) >> 8n) | ((dev & 0xfffff00000000000n) >> 32n);
  const minor = (dev & 0xffn) | ((dev & 0xffffff00000n) >> 12n);
  return { major: Number(major), minor: Number(minor) };
}

interface LockOwner {
  pid: number;
  /** /proc/<pid>/stat starttime when the lock was taken: tells a live owner from a recycled pid. */
  startTicks?: number;
  host?: string;
}

/**
 * The owner in a store's `lock` file. rocketctl's broker writes {"pid","startTicks","host"} there
 * (src/broker/store/store-lock.ts); Java RocketMQ only holds a file lock and leaves it empty, so
 * "no owner" is a normal answer. A bare pid ("1234", "pid=1234") is accepted too.
 */
export function parseLockOwner(text: string): LockOwner | undefined {
  const s = text.trim();
  let owner: LockOwner | undefined;
  if (s.startsWith('{')) {
    try {
      const o = JSON.parse(s) as { pid?: unknown; startTicks?: unknown; host?: unknown };
      if (typeof o.pid === 'number') {
        owner = { pid: o.pid };
        if (typeof o.startTicks === 'number') owner.startTicks = o.startTicks;
        if (typeof o.host === 'string' && o.host !== '') owner.host = o.host;
      }
    } catch {
      /* not JSON */
    }
  } else {
    const m = /^(\d+)(\s|$)/.exec(s) ?? /^pid\s*[=:]\s*(\d+)/im.exec(s);
    if (m) owner = { pid: Number(m[1]) };
  }
  return owner && Number.isSafeInteger(owner.pid) && owner.pid > 0 ? owner : undefined;
}

/** Field 22 (starttime) of /proc/<pid>/stat; the command (field 2) may hold spaces and parentheses. */
export function parseStartTicks(stat: string): number | undefined {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[19]);
  return rest.length > 19 && Number.isSafeInteger(ticks) ? ticks : undefined;
}

/**
 * --max-old-space-size (or _ spelling) in MB from node's own options: `args` stop at the first
 * non-option (the script), because anything after it belongs to the program. The last one wins.
 */
export function maxOldSpaceMb(args: string[]): number | undefined {
  let found: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('-')) break;
    const m = /^--max[-_]old[-_]space[-_]size(?:=(\d+))?$/.exec(a);
    if (!m) continue;
    const v = m[1] ?? (/^\d+$/.test(args[i + 1] ?? '') ? args[++i] : undefined);
    if (v !== undefined) found = Number(v);
  }
  return found;
}

// ---- the checks ---------------------------------------------------------------------------------

interface Verdict {
  status: CheckStatus;
  why: string;
}

const VM = '/proc/sys/vm';

function unreadable(id: string, recommended: string, reason: string, what = 'cannot read'): OsCheckItem {
  return { id, current: `unreadable (${reason})`, recommended, status: 'warn', why: `${what}, so not checked` };
}

/** One vm.* sysctl: read, judge, and (when not passing) the os.sh command that sets it. */
function sysctlItem(
  t: TreeReader,
  key: string,
  recommended: string,
  judge: (v: number) => Verdict,
  fixValue?: number,
): OsCheckItem {
  const id = `vm.${key}`;
  const path = `${VM}/${key}`;
  const r = readInt(t, path);
  if ('error' in r) return unreadable(id, recommended, r.error);
  const item: OsCheckItem = { id, current: String(r.value), recommended, ...judge(r.value) };
  if (item.status !== 'pass' && fixValue !== undefined) {
    item.fix = [`sysctl -w ${id}=${fixValue}`];
    item.writes = [{ path, value: String(fixValue) }];
  }
  return item;
}

function checkOvercommit(t: TreeReader): OsCheckItem {
  const modes: Record<number, string> = { 0: 'heuristic overcommit', 1: 'always overcommit', 2: 'strict accounting' };
  return sysctlItem(t, 'overcommit_memory', '1', (v) =>
    v === 1
      ? { status: 'pass', why: 'always overcommit: large mappings and heaps are never refused up front (os.sh sets 1)' }
      : {
          status: 'warn',
          why: `${modes[v] ?? 'unknown mode'}: the kernel may refuse large allocations (RocketMQ maps 1 GiB commit log files, runbroker.sh pre-touches an 8g heap); os.sh sets 1`,
        },
    1,
  );
}

/** A write-only trigger, not a setting: report what the kernel lets us see and never "fix" it. */
function checkDropCaches(t: TreeReader): OsCheckItem {
  const id = 'vm.drop_caches';
  const recommended = 'n/a (one-shot trigger)';
  const why =
    'a trigger, not a setting: os.sh writes 1 once to drop clean page cache before a broker starts; there is nothing to keep set, and dropping the cache under a running broker only sends reads to disk';
  const r = t.read(`${VM}/drop_caches`);
  if (r.ok) return { id, current: `last value written: ${r.text.trim() || '(empty)'}`, recommended, status: 'skip', why };
  if (r.code === 'EACCES' || r.code === 'EPERM') return { id, current: 'write-only', recommended, status: 'skip', why };
  return unreadable(id, recommended, r.reason, 'cannot find the trigger');
}

function checkMinFree(t: TreeReader, memTotalBytes: number | undefined): OsCheckItem {
  // The kernel's own default (mm/page_alloc.c): sqrt(lowmem_kbytes * 16), clamped to [128, 262144].
  const kernelDefault =
    memTotalBytes === undefined ? undefined : Math.min(262144, Math.max(128, Math.floor(Math.sqrt((memTotalBytes / 1024) * 16))));
  const fixValue = kernelDefault === undefined ? undefined : Math.max(MIN_FREE_KBYTES_FLOOR, kernelDefault);
  const item = sysctlItem(
    t,
    'min_free_kbytes',
    `>= ${MIN_FREE_KBYTES_FLOOR}`,
    (v) =>
      v >= MIN_FREE_KBYTES_FLOOR
        ? { status: 'pass', why: 'at or above the docs floor of 1024 KB reserved for the kernel (os.sh leaves it at the kernel default)' }
        : { status: 'fail', why: 'docs: never below 1024 KB, or the kernel cannot satisfy atomic allocations under memory pressure and can hang' },
    fixValue,
  );
  if (item.status === 'fail' && fixValue === undefined) item.why += '; MemTotal unreadable, so no value is suggested';
  if (item.fix) item.fix.push('# the kernel\'s base default for this much memory, sqrt(MemTotal KB * 16)');
  return item;
}

function checkExtraFree(t: TreeReader): OsCheckItem {
  const id = 'vm.extra_free_kbytes';
  const recommended = '> 0 (os.sh, commented out: 2000000)';
  const r = readInt(t, `${VM}/extra_free_kbytes`);
  if ('error' in r) {
    // Absent from mainline Linux; only some vendor kernels add it. Only say so when vm/ itself is readable.
    if (!t.exists(`${VM}/extra_free_kbytes`) && t.exists(VM)) {
      return {
        id,
        current: 'not present on this kernel',
        recommended,
        status: 'skip',
        why: 'mainline Linux has no such knob (some vendor kernels add it); vm.min_free_kbytes is the reserve that applies',
      };
    }
    return unreadable(id, recommended, r.error);
  }
  return r.value > 0
    ? { id, current: String(r.value), recommended, status: 'pass', why: 'extra free memory is reserved so page cache reclaim starts before allocations stall (docs)' }
    : {
        id,
        current: String(r.value),
        recommended,
        status: 'warn',
        why: 'docs advise reserving extra free memory so reclaim runs in the background instead of stalling the broker; os.sh\'s commented-out value is 2000000 KB, size it to this host',
      };
}

function checkMaxMapCount(t: TreeReader): OsCheckItem {
  return sysctlItem(
    t,
    'max_map_count',
    `>= ${MAX_MAP_COUNT_RECOMMENDED}`,
    (v) =>
      v >= MAX_MAP_COUNT_RECOMMENDED
        ? { status: 'pass', why: 'room for a Java RocketMQ broker to mmap every commit log, consume queue and index file (os.sh sets 655360)' }
        : {
            // warn, not fail: rocketctl's Node broker reads and writes its store through file
            // descriptors and maps nothing, so a low limit only hurts a Java broker on this host.
            status: 'warn',
            why: 'a Java RocketMQ broker mmaps every commit log, consume queue and index file and fails with "Map failed" past this; rocketctl\'s Node broker does not mmap, so it only matters for a Java broker here',
          },
    MAX_MAP_COUNT_RECOMMENDED,
  );
}

function checkSwappiness(t: TreeReader): OsCheckItem {
  return sysctlItem(
    t,
    'swappiness',
    `<= ${SWAPPINESS_MAX} (docs 10, os.sh 1)`,
    (v) =>
      v <= SWAPPINESS_MAX
        ? { status: 'pass', why: 'the kernel keeps broker memory in RAM rather than swapping it out (docs recommend 10, os.sh sets 1)' }
        : { status: 'warn', why: 'the kernel swaps broker memory out to grow the page cache, which shows up as latency spikes (docs recommend 10, os.sh sets 1)' },
    1,
  );
}

/** dirty_* : os.sh's values for a page-cache-heavy broker that flushes its own commit log. */
function checkDirty(t: TreeReader, key: string, osValue: number, intent: string, bytesKey?: string): OsCheckItem {
  const item = sysctlItem(
    t,
    key,
    `${osValue} (os.sh)`,
    (v) =>
      v === osValue
        ? { status: 'pass', why: `os.sh's value for a page-cache-heavy broker: ${intent}` }
        : {
            // warn, not fail: the kernel defaults are safe; durability is the broker's own flush
            // (ASYNC_FLUSH interval or SYNC_FLUSH), but writeback then competes with it.
            status: 'warn',
            why: `differs from os.sh's value for a page-cache-heavy broker (${intent}); the kernel default is safe, but writeback then competes with the broker's own flush`,
          },
    osValue,
  );
  if (bytesKey && item.current === '0') {
    const b = readInt(t, `${VM}/${bytesKey}`);
    if ('value' in b && b.value > 0) item.current = `0 (vm.${bytesKey} = ${b.value} is in use)`;
  }
  return item;
}

function checkZoneReclaim(t: TreeReader): OsCheckItem {
  return sysctlItem(
    t,
    'zone_reclaim_mode',
    '0',
    (v) =>
      v === 0
        ? { status: 'pass', why: 'on NUMA hosts memory comes from any node instead of reclaiming local page cache (docs, os.sh: 0)' }
        : { status: 'warn', why: 'on NUMA hosts the kernel reclaims local page cache before using another node, evicting the commit log pages consumers read (docs, os.sh: 0)' },
    0,
  );
}

function checkPageCluster(t: TreeReader): OsCheckItem {
  return sysctlItem(
    t,
    'page-cluster',
    '3 (os.sh)',
    (v) =>
      v === 3
        ? { status: 'pass', why: 'swap-in reads 2^3 pages at a time, as os.sh sets (also the kernel default)' }
        : { status: 'warn', why: 'differs from os.sh\'s 3 (swap-in readahead of 2^3 pages); with low swappiness it rarely matters' },
    3,
  );
}

function checkThp(t: TreeReader): OsCheckItem {
  const id = 'mm.transparent_hugepage';
  const path = '/sys/kernel/mm/transparent_hugepage/enabled';
  const recommended = 'never or madvise';
  const r = t.read(path);
  if (!r.ok) {
    if (r.code === 'ENOENT' && t.exists('/sys/kernel/mm')) {
      return { id, current: 'not present on this kernel', recommended, status: 'skip', why: 'kernel built without transparent huge pages: nothing to tune' };
    }
    return unreadable(id, recommended, r.reason);
  }
  const { active, available } = parseChoice(r.text);
  if (active === undefined) return unreadable(id, recommended, `${path}: no active value in ${JSON.stringify(r.text.trim())}`);
  if (active === 'never' || active === 'madvise') {
    return { id, current: active, recommended, status: 'pass', why: 'no huge-page compaction stalls behind the broker\'s back (runbroker.sh also runs with -XX:-UseLargePages)' };
  }
  const target = available.includes('never') ? 'never' : 'madvise';
  return {
    id,
    current: active,
    recommended,
    status: 'warn',
    why: 'huge-page faults and khugepaged compaction cause latency stalls in a large, busy process (runbroker.sh runs with -XX:-UseLargePages)',
    fix: [`echo ${target} > ${path}`, `# lost at reboot; to keep it, add transparent_hugepage=${target} to the kernel command line`],
    writes: [{ path, value: target }],
  };
}

// ---- open files -------------------------------------------------------------------------------

function nofileVerdict(soft: Limit): Verdict {
  if (soft === 'unlimited' || soft >= NOFILE_RECOMMENDED) {
    return { status: 'pass', why: 'enough descriptors for every commit log segment, consume queue file, index file and client connection (os.sh: 655350)' };
  }
  if (soft >= NOFILE_FAIL_BELOW) {
    return { status: 'warn', why: 'below os.sh\'s 655350: each segment file, consume queue file and connection holds a descriptor, and a large broker runs out with EMFILE' };
  }
  return { status: 'fail', why: `below ${NOFILE_FAIL_BELOW}: a broker with a few thousand queues and connections fails with EMFILE (os.sh: 655350)` };
}

const NOFILE_FIX = [
  `echo '* soft nofile ${NOFILE_RECOMMENDED}' >> /etc/security/limits.conf`,
  `echo '* hard nofile ${NOFILE_RECOMMENDED}' >> /etc/security/limits.conf`,
  `# takes effect at the next login; for a systemd unit set LimitNOFILE=${NOFILE_RECOMMENDED} in [Service]`,
];

function checkNofileSelf(t: TreeReader): OsCheckItem {
  const id = 'limits.nofile.self';
  const recommended = `>= ${NOFILE_RECOMMENDED}`;
  const r = t.read('/proc/self/limits');
  if (!r.ok) return unreadable(id, recommended, r.reason);
  const n = parseNofile(r.text);
  if (!n) return unreadable(id, recommended, '/proc/self/limits: no "Max open files" line');
  const v = nofileVerdict(n.soft);
  // Node (and the JVM) raise the soft limit to the hard one at start-up, so what a Node process
  // sees here is what a broker started from this shell gets.
  const item: OsCheckItem = { id, current: `soft ${n.soft}, hard ${n.hard} (this process)`, recommended, ...v };
  if (v.status !== 'pass') item.fix = [...NOFILE_FIX];
  return item;
}

function checkNofileBroker(t: TreeReader, broker: BrokerLookup): OsCheckItem {
  const id = 'limits.nofile.broker';
  const recommended = `>= ${NOFILE_RECOMMENDED}`;
  if (!broker.ref) return { id, current: broker.note, recommended, status: broker.status, why: 'no running broker found, so only this process\'s limit was checked' };
  const { pid } = broker.ref;
  const r = t.read(`/proc/${pid}/limits`);
  if (!r.ok) return unreadable(id, recommended, r.reason, `cannot read pid ${pid}'s limits (needs the broker's user or root)`);
  const n = parseNofile(r.text);
  if (!n) return unreadable(id, recommended, `/proc/${pid}/limits: no "Max open files" line`);
  const item: OsCheckItem = { id, current: `soft ${n.soft}, hard ${n.hard} (pid ${pid})`, recommended, ...nofileVerdict(n.soft) };
  if (item.status !== 'pass') {
    item.fix = [`prlimit --pid ${pid} --nofile=${NOFILE_RECOMMENDED}:${NOFILE_RECOMMENDED}`, ...NOFILE_FIX];
  }
  return item;
}

// ---- broker lookup ------------------------------------------------------------------------------

interface BrokerLookup {
  ref: BrokerRef | null;
  /** Why there is none (when ref is null). */
  note: string;
  status: CheckStatus;
}

function findBroker(t: TreeReader, storeDir: string, pid: number | undefined): BrokerLookup {
  const alive = (p: number) => t.exists(`/proc/${p}`);
  const comm = (p: number) => {
    const r = t.read(`/proc/${p}/comm`);
    return r.ok ? r.text.trim() || undefined : undefined;
  };
  if (pid !== undefined) {
    // The operator named a process: its absence is worth a warning, not a silent skip.
    if (!alive(pid)) return { ref: null, note: `--pid ${pid}: no such process`, status: 'warn' };
    return { ref: { pid, source: 'flag', command: comm(pid) }, note: '', status: 'pass' };
  }
  const lockPath = posix.join(storeDir, 'lock');
  const r = t.read(lockPath);
  if (!r.ok) return { ref: null, note: `no running broker found (${r.reason})`, status: 'skip' };
  const owner = parseLockOwner(r.text);
  if (owner === undefined) {
    return { ref: null, note: `no running broker found (${lockPath} holds no pid; a Java broker's lock is empty: pass --pid)`, status: 'skip' };
  }
  const lockPid = owner.pid;
  const none = (why: string): BrokerLookup => ({ ref: null, note: `no running broker found (${why})`, status: 'skip' });
  const hostname = t.read('/proc/sys/kernel/hostname');
  if (owner.host && hostname.ok && hostname.text.trim() !== owner.host) {
    return none(`${lockPath} is held by host ${owner.host}, not this one`);
  }
  if (!alive(lockPid)) return none(`stale ${lockPath}: pid ${lockPid} is not running`);
  const stat = t.read(`/proc/${lockPid}/stat`);
  const ticks = stat.ok ? parseStartTicks(stat.text) : undefined;
  if (owner.startTicks !== undefined && ticks !== undefined && ticks !== owner.startTicks) {
    return none(`stale ${lockPath}: pid ${lockPid} is now another process`);
  }
  return { ref: { pid: lockPid, source: 'lock', command: comm(lockPid) }, note: '', status: 'pass' };
}

// ---- memory and the Node heap -------------------------------------------------------------------

interface Memory {
  /** What a broker can use: MemTotal, or the cgroup limit when lower. */
  bytes: number;
  source: string;
  memTotalBytes: number;
}

/** MemTotal, or the cgroup's memory limit when lower (a container sees the host's MemTotal). */
function readMemory(t: TreeReader): Memory | { error: string } {
  const r = t.read('/proc/meminfo');
  if (!r.ok) return { error: r.reason };
  const total = parseMemTotalBytes(r.text);
  if (total === undefined) return { error: '/proc/meminfo: no MemTotal line' };
  const limit = cgroupMemoryLimit(t);
  if (limit !== undefined && limit < total) return { bytes: limit, source: 'cgroup memory limit', memTotalBytes: total };
  return { bytes: total, source: 'MemTotal', memTotalBytes: total };
}

function cgroupMemoryLimit(t: TreeReader): number | undefined {
  const r = t.read('/proc/self/cgroup');
  if (!r.ok) return undefined;
  const candidates: string[] = [];
  for (const line of r.text.split('\n')) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line.trim()) ?? [];
    if (path === undefined) continue;
    if (controllers === '') candidates.push(posix.join('/sys/fs/cgroup', path, 'memory.max'), '/sys/fs/cgroup/memory.max');
    if (controllers!.split(',').includes('memory')) {
      candidates.push(posix.join('/sys/fs/cgroup/memory', path, 'memory.limit_in_bytes'), '/sys/fs/cgroup/memory/memory.limit_in_bytes');
    }
  }
  for (const p of candidates) {
    const v = readInt(t, p); // "max" (v2, no limit) is not an int and is skipped
    if ('value' in v) return v.value > 0 && v.value < CGROUP_UNLIMITED_BYTES ? v.value : undefined;
  }
  return undefined;
}

interface HeapSource {
  /** Where --max-old-space-size was looked for. */
  who: string;
  flagMb?: number;
  flagFrom?: string;
  /** Why the flag could not be looked for everywhere (environ unreadable). */
  gap?: string;
}

function nodeOptionsArgs(s: string | undefined): string[] {
  return (s ?? '').split(/\s+/).filter((a) => a !== '');
}

function heapSource(t: TreeReader, facts: ProcessFacts, broker: BrokerRef | null): HeapSource {
  if (!broker) {
    const fromArgv = maxOldSpaceMb(facts.execArgv);
    const fromEnv = maxOldSpaceMb(nodeOptionsArgs(facts.nodeOptions));
    // Node: options on the command line take precedence over NODE_OPTIONS.
    if (fromArgv !== undefined) return { who: 'this process', flagMb: fromArgv, flagFrom: 'node command line' };
    if (fromEnv !== undefined) return { who: 'this process', flagMb: fromEnv, flagFrom: 'NODE_OPTIONS' };
    return { who: 'this process' };
  }
  const who = `pid ${broker.pid}`;
  const cmd = t.read(`/proc/${broker.pid}/cmdline`);
  const argv = cmd.ok ? cmd.text.split('\0').filter((a) => a !== '') : [];
  const fromArgv = maxOldSpaceMb(argv.slice(1));
  if (fromArgv !== undefined) return { who, flagMb: fromArgv, flagFrom: `${who} command line` };
  const env = t.read(`/proc/${broker.pid}/environ`);
  if (!env.ok) return { who, gap: `${cmd.ok ? '' : `${cmd.reason}; `}${env.reason}` };
  const nodeOptions = env.text.split('\0').find((e) => e.startsWith('NODE_OPTIONS='))?.slice('NODE_OPTIONS='.length);
  const fromEnv = maxOldSpaceMb(nodeOptionsArgs(nodeOptions));
  if (fromEnv !== undefined) return { who, flagMb: fromEnv, flagFrom: `${who} NODE_OPTIONS` };
  return { who, gap: cmd.ok ? undefined : cmd.reason };
}

function suggestedHeapMb(memory: Memory): number {
  const halfMb = Math.floor((memory.bytes * HEAP_WARN_FRACTION) / MB / 256) * 256;
  return Math.max(256, Math.min(HEAP_SUGGEST_CAP_MB, halfMb));
}

/** runbroker.sh pins the heap (-Xms8g -Xmx8g); the Node equivalent is an explicit --max-old-space-size. */
function checkMaxOldSpace(src: HeapSource, memory: Memory | { error: string }): OsCheckItem {
  const id = 'node.max_old_space_size';
  const recommended = 'set explicitly (runbroker.sh pins -Xms8g -Xmx8g)';
  if (src.flagMb !== undefined) {
    return { id, current: `${src.flagMb} MB (${src.flagFrom})`, recommended, status: 'pass', why: 'the heap limit is pinned, as runbroker.sh pins the JVM heap, instead of depending on V8\'s default' };
  }
  const item: OsCheckItem = {
    id,
    current: src.gap ? `not on the command line (${src.gap})` : `not set (${src.who})`,
    recommended,
    status: 'warn',
    why: src.gap
      ? `cannot see ${src.who}'s NODE_OPTIONS (readable by its user or root), so the heap limit is unknown`
      : 'V8 then picks the heap limit from machine memory and Node version; pin it as runbroker.sh pins -Xmx',
  };
  if ('bytes' in memory) item.fix = [`export NODE_OPTIONS="--max-old-space-size=${suggestedHeapMb(memory)}"  # before starting the broker`];
  return item;
}

/** Heap limit vs. memory: the store lives in the page cache, so the heap must leave room for it. */
function checkHeapLimit(src: HeapSource, facts: ProcessFacts, memory: Memory | { error: string }): OsCheckItem {
  const id = 'node.heap_limit';
  if ('error' in memory) return unreadable(id, `<= ${HEAP_WARN_FRACTION * 100}% of memory`, memory.error, 'cannot read machine memory');
  const memMb = Math.floor(memory.bytes / MB);
  const recommended = `<= ${Math.floor(memMb * HEAP_WARN_FRACTION)} MB (${HEAP_WARN_FRACTION * 100}% of ${memMb} MB, ${memory.source})`;
  let limitMb: number;
  let current: string;
  if (src.flagMb !== undefined) {
    limitMb = src.flagMb;
    current = `${limitMb} MB (--max-old-space-size, ${src.flagFrom})`;
  } else if (src.who === 'this process') {
    limitMb = Math.floor(facts.heapSizeLimitBytes / MB);
    current = `${limitMb} MB (this process, V8 default)`;
  } else {
    return {
      id,
      current: `V8 default of ${src.who} (not readable from outside the process)`,
      recommended,
      status: 'warn',
      why: `set --max-old-space-size so the limit is known; this node's default here is ${Math.floor(facts.heapSizeLimitBytes / MB)} MB`,
    };
  }
  const pct = Math.round((limitMb / memMb) * 100);
  current += `, ${pct}% of memory`;
  const mb = suggestedHeapMb(memory);
  // A flag on node's command line overrides NODE_OPTIONS, so say where to change it.
  const fix = src.flagFrom?.endsWith('command line')
    ? [`# restart the broker with --max-old-space-size=${mb} in place of ${src.flagMb} on its node command line`]
    : [`export NODE_OPTIONS="--max-old-space-size=${mb}"  # then restart the broker`];
  if (limitMb > memMb) {
    return { id, current, recommended, status: 'fail', why: 'the heap may grow past memory: the broker is OOM-killed or swaps before V8 collects', fix };
  }
  if (limitMb > memMb * HEAP_WARN_FRACTION) {
    return { id, current, recommended, status: 'warn', why: 'a full heap leaves less than half of memory for the page cache the store is read from (runbroker.sh: 8g heap on hosts sized for it)', fix };
  }
  return { id, current, recommended, status: 'pass', why: 'at least half of memory stays free for the page cache that serves the store' };
}

// ---- I/O scheduler of the store's disk ----------------------------------------------------------

/** The store dir, or its nearest existing parent (the store may not be created yet). */
function nearestExisting(t: TreeReader, dir: string): string {
  let p = dir;
  for (let i = 0; i < 256 && !t.exists(p); i++) p = posix.dirname(p);
  return p;
}

/**
 * The device holding the store. On the live root: stat's st_dev, as df does. Under another root,
 * stat would describe this machine rather than the tree, so the tree's own mountinfo decides.
 */
function storeDevice(t: TreeReader, root: string, storeDir: string): { dev?: DeviceId; at: string; fsType?: string; error?: string } {
  const at = nearestExisting(t, storeDir);
  const mi = t.read('/proc/self/mountinfo');
  const mount = mi.ok ? findMount(parseMountinfo(mi.text), at) : undefined;
  if (realpathSync(root) === '/') {
    try {
      const dev = splitDev(statSync(at, { bigint: true }).dev);
      const fsType = mount && mount.major === dev.major && mount.minor === dev.minor ? mount.fsType : undefined;
      return { dev, at, fsType };
    } catch (err) {
      return { at, error: `stat ${at}: ${describeErrno((err as NodeJS.ErrnoException).code ?? 'EIO')}` };
    }
  }
  if (!mi.ok) return { at, error: mi.reason };
  if (!mount) return { at, error: `no mount in /proc/self/mountinfo holds ${at}` };
  return { dev: { major: mount.major, minor: mount.minor }, at, fsType: mount.fsType };
}

interface DiskScheduler {
  disk: string;
  path: string;
  active?: string;
  available: string[];
  error?: string;
}

/** Whole-disk queue/scheduler for a device; partitions resolve to their disk, dm/md to their slaves. */
function diskSchedulers(t: TreeReader, devPath: string, depth = 0): DiskScheduler[] {
  const disk = t.exists(`${devPath}/partition`) ? posix.dirname(devPath) : devPath;
  const path = `${disk}/queue/scheduler`;
  const name = posix.basename(disk);
  const r = t.read(path);
  const own: DiskScheduler = r.ok ? { disk: name, path, ...parseChoice(r.text) } : { disk: name, path, available: [], error: r.reason };
  // Stacked devices (LVM, dm-crypt, md) have no scheduler of their own ("none"): the disks under
  // them do the scheduling. Bounded depth: stacks are rarely more than two deep.
  const slaves = t.list(`${disk}/slaves`) ?? [];
  if ((own.active === 'none' || own.error) && slaves.length > 0 && depth < 4) {
    const under = slaves.flatMap((s) => {
      const p = t.resolve(`${disk}/slaves/${s}`);
      return p ? diskSchedulers(t, p, depth + 1) : [];
    });
    if (under.length > 0) return under;
  }
  return [own];
}

const GOOD_SCHEDULERS = new Set(['mq-deadline', 'deadline', 'none', 'noop']);

function checkScheduler(t: TreeReader, root: string, storeDir: string): OsCheckItem {
  const id = 'io.scheduler';
  const recommended = 'mq-deadline / deadline (none on virtual and NVMe disks)';
  const where = storeDevice(t, root, storeDir);
  const atNote = where.at === storeDir ? storeDir : `${where.at} (nearest existing parent of ${storeDir})`;
  if (!where.dev) return unreadable(id, recommended, where.error ?? 'unknown device', `cannot tell which disk holds ${atNote}`);
  const devName = `${where.dev.major}:${where.dev.minor}`;
  if (where.dev.major === 0) {
    return {
      id,
      current: `${where.fsType ?? 'virtual filesystem'} (device ${devName}), not a block device`,
      recommended,
      status: 'warn',
      why:
        where.fsType === 'tmpfs'
          ? `${atNote} is in memory (tmpfs): there is no disk to schedule, and a store there does not survive a reboot`
          : `${atNote} is not on a disk this host schedules (overlay or network filesystem): check the scheduler of the disk underneath`,
    };
  }
  const devPath = t.resolve(`/sys/dev/block/${devName}`);
  if (!devPath) return unreadable(id, recommended, `/sys/dev/block/${devName}: not found`, `cannot find the disk holding ${atNote}`);
  const disks = diskSchedulers(t, devPath);
  const state = (d: DiskScheduler) => d.error ? `unreadable (${d.error})` : (d.active ?? `no active one in ${JSON.stringify(d.available.join(' '))}`);
  const current = `${disks.map((d) => `${d.disk}: ${state(d)}`).join('; ')} (disk${disks.length > 1 ? 's' : ''} of ${where.at})`;
  const bad = disks.filter((d) => !d.error && d.active !== undefined && !GOOD_SCHEDULERS.has(d.active));
  const unknown = disks.filter((d) => d.error || d.active === undefined);
  if (bad.length > 0) return schedulerFix({ id, current, recommended, status: 'warn', why: '' }, bad);
  if (unknown.length > 0) return { id, current, recommended, status: 'warn', why: `cannot read the scheduler of every disk holding ${atNote}, so not checked` };
  const why = disks.every((d) => d.active === 'none' || d.active === 'noop')
    ? 'no reordering: right for virtual, NVMe and SSD devices whose own queue schedules (docs otherwise recommend deadline)'
    : 'deadline bounds how long reads and writes wait, so commit log appends are not starved (docs recommend deadline)';
  return { id, current, recommended, status: 'pass', why };
}

function schedulerFix(item: OsCheckItem, bad: DiskScheduler[]): OsCheckItem {
  const names = [...new Set(bad.map((d) => d.active))].join(', ');
  item.why = `docs recommend deadline, which bounds how long each read and write waits; ${names} schedules for other goals (fairness, latency targets) and can hold back commit log I/O`;
  const fix: string[] = [];
  const writes: FileWrite[] = [];
  for (const d of bad) {
    const target = ['mq-deadline', 'deadline'].find((s) => d.available.includes(s));
    if (!target) {
      fix.push(`# ${d.disk}: no deadline scheduler available (try: modprobe mq-deadline)`);
      continue;
    }
    fix.push(`echo ${target} > /sys/block/${d.disk}/queue/scheduler`);
    writes.push({ path: d.path, value: target });
  }
  fix.push('# lost at reboot; to keep it, add a udev rule setting ATTR{queue/scheduler}');
  item.fix = fix;
  if (writes.length > 0) item.writes = writes;
  return item;
}

// ---- entry point --------------------------------------------------------------------------------

export const DEFAULT_STORE_SUBDIR = '.rocketctl/store';

export function checkOS(opts: OsCheckOptions): OsReport {
  const t = opts.reader ?? treeReader(opts.root);
  const storeDir = resolve(opts.storeDir);
  const broker = findBroker(t, storeDir, opts.pid);
  const memory = readMemory(t);
  const heap = heapSource(t, opts.process, broker.ref);
  const items: OsCheckItem[] = [
    checkOvercommit(t),
    checkDropCaches(t),
    checkMinFree(t, 'bytes' in memory ? memory.memTotalBytes : undefined),
    checkExtraFree(t),
    checkMaxMapCount(t),
    checkSwappiness(t),
    checkDirty(t, 'dirty_background_ratio', 50, 'background writeback starts late, the broker flushes its own commit log', 'dirty_background_bytes'),
    checkDirty(t, 'dirty_ratio', 50, 'writers are throttled only when half of memory is dirty, so appends do not stall', 'dirty_bytes'),
    checkDirty(t, 'dirty_writeback_centisecs', 360000, 'the flusher wakes hourly, the broker\'s flush decides durability'),
    checkZoneReclaim(t),
    checkPageCluster(t),
    checkNofileSelf(t),
    checkNofileBroker(t, broker),
    checkScheduler(t, opts.root, storeDir),
    checkThp(t),
    checkHeapLimit(heap, opts.process, memory),
    checkMaxOldSpace(heap, memory),
  ];
  return { root: opts.root, storeDir, broker: broker.ref, items, summary: summarize(items) };
}

export function summarize(items: OsCheckItem[]): Record<CheckStatus, number> {
  const s: Record<CheckStatus, number> = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const i of items) s[i.status]++;
  return s;
}
