import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.rebalance.AllocateMessageQueueAveragely;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.ConsumeOrderlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.consumer.listener.MessageListenerOrderly;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.protocol.heartbeat.MessageModel;

/**
 * A push consumer (Java client 4.9.8) that prints one JSON line per delivery ({"event":"msg",...}),
 * then {"done":true,"count":N,"distinct":D} when `expect` distinct messages arrived (or idleMs passed
 * without a new one after at least one, or timeoutMs passed). Offsets are persisted before exit.
 *   namesrv=H:P group=G topic=T [sub=*] [model=CLUSTERING|BROADCASTING] [orderly=true]
 *   [expect=N] [timeoutMs=60000] [idleMs=0] [fail=N] (answer RECONSUME_LATER / SUSPEND the first N
 *   deliveries of each message) [maxReconsume=N] [trace=true] [traceTopic=T] [vip=true|false]
 *   [from=first|last] [instance=NAME] [stay=true] (keep consuming until timeoutMs)
 *   [deliveries=N] (stop after N deliveries in all, e.g. when every one is failed on purpose)
 *   [graceMs=300] (wait before shutdown, e.g. for the last sendMessageBack;
 *   3000 with trace=true, so the trace records get sent) [apiTimeoutMs=15000]
 *   [accessKey=AK secretKey=SK] (sign requests with AclClientRPCHook, for brokers with ACL on)
 */
public class Consume {
  public static void main(String[] argv) throws Exception {
    Map<String, String> a = Json.args(argv);
    boolean trace = Boolean.parseBoolean(a.getOrDefault("trace", "false"));
    DefaultMQPushConsumer c = new DefaultMQPushConsumer(a.get("group"), Json.aclHook(a), new AllocateMessageQueueAveragely(), trace, a.get("traceTopic"));
    c.setNamesrvAddr(a.get("namesrv"));
    // Route look-ups and other client API calls: 3 s by default, too short on a loaded 2-core machine.
    c.setMqClientApiTimeout(Integer.parseInt(a.getOrDefault("apiTimeoutMs", "15000")));
    c.setVipChannelEnabled(Boolean.parseBoolean(a.getOrDefault("vip", "false")));
    c.setInstanceName(a.getOrDefault("instance", "kit-" + System.nanoTime()));
    c.setMessageModel(MessageModel.valueOf(a.getOrDefault("model", "CLUSTERING")));
    c.setConsumeFromWhere("last".equals(a.get("from")) ? ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET : ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
    if (a.containsKey("maxReconsume")) c.setMaxReconsumeTimes(Integer.parseInt(a.get("maxReconsume")));
    c.setPersistConsumerOffsetInterval(1000);
    // Quick retry in tests: the delay levels of the retry topic are the broker's (messageDelayLevel).
    c.setPullInterval(0);
    c.subscribe(a.get("topic"), a.getOrDefault("sub", "*"));
    int expect = Integer.parseInt(a.getOrDefault("expect", "0"));
    long timeoutMs = Long.parseLong(a.getOrDefault("timeoutMs", "60000"));
    long idleMs = Long.parseLong(a.getOrDefault("idleMs", "0"));
    int fail = Integer.parseInt(a.getOrDefault("fail", "0"));
    boolean stay = Boolean.parseBoolean(a.getOrDefault("stay", "false"));
    int deliveriesMax = Integer.parseInt(a.getOrDefault("deliveries", "0"));
    AtomicInteger deliveries = new AtomicInteger();
    Set<String> distinct = ConcurrentHashMap.newKeySet();
    Map<String, AtomicInteger> seen = new ConcurrentHashMap<>();
    final long[] last = {0};

    if (Boolean.parseBoolean(a.getOrDefault("orderly", "false"))) {
      c.registerMessageListener((MessageListenerOrderly) (msgs, ctx) -> {
        for (MessageExt m : msgs) {
          if (record(m, seen, fail, deliveries, distinct, last)) return ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT;
        }
        return ConsumeOrderlyStatus.SUCCESS;
      });
    } else {
      c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
        for (MessageExt m : msgs) {
          if (record(m, seen, fail, deliveries, distinct, last)) return ConsumeConcurrentlyStatus.RECONSUME_LATER;
        }
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
      });
    }
    c.start();
    Json.emit(Json.obj("event", "started", "clientId", c.getDefaultMQPushConsumerImpl().getmQClientFactory().getClientId(),
        "serializeType", Json.serializeType()));
    long deadline = System.currentTimeMillis() + timeoutMs;
    while (System.currentTimeMillis() < deadline) {
      if (!stay && expect > 0 && distinct.size() >= expect) break;
      if (!stay && deliveriesMax > 0 && deliveries.get() >= deliveriesMax) break;
      if (!stay && idleMs > 0 && last[0] > 0 && System.currentTimeMillis() - last[0] > idleMs) break;
      Thread.sleep(50);
    }
    // Let the last acks turn into committed offsets (persistConsumerOffsetInterval and shutdown persist)
    // and the last failed delivery be sent back (graceMs).
    Thread.sleep(Long.parseLong(a.getOrDefault("graceMs", trace ? "3000" : "300")));
    c.shutdown();
    Json.emit(Json.obj("done", true, "count", deliveries.get(), "distinct", distinct.size(),
        "timedOut", expect > 0 && distinct.size() < expect));
  }

  /** Print the delivery; true when this delivery should be answered "later" (fail=N). */
  private static boolean record(MessageExt m, Map<String, AtomicInteger> seen, int fail, AtomicInteger deliveries,
      Set<String> distinct, long[] last) {
    deliveries.incrementAndGet();
    last[0] = System.currentTimeMillis();
    int n = seen.computeIfAbsent(m.getMsgId(), k -> new AtomicInteger()).incrementAndGet();
    Map<String, Object> o = Json.message(m);
    o.put("event", "msg");
    o.put("delivery", n);
    o.put("thread", Thread.currentThread().getName());
    boolean later = n <= fail;
    o.put("answer", later ? "later" : "ok");
    Json.emit(o);
    if (!later) distinct.add(m.getMsgId());
    return later;
  }
}
