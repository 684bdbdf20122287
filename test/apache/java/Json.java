import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.rocketmq.client.impl.factory.MQClientInstance;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageClientExt;
import org.apache.rocketmq.common.message.MessageConst;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.remoting.protocol.RemotingCommand;
import org.apache.rocketmq.remoting.RPCHook;
import org.apache.rocketmq.acl.common.AclClientRPCHook;
import org.apache.rocketmq.acl.common.SessionCredentials;

/** Shared by the driver programs: key=value arguments in, one JSON object per output line. */
final class Json {
  private Json() {}

  /** [accessKey=AK secretKey=SK]: the client signs its requests (plain ACL), else null (unsigned). */
  static RPCHook aclHook(Map<String, String> a) {
    if (!a.containsKey("accessKey")) return null;
    return new AclClientRPCHook(new SessionCredentials(a.get("accessKey"), a.get("secretKey")));
  }

  static Map<String, String> args(String[] argv) {
    Map<String, String> m = new LinkedHashMap<>();
    for (String a : argv) {
      int eq = a.indexOf('=');
      if (eq <= 0) throw new IllegalArgumentException("not key=value: " + a);
      m.put(a.substring(0, eq), a.substring(eq + 1));
    }
    return m;
  }

  static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"': b.append("\\\""); break;
        case '\\': b.append("\\\\"); break;
        case '\n': b.append("\\n"); break;
        case '\r': b.append("\\r"); break;
        case '\t': b.append("\\t"); break;
        default:
          if (c < 0x20) b.append(String.format("\\u%04x", (int) c)); else b.append(c);
      }
    }
    return b.append('"').toString();
  }

  @SuppressWarnings("unchecked")
  static String write(Object v) {
    if (v == null) return "null";
    if (v instanceof String) return quote((String) v);
    if (v instanceof Number || v instanceof Boolean) return v.toString();
    if (v instanceof Map) {
      StringBuilder b = new StringBuilder("{");
      boolean first = true;
      for (Map.Entry<String, Object> e : ((Map<String, Object>) v).entrySet()) {
        if (!first) b.append(',');
        first = false;
        b.append(quote(e.getKey())).append(':').append(write(e.getValue()));
      }
      return b.append('}').toString();
    }
    if (v instanceof Iterable) {
      StringBuilder b = new StringBuilder("[");
      boolean first = true;
      for (Object o : (Iterable<Object>) v) {
        if (!first) b.append(',');
        first = false;
        b.append(write(o));
      }
      return b.append(']').toString();
    }
    return quote(v.toString());
  }

  /** Print one JSON line; synchronized so lines from callback threads never interleave. */
  static synchronized void emit(Map<String, Object> m) {
    System.out.println(write(m));
    System.out.flush();
  }

  static Map<String, Object> obj(Object... kv) {
    Map<String, Object> m = new LinkedHashMap<>();
    for (int i = 0; i + 1 < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
    return m;
  }

  static String md5(byte[] body) {
    try {
      byte[] d = MessageDigest.getInstance("MD5").digest(body);
      StringBuilder b = new StringBuilder();
      for (byte x : d) b.append(String.format("%02x", x));
      return b.toString();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** Properties a user set (RocketMQ's own reserved keys left out). */
  static Map<String, Object> userProps(Message m) {
    Map<String, Object> out = new LinkedHashMap<>();
    if (m.getProperties() == null) return out;
    for (Map.Entry<String, String> e : m.getProperties().entrySet()) {
      if (!MessageConst.STRING_HASH_SET.contains(e.getKey())) out.put(e.getKey(), e.getValue());
    }
    return out;
  }

  /** What a consumer saw of a message. */
  static Map<String, Object> message(MessageExt m) {
    Map<String, Object> o = obj(
        "topic", m.getTopic(), "msgId", m.getMsgId(),
        "offsetMsgId", m instanceof MessageClientExt ? ((MessageClientExt) m).getOffsetMsgId() : m.getMsgId(),
        "uniqKey", m.getProperty(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX),
        "tags", m.getTags(), "keys", m.getKeys(), "queueId", m.getQueueId(), "queueOffset", m.getQueueOffset(),
        "reconsumeTimes", m.getReconsumeTimes(), "bornTimestamp", m.getBornTimestamp(),
        "storeTimestamp", m.getStoreTimestamp(), "bodyLen", m.getBody() == null ? -1 : m.getBody().length,
        "bodyMd5", m.getBody() == null ? null : md5(m.getBody()),
        "sysFlag", m.getSysFlag(), "props", userProps(m),
        "realTopic", m.getProperty(MessageConst.PROPERTY_REAL_TOPIC),
        "retryTopic", m.getProperty(MessageConst.PROPERTY_RETRY_TOPIC),
        "delayLevel", m.getProperty(MessageConst.PROPERTY_DELAY_TIME_LEVEL));
    if (m.getBody() != null && m.getBody().length <= 256) o.put("body", new String(m.getBody(), StandardCharsets.UTF_8));
    return o;
  }

  /** Route look-ups before the first send, at most ROUTE_TRIES. */
  static final int ROUTE_TRIES = 20;

  /**
   * Wait until the producer has a route for topic (its own, or the default topic's for a topic the
   * broker creates on first send). The 4.9.8 client gives a send up with "No route info" when its
   * route lock is busy for 3 s (MQClientInstance.LOCK_TIMEOUT_MILLIS), which happens on a loaded
   * 2-core machine while the JVM warms up; a topic without any route still fails every try.
   */
  static void awaitRoute(DefaultMQProducer p, String topic) throws InterruptedException {
    MQClientInstance f = p.getDefaultMQProducerImpl().getmQClientFactory();
    for (int t = 0; t < ROUTE_TRIES; t++) {
      if (f.updateTopicRouteInfoFromNameServer(topic) || f.updateTopicRouteInfoFromNameServer(topic, true, p)) return;
      Thread.sleep(500);
    }
  }

  /** How this JVM encodes request headers (JSON, or ROCKETMQ with -Drocketmq.serialize.type=ROCKETMQ). */
  static String serializeType() {
    return RemotingCommand.getSerializeTypeConfigInThisServer().name();
  }

  static List<String> split(String s, String sep) {
    List<String> out = new ArrayList<>();
    if (s == null || s.isEmpty()) return out;
    for (String p : s.split(sep)) if (!p.isEmpty()) out.add(p);
    return out;
  }
}
