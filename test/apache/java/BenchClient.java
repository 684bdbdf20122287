import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;

/**
 * The Java 4.9.8 client side of `npm run bench:compare` (bench/compare.ts): the same phases and the
 * same stdin/stdout handshake as bench/compare-client.ts, so the driver samples the server's CPU
 * exactly around each timed phase.
 *   namesrv=H:P topic=T count=N size=BYTES inflight=W [warmup=1000] [group=G] [queues=8]
 *   [phaseTimeoutMs=300000] [produceOnly=false] [latencies=false] [consumeOnly=false expect=N consumerGroup=G]
 * Protocol: prints {"event":"ready","phase":"produce"}, reads one line ("go") from stdin, sends
 * count messages with at most inflight unanswered (async sends, default client settings), prints
 * {"event":"result","phase":"produce",...}; then the same for "consume" (a push consumer from the
 * first offset until warmup+count messages arrived); then {"event":"done"}.
 * The fan scenario runs it as one producer (produceOnly=true, latencies=true: every acknowledged
 * send's latency in the result, so the driver merges percentiles over all producers; after the
 * result it waits for one more stdin line, so the driver reads its CPU time while it lives) or as one
 * consumer group (consumeOnly=true: no producer; reads expect messages as consumerGroup).
 */
public class BenchClient {
  private static int warmupSent;
  private static int sent;

  public static void main(String[] argv) throws Exception {
    Map<String, String> a = Json.args(argv);
    String topic = a.get("topic");
    int count = Integer.parseInt(a.get("count"));
    int size = Integer.parseInt(a.get("size"));
    int inflight = Integer.parseInt(a.get("inflight"));
    int warmup = Integer.parseInt(a.getOrDefault("warmup", "1000"));
    int queues = Integer.parseInt(a.getOrDefault("queues", "8"));
    long phaseTimeoutMs = Long.parseLong(a.getOrDefault("phaseTimeoutMs", "300000"));
    String group = a.getOrDefault("group", "bench_compare");
    BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    byte[] body = new byte[size];
    Arrays.fill(body, (byte) 'x');
    if (Boolean.parseBoolean(a.getOrDefault("consumeOnly", "false"))) {
      consume(a.get("namesrv"), a.getOrDefault("consumerGroup", group + "_cg"), topic, Integer.parseInt(a.get("expect")), phaseTimeoutMs, stdin);
      Json.emit(Json.obj("event", "done"));
      return;
    }

    DefaultMQProducer p = new DefaultMQProducer(group + "_pg");
    p.setNamesrvAddr(a.get("namesrv"));
    p.setMqClientApiTimeout(15000);
    p.setVipChannelEnabled(false);
    // A loaded 2-core machine can hold an ack for seconds; a timeout would count as a failed send.
    p.setSendMsgTimeout(30000);
    p.setDefaultTopicQueueNums(queues);
    p.setInstanceName("bench-" + System.nanoTime());
    p.start();
    try {
      Json.awaitRoute(p, topic);
      AtomicReference<String> firstError = new AtomicReference<>();
      long[] warm = send(p, topic, body, warmup, inflight, phaseTimeoutMs, firstError);
      warmupSent = warm.length - 1;
      awaitGo(stdin, "produce");
      long t0 = System.nanoTime();
      long[] r = send(p, topic, body, count, inflight, phaseTimeoutMs, firstError);
      double seconds = (System.nanoTime() - t0) / 1e9;
      long[] lat = Arrays.copyOfRange(r, 1, r.length);
      Arrays.sort(lat);
      sent = lat.length;
      Map<String, Object> result = Json.obj("event", "result", "phase", "produce", "sent", (long) lat.length, "failed", r[0],
          "warmupSent", (long) warmupSent, "warmupFailed", warm[0], "firstError", firstError.get(),
          "seconds", seconds, "p50Ms", pct(lat, 50), "p99Ms", pct(lat, 99), "maxMs", lat.length == 0 ? 0.0 : lat[lat.length - 1] / 1e6);
      if (Boolean.parseBoolean(a.getOrDefault("latencies", "false"))) {
        List<Double> ms = new ArrayList<>(lat.length);
        for (long ns : lat) ms.add(Math.round(ns / 1e3) / 1e3);
        result.put("latenciesMs", ms);
      }
      Json.emit(result);
      // A fan producer stays up until the driver has read its CPU time (one more line on stdin).
      if (Boolean.parseBoolean(a.getOrDefault("produceOnly", "false"))) stdin.readLine();
    } finally {
      p.shutdown();
    }
    if (Boolean.parseBoolean(a.getOrDefault("produceOnly", "false"))) {
      Json.emit(Json.obj("event", "done"));
      return;
    }
    // Every message the broker acked, warm-up included, is read back.
    consume(a.get("namesrv"), group + "_cg", topic, warmupSent + sent, phaseTimeoutMs, stdin);
    Json.emit(Json.obj("event", "done"));
  }

  static void awaitGo(BufferedReader stdin, String phase) throws Exception {
    Json.emit(Json.obj("event", "ready", "phase", phase));
    String line = stdin.readLine();
    if (line == null) throw new IllegalStateException("stdin closed before go");
  }

  /**
   * count async sends, at most inflight unanswered; returns [failed, latency ns of each success...].
   * Bounded: gives up waiting for answers after timeoutMs (the unanswered count as failed). A
   * failed send (e.g. Apache's "[TIMEOUT_CLEAN_QUEUE]broker busy") is counted and its first
   * message kept in firstError, as a user's application would see it.
   */
  static long[] send(DefaultMQProducer p, String topic, byte[] body, int count, int inflight, long timeoutMs,
      AtomicReference<String> firstError) throws Exception {
    Semaphore window = new Semaphore(inflight);
    long[] lat = new long[count];
    AtomicInteger ok = new AtomicInteger();
    AtomicInteger failed = new AtomicInteger();
    long deadline = System.currentTimeMillis() + timeoutMs;
    int issued = 0;
    for (; issued < count; issued++) {
      if (!window.tryAcquire(Math.max(1, deadline - System.currentTimeMillis()), TimeUnit.MILLISECONDS)) break;
      final long s = System.nanoTime();
      p.send(new Message(topic, body), new SendCallback() {
        public void onSuccess(SendResult r) { lat[ok.getAndIncrement()] = System.nanoTime() - s; window.release(); }
        public void onException(Throwable e) {
          firstError.compareAndSet(null, String.valueOf(e.getMessage()).split("\n")[0]);
          failed.incrementAndGet();
          window.release();
        }
      });
    }
    window.tryAcquire(inflight, Math.max(1, deadline - System.currentTimeMillis()), TimeUnit.MILLISECONDS);
    int n = ok.get();
    long[] out = new long[n + 1];
    out[0] = count - n;
    System.arraycopy(lat, 0, out, 1, n);
    return out;
  }

  static void consume(String namesrv, String group, String topic, int expect, long timeoutMs, BufferedReader stdin) throws Exception {
    DefaultMQPushConsumer c = new DefaultMQPushConsumer(group);
    c.setNamesrvAddr(namesrv);
    c.setMqClientApiTimeout(15000);
    c.setVipChannelEnabled(false);
    c.setInstanceName("bench-" + System.nanoTime());
    c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
    c.subscribe(topic, "*");
    AtomicInteger received = new AtomicInteger();
    // The halfway mark (as compare-client.ts): how many had arrived and when, first crossing only.
    AtomicLong halfAt = new AtomicLong();
    AtomicInteger halfReceived = new AtomicInteger();
    c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
      int now = received.addAndGet(msgs.size());
      // halfReceived is set before halfAt, so the main thread that sees halfAt != 0 sees its count.
      if ((long) now * 2 >= expect && halfAt.get() == 0) {
        synchronized (halfAt) {
          if (halfAt.get() == 0) {
            halfReceived.set(now);
            halfAt.set(System.nanoTime());
          }
        }
      }
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
    });
    awaitGo(stdin, "consume");
    long t0 = System.nanoTime();
    c.start();
    long deadline = System.currentTimeMillis() + timeoutMs;
    while (received.get() < expect && System.currentTimeMillis() < deadline) Thread.sleep(5);
    double seconds = (System.nanoTime() - t0) / 1e9;
    double halfSeconds = halfAt.get() == 0 ? 0.0 : (halfAt.get() - t0) / 1e9;
    Json.emit(Json.obj("event", "result", "phase", "consume", "received", (long) received.get(), "seconds", seconds,
        "complete", received.get() >= expect, "halfReceived", (long) halfReceived.get(), "halfSeconds", halfSeconds));
    c.shutdown();
  }

  static double pct(long[] sorted, int p) {
    if (sorted.length == 0) return 0.0;
    return sorted[Math.min(sorted.length - 1, (int) Math.floor(p / 100.0 * sorted.length))] / 1e6;
  }
}
