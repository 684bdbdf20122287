import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageClientIDSetter;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Sends count messages with the Java client and prints one JSON line per send (a batch: one line
 * with "i":-1 for the send, then one line per message with "batch":true), then {"done":true,...}.
 * Each message's line carries what was sent (tags, keys, bodyLen, bodyMd5, props) beside the ids.
 *   namesrv=H:P topic=T [count=1] [mode=sync|async|oneway|batch] (or a list: mode=sync,batch sends
 *   count messages per mode, indexes continuing) [group=PG] [tags=TagA]
 *   [keys=key-] (a key per message: prefix + index) [size=N] (body bytes; else "body-<i>")
 *   [props=k1:v1,k2:v2] [delay=LEVEL] [order=true] (queue chosen by index % queues, ordered sends)
 *   [trace=true] [traceTopic=T] [vip=true|false] [timeoutMs=5000] [compressOver=4096] [apiTimeoutMs=15000]
 *   [lingerMs=0] (wait before shutdown; 3000 with trace=true, so the trace records get sent)
 *   [keepGoing=true] (sync: report a failed send and go on) [pauseMs=N] (sync: between sends)
 *   [pollMs=N] (pollNameServerInterval: how often routes are fetched; Java's default 30000)
 *   [accessKey=AK secretKey=SK] (sign requests with AclClientRPCHook, for brokers with ACL on)
 */
public class Produce {
  public static void main(String[] argv) throws Exception {
    Map<String, String> a = Json.args(argv);
    String topic = a.get("topic");
    int count = Integer.parseInt(a.getOrDefault("count", "1"));
    String mode = a.getOrDefault("mode", "sync");
    boolean trace = Boolean.parseBoolean(a.getOrDefault("trace", "false"));
    DefaultMQProducer p = new DefaultMQProducer(a.getOrDefault("group", "PG_kit"), Json.aclHook(a), trace, a.get("traceTopic"));
    p.setNamesrvAddr(a.get("namesrv"));
    // Route look-ups and other client API calls: 3 s by default, too short on a loaded 2-core machine.
    p.setMqClientApiTimeout(Integer.parseInt(a.getOrDefault("apiTimeoutMs", "15000")));
    p.setVipChannelEnabled(Boolean.parseBoolean(a.getOrDefault("vip", "false")));
    p.setSendMsgTimeout(Integer.parseInt(a.getOrDefault("timeoutMs", "5000")));
    p.setCompressMsgBodyOverHowmuch(Integer.parseInt(a.getOrDefault("compressOver", "4096")));
    p.setInstanceName(a.getOrDefault("instance", "kit-" + System.nanoTime()));
    // ClientConfig#pollNameServerInterval (30 s): how soon a changed route (a new master) is seen.
    if (a.containsKey("pollMs")) p.setPollNameServerInterval(Integer.parseInt(a.get("pollMs")));
    p.start();
    try {
      Json.awaitRoute(p, topic);
      // mode=sync,async,...: each mode in turn in this one JVM, message indexes continuing.
      List<String> modes = Json.split(mode, ",");
      for (int m = 0; m < modes.size(); m++) send(p, a, topic, modes.get(m), m * count, count);
      Json.emit(Json.obj("done", true, "count", count * modes.size(), "serializeType", Json.serializeType()));
      // The trace dispatcher sends its records in the background (batches every 500 ms, after a route
      // look-up of the trace topic): give it time before shutdown drops what is still queued.
      Thread.sleep(Long.parseLong(a.getOrDefault("lingerMs", trace ? "3000" : "0")));
    } finally {
      p.shutdown();
    }
  }

  /** Send messages base .. base+count-1 in one mode. */
  static void send(DefaultMQProducer p, Map<String, String> a, String topic, String mode, int base, int count) throws Exception {
    List<Message> msgs = new ArrayList<>();
    for (int i = 0; i < count; i++) msgs.add(build(a, topic, base + i));
    if (mode.equals("batch")) {
      SendResult r = p.send(msgs);
      Json.emit(result(-1, r));
      // The batch's ids, one per message in order (SendResult joins them with commas).
      String[] ids = r.getMsgId().split(",");
      String[] offsetIds = r.getOffsetMsgId() == null ? new String[0] : r.getOffsetMsgId().split(",");
      for (int i = 0; i < count; i++) {
        Map<String, Object> o = Json.obj("i", base + i, "batch", true, "msgId", i < ids.length ? ids[i] : null,
            "offsetMsgId", i < offsetIds.length ? offsetIds[i] : null, "queueId", r.getMessageQueue().getQueueId(),
            "queueOffset", r.getQueueOffset() + i);
        o.putAll(sent(msgs.get(i)));
        Json.emit(o);
      }
    } else if (mode.equals("async")) {
      CountDownLatch latch = new CountDownLatch(count);
      for (int i = 0; i < count; i++) {
        final int idx = i;
        final int n = base + i;
        p.send(msgs.get(i), new SendCallback() {
          public void onSuccess(SendResult r) { Json.emit(result(n, r, msgs.get(idx))); latch.countDown(); }
          public void onException(Throwable e) { Json.emit(Json.obj("i", n, "error", String.valueOf(e))); latch.countDown(); }
        });
      }
      if (!latch.await(60, TimeUnit.SECONDS)) Json.emit(Json.obj("error", "async sends not answered in 60 s"));
    } else if (mode.equals("oneway")) {
      for (int i = 0; i < count; i++) {
        p.sendOneway(msgs.get(i));
        // The client sets UNIQ_KEY before sending, so even a oneway send knows its msgId.
        Map<String, Object> o = Json.obj("i", base + i, "status", "ONEWAY", "msgId", MessageClientIDSetter.getUniqID(msgs.get(i)));
        o.putAll(sent(msgs.get(i)));
        Json.emit(o);
      }
    } else {
      boolean order = Boolean.parseBoolean(a.getOrDefault("order", "false"));
      boolean keepGoing = Boolean.parseBoolean(a.getOrDefault("keepGoing", "false"));
      long pauseMs = Long.parseLong(a.getOrDefault("pauseMs", "0"));
      for (int i = 0; i < count; i++) {
        try {
          SendResult r = order
              ? p.send(msgs.get(i), (List<MessageQueue> mqs, Message m, Object arg) -> mqs.get((Integer) arg % mqs.size()), base + i)
              : p.send(msgs.get(i));
          Json.emit(result(base + i, r, msgs.get(i)));
        } catch (Exception e) {
          // keepGoing=true: a failed send is reported and the next one tried (a failover under way).
          if (!keepGoing) throw e;
          Json.emit(Json.obj("i", base + i, "error", String.valueOf(e)));
        }
        if (pauseMs > 0) Thread.sleep(pauseMs);
      }
    }
  }

  static Message build(Map<String, String> a, String topic, int i) {
    byte[] body;
    if (a.containsKey("size")) {
      int n = Integer.parseInt(a.get("size"));
      body = new byte[n];
      for (int j = 0; j < n; j++) body[j] = (byte) ('a' + (j * 7 + i) % 26);
    } else {
      body = ("body-" + i).getBytes(StandardCharsets.UTF_8);
    }
    Message m = new Message(topic, a.get("tags"), a.containsKey("keys") ? a.get("keys") + i : null, body);
    for (String kv : Json.split(a.get("props"), ",")) {
      String[] p = kv.split(":", 2);
      m.putUserProperty(p[0], p[1]);
    }
    m.putUserProperty("kitIndex", String.valueOf(i));
    if (a.containsKey("delay")) m.setDelayTimeLevel(Integer.parseInt(a.get("delay")));
    return m;
  }

  static Map<String, Object> result(int i, SendResult r, Message m) {
    Map<String, Object> o = result(i, r);
    o.putAll(sent(m));
    return o;
  }

  /** What was sent, to compare with what a consumer sees (body md5 of the uncompressed body). */
  static Map<String, Object> sent(Message m) {
    return Json.obj("tags", m.getTags(), "keys", m.getKeys(), "bodyLen", m.getBody().length,
        "bodyMd5", Json.md5(m.getBody()), "props", Json.userProps(m));
  }

  static Map<String, Object> result(int i, SendResult r) {
    return Json.obj("i", i, "status", r.getSendStatus().name(), "msgId", r.getMsgId(), "offsetMsgId", r.getOffsetMsgId(),
        "brokerName", r.getMessageQueue().getBrokerName(), "queueId", r.getMessageQueue().getQueueId(),
        "queueOffset", r.getQueueOffset(), "transactionId", r.getTransactionId(), "regionId", r.getRegionId(),
        "traceOn", r.isTraceOn());
  }
}
