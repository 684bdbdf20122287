/** The broker's config files under `<storePathRootDir>/config/` (apache/rocketmq ConfigManager and its subclasses). */
export { ConfigFileManager, type ConfigLoadReport, type DataVersion, newDataVersion, nextVersion } from './config-file.js';
export { TopicConfigManager, defaultTopicConfig, topicConfigProblem, DEFAULT_TOPIC_QUEUE_NUMS, PERM_INHERIT, PERM_PRIORITY, PERM_READ, PERM_WRITE, type TopicConfig, type TopicFilterType } from './topic-config.js';
export { ConsumerOffsetManager, TOPIC_GROUP_SEPARATOR, splitTopicAtGroup, topicAtGroup } from './consumer-offset.js';
export { SubscriptionGroupManager, defaultSubscriptionGroupConfig, type SubscriptionGroupConfig, type SubscriptionGroupWrapper } from './subscription-group.js';
export { DelayOffsetManager } from './delay-offset.js';
export * from './system-topics.js';
