/**
 * Per-topic pull and consume counters, reported as the statusTable of GET_CONSUMER_RUNNING_INFO
 * (Java ConsumerStatsManager: incPullRT/incPullTPS, incConsumeOKTPS/incConsumeFailedTPS/incConsumeRT,
 * consumeStatus). Totals since start rather than Java's sliding minute.
 */
interface TopicStats {
  pullCount: number;
  pullRtTotalMs: number;
  consumeOk: number;
  consumeFailed: number;
  consumeRtTotalMs: number;
}

export class ConsumerStats {
  private readonly topics = new Map<string, TopicStats>();

  pulled(topic: string, rtMs: number): void {
    const s = this.of(topic);
    s.pullCount++;
    s.pullRtTotalMs += rtMs;
  }

  consumed(topic: string, ok: boolean, rtMs: number): void {
    const s = this.of(topic);
    if (ok) s.consumeOk++;
    else s.consumeFailed++;
    s.consumeRtTotalMs += rtMs;
  }

  /** ConsumeStatus per topic, rates over `upSec` seconds. */
  statusTable(upSec: number): Record<string, unknown> {
    const table: Record<string, unknown> = {};
    for (const [topic, st] of this.topics) {
      table[topic] = {
        consumeFailedMsgs: st.consumeFailed,
        consumeFailedTPS: st.consumeFailed / upSec,
        consumeOKTPS: st.consumeOk / upSec,
        consumeRT: st.consumeOk + st.consumeFailed > 0 ? st.consumeRtTotalMs / (st.consumeOk + st.consumeFailed) : 0,
        pullRT: st.pullCount > 0 ? st.pullRtTotalMs / st.pullCount : 0,
        pullTPS: st.pullCount / upSec,
      };
    }
    return table;
  }

  private of(topic: string): TopicStats {
    let s = this.topics.get(topic);
    if (!s) {
      s = { pullCount: 0, pullRtTotalMs: 0, consumeOk: 0, consumeFailed: 0, consumeRtTotalMs: 0 };
      this.topics.set(topic, s);
    }
    return s;
  }
}
