/**
 * The package entry (`import { Producer, PushConsumer, withAdminSession, topicStatus } from
 * 'rocketctl'`): the client library (producers, consumers, messages) and the admin API.
 */
export * from './client/index.js';
export * from './admin/index.js';
export { RocketError, UsageError, BrokerUnreachableError, TimeoutError, RemoteError, ProtocolError, TopicNotFoundError, GroupNotFoundError, ExitCode } from './errors/index.js';
