/**
 * Name rules RocketMQ enforces (TopicValidator): topic names match ^[%|a-zA-Z0-9_-]+$ and have at
 * most 127 characters.
 */
const TOPIC_NAME_PATTERN = /^[%|a-zA-Z0-9_-]+$/;
const TOPIC_MAX_LENGTH = 127;

/** Returns why `topic` is invalid, or undefined when it is fine. */
export function topicNameProblem(topic: string): string | undefined {
  if (!topic) return 'it is empty';
  if (!TOPIC_NAME_PATTERN.test(topic)) return 'it may contain only letters, digits, %, |, _ and -';
  if (topic.length > TOPIC_MAX_LENGTH) return `it has ${topic.length} characters (max ${TOPIC_MAX_LENGTH})`;
  return undefined;
}

/** Group names follow the same character rules in practice (mqadmin checks them alike). */
export function groupNameProblem(group: string): string | undefined {
  if (!group) return 'it is empty';
  if (!/^[%|a-zA-Z0-9_-]+$/.test(group)) return 'it may contain only letters, digits, %, |, _ and -';
  if (group.length > 255) return `it has ${group.length} characters (max 255)`;
  return undefined;
}
