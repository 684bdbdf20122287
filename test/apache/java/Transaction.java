import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.rocketmq.client.producer.LocalTransactionState;
import org.apache.rocketmq.client.producer.TransactionListener;
import org.apache.rocketmq.client.producer.TransactionMQProducer;
import org.apache.rocketmq.client.producer.TransactionSendResult;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageConst;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * A transaction producer (Java client 4.9.8): sends count half messages whose local transaction
 * answers UNKNOW, so the broker must check back; the check answers ROLLBACK for the indexes in
 * `rollback` and COMMIT for the others. One JSON line per send ({"event":"sent",...}) and per
 * check-back ({"event":"check",...,"checkedAt":epochMs}), then {"done":true,...} once every message
 * was answered (or timeoutMs passed).
 *   namesrv=H:P topic=T [count=1] [group=TPG] [tags=TagA] [keys=key-] [props=k1:v1,..]
 *   [rollback=1,3] (indexes answered ROLLBACK) [timeoutMs=60000] [trace=true] [traceTopic=T] [apiTimeoutMs=15000]
 */
public class Transaction {
  public static void main(String[] argv) throws Exception {
    Map<String, String> a = Json.args(argv);
    int count = Integer.parseInt(a.getOrDefault("count", "1"));
    Set<String> rollback = ConcurrentHashMap.newKeySet();
    rollback.addAll(Json.split(a.get("rollback"), ","));
    Set<String> answered = ConcurrentHashMap.newKeySet();
    boolean trace = Boolean.parseBoolean(a.getOrDefault("trace", "false"));
    TransactionMQProducer p = new TransactionMQProducer(null, a.getOrDefault("group", "TPG_kit"), null, trace, a.get("traceTopic"));
    p.setNamesrvAddr(a.get("namesrv"));
    // Route look-ups and other client API calls: 3 s by default, too short on a loaded 2-core machine.
    p.setMqClientApiTimeout(Integer.parseInt(a.getOrDefault("apiTimeoutMs", "15000")));
    p.setVipChannelEnabled(false);
    p.setInstanceName(a.getOrDefault("instance", "kit-" + System.nanoTime()));
    p.setTransactionListener(new TransactionListener() {
      public LocalTransactionState executeLocalTransaction(Message m, Object arg) {
        return LocalTransactionState.UNKNOW;
      }

      public LocalTransactionState checkLocalTransaction(MessageExt m) {
        String i = m.getUserProperty("kitIndex");
        LocalTransactionState answer = rollback.contains(i) ? LocalTransactionState.ROLLBACK_MESSAGE : LocalTransactionState.COMMIT_MESSAGE;
        Map<String, Object> o = Json.message(m);
        o.put("event", "check");
        o.put("i", Integer.parseInt(i));
        o.put("answer", answer.name());
        o.put("transactionId", m.getTransactionId());
        o.put("checkTimes", m.getProperty(MessageConst.PROPERTY_TRANSACTION_CHECK_TIMES));
        o.put("checkedAt", System.currentTimeMillis());
        Json.emit(o);
        answered.add(i);
        return answer;
      }
    });
    p.start();
    try {
      Json.awaitRoute(p, a.get("topic"));
      for (int i = 0; i < count; i++) {
        Message m = Produce.build(a, a.get("topic"), i);
        TransactionSendResult r = p.sendMessageInTransaction(m, null);
        Map<String, Object> o = Produce.result(i, r, m);
        o.put("event", "sent");
        o.put("localState", r.getLocalTransactionState().name());
        o.put("sentAt", System.currentTimeMillis());
        Json.emit(o);
      }
      long deadline = System.currentTimeMillis() + Long.parseLong(a.getOrDefault("timeoutMs", "60000"));
      while (answered.size() < count && System.currentTimeMillis() < deadline) Thread.sleep(50);
      // END_TRANSACTION after a check is a oneway request: give it time to leave before shutdown.
      Thread.sleep(1000);
      Json.emit(Json.obj("done", true, "count", count, "answered", answered.size()));
    } finally {
      p.shutdown();
    }
  }
}
