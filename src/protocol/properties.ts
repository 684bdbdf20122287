/**
 * Message properties string: name \u0001 value \u0002 ..., without a trailing \u0002 (fact sheet §4.3).
 * Parsing splits on \u0002 then at the first \u0001; empty names/values are skipped, as Java does.
 */
export const NAME_VALUE_SEPARATOR = '\u0001';
export const PROPERTY_SEPARATOR = '\u0002';

export type Properties = Record<string, string>;

export function encodeProperties(props: Properties | undefined): string {
  if (!props) return '';
  let out = '';
  for (const k of Object.keys(props)) {
    const v = props[k];
    if (v === undefined || v === null) continue;
    if (out) out += PROPERTY_SEPARATOR;
    out += k + NAME_VALUE_SEPARATOR + v;
  }
  return out;
}

export function decodeProperties(s: string): Properties {
  const out: Properties = {};
  if (!s) return out;
  // s.split(PROPERTY_SEPARATOR), then each item split at its first NAME_VALUE_SEPARATOR, without
  // the intermediate arrays and strings.
  const n = s.length;
  let start = 0;
  // Next NAME_VALUE_SEPARATOR at or after `start` (n when none): each search runs once, so a long
  // string of items without one stays linear.
  let i = -1;
  while (start <= n) {
    let end = s.indexOf(PROPERTY_SEPARATOR, start);
    if (end < 0) end = n;
    if (i < start) {
      i = s.indexOf(NAME_VALUE_SEPARATOR, start);
      if (i < 0) i = n;
    }
    // A name needs at least one character and a value after the separator, inside this item.
    if (i > start && i < end - 1) out[s.slice(start, i)] = s.slice(i + 1, end);
    start = end + 1;
  }
  return out;
}

/** Well-known property names (MessageConst). */
export const Prop = {
  KEYS: 'KEYS',
  TAGS: 'TAGS',
  WAIT: 'WAIT',
  DELAY: 'DELAY',
  RETRY_TOPIC: 'RETRY_TOPIC',
  REAL_TOPIC: 'REAL_TOPIC',
  REAL_QID: 'REAL_QID',
  TRAN_MSG: 'TRAN_MSG',
  PGROUP: 'PGROUP',
  MIN_OFFSET: 'MIN_OFFSET',
  MAX_OFFSET: 'MAX_OFFSET',
  ORIGIN_MESSAGE_ID: 'ORIGIN_MESSAGE_ID',
  RECONSUME_TIME: 'RECONSUME_TIME',
  MAX_RECONSUME_TIMES: 'MAX_RECONSUME_TIMES',
  MSG_REGION: 'MSG_REGION',
  TRACE_ON: 'TRACE_ON',
  UNIQ_KEY: 'UNIQ_KEY',
  CONSUME_START_TIME: 'CONSUME_START_TIME',
  TRAN_PREPARED_QUEUE_OFFSET: 'TRAN_PREPARED_QUEUE_OFFSET',
  TRANSACTION_CHECK_TIMES: 'TRANSACTION_CHECK_TIMES',
  CHECK_IMMUNITY_TIME_IN_SECONDS: 'CHECK_IMMUNITY_TIME_IN_SECONDS',
  CLUSTER: 'CLUSTER',
} as const;

/** KEYS holds several keys separated by one space. */
export function splitKeys(keys: string | undefined): string[] {
  if (!keys) return [];
  return keys.split(' ').filter((k) => k.length > 0);
}
