import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  checkOS,
  findMount,
  maxOldSpaceMb,
  parseChoice,
  parseLockOwner,
  parseMountinfo,
  parseNofile,
  parseStartTicks,
  splitDev,
  treeReader,
  type OsCheckItem,
  type OsCheckOptions,
  type OsReport,
  type ProcessFacts,
  type TreeReader,
} from '../../src/checks/os.js';
import { applyWrites, assertMayApply, fixLines } from '../../src/checks/fix.js';
import { CHECKOS_IDS } from '../helpers/checkos-ids.js';

const FIXTURES = new URL('../../fixtures/checkos/', import.meta.url).pathname;
const STORE = '/var/lib/rocketmq/store';
const MB = 1024 * 1024;
/** A Node process with a 2 GiB heap limit and no --max-old-space-size anywhere. */
const PLAIN_NODE: ProcessFacts = { heapSizeLimitBytes: 2048 * MB, execArgv: [] };

const ALL_IDS = CHECKOS_IDS;

function run(host: string, extra: Partial<OsCheckOptions> = {}): OsReport {
  return checkOS({ root: join(FIXTURES, host), storeDir: STORE, process: PLAIN_NODE, ...extra });
}

function item(r: OsReport, id: string): OsCheckItem {
  const found = r.items.find((i) => i.id === id);
  if (!found) throw new Error(`no item ${id}`);
  return found;
}

function statuses(r: OsReport): Record<string, string> {
  return Object.fromEntries(r.items.map((i) => [i.id, i.status]));
}

const temps: string[] = [];
afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A private copy of a fixture tree (relative sysfs symlinks kept as they are). */
function copyOf(host: string): string {
  const dir = mkdtempSync(join(tmpdir(), `checkos-${host}-`));
  temps.push(dir);
  cpSync(join(FIXTURES, host), dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

describe('checkOS on a good host', () => {
  const r = run('good');

  it('reports every item, in a stable order', () => {
    expect(r.items.map((i) => i.id)).toEqual(ALL_IDS);
  });

  it('passes everything; drop_caches is a trigger and is skipped', () => {
    const expected = Object.fromEntries(ALL_IDS.map((id) => [id, id === 'vm.drop_caches' ? 'skip' : 'pass']));
    expect(statuses(r)).toEqual(expected);
    expect(r.summary).toEqual({ pass: 16, warn: 0, fail: 0, skip: 1 });
    expect(item(r, 'vm.drop_caches').current).toBe('last value written: 1');
    expect(fixLines(r.items)).toEqual([]);
  });

  it('finds the broker from the JSON lock and reads its limits and heap flag', () => {
    expect(r.broker).toEqual({ pid: 4242, source: 'lock', command: 'node' });
    expect(item(r, 'limits.nofile.broker').current).toBe('soft 655350, hard 655350 (pid 4242)');
    expect(item(r, 'node.max_old_space_size').current).toBe('8192 MB (pid 4242 command line)');
    expect(item(r, 'node.heap_limit').current).toMatch(/^8192 MB .* 13% of memory$/);
    expect(item(r, 'node.heap_limit').recommended).toBe('<= 32768 MB (50% of 65536 MB, MemTotal)');
  });

  it('resolves the store dir to its mount, the partition to its disk', () => {
    expect(item(r, 'io.scheduler').current).toBe('sdb: mq-deadline (disk of /var/lib/rocketmq/store)');
  });

  it('resolves an LVM volume to the disks under it', () => {
    // / is dm-0 (scheduler "none") over nvme0n1p2: the NVMe disk's own scheduler is what counts.
    const s = item(run('good', { storeDir: '/home/mq/store' }), 'io.scheduler');
    expect(s.status).toBe('pass');
    expect(s.current).toBe('nvme0n1: none (disk of /)');
    expect(s.why).toMatch(/virtual, NVMe/);
  });
});

describe('checkOS on a bad host', () => {
  const r = run('bad');

  it('fails exactly the items with hard limits, warns on the rest', () => {
    expect(statuses(r)).toEqual({
      'vm.overcommit_memory': 'warn',
      'vm.drop_caches': 'skip',
      'vm.min_free_kbytes': 'fail',
      'vm.extra_free_kbytes': 'warn',
      'vm.max_map_count': 'warn',
      'vm.swappiness': 'warn',
      'vm.dirty_background_ratio': 'warn',
      'vm.dirty_ratio': 'warn',
      'vm.dirty_writeback_centisecs': 'warn',
      'vm.zone_reclaim_mode': 'warn',
      'vm.page-cluster': 'warn',
      'limits.nofile.self': 'fail',
      'limits.nofile.broker': 'fail',
      'io.scheduler': 'warn',
      'mm.transparent_hugepage': 'warn',
      'node.heap_limit': 'fail',
      'node.max_old_space_size': 'pass',
    });
  });

  it('gives os.sh values as exact sysctl commands and the file writes behind them', () => {
    expect(item(r, 'vm.swappiness').fix).toEqual(['sysctl -w vm.swappiness=1']);
    expect(item(r, 'vm.swappiness').writes).toEqual([{ path: '/proc/sys/vm/swappiness', value: '1' }]);
    expect(item(r, 'vm.max_map_count').fix).toEqual(['sysctl -w vm.max_map_count=655360']);
    expect(item(r, 'vm.dirty_writeback_centisecs').fix).toEqual(['sysctl -w vm.dirty_writeback_centisecs=360000']);
    expect(item(r, 'vm.page-cluster').fix).toEqual(['sysctl -w vm.page-cluster=3']);
    expect(item(r, 'vm.overcommit_memory').fix).toEqual(['sysctl -w vm.overcommit_memory=1']);
    // min_free_kbytes: the kernel's own default for 8 GiB, sqrt(8388608 KB * 16)
    expect(item(r, 'vm.min_free_kbytes').fix?.[0]).toBe('sysctl -w vm.min_free_kbytes=11585');
  });

  it('explains max_map_count honestly: a warning, since the Node broker does not mmap', () => {
    const m = item(r, 'vm.max_map_count');
    expect(m.status).toBe('warn');
    expect(m.why).toMatch(/Node broker does not mmap/);
  });

  it('says when dirty_bytes replaces dirty_ratio', () => {
    expect(item(r, 'vm.dirty_ratio').current).toBe('0 (vm.dirty_bytes = 268435456 is in use)');
  });

  it('picks deadline for an old cfq disk and writes the resolved sysfs path', () => {
    const s = item(r, 'io.scheduler');
    expect(s.current).toBe('sda: cfq (disk of /var/lib/rocketmq/store)');
    expect(s.fix?.[0]).toBe('echo deadline > /sys/block/sda/queue/scheduler');
    expect(s.writes).toEqual([{ path: '/sys/devices/pci0000:00/host0/block/sda/queue/scheduler', value: 'deadline' }]);
  });

  it('turns THP off', () => {
    const t = item(r, 'mm.transparent_hugepage');
    expect(t.current).toBe('always');
    expect(t.fix?.[0]).toBe('echo never > /sys/kernel/mm/transparent_hugepage/enabled');
  });

  it('compares the heap with the cgroup limit when it is below MemTotal', () => {
    const h = item(r, 'node.heap_limit');
    expect(h.recommended).toBe('<= 2048 MB (50% of 4096 MB, cgroup memory limit)');
    expect(h.current).toMatch(/^16384 MB .* 400% of memory$/);
    // The flag is on the broker's command line, which overrides NODE_OPTIONS: say so, don't export.
    expect(h.fix).toEqual(['# restart the broker with --max-old-space-size=2048 in place of 16384 on its node command line']);
  });

  it('offers prlimit for the running broker and limits.conf for new sessions, applying neither', () => {
    const b = item(r, 'limits.nofile.broker');
    expect(b.fix?.[0]).toBe('prlimit --pid 31337 --nofile=655350:655350');
    expect(b.fix).toContain("echo '* hard nofile 655350' >> /etc/security/limits.conf");
    expect(b.writes).toBeUndefined();
    expect(item(r, 'limits.nofile.self').current).toBe('soft 1024, hard 4096 (this process)');
  });

  it('lists fixes under a comment per item, warns and fails only', () => {
    const lines = fixLines(r.items);
    expect(lines[0]).toBe('# vm.overcommit_memory (warn): 0 -> 1');
    expect(lines).toContain('sysctl -w vm.swappiness=1');
    expect(lines.some((l) => l.includes('drop_caches'))).toBe(false);
    expect(lines.at(-1)).toMatch(/^# sysctl -w lasts until reboot/);
    // limits.conf serves both nofile items: printed once.
    expect(lines.filter((l) => l === "echo '* hard nofile 655350' >> /etc/security/limits.conf")).toHaveLength(1);
  });
});

describe('checkOS on a host missing files', () => {
  const r = run('partial');

  it('warns on every value it cannot read and never fails or guesses', () => {
    expect(r.summary.fail).toBe(0);
    for (const id of ['vm.min_free_kbytes', 'vm.dirty_ratio', 'vm.zone_reclaim_mode', 'vm.page-cluster', 'limits.nofile.self', 'mm.transparent_hugepage']) {
      const i = item(r, id);
      expect(i.status, id).toBe('warn');
      expect(i.current, id).toMatch(/^unreadable \(.*not found\)$/);
      expect(i.fix, id).toBeUndefined();
    }
    expect(item(r, 'vm.drop_caches').status).toBe('warn');
  });

  it('reads what is there', () => {
    expect(item(r, 'vm.overcommit_memory').status).toBe('pass');
    expect(item(r, 'vm.swappiness')).toMatchObject({ current: '10', status: 'pass' });
  });

  it('says a knob the kernel lacks is not present, without calling it a failure', () => {
    expect(item(r, 'vm.extra_free_kbytes')).toMatchObject({ current: 'not present on this kernel', status: 'skip' });
  });

  it('reports no broker as a skip, not a failure', () => {
    expect(r.broker).toBeNull();
    const b = item(r, 'limits.nofile.broker');
    expect(b.status).toBe('skip');
    expect(b.current).toMatch(/^no running broker found/);
  });

  it('cannot read memory, so the heap is not judged', () => {
    expect(item(r, 'node.heap_limit')).toMatchObject({ status: 'warn', current: 'unreadable (/proc/meminfo: not found)' });
  });

  it('follows LVM to a disk without a scheduler file and says so', () => {
    const s = item(r, 'io.scheduler');
    expect(s.status).toBe('warn');
    expect(s.current).toMatch(/^sda: unreadable \(.*queue\/scheduler: not found\)/);
  });
});

describe('values the kernel hides', () => {
  /** The good tree, but some paths answer EACCES (as a non-root user, or a write-only file). */
  function denying(paths: string[]): TreeReader {
    const base = treeReader(join(FIXTURES, 'good'));
    return {
      ...base,
      read: (p) => (paths.includes(p) ? { ok: false, code: 'EACCES', reason: `${p}: permission denied` } : base.read(p)),
    };
  }

  it('reports drop_caches as write-only', () => {
    const r = run('good', { reader: denying(['/proc/sys/vm/drop_caches']) });
    expect(item(r, 'vm.drop_caches')).toMatchObject({ current: 'write-only', status: 'skip' });
  });

  it('warns when a broker\'s limits and environment belong to another user', () => {
    const r = run('good', { reader: denying(['/proc/4242/limits', '/proc/4242/environ', '/proc/4242/cmdline']) });
    expect(item(r, 'limits.nofile.broker')).toMatchObject({ status: 'warn', current: 'unreadable (/proc/4242/limits: permission denied)' });
    const m = item(r, 'node.max_old_space_size');
    expect(m.status).toBe('warn');
    expect(m.why).toMatch(/cannot see pid 4242's NODE_OPTIONS/);
    expect(item(r, 'node.heap_limit')).toMatchObject({ status: 'warn' });
    expect(item(r, 'node.heap_limit').current).toMatch(/not readable from outside the process/);
  });
});

describe('finding the broker', () => {
  it('uses --pid over the lock file', () => {
    const r = run('good', { pid: 4242, storeDir: '/home/mq/store' });
    expect(r.broker).toEqual({ pid: 4242, source: 'flag', command: 'node' });
  });

  it('warns when --pid names no process', () => {
    const r = run('good', { pid: 999999 });
    expect(r.broker).toBeNull();
    expect(item(r, 'limits.nofile.broker')).toMatchObject({ status: 'warn', current: '--pid 999999: no such process' });
  });

  it('skips a stale lock, a recycled pid, another host\'s lock and a Java broker\'s empty lock', () => {
    const root = copyOf('good');
    const lock = join(root, STORE, 'lock');
    const cases: Array<[string, RegExp]> = [
      ['{"pid":5555}', /stale .*pid 5555 is not running/],
      ['{"pid":4242,"startTicks":99,"host":"mq-good-1"}', /pid 4242 is now another process/],
      ['{"pid":4242,"host":"elsewhere"}', /held by host elsewhere, not this one/],
      ['', /holds no pid; a Java broker's lock is empty: pass --pid/],
    ];
    for (const [content, note] of cases) {
      writeFileSync(lock, content);
      const r = checkOS({ root, storeDir: STORE, process: PLAIN_NODE });
      expect(r.broker, content).toBeNull();
      expect(item(r, 'limits.nofile.broker').status, content).toBe('skip');
      expect(item(r, 'limits.nofile.broker').current, content).toMatch(note);
    }
  });
});

describe('the Node heap of this process (no broker running)', () => {
  const noBroker = { storeDir: '/home/mq/store' };

  it('takes --max-old-space-size from the command line over NODE_OPTIONS', () => {
    const facts: ProcessFacts = { heapSizeLimitBytes: 4096 * MB, execArgv: ['--max-old-space-size=3072'], nodeOptions: '--max-old-space-size=1024' };
    const r = run('good', { ...noBroker, process: facts });
    expect(item(r, 'node.max_old_space_size').current).toBe('3072 MB (node command line)');
    expect(item(r, 'node.heap_limit').current).toMatch(/^3072 MB \(--max-old-space-size/);
  });

  it('reads NODE_OPTIONS', () => {
    const r = run('good', { ...noBroker, process: { ...PLAIN_NODE, nodeOptions: '--enable-source-maps --max_old_space_size=1536' } });
    expect(item(r, 'node.max_old_space_size')).toMatchObject({ status: 'pass', current: '1536 MB (NODE_OPTIONS)' });
  });

  it('warns when the limit is V8\'s default and suggests pinning it, capped at runbroker.sh\'s 8g', () => {
    const r = run('good', noBroker);
    const m = item(r, 'node.max_old_space_size');
    expect(m.status).toBe('warn');
    expect(m.fix).toEqual(['export NODE_OPTIONS="--max-old-space-size=8192"  # before starting the broker']);
    expect(item(r, 'node.heap_limit')).toMatchObject({ status: 'pass', current: '2048 MB (this process, V8 default), 3% of memory' });
  });

  it('warns above half of memory and fails above all of it', () => {
    const at = (mb: number) => item(run('good', { ...noBroker, process: { heapSizeLimitBytes: mb * MB, execArgv: [] } }), 'node.heap_limit').status;
    expect(at(32768)).toBe('pass');
    expect(at(40000)).toBe('warn');
    expect(at(70000)).toBe('fail');
  });
});

describe('--apply writes', () => {
  it('fixes a copy of the bad host; a re-check passes what was written', () => {
    const root = copyOf('bad');
    const before = checkOS({ root, storeDir: STORE, process: PLAIN_NODE });
    const outcomes = applyWrites(root, before.items);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(outcomes.map((o) => o.id)).toContain('io.scheduler');
    expect(readFileSync(join(root, 'proc/sys/vm/swappiness'), 'utf8')).toBe('1\n');
    expect(readFileSync(join(root, 'sys/kernel/mm/transparent_hugepage/enabled'), 'utf8')).toBe('never\n');

    const after = checkOS({ root, storeDir: STORE, process: PLAIN_NODE });
    for (const o of outcomes) expect(item(after, o.id).status, o.id).toBe('pass');
    // What --apply leaves to the operator is still failing.
    expect(after.items.filter((i) => i.status === 'fail').map((i) => i.id)).toEqual(['limits.nofile.self', 'limits.nofile.broker', 'node.heap_limit']);
    // The shared fixture is untouched.
    expect(readFileSync(join(FIXTURES, 'bad/proc/sys/vm/swappiness'), 'utf8')).toBe('60\n');
  });

  it('never creates a file the tree does not have', () => {
    const root = copyOf('partial');
    const fake: OsCheckItem = { id: 'vm.dirty_ratio', current: '?', recommended: '50', status: 'warn', why: '', writes: [{ path: '/proc/sys/vm/dirty_ratio', value: '50' }] };
    expect(applyWrites(root, [fake])).toEqual([{ id: 'vm.dirty_ratio', path: '/proc/sys/vm/dirty_ratio', value: '50', ok: false, error: 'not found' }]);
    expect(() => readFileSync(join(root, 'proc/sys/vm/dirty_ratio'))).toThrow();
  });

  it('needs root only for the live /', () => {
    expect(() => assertMayApply('/', 1000)).toThrow(expect.objectContaining({ code: 'E_NOT_ROOT', exitCode: 1 }));
    expect(() => assertMayApply('/', undefined)).toThrow(expect.objectContaining({ code: 'E_NOT_ROOT' }));
    expect(() => assertMayApply('/', 0)).not.toThrow();
    expect(() => assertMayApply(copyOf('good'), 1000)).not.toThrow();
  });
});

describe('parsers', () => {
  it('finds the bracketed choice, or a lone word', () => {
    expect(parseChoice('always [madvise] never\n')).toEqual({ active: 'madvise', available: ['always', 'madvise', 'never'] });
    expect(parseChoice('none\n')).toEqual({ active: 'none', available: ['none'] });
    expect(parseChoice('mq-deadline kyber')).toEqual({ active: undefined, available: ['mq-deadline', 'kyber'] });
  });

  it('reads Max open files, including unlimited', () => {
    expect(parseNofile('Limit  Soft  Hard  Units\nMax open files            1024                 4096                 files\n')).toEqual({ soft: 1024, hard: 4096 });
    expect(parseNofile('Max open files  unlimited  unlimited  files')).toEqual({ soft: 'unlimited', hard: 'unlimited' });
    expect(parseNofile('Max processes 1 1')).toBeUndefined();
  });

  it('parses mountinfo with optional fields and escaped spaces; the longest, latest mount wins', () => {
    const mounts = parseMountinfo(
      [
        '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
        '30 22 8:17 / /data rw - xfs /dev/sdb1 rw',
        '31 22 8:33 / /data\\040two rw master:3 shared:4 - xfs /dev/sdc1 rw',
        '32 30 8:49 / /data rw - xfs /dev/sdd1 rw',
        'garbage line',
      ].join('\n'),
    );
    expect(mounts).toHaveLength(4);
    expect(mounts[2]).toEqual({ mountPoint: '/data two', major: 8, minor: 33, fsType: 'xfs', source: '/dev/sdc1' });
    expect(findMount(mounts, '/data/store')?.source).toBe('/dev/sdd1');
    expect(findMount(mounts, '/data two/x')?.source).toBe('/dev/sdc1');
    expect(findMount(mounts, '/database')?.source).toBe('/dev/sda1');
  });

  it('splits dev_t like glibc', () => {
    // makedev(major, minor) = (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12) | ((major & ~0xfff) << 32)
    const makedev = (ma: bigint, mi: bigint) => (mi & 0xffn) | ((ma & 0xfffn) << 8n) | ((mi & ~0xffn) << 12n) | ((ma & ~0xfffn) << 32n);
    expect(splitDev(0xfe00n)).toEqual({ major: 254, minor: 0 });
    expect(splitDev(makedev(259n, 2n))).toEqual({ major: 259, minor: 2 });
    expect(splitDev(makedev(4100n, 70000n))).toEqual({ major: 4100, minor: 70000 });
  });

  it('reads the lock owner in every form a store leaves', () => {
    expect(parseLockOwner('{"pid":12,"startTicks":34,"host":"h"}\n')).toEqual({ pid: 12, startTicks: 34, host: 'h' });
    expect(parseLockOwner('12\n')).toEqual({ pid: 12 });
    expect(parseLockOwner('pid=12')).toEqual({ pid: 12 });
    expect(parseLockOwner('')).toBeUndefined();
    expect(parseLockOwner('{"pid":-1}')).toBeUndefined();
    expect(parseLockOwner('{broken')).toBeUndefined();
    expect(parseLockOwner('host 12')).toBeUndefined();
  });

  it('reads starttime even when the command name holds ") "', () => {
    const rest = Array.from({ length: 50 }, (_, i) => String(i + 3));
    expect(parseStartTicks(`77 (a) b) ${rest.join(' ')}`)).toBe(22);
    expect(parseStartTicks('77 (x) S 1')).toBeUndefined();
  });

  it('takes --max-old-space-size from node\'s own options only, the last one winning', () => {
    expect(maxOldSpaceMb(['--max-old-space-size=512', '--max_old_space_size=768'])).toBe(768);
    expect(maxOldSpaceMb(['--max-old-space-size', '640', 'app.js'])).toBe(640);
    expect(maxOldSpaceMb(['app.js', '--max-old-space-size=512'])).toBeUndefined();
    expect(maxOldSpaceMb([])).toBeUndefined();
  });
});
