/**
 * Human output of the admin commands (clusterList, brokerStatus, topic*, *SubGroup,
 * *Connection). Columns are mqadmin's (apache/rocketmq tools, package command), so its users find what they expect;
 * values it leaves blank or prints as 0 when unknown are '-' here. Failed brokers are not in
 * these tables: commands report them as warnings (stderr) and exit 3.
 */
import type { BrokerStatusResult, ClusterListResult } from '../admin/cluster.js';
import type { DLedgerGroupResult } from '../admin/dledger-group.js';
import type { ConnectionInfo, ConsumerConnectionResult, ProducerConnectionResult } from '../admin/connections.js';
import type { DeleteSubGroupResult, UpdateSubGroupResult } from '../admin/groups.js';
import type { DeleteTopicResult, TopicListResult, TopicRouteResult, TopicStatusResult, UpdateTopicResult } from '../admin/topics.js';
import type { TopicConfig } from '../protocol/bodies.js';
import { permToString } from '../protocol/codes.js';
import { renderKeyValues, renderTable, type Cell } from './table.js';

/** UtilAll.timeMillisToHumanString2 in local time: 2024-01-31 23:59:59,123. */
function formatTimestamp(ms: number | null): string {
  if (ms === null || ms <= 0) return '';
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())},${p(d.getMilliseconds(), 3)}`;
}

const dash = (v: Cell): Cell => (v === null || v === undefined ? '-' : v);
const fixed = (v: number | null, digits: number): string => (v === null ? '-' : v.toFixed(digits));

export function renderClusterList(r: ClusterListResult, moreStats: boolean): string {
  if (r.brokers.length === 0) return r.failed.length > 0 ? 'No broker answered (see the warnings).' : 'No broker is registered with the name server.';
  if (moreStats) {
    const rows = r.brokers.map((b) => [b.clusterName, b.brokerName, b.brokerId, dash(b.inTotalYesterday), dash(b.outTotalYesterday), dash(b.inTotalToday), dash(b.outTotalToday)]);
    return renderTable(['#Cluster Name', '#Broker Name', '#BID', '#InTotalYest', '#OutTotalYest', '#InTotalToday', '#OutTotalToday'], rows, { align: [2, 3, 4, 5, 6] });
  }
  const tps = (v: number | null, queue: number | null, waitMs: number | null) =>
    v === null ? '-' : `${v.toFixed(2)}${queue === null && waitMs === null ? '' : `(${dash(queue)},${dash(waitMs)}ms)`}`;
  const rows = r.brokers.map((b) => [
    b.clusterName,
    b.brokerName,
    b.brokerId,
    b.addr,
    dash(b.version),
    tps(b.inTps, b.sendThreadPoolQueueSize, b.sendThreadPoolQueueHeadWaitTimeMills),
    tps(b.outTps, b.pullThreadPoolQueueSize, b.pullThreadPoolQueueHeadWaitTimeMills),
    dash(b.pageCacheLockTimeMills),
    fixed(b.hoursSinceEarliestMessage, 2),
    fixed(b.commitLogDiskRatio, 4),
  ]);
  const head = ['#Cluster Name', '#Broker Name', '#BID', '#Addr', '#Version', '#InTPS(LOAD)', '#OutTPS(LOAD)', '#PCWait(ms)', '#Hour', '#SPACE'];
  // DLedger members: their id, role, term and committed index (a column only when there is one).
  if (r.brokers.some((b) => b.dledger)) {
    head.push('#DLedger');
    r.brokers.forEach((b, i) => rows[i]!.push(b.dledger ? `${b.dledger.selfId} ${b.dledger.role} term ${b.dledger.term} commit ${b.dledger.committedIndex}` : '-'));
  }
  return renderTable(head, rows, { align: [2, 5, 6, 7, 8, 9] });
}

/** One broker: "key: value" lines (mqadmin -b); several: one row per broker and key (mqadmin -c). */
export function renderBrokerStatus(r: BrokerStatusResult): string {
  if (r.brokers.length === 1) return renderKeyValues(Object.entries(r.brokers[0]!.stats));
  const rows: Cell[][] = [];
  for (const b of r.brokers) for (const [k, v] of Object.entries(b.stats)) rows.push([b.addr, k, v]);
  return renderTable(['#Broker Addr', '#Key', '#Value'], rows);
}

export function renderTopicList(r: TopicListResult): string {
  if (!r.clusterModel) return r.topics.map((t) => t.topic).join('\n');
  const rows: Cell[][] = [];
  for (const t of r.topics) {
    const cluster = (t.clusters ?? []).join(',');
    const groups = t.consumerGroups && t.consumerGroups.length > 0 ? t.consumerGroups : [''];
    for (const g of groups) rows.push([cluster, t.topic, g]);
  }
  return renderTable(['#Cluster Name', '#Topic', '#Consumer Group'], rows);
}

export function renderTopicRoute(r: TopicRouteResult): string {
  const queues = new Map(r.queueDatas.map((q) => [q.brokerName, q]));
  const rows: Cell[][] = [];
  let read = 0;
  let write = 0;
  for (const b of r.brokerDatas) {
    const q = queues.get(b.brokerName);
    const addrs = Object.keys(b.brokerAddrs)
      .sort((x, y) => Number(x) - Number(y))
      .map((id) => `${id}=${b.brokerAddrs[id]}`)
      .join(' ');
    rows.push([b.cluster, b.brokerName, addrs, q ? q.readQueueNums : '-', q ? q.writeQueueNums : '-', q ? `${q.perm} (${permToString(q.perm)})` : '-']);
    read += q?.readQueueNums ?? 0;
    write += q?.writeQueueNums ?? 0;
  }
  rows.push(['Total:', r.brokerDatas.length, '', read, write, '']);
  let out = renderTable(['#ClusterName', '#BrokerName', '#BrokerAddrs', '#ReadQueue', '#WriteQueue', '#Perm'], rows, { align: [3, 4] });
  if (r.orderTopicConf) out += `\n\norderTopicConf: ${r.orderTopicConf}`;
  return out;
}

export function renderTopicStatus(r: TopicStatusResult): string {
  if (r.queues.length === 0) return `Topic ${r.topic} has no write queues on the brokers that answered.`;
  const rows = r.queues.map((q) => [q.brokerName, q.queueId, q.minOffset, q.maxOffset, formatTimestamp(q.lastUpdateTimestamp)]);
  return renderTable(['#Broker Name', '#QID', '#Min Offset', '#Max Offset', '#Last Updated'], rows, { align: [1, 2, 3] });
}

export function renderUpdateTopic(r: UpdateTopicResult): string {
  const c = r.config;
  const lines = r.brokers.map((b) => `create topic to ${brokerLabel(b)} success.`);
  const kv = renderKeyValues([
    ['topicName', c.topicName],
    ['readQueueNums', c.readQueueNums],
    ['writeQueueNums', c.writeQueueNums],
    ['perm', `${c.perm} (${permToString(c.perm)})`],
    ['topicFilterType', c.topicFilterType],
    ['topicSysFlag', c.topicSysFlag],
    ['order', c.order],
    ...(r.orderConf !== null ? ([['orderConf', r.orderConf]] as Array<[string, Cell]>) : []),
  ]);
  // What changed, per broker (brokers can differ; the block above is the first broker's).
  const changes = r.brokers.map((b) => `${brokerLabel(b)}: ${b.before === null ? 'created' : topicConfigChanges(b.before, b.after)}`);
  return `${lines.join('\n')}\n\n${kv}\n\n${changes.join('\n')}`;
}

const TOPIC_FIELDS = ['readQueueNums', 'writeQueueNums', 'perm', 'topicFilterType', 'topicSysFlag', 'order'] as const;

function topicConfigChanges(before: TopicConfig, after: TopicConfig): string {
  const show = (f: (typeof TOPIC_FIELDS)[number], c: TopicConfig) => (f === 'perm' ? `${c.perm} (${permToString(c.perm)})` : String(c[f]));
  const diffs = TOPIC_FIELDS.filter((f) => before[f] !== after[f]).map((f) => `${f} ${show(f, before)} -> ${show(f, after)}`);
  return diffs.length > 0 ? diffs.join(', ') : 'unchanged';
}

export function renderDeleteTopic(r: DeleteTopicResult): string {
  const lines = r.brokers.map((b) => `delete topic ${r.topic} from broker ${brokerLabel(b)} success.`);
  // A path is the local broker's socket, which serves its embedded name server.
  for (const n of r.namesrvs) lines.push(`delete topic ${r.topic} from ${n.startsWith('/') ? `the local name server (${n})` : `name server ${n}`} success.`);
  return lines.join('\n');
}

export function renderUpdateSubGroup(r: UpdateSubGroupResult): string {
  const rows = r.brokers.map((b) => [
    brokerLabel(b),
    b.existed ? 'updated' : 'created',
    b.config.consumeEnable,
    b.config.consumeFromMinEnable,
    b.config.consumeBroadcastEnable,
    b.config.retryQueueNums,
    b.config.retryMaxTimes,
    b.config.brokerId,
    b.config.whichBrokerWhenConsumeSlowly,
    b.config.notifyConsumerIdsChangedEnable,
  ]);
  const head = ['#Broker', '#Action', '#consumeEnable', '#consumeFromMin', '#broadcast', '#retryQueues', '#retryMaxTimes', '#brokerId', '#slowBrokerId', '#notifyIdsChanged'];
  return `Subscription group ${r.group}:\n${renderTable(head, rows, { align: [5, 6, 7, 8] })}`;
}

export function renderDeleteSubGroup(r: DeleteSubGroupResult): string {
  return r.brokers
    .map((b) => `delete subscription group ${r.group} from broker ${brokerLabel(b)} ${b.existed ? 'success' : 'success (it had no such group)'}${r.removeOffset ? ', offsets removed' : ''}.`)
    .join('\n');
}

function connectionRows(cs: ConnectionInfo[]): Cell[][] {
  return cs.map((c) => [c.clientId, c.clientAddr, c.language, c.versionDesc]);
}

export function renderConsumerConnection(r: ConsumerConnectionResult): string {
  const conns = renderTable(['#ClientId', '#ClientAddr', '#Language', '#Version'], connectionRows(r.connections));
  const subs = r.subscriptions.length > 0 ? renderTable(['#Topic', '#SubExpression'], r.subscriptions.map((s) => [s.topic, s.subExpression])) : '(none)';
  const kv = renderKeyValues([
    ['ConsumeType', dash(r.consumeType)],
    ['MessageModel', dash(r.messageModel)],
    ['ConsumeFromWhere', dash(r.consumeFromWhere)],
  ]);
  return `${conns}\n\nBelow is subscription:\n${subs}\n\n${kv}`;
}

export function renderProducerConnection(r: ProducerConnectionResult): string {
  const rows = r.connections.map((c, i) => [String(i + 1).padStart(4, '0'), ...connectionRows([c])[0]!]);
  return renderTable(['#', '#ClientId', '#ClientAddr', '#Language', '#Version'], rows);
}

function brokerLabel(b: { addr: string; brokerName: string | null }): string {
  return b.brokerName ? `${b.brokerName} (${b.addr})` : b.addr;
}

/** dledgerGroup: per group a summary line, then one row per member (unknown values '-'). */
export function renderDLedgerGroups(r: DLedgerGroupResult): string {
  if (r.groups.length === 0) {
    return r.failed.length > 0 ? 'No DLedger group found among the brokers that answered (see the warnings).' : 'No DLedger group is registered with the name server (rocketctl brokers with enableDLegerCommitLog=true report one).';
  }
  return r.groups
    .map((g) => {
      const leader = g.leader ? `leader ${g.leader}, term ${dash(g.term)}` : 'no leader (an election under way?)';
      const health = `${g.up} of ${g.size} member(s) up, majority (${g.majority}) ${g.majorityOk ? 'ok' : 'LOST'}`;
      const rows = g.members.map((m) => [m.selfId, dash(m.addr), dash(m.brokerId), m.dledgerAddr, m.role, dash(m.term), dash(m.ledgerEndIndex), dash(m.committedIndex), dash(m.lag), m.error ?? '']);
      const table = renderTable(['#Id', '#Addr', '#BID', '#DLedger Addr', '#Role', '#Term', '#End', '#Commit', '#Lag', '#Note'], rows, { align: [2, 5, 6, 7, 8] });
      return `${g.brokerName} (group ${g.group}): ${leader}; ${health}\n${table}`;
    })
    .join('\n\n');
}
