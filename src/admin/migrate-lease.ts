/**
 * The lease that keeps two `migrateBacklog --execute` runs of one group from copying its backlog
 * twice. It is a broker-side queue lock, the one orderly consumers take (LOCK_BATCH_MQ /
 * UNLOCK_BATCH_MQ), so Apache 4.x and 5.x brokers hold it as ours do (4.9.8:
 * AdminBrokerProcessor#lockBatchMQ, RebalanceLockManager#tryLockBatch): one owner (client id) per
 * (group, queue); the same owner may lock again (renew); another gets it only when the owner's lock
 * is older than REBALANCE_LOCK_MAX_LIVE_TIME (60 s); unlock only by the owner. No new request code,
 * nothing stored: a broker restart drops every lease (a run renewing then takes it again if free).
 *
 * The locked "queue" is LEASE_TOPIC, queue 0 on each broker of the source topic, under the group
 * being migrated. LEASE_TOPIC contains ':', which no topic name may, so no consumer ever locks it.
 * A run takes the lease on every broker of the source (in brokerName order) before it plans; any
 * broker refusing means another run holds it, and what this run took is released.
 */
import os from 'node:os';
import { RocketError } from '../errors/index.js';
import { RequestCode, ResponseCode } from '../protocol/codes.js';
import { bodyBuffer, makeRequest } from '../protocol/frame.js';
import { encodeJson, type MessageQueue } from '../protocol/bodies.js';
import { parseFastjson } from '../protocol/fastjson.js';
import { sessionInvoke, type AdminSession } from './session.js';
import { errorText } from './fanout.js';
import { type BrokerRef } from './targets.js';
import { compareStrings } from '../client/allocate.js';

/** The locked queue's topic: not a valid topic name (':'), so it is never a real queue's. */
export const LEASE_TOPIC = 'rocketctl:migrateBacklog';
/** Renewal period: as an orderly consumer renews its queue locks (ConsumeMessageOrderlyService, 20 s). */
export const LEASE_RENEW_MS = 20_000;
/** A broker frees a lock not renewed for this long (RebalanceLockManager.REBALANCE_LOCK_MAX_LIVE_TIME). */
export const LEASE_LAPSE_MS = 60_000;
/** Without a confirmed renewal for this long the lease is treated as lost (before any broker could give it away). */
const LEASE_TRUST_MS = LEASE_LAPSE_MS - LEASE_RENEW_MS;

/** Another run holds the lease: exit 1, nothing changed. */
export class MigrationRunningError extends RocketError {
  constructor(group: string, brokerName: string) {
    super(`another migrateBacklog --execute of group ${group} is running: broker ${brokerName} holds its lease; nothing was copied`, {
      code: 'E_MIGRATION_RUNNING',
      actions: [
        'wait for that run to finish, then plan again (its offsets will have moved)',
        `a run that died frees its lease ${LEASE_LAPSE_MS / 1000} s after its last renewal`,
      ],
    });
  }
}

export interface MigrationLease {
  /** Who holds it (the client id sent with the lock). */
  readonly holder: string;
  /** Why the lease is no longer held, once it is not (a broker restarted and another run took it, or no renewal for LEASE_TRUST_MS). */
  lostReason(): string | undefined;
  /** Stop renewing and unlock on every broker (best effort: an unlock that fails lapses anyway). */
  release(): Promise<void>;
}

/** Take the group's lease on every broker (sorted by name), or throw MigrationRunningError with nothing held. */
export async function acquireMigrationLease(session: AdminSession, group: string, brokers: readonly BrokerRef[]): Promise<MigrationLease> {
  const holder = `${os.hostname()}@${process.pid}@migrateBacklog@${Date.now()}`;
  const sorted = [...brokers].sort((a, b) => compareStrings(a.brokerName, b.brokerName));
  const taken: BrokerRef[] = [];
  for (const b of sorted) {
    let held: boolean;
    try {
      held = await lock(session, b, group, holder);
    } catch (err) {
      await unlockAll(session, taken, group, holder);
      throw err;
    }
    if (!held) {
      await unlockAll(session, taken, group, holder);
      throw new MigrationRunningError(group, b.brokerName);
    }
    taken.push(b);
  }
  let confirmedAt = Date.now();
  let lost: string | undefined;
  let renewing: Promise<void> | undefined;
  const renew = async () => {
    for (const b of taken) {
      try {
        if (!(await lock(session, b, group, holder))) lost ??= `broker ${b.brokerName} gave the lease of ${group} to another run (restarted?)`;
      } catch (err) {
        if (Date.now() - confirmedAt > LEASE_TRUST_MS) lost ??= `the lease of ${group} could not be renewed on ${b.brokerName} for ${LEASE_TRUST_MS / 1000} s: ${errorText(err)}`;
        return;
      }
    }
    if (lost === undefined) confirmedAt = Date.now();
  };
  const timer = setInterval(() => void (renewing ??= renew().finally(() => (renewing = undefined))), LEASE_RENEW_MS);
  timer.unref();
  return {
    holder,
    lostReason: () => lost ?? (Date.now() - confirmedAt > LEASE_TRUST_MS ? `the lease of ${group} was not renewed for ${LEASE_TRUST_MS / 1000} s` : undefined),
    async release() {
      clearInterval(timer);
      await renewing;
      await unlockAll(session, taken, group, holder);
    },
  };
}

function leaseQueue(b: BrokerRef): MessageQueue {
  return { topic: LEASE_TOPIC, brokerName: b.brokerName, queueId: 0 };
}

/** LOCK_BATCH_MQ of the lease queue: true when this holder has it now. */
async function lock(session: AdminSession, b: BrokerRef, group: string, holder: string): Promise<boolean> {
  const body = encodeJson({ consumerGroup: group, clientId: holder, mqSet: [leaseQueue(b)] });
  const res = await sessionInvoke(session, b.addr, makeRequest(RequestCode.LOCK_BATCH_MQ, undefined, body));
  if (res.code !== ResponseCode.SUCCESS) {
    throw new RocketError(`broker ${b.brokerName} refused the migration lease of ${group} (LOCK_BATCH_MQ): ${res.remark ?? `code ${res.code}`}`, { code: 'E_LEASE' });
  }
  const answer = res.body ? (parseFastjson(bodyBuffer(res).toString('utf8')) as { lockOKMQSet?: Array<{ topic?: unknown; queueId?: unknown }> } | null) : null;
  return (answer?.lockOKMQSet ?? []).some((mq) => mq.topic === LEASE_TOPIC && Number(mq.queueId) === 0);
}

async function unlockAll(session: AdminSession, brokers: readonly BrokerRef[], group: string, holder: string): Promise<void> {
  for (const b of brokers) {
    const body = encodeJson({ consumerGroup: group, clientId: holder, mqSet: [leaseQueue(b)] });
    await sessionInvoke(session, b.addr, makeRequest(RequestCode.UNLOCK_BATCH_MQ, undefined, body)).catch(() => undefined);
  }
}
