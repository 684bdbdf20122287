/**
 * The broker's REGISTER_BROKER traffic to its name servers, bounded in size and frequency as
 * Apache's broker bounds it (BrokerController 4.9.8 / 5.x):
 *
 *  - a full registration (every topic) at start and then once per registerNameServerPeriod
 *    (registerBrokerAll on its timer), never because a topic changed; with forceRegister=false
 *    the periodic one first asks QUERY_DATA_VERSION and sends no body to a name server that
 *    already holds this DataVersion (BrokerController#needRegister);
 *  - a topic change sends only the changed topics (registerIncrementBrokerData: UPDATE_AND_CREATE_TOPIC
 *    in 4.9.8; auto-created topics too in 5.x, where 4.9.8 still sent the whole table per creation);
 *  - one registration in flight at a time: changes made meanwhile are sent together in the next
 *    one, at most MAX_TOPICS_PER_REGISTRATION topics per request.
 *
 * Each incremental registration carries the DataVersion the table had right after the last
 * change it includes. Name servers apply a body only when its DataVersion differs from the one
 * they hold for the broker, so versions sent in change order are each applied; a failed send is
 * repaired by the next full registration, whose (newer) version the name server has not seen.
 */
import type { DataVersion, TopicConfig } from '../protocol/bodies.js';
import { registerBroker, queryDataVersion, type BrokerIdentity } from '../remoting/namesrv-api.js';
import { encodeRegisterBrokerBody } from '../protocol/register-broker.js';
import type { RemotingClient } from '../remoting/client.js';
import type { Logger } from '../remoting/server.js';

/** Topics per incremental REGISTER_BROKER: ~1,000 × ~150 bytes of JSON, far below the 16 MiB frame. */
export const MAX_TOPICS_PER_REGISTRATION = 1000;
/** PermName.PERM_READ | PermName.PERM_WRITE. */
const READ_WRITE = 4 | 2;

/** A full JSON body larger than this (half the 16 MiB frame limit) is warned about once. */
const REGISTER_BODY_WARN_BYTES = 8 * 1024 * 1024;
/** Bound on one REGISTER_BROKER / QUERY_DATA_VERSION round trip (BrokerConfig.registerBrokerTimeoutMills). */
export const NAMESRV_REQUEST_TIMEOUT_MS = 6000;

/** What registration reads from the topic table (TopicConfigManager). */
interface RegisteredTopics {
  readonly dataVersion: DataVersion;
  readonly size: number;
  get(name: string): TopicConfig | undefined;
  all(): TopicConfig[];
  /** Compact TopicConfigSerializeWrapper JSON of these topics (all when omitted), with `version` (default: current). */
  compactJson(names?: Iterable<string>, version?: DataVersion): string;
}

interface BrokerRegistrationOptions {
  identity: () => BrokerIdentity;
  /** Name servers to register with (read at each registration). */
  namesrvAddrs: () => string[];
  client: RemotingClient;
  topics: RegisteredTopics;
  compressed: boolean;
  /**
   * The broker's brokerPermission (read at each registration: UPDATE_BROKER_CONFIG changes it). As
   * BrokerController#registerBrokerAll, a broker without read or write registers every topic with
   * it as the topic's perm, so clients route around it.
   */
  brokerPermission?: () => number;
  /** For the log line of a failing name server. */
  periodMs: number;
  logger: Logger;
}

/** What the test and bench count: requests sent, by kind. */
export interface RegistrationStats {
  full: number;
  incremental: number;
  /** Full registrations skipped because a name server already held the DataVersion (forceRegister=false). */
  skippedUnchanged: number;
}

interface PendingTopic {
  /** The table's DataVersion right after this topic's latest change. */
  version: DataVersion;
  done: Array<() => void>;
}

export class BrokerRegistration {
  readonly stats: RegistrationStats = { full: 0, incremental: 0, skippedUnchanged: 0 };
  /** Changed topics not yet sent, in change order (a topic changed again moves to the end). */
  private readonly pending = new Map<string, PendingTopic>();
  /** Callers waiting for the next full registration, and whether any of them insisted on the body. */
  private fullWaiters: Array<() => void> = [];
  private fullForce = false;
  private running = false;
  /** Addresses whose last registration failed: logged once per failure streak. */
  private readonly failing = new Set<string>();
  private warnedSize = false;

  /** For a slave: its master, as the last registration's answer named it. */
  masterAddr: string | undefined;

  constructor(private readonly o: BrokerRegistrationOptions) {}

  /**
   * A full registration (start, the period). `force` false lets a name server that holds the
   * current DataVersion skip the body. Resolves when done; never throws (failures are logged).
   */
  registerAll(opts: { force: boolean }): Promise<void> {
    return new Promise((resolve) => {
      this.fullWaiters.push(resolve);
      this.fullForce ||= opts.force;
      this.kick();
    });
  }

  /**
   * Register a changed topic (call once its change is persisted), with the table's DataVersion
   * right after that change; resolves once a registration carrying it was sent (or failed).
   */
  registerTopic(name: string, version: DataVersion): Promise<void> {
    return new Promise((resolve) => {
      const prev = this.pending.get(name);
      this.pending.delete(name);
      const latest = prev !== undefined && prev.version.counter > version.counter ? prev.version : version;
      this.pending.set(name, { version: latest, done: [...(prev?.done ?? []), resolve] });
      this.kick();
    });
  }

  /** One loop sends everything queued, one request at a time; it ends when nothing is left. */
  private kick(): void {
    if (this.running) return;
    this.running = true;
    void (async () => {
      try {
        // Bounded: every round empties the full-registration queue or takes >= 1 pending topic.
        for (;;) {
          if (this.o.identity().brokerId < 0) {
            // A DLedger member without a role yet does not register (BrokerController#start); the
            // full registration made when it gets one carries every topic.
            for (const w of this.fullWaiters.splice(0)) w();
            for (const p of this.pending.values()) for (const d of p.done) d();
            this.pending.clear();
            break;
          }
          if (this.fullWaiters.length > 0) await this.sendFull();
          else if (this.pending.size > 0) await this.sendIncrement();
          else break;
        }
      } finally {
        this.running = false;
      }
    })();
  }

  private async sendFull(): Promise<void> {
    const waiters = this.fullWaiters;
    const force = this.fullForce;
    this.fullWaiters = [];
    this.fullForce = false;
    // The whole table covers every change queued so far.
    const covered = [...this.pending.values()];
    this.pending.clear();
    const version = this.o.topics.dataVersion;
    const body = this.body(undefined);
    if (!this.o.compressed && body.length > REGISTER_BODY_WARN_BYTES && !this.warnedSize) {
      this.warnedSize = true;
      this.o.logger.warn(`REGISTER_BROKER body is ${(body.length / 1048576).toFixed(1)} MiB for ${this.o.topics.size} topics (frames are limited to 16 MiB): set compressedRegister=true`);
    }
    await Promise.all(
      this.o.namesrvAddrs().map(async (addr) => {
        if (!force && !(await this.changedAt(addr, version))) {
          this.stats.skippedUnchanged++;
          return;
        }
        this.stats.full++;
        await this.send(addr, body);
      }),
    );
    for (const w of waiters) w();
    for (const p of covered) for (const d of p.done) d();
  }

  private async sendIncrement(): Promise<void> {
    const taken: Array<[string, PendingTopic]> = [];
    for (const e of this.pending) {
      taken.push(e);
      if (taken.length === MAX_TOPICS_PER_REGISTRATION) break;
    }
    for (const [name] of taken) this.pending.delete(name);
    const names = taken.map(([name]) => name).filter((n) => this.o.topics.get(n) !== undefined);
    if (names.length > 0) {
      // Every change has its own counter, so two requests in a row never carry the same version
      // (a name server would ignore the second).
      const version = taken.reduce((v, [, p]) => (p.version.counter > v.counter ? p.version : v), taken[0]![1].version);
      const body = this.body(names, version);
      await Promise.all(
        this.o.namesrvAddrs().map(async (addr) => {
          this.stats.incremental++;
          await this.send(addr, body);
        }),
      );
    }
    for (const [, p] of taken) for (const d of p.done) d();
  }

  /** The REGISTER_BROKER body of these topics (all when undefined), with `version` (default: current). */
  private body(names: string[] | undefined, version?: DataVersion): Buffer {
    const perm = this.o.brokerPermission?.() ?? READ_WRITE;
    const restricted = (perm & READ_WRITE) !== READ_WRITE;
    if (this.o.compressed || restricted) {
      const topicConfigTable: Record<string, TopicConfig> = {};
      for (const tc of names === undefined ? this.o.topics.all() : names.map((n) => this.o.topics.get(n)!)) topicConfigTable[tc.topicName] = restricted ? { ...tc, perm } : tc;
      const topicConfigSerializeWrapper = { dataVersion: version ?? this.o.topics.dataVersion, topicConfigTable };
      return encodeRegisterBrokerBody({ topicConfigSerializeWrapper, filterServerList: [] }, this.o.compressed);
    }
    // RegisterBrokerBody in fastjson's key order: filterServerList, topicConfigSerializeWrapper.
    return Buffer.from(`{"filterServerList":[],"topicConfigSerializeWrapper":${this.o.topics.compactJson(names, version)}}`, 'utf8');
  }

  /** needRegister for one name server: does it hold another DataVersion (or cannot say)? */
  private async changedAt(addr: string, version: DataVersion): Promise<boolean> {
    try {
      return (await queryDataVersion(this.o.client, addr, this.o.identity(), version, NAMESRV_REQUEST_TIMEOUT_MS)).changed;
    } catch {
      return true;
    }
  }

  private async send(addr: string, body: Buffer): Promise<void> {
    const id = this.o.identity();
    try {
      // No HA here: haServerAddr is the broker's own address (Java: brokerIP2:haListenPort).
      const r = await registerBroker(this.o.client, addr, { ...id, haServerAddr: id.brokerAddr, body, compressed: this.o.compressed }, NAMESRV_REQUEST_TIMEOUT_MS);
      // BrokerController#registerBrokerAll: a slave learns its master from the answer (SlaveSynchronize reads from it).
      if (id.brokerId !== 0) this.masterAddr = r.masterAddr;
      else this.masterAddr = undefined;
      if (this.failing.delete(addr)) this.o.logger.info(`registered with name server ${addr} again`);
    } catch (err) {
      if (!this.failing.has(addr)) {
        this.o.logger.warn(`cannot register with name server ${addr}: ${err instanceof Error ? err.message : String(err)} (retrying every ${this.o.periodMs} ms)`);
      }
      this.failing.add(addr);
    }
  }
}
