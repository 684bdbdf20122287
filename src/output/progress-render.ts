/**
 * Human output of the backlog and message-lookup commands: mqadmin's columns (apache/rocketmq tools, package command) as the default tables, plus what mqadmin lacks (time lag, diagnosis, plan).
 */
import type { AllGroups, GroupProgress, LagViolation } from '../admin/progress.js';
import type { ApplyResult, ResetPlan } from '../admin/reset.js';
import { failureWarnings, type BrokerFailure } from '../admin/fanout.js';
import type { MessageTrack, MessageView } from '../admin/messages.js';
import type { MigrateExecution, MigratePlan } from '../admin/migrate.js';
import { colors } from './colors.js';
import { renderTable, type Cell } from './table.js';

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Above this many rows tables are laid out here: cli-table3's layout is quadratic in rows. */
const LARGE_TABLE_ROWS = 200;

/** renderTable's look (borderless, two-space gaps, '#' headers) for any number of rows. */
function table(head: string[], rows: Cell[][], opts: { align?: number[] } = {}): string {
  if (rows.length <= LARGE_TABLE_ROWS) return renderTable(head, rows, opts);
  const text = rows.map((r) => r.map((v) => (v === null || v === undefined ? '' : String(v))));
  // eslint-disable-next-line no-control-regex
  const visible = (x: string) => x.replace(/\u001b\[[0-9;]*m/g, '').length;
  const widths = head.map((h, i) => Math.max(visible(h), ...text.map((r) => visible(r[i] ?? ''))));
  const right = new Set(opts.align ?? []);
  const line = (cells: string[]) =>
    cells
      .map((c, i) => {
        const fill = ' '.repeat(Math.max(0, widths[i]! - visible(c)));
        return right.has(i) ? fill + c : c + fill;
      })
      .join('  ');
  return [line(head.map((h) => colors.head(h))), ...text.map(line)].join('\n');
}

/** yyyy-MM-dd HH:mm:ss (local), mqadmin's consumerProgress LastTime. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || ms <= 0) return 'N/A';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** yyyy-MM-dd HH:mm:ss,SSS (local), UtilAll.timeMillisToHumanString2. */
export function formatTimeMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || ms <= 0) return 'N/A';
  return `${formatTime(ms)},${pad(new Date(ms).getMilliseconds(), 3)}`;
}

/** 950ms, 12.3s, 4m05s, 2h03m, 3d04h. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return 'N/A';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${pad(Math.floor(s % 60))}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${pad(m % 60)}m`;
  return `${Math.floor(h / 24)}d${pad(h % 24)}h`;
}

export function renderGroupProgress(p: GroupProgress, showClient: boolean): string {
  const head = ['#Topic', '#Broker Name', '#QID', '#Broker Offset', '#Consumer Offset', ...(showClient ? ['#Client IP'] : []), '#Diff', '#LastTime', '#Lag'];
  const rows: Cell[][] = p.queues.map((q) => [
    q.topic,
    q.brokerName,
    q.queueId,
    q.brokerOffset,
    q.consumerOffset === null ? 'none' : q.consumerOffset,
    ...(showClient ? [q.clientIp ?? 'N/A'] : []),
    q.diff,
    formatTime(q.lastTimestamp),
    formatDuration(q.lagMs),
  ]);
  const n = showClient ? 1 : 0;
  const out: string[] = [];
  out.push(table(head, rows, { align: [2, 3, 4, 5 + n, 7 + n] }));
  out.push('');
  out.push(`Consume TPS: ${p.totals.consumeTps.toFixed(2)}`);
  out.push(`Diff Total: ${p.totals.diff}`);
  out.push(`Lag Max: ${formatDuration(p.totals.lagMsMax)}${p.totals.lagMsMax !== null ? ' (age of the oldest unconsumed message)' : ''}`);
  const who = p.online ? `online, ${p.clients.length} consumer(s): ${p.clients.map((c) => `${c.clientId} (${c.versionDesc})`).join(', ')}` : colors.warn('OFFLINE (no consumer connected)');
  out.push(`Group: ${p.group}, ${who}`);
  out.push(`Diagnosis: ${p.retentionWarning ? colors.warn(p.diagnosis) : p.diagnosis}`);
  for (const note of p.notes) out.push(`  note: ${note}`);
  const queueNotes = p.queues.filter((q) => q.notes.length > 0);
  if (queueNotes.length > 0) {
    out.push('');
    out.push('Queue notes:');
    for (const q of queueNotes) for (const note of q.notes) out.push(`  ${q.topic} ${q.brokerName} ${q.queueId}: ${note}`);
  }
  for (const w of failureWarnings(p.failed)) out.push(colors.fail(w));
  return out.join('\n');
}

/** `lag`: the time lag was asked for (--lag): its column shows even when no group has one. */
export function renderAllGroups(a: AllGroups, lag = false): string {
  const measured = lag || a.groups.some((g) => g.lagMs !== null);
  const rows: Cell[][] = a.groups.map((g) => [
    g.group,
    g.count,
    g.status === 'failed' ? colors.fail('FAILED') : g.version,
    g.type,
    g.model,
    Math.trunc(g.tps), // mqadmin's column is an int (GroupConsumeInfo.consumeTps); --json keeps the fraction
    g.diffTotal,
    ...(measured ? [formatDuration(g.lagMs)] : []),
  ]);
  const head = ['#Group', '#Count', '#Version', '#Type', '#Model', '#TPS', '#Diff Total', ...(measured ? ['#Lag'] : [])];
  const out = [table(head, rows, { align: [1, 5, 6, ...(measured ? [7] : [])] })];
  const losing = a.groups.filter((g) => g.retentionWarning);
  if (losing.length > 0) {
    out.push('');
    for (const g of losing) {
      const w = g.retentionWarning!;
      out.push(colors.warn(`retention: ${g.group}: ${w.message} (${w.topic} queue ${w.queueId} on ${w.brokerName})`));
    }
  }
  const failed = a.groups.filter((g) => g.status === 'failed');
  if (failed.length > 0 || a.failed.length > 0) {
    out.push('');
    for (const f of a.failed) out.push(colors.fail(`broker ${f.brokerName ?? f.addr} (${f.addr}) failed: its subscription groups could not be listed (${f.message}); groups only it knows may be missing`));
    for (const g of failed) out.push(colors.fail(`group ${g.group}: ${g.error}`));
  }
  out.push('');
  out.push(`${a.groups.length} group(s): ${a.groups.filter((g) => g.status === 'online').length} online, ${a.groups.filter((g) => g.status === 'offline').length} offline, ${failed.length} failed`);
  return out.join('\n');
}

/** `unread`: what could not be read (failed brokers or groups): their queues were not checked. */
export function renderViolations(v: LagViolation[], maxLag?: number, maxLagMs?: number, unread: string[] = []): string {
  const limits = [maxLag !== undefined ? `--max-lag ${maxLag}` : '', maxLagMs !== undefined ? `--max-lag-ms ${maxLagMs}` : ''].filter(Boolean).join(', ');
  const notChecked = unread.length > 0 ? colors.warn(`\nLag check incomplete: ${unread.join(', ')} could not be read; their queues were not checked`) : '';
  if (v.length === 0) return unread.length > 0 ? `Lag check (${limits}): no queue over the limit among those read${notChecked}` : `Lag check (${limits}): pass`;
  const rows: Cell[][] = v.map((x) => [x.group, x.topic, x.brokerName, x.queueId, x.diff, formatDuration(x.lagMs)]);
  return `${colors.fail(`Lag check (${limits}): ${v.length} queue(s) over the limit`)}\n${table(['#Group', '#Topic', '#Broker Name', '#QID', '#Diff', '#Lag'], rows, { align: [3, 4] })}${notChecked}`;
}

export function renderPlan(plan: ResetPlan): string {
  const rows: Cell[][] = plan.queues.map((q) => [
    q.brokerName,
    q.queueId,
    q.currentOffset === null ? 'none' : q.currentOffset,
    q.targetOffset,
    q.replay > 0 ? `replay ${q.replay}` : q.skip > 0 ? `skip ${q.skip}` : '-',
    formatTimeMs(q.targetStoreTimestamp),
  ]);
  const out = [
    `Reset plan: group ${plan.group}, topic ${plan.topic}, ${plan.mode.startsWith('undo') ? plan.mode : `to ${plan.mode}`}${plan.force ? '' : ' (--force false: only backwards)'}; the group is ${plan.online ? 'online (consumers will be told)' : 'offline (offsets written directly)'}`,
    table(['#brokerName', '#queueId', '#currentOffset', '#targetOffset', '#messages', '#storeTime at target'], rows, { align: [1, 2, 3] }),
    '',
    `Total: ${plan.totals.replay} message(s) to replay, ${plan.totals.skip} to skip, over ${plan.totals.queues} queue(s)`,
  ];
  const notes = plan.queues.filter((q) => q.notes.length > 0);
  for (const q of notes) for (const n of q.notes) out.push(`  ${q.brokerName} ${q.queueId}: ${n}`);
  return out.join('\n');
}

export function renderApply(r: ApplyResult): string {
  const rows: Cell[][] = r.queues.map((q) => [q.brokerName, q.queueId, q.expectedOffset ?? 'none', q.targetOffset, q.resultOffset ?? '', status(q.status), q.message ?? '']);
  return `${table(['#brokerName', '#queueId', '#from', '#to', '#now', '#status', '#detail'], rows, { align: [1, 2, 3, 4] })}\n\n${r.applied} queue(s) reset, ${r.problems} not as planned`;
}

function status(s: string): string {
  return s === 'applied' || s === 'unchanged' ? colors.ok(s) : colors.fail(s);
}

export function renderMigratePlan(p: MigratePlan): string {
  const rows: Cell[][] = p.queues.map((q) => [q.brokerName, q.queueId, q.consumerOffset ?? 'none', q.maxOffset, q.consumerOffset === null ? 'skipped' : q.messages]);
  const t = p.target;
  const where = t.namesrvAddr === null ? '' : ` on the cluster of name server ${t.namesrvAddr}`;
  const target = t.exists
    ? `${t.topic}${where} exists with ${t.queueNums} queue(s): used as it is`
    : `${t.topic} does not exist${where}: --execute creates it with ${t.queueNums} queue(s) (${t.brokers.map((b) => `${b.brokerName}: ${b.queueNums}`).join(', ')})`;
  const out = [
    `Migration plan: backlog of group ${p.group} on ${p.source} (${p.sourceQueueNums} queue(s)) to ${t.topic}; the group is ${p.online ? 'online' : 'offline'}`,
    table(['#brokerName', '#queueId', '#consumerOffset', '#maxOffset', '#messages'], rows, { align: [1, 2, 3, 4] }),
    '',
    `Total: ${p.totals.messages} message(s) to move from ${p.totals.queuesWithBacklog} queue(s)${p.totals.queuesSkipped > 0 ? `; ${p.totals.queuesSkipped} queue(s) skipped (no committed offset)` : ''}`,
    `Target: ${target}`,
  ];
  for (const n of p.notes) out.push(`  note: ${n}`);
  for (const q of p.queues) for (const n of q.notes) out.push(`  ${q.brokerName} ${q.queueId}: ${n}`);
  return out.join('\n');
}

export function renderMigration(p: MigratePlan, e: MigrateExecution): string {
  const tint = (ok: boolean, text: string) => (ok ? colors.ok(text) : colors.fail(text));
  const rows: Cell[][] = e.queues.map((q) => [
    q.brokerName,
    q.queueId,
    q.fromOffset ?? 'none',
    q.toOffset,
    q.found > 0 ? `${q.copied} (+${q.found} found)` : q.copied,
    tint(q.copyStatus !== 'failed' && q.copyStatus !== 'not-started', q.copyStatus),
    q.newOffset ?? 'none',
    tint(q.offsetStatus === 'applied' || q.offsetStatus === 'unchanged' || q.offsetStatus === 'not-moved', q.offsetStatus),
    q.message ?? '',
  ]);
  return [
    e.targetCreated ? `Created ${p.target.topic} with ${p.target.queueNums} queue(s).` : `Used the existing ${p.target.topic} (${p.target.queueNums} queue(s)).`,
    table(['#brokerName', '#queueId', '#from', '#to', '#copied', '#copy', '#newOffset', '#offset', '#detail'], rows, { align: [1, 2, 3, 4, 6] }),
    '',
    `${e.totals.copied} message(s) copied to ${p.target.topic}; offsets of ${e.totals.queuesMoved} queue(s) moved on ${p.source}; ${e.totals.problems} queue(s) not as planned`,
    renderMigrateVerification(e),
  ].join('\n');
}

/** The final check: backlog on the target (copied now + found from an earlier run), per target queue, and the body checksums. */
function renderMigrateVerification(e: MigrateExecution): string {
  const v = e.verification;
  const perQueue = v.targetQueues.filter((q) => q.messages > 0).map((q) => `${q.brokerName}:${q.queueId}=${q.messages}`).join(' ');
  const crc = v.sourceBodyCrc === v.targetBodyCrc ? `body crc32 sum ${v.sourceBodyCrc} on both` : `body crc32 sum source ${v.sourceBodyCrc} ≠ target ${v.targetBodyCrc}`;
  const head = v.ok ? colors.ok('Verified') : colors.fail('NOT verified');
  return `${head}: ${v.onTarget}/${v.planned} planned message(s) on the target (${e.totals.copied} copied now, ${e.totals.found} found from an earlier run); ${crc}${perQueue ? `; per target queue ${perQueue}` : ''}`;
}

/** QueryMsgByIdSubCommand's labels ("%-20s %s"). */
export function renderMessage(m: MessageView): string {
  const props = `{${Object.entries(m.properties).map(([k, v]) => `${k}=${v}`).join(', ')}}`;
  const lines: Array<[string, Cell]> = [
    ['OffsetID', m.offsetMsgId],
    ['MsgId', m.msgId],
    ['Topic', m.topic],
    ['Tags', `[${m.tags ?? 'null'}]`],
    ['Keys', `[${m.keys.length > 0 ? m.keys.join(' ') : 'null'}]`],
    ['Queue ID', m.queueId],
    ['Queue Offset', m.queueOffset],
    ['CommitLog Offset', m.commitLogOffset],
    ['Reconsume Times', m.reconsumeTimes],
    ['Born Timestamp', formatTimeMs(m.bornTimestamp)],
    ['Store Timestamp', formatTimeMs(m.storeTimestamp)],
    ['Born Host', m.bornHost],
    ['Store Host', m.storeHost],
    ['System Flag', m.sysFlag],
    ['Properties', props],
    ['Message Body Path', m.bodyFile ?? `(not written: ${m.bodySize} bytes; use --body-file PATH)`],
  ];
  return lines.map(([k, v]) => `${(k + ':').padEnd(20)} ${v ?? ''}`).join('\n');
}

export function renderTracks(tracks: MessageTrack[] | undefined, failed: BrokerFailure[] = []): string {
  if (!tracks) return '';
  const unknown = failed.map((f) => colors.fail(`consumer groups known to broker ${f.brokerName ?? f.addr} (${f.addr}): unknown, it failed: ${f.message}`));
  if (tracks.length === 0) return unknown.length > 0 ? unknown.join('\n') : 'WARN: No Consumer';
  const rows: Cell[][] = tracks.map((t) => [t.consumerGroup, t.trackType, t.online ? 'online' : 'offline', t.consumerOffset ?? 'none', t.exceptionDesc ?? '']);
  return [renderTable(['#Consumer Group', '#Track Type', '#Online', '#Consumer Offset', '#Detail'], rows, { align: [3] }), ...unknown].join('\n');
}

/** QueryMsgByKeySubCommand's columns (#Message ID #QID #Offset) plus store time, keys and tags. */
export function renderMessageList(list: MessageView[]): string {
  const rows: Cell[][] = list.map((m) => [m.msgId, m.queueId, m.queueOffset, m.brokerName ?? '', formatTimeMs(m.storeTimestamp), m.tags ?? '', m.keys.join(' ')]);
  return table(['#Message ID', '#QID', '#Offset', '#Broker Name', '#Store Time', '#Tags', '#Keys'], rows, { align: [1, 2] });
}


/** The live line while copying (TTY only): done/total, rate since the start, ETA at that rate. */
export function renderCopyProgress(target: string, done: number, total: number, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  const pct = total > 0 ? Math.floor((done * 100) / total) : 100;
  const eta = rate > 0 && done < total ? `, ETA ${formatDuration(((total - done) * 1000) / rate)}` : '';
  return `Copying to ${target}: ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} (${pct}%), ${Math.round(rate).toLocaleString('en-US')} msg/s${eta}`;
}

/** A progress callback that updates `show` at most every PROGRESS_EVERY_MS. */
export function throttledProgress(show: (text: string) => void, target: string, now: () => number = Date.now): (p: { done: number; total: number }) => void {
  const started = now();
  let shownAt = 0;
  return (p) => {
    const t = now();
    if (t - shownAt < PROGRESS_EVERY_MS && p.done < p.total) return;
    shownAt = t;
    show(renderCopyProgress(target, p.done, p.total, t - started));
  };
}

/** Redraw the progress line at most 4 times a second. */
const PROGRESS_EVERY_MS = 250;
