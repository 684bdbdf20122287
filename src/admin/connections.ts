/** consumerConnection and producerConnection (apache/rocketmq tools ConsumerConnectionSubCommand, ProducerConnectionSubCommand). */

import { compareStrings } from '../client/allocate.js';
import { TopicNotFoundError, GroupNotFoundError } from '../errors/index.js';
import { Connection, ConsumeType, MessageModel, ConsumeFromWhere } from '../protocol/bodies.js';
import { BrokerFailure, mapBounded, BROKER_PARALLELISM, failureOf, asRocketError } from './fanout.js';
import { subscriptionGroupExists, ConsumerNotOnlineError, getConsumerConnectionList, versionDesc, getProducerConnectionList, ProducerNotOnlineError } from './requests.js';
import { AdminSession } from './session.js';
import { BrokerTarget, brokerTargetsOfRoute, routeOfTopic, clusterInfo, mastersOfCluster } from './targets.js';
import { RETRY_GROUP_TOPIC_PREFIX } from '../protocol/names.js';

export interface ConnectionInfo extends Connection {
  /** MQVersion.getVersionDesc(version), e.g. V4_9_8. */
  versionDesc: string;
}

export interface ConsumerConnectionResult {
  group: string;
  connections: ConnectionInfo[];
  subscriptions: Array<{ topic: string; subExpression: string }>;
  consumeType: ConsumeType | null;
  messageModel: MessageModel | null;
  consumeFromWhere: ConsumeFromWhere | null;
  /** Brokers that answered. */
  brokers: string[];
  failed: BrokerFailure[];
}

/**
 * GET_CONSUMER_CONNECTION_LIST from -b, or from every broker of the group's retry topic route
 * (mqadmin asks one at random); connections merged by client id. A group without a retry topic
 * has never been online: GroupNotFoundError. Online nowhere: ConsumerNotOnlineError.
 */
export async function consumerConnection(s: AdminSession, o: { group: string; brokerAddr?: string }): Promise<ConsumerConnectionResult> {
  let targets: BrokerTarget[];
  if (o.brokerAddr) targets = [{ clusterName: null, brokerName: null, brokerId: null, addr: o.brokerAddr }];
  else {
    try {
      targets = brokerTargetsOfRoute(await routeOfTopic(s, RETRY_GROUP_TOPIC_PREFIX + o.group));
    } catch (err) {
      if (!(err instanceof TopicNotFoundError)) throw err;
      // No retry topic: never had a consumer. A group that exists as a subscription group on a
      // master is offline, not unknown.
      const info = await clusterInfo(s);
      const masters = Object.keys(info.clusterAddrTable).flatMap((c) => mastersOfCluster(info, c));
      if (await subscriptionGroupExists(s, masters.map((t) => t.addr), o.group)) throw new ConsumerNotOnlineError(o.group, 'any broker: it exists but has never had a consumer');
      throw new GroupNotFoundError(o.group);
    }
  }
  const settled = await mapBounded(targets, BROKER_PARALLELISM, (t) => getConsumerConnectionList(s, t.addr, o.group));
  const answered = settled.filter((r) => r.ok || r.error instanceof ConsumerNotOnlineError);
  const online = settled.flatMap((r) => (r.ok ? [{ item: r.item, value: r.value }] : []));
  const failed = settled.flatMap((r) => (!r.ok && !(r.error instanceof ConsumerNotOnlineError) ? [failureOf(r.item, r.error)] : []));
  if (online.length === 0) {
    const firstFailure = settled.find((r) => !r.ok && !(r.error instanceof ConsumerNotOnlineError));
    if (firstFailure && !firstFailure.ok) throw asRocketError(firstFailure.error);
    throw new ConsumerNotOnlineError(o.group, targets.length === 1 ? targets[0]!.addr : `any of ${targets.map((t) => t.addr).join(', ')}`);
  }
  const connections = new Map<string, ConnectionInfo>();
  const subscriptions = new Map<string, string>();
  for (const { value } of online) {
    for (const c of value.connectionSet) connections.set(c.clientId, { ...c, versionDesc: versionDesc(c.version) });
    for (const [topic, sub] of Object.entries(value.subscriptionTable)) subscriptions.set(topic, sub.subString);
  }
  const head = online[0]!.value;
  return {
    group: o.group,
    connections: [...connections.values()].sort((a, b) => compareStrings(a.clientId, b.clientId)),
    subscriptions: [...subscriptions].sort((a, b) => compareStrings(a[0], b[0])).map(([topic, subExpression]) => ({ topic, subExpression })),
    consumeType: head.consumeType ?? null,
    messageModel: head.messageModel ?? null,
    consumeFromWhere: head.consumeFromWhere ?? null,
    brokers: answered.map((r) => r.item.addr),
    failed,
  };
}

export interface ProducerConnectionResult {
  group: string;
  topic: string;
  connections: ConnectionInfo[];
  brokers: string[];
  failed: BrokerFailure[];
}

/** GET_PRODUCER_CONNECTION_LIST from each broker of the topic's route, merged by client id. */
export async function producerConnection(s: AdminSession, o: { group: string; topic: string }): Promise<ProducerConnectionResult> {
  const targets = brokerTargetsOfRoute(await routeOfTopic(s, o.topic));
  const settled = await mapBounded(targets, BROKER_PARALLELISM, (t) => getProducerConnectionList(s, t.addr, o.group));
  const notOnline = (e: unknown) => e instanceof ProducerNotOnlineError;
  const online = settled.flatMap((r) => (r.ok ? [r.value] : []));
  const failed = settled.flatMap((r) => (!r.ok && !notOnline(r.error) ? [failureOf(r.item, r.error)] : []));
  const connections = new Map<string, ConnectionInfo>();
  for (const list of online) for (const c of list) connections.set(c.clientId, { ...c, versionDesc: versionDesc(c.version) });
  if (connections.size === 0) {
    const firstFailure = settled.find((r) => !r.ok && !notOnline(r.error));
    if (firstFailure && !firstFailure.ok) throw asRocketError(firstFailure.error);
    throw new ProducerNotOnlineError(o.group, `the brokers of topic ${o.topic} (${targets.map((t) => t.addr).join(', ')})`);
  }
  return {
    group: o.group,
    topic: o.topic,
    connections: [...connections.values()].sort((a, b) => compareStrings(a.clientId, b.clientId)),
    brokers: settled.filter((r) => r.ok || notOnline(r.error)).map((r) => r.item.addr),
    failed,
  };
}
