// Scenario java_transactions: a TransactionMQProducer sends four half messages. The local transaction
// of the first commits, of the second rolls back, and of the last two answers UNKNOW; the broker must
// then ask the producer (CHECK_TRANSACTION_STATE), whose check commits the third and rolls back the
// fourth. Every send is SEND_OK and each local transaction runs once. A transaction is identified by
// its UNIQ_KEY: the send's msgId, the transactionId the local transaction and every check-back see, and
// (Holdfast only: RocketMQ 4.9.8 leaves it null) the send result's transactionId. A push consumer of the
// topic (shown to be live by a plain message before and after) must get the two committed messages
// exactly once each, with body, tag, keys and UNIQ_KEY intact, and never the two rolled back; the one
// committed by its check must not arrive before that check-back. Check-backs of the two messages the
// producer ended itself are logged: RocketMQ may check them if a check round runs before it has read
// their end; Holdfast promises never to check an ended transaction, so against Holdfast they must get
// none. The driver starts the broker with transactionCheckInterval=1000 and transactionTimeOut=1000, so
// check-backs come within about 2 s.
package holdfast.javatest;

import static holdfast.javatest.ScenarioSupport.log;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.LocalTransactionState;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.client.producer.TransactionListener;
import org.apache.rocketmq.client.producer.TransactionMQProducer;
import org.apache.rocketmq.client.producer.TransactionSendResult;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageConst;
import org.apache.rocketmq.common.message.MessageExt;

public final class TransactionScenario {
  private static final String kTag = "TagTxn";
  private static final long kDeliveryTimeoutMillis = 30_000;
  private static final long kCheckTimeoutMillis = 30_000;
  // Several check rounds (1 s apart) after everything settled: room for a duplicate, a late stray or a
  // check-back of an ended transaction to show up.
  private static final long kQuietMillis = 5_000;

  /** One of the four transactional messages: what its local transaction and its check-back answer. */
  enum Kind {
    COMMIT("commit", LocalTransactionState.COMMIT_MESSAGE, null),
    ROLLBACK("rollback", LocalTransactionState.ROLLBACK_MESSAGE, null),
    CHECK_COMMIT("check-commit", LocalTransactionState.UNKNOW, LocalTransactionState.COMMIT_MESSAGE),
    CHECK_ROLLBACK("check-rollback", LocalTransactionState.UNKNOW, LocalTransactionState.ROLLBACK_MESSAGE);

    final String label;
    final LocalTransactionState local;
    final LocalTransactionState check;  // null: the producer ends it itself, a check-back is not expected

    Kind(String label, LocalTransactionState local, LocalTransactionState check) {
      this.label = label;
      this.local = local;
      this.check = check;
    }

    boolean committed() {
      return local == LocalTransactionState.COMMIT_MESSAGE || check == LocalTransactionState.COMMIT_MESSAGE;
    }
  }

  /** A message as sent, and what the listeners saw of it. */
  static final class Sent {
    final Kind kind;  // null for the two plain messages
    final String body;
    final String keys;
    // SendResult.getMsgId(): the client-made UNIQ_KEY, which identifies the transaction on both brokers
    // (Message.getTransactionId() in the local transaction and in a check-back).
    String msgId;
    String transactionId;  // TransactionSendResult.getTransactionId(): null against RocketMQ 4.9.8
    final List<String> localTransactionIds = Collections.synchronizedList(new ArrayList<>());
    final List<MessageExt> checkBacks = Collections.synchronizedList(new ArrayList<>());
    final List<Long> checkBackMillis = Collections.synchronizedList(new ArrayList<>());
    final List<MessageExt> deliveries = Collections.synchronizedList(new ArrayList<>());
    final List<Long> deliveryMillis = Collections.synchronizedList(new ArrayList<>());

    Sent(Kind kind, String label, String run) {
      this.kind = kind;
      body = "txn-" + label + "-" + run;
      keys = "key-" + label + "-" + run;
    }

    Message message(String topic) {
      return new Message(topic, kTag, keys, body.getBytes(StandardCharsets.UTF_8));
    }

    String name() {
      return kind == null ? "plain " + body : "(" + kind.label + ")";
    }
  }

  public static void main(String[] argv) throws Exception {
    ScenarioSupport.Args args = new ScenarioSupport.Args(argv);
    ScenarioSupport.speedUpClientTimers();
    ScenarioSupport.Checks checks = new ScenarioSupport.Checks();
    String run = ScenarioSupport.runId();
    String topic = "HfJavaTxn_" + run;
    boolean holdfast = !"rocketmq".equals(args.target);
    log("target %s, name server %s, topic %s", args.target, args.namesrv, topic);

    Sent before = new Sent(null, "plain-before", run);
    Sent after = new Sent(null, "plain-after", run);
    List<Sent> transactional = new ArrayList<>();
    for (Kind k : Kind.values()) transactional.add(new Sent(k, k.label, run));
    Map<String, Sent> byBody = new ConcurrentHashMap<>();
    for (Sent s : transactional) byBody.put(s.body, s);
    byBody.put(before.body, before);
    byBody.put(after.body, after);
    List<String> strays = Collections.synchronizedList(new ArrayList<>());

    DefaultMQProducer plain = new DefaultMQProducer("hf_java_txn_plain_" + run);
    plain.setNamesrvAddr(args.namesrv);
    TransactionMQProducer txn = new TransactionMQProducer("hf_java_txn_producer_" + run);
    txn.setNamesrvAddr(args.namesrv);
    // A broker checks back only on a connection whose heartbeat named the producer group. The client
    // sends its first heartbeat 1 s after start, and only to brokers it already has a route to; then every
    // 30 s by default. Every second instead, so the group is known within a second of the first send.
    txn.setHeartbeatBrokerInterval(1000);
    txn.setTransactionListener(new TransactionListener() {
      @Override
      public LocalTransactionState executeLocalTransaction(Message msg, Object arg) {
        String b = new String(msg.getBody(), StandardCharsets.UTF_8);
        Sent s = byBody.get(b);
        if (s == null || s.kind == null) {
          strays.add("executeLocalTransaction for an unexpected message " + ScenarioSupport.quote(b));
          return LocalTransactionState.ROLLBACK_MESSAGE;
        }
        s.localTransactionIds.add(String.valueOf(msg.getTransactionId()));
        log("local transaction of %s (transactionId %s): %s", s.name(), msg.getTransactionId(), s.kind.local);
        return s.kind.local;
      }

      @Override
      public LocalTransactionState checkLocalTransaction(MessageExt msg) {
        String b = new String(msg.getBody(), StandardCharsets.UTF_8);
        Sent s = byBody.get(b);
        log("check-back for %s (topic %s, transactionId %s, properties %s)", s == null ? ScenarioSupport.quote(b)
            : s.name(), msg.getTopic(), msg.getTransactionId(), ScenarioSupport.describe(msg.getProperties()));
        if (s == null || s.kind == null) {
          strays.add("check-back for an unexpected message " + ScenarioSupport.quote(b));
          return LocalTransactionState.UNKNOW;
        }
        s.checkBackMillis.add(System.currentTimeMillis());
        s.checkBacks.add(msg);
        // An ended transaction checked anyway: answer what the producer already ended it with.
        return s.kind.check != null ? s.kind.check : s.kind.local;
      }
    });
    DefaultMQPushConsumer consumer = new DefaultMQPushConsumer("hf_java_txn_" + run);
    consumer.setNamesrvAddr(args.namesrv);
    try {
      plain.start();
      // The topic exists (and the consumer is live) before any half message is sent.
      checks.equal("plain send before: status", SendStatus.SEND_OK, plain.send(before.message(topic)).getSendStatus());

      consumer.subscribe(topic, "*");
      consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
      consumer.registerMessageListener((MessageListenerConcurrently) (msgs, context) -> {
        for (MessageExt msg : msgs) {
          String b = new String(msg.getBody(), StandardCharsets.UTF_8);
          log("consumer received %s (msgId %s, properties %s)", ScenarioSupport.quote(b), msg.getMsgId(),
              ScenarioSupport.describe(msg.getProperties()));
          Sent s = byBody.get(b);
          if (s == null) {
            strays.add("the consumer received an unexpected message " + ScenarioSupport.quote(b));
          } else {
            s.deliveryMillis.add(System.currentTimeMillis());
            s.deliveries.add(msg);
          }
        }
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
      });
      consumer.start();
      checks.that(ScenarioSupport.waitUntil(kDeliveryTimeoutMillis, () -> !before.deliveries.isEmpty()),
                  "the consumer did not receive the plain message sent before within %d s",
                  kDeliveryTimeoutMillis / 1000);

      txn.start();
      for (Sent s : transactional) {
        try {
          TransactionSendResult result = txn.sendMessageInTransaction(s.message(topic), null);
          s.msgId = result.getMsgId();
          s.transactionId = result.getTransactionId();
          log("sent %s: status %s, msgId %s, transactionId %s, local state %s, queue %s", s.name(),
              result.getSendStatus(), result.getMsgId(), result.getTransactionId(), result.getLocalTransactionState(),
              result.getMessageQueue());
          checks.equal(s.name() + " send status", SendStatus.SEND_OK, result.getSendStatus());
          checks.that(s.msgId != null && !s.msgId.isEmpty(), "%s: the send result has no msgId", s.name());
          if (holdfast) {
            // Holdfast answers every send with transactionId = the message's UNIQ_KEY.
            checks.equal(s.name() + " send result transactionId (= msgId, the UNIQ_KEY)", s.msgId, s.transactionId);
          } else {
            // RocketMQ 4.9.8 leaves the send response's transactionId out; the client then reports null.
            checks.that(s.transactionId == null || s.transactionId.equals(s.msgId),
                        "%s: send result transactionId %s is neither absent nor the msgId %s", s.name(),
                        s.transactionId, s.msgId);
          }
          checks.equal(s.name() + " send result local transaction state", s.kind.local,
                       result.getLocalTransactionState());
        } catch (Exception e) {
          checks.that(false, "%s: sendMessageInTransaction threw %s", s.name(), chain(e));
        }
      }

      for (Sent s : transactional) {
        if (s.kind.check == null) continue;
        checks.that(ScenarioSupport.waitUntil(kCheckTimeoutMillis, () -> !s.checkBacks.isEmpty()),
                    "%s: no check-back from the broker within %d s of the sends", s.name(), kCheckTimeoutMillis / 1000);
      }
      for (Sent s : transactional) {
        if (!s.kind.committed()) continue;
        checks.that(ScenarioSupport.waitUntil(kDeliveryTimeoutMillis, () -> !s.deliveries.isEmpty()),
                    "%s: the consumer did not receive the committed message within %d s", s.name(),
                    kDeliveryTimeoutMillis / 1000);
      }

      checks.equal("plain send after: status", SendStatus.SEND_OK, plain.send(after.message(topic)).getSendStatus());
      checks.that(ScenarioSupport.waitUntil(kDeliveryTimeoutMillis, () -> !after.deliveries.isEmpty()),
                  "the consumer did not receive the plain message sent after within %d s",
                  kDeliveryTimeoutMillis / 1000);
      Thread.sleep(kQuietMillis);

      checks.equal("plain message before: deliveries", 1, before.deliveries.size());
      checks.equal("plain message after: deliveries", 1, after.deliveries.size());
      for (Sent s : transactional) checkTransaction(checks, s, topic, holdfast);
      for (String stray : strays) checks.that(false, "%s", stray);
    } finally {
      consumer.shutdown();
      txn.shutdown();
      plain.shutdown();
    }
    System.exit(checks.finish("java_transactions"));
  }

  static void checkTransaction(ScenarioSupport.Checks checks, Sent s, String topic, boolean holdfast) {
    String n = s.name();
    List<String> localIds;
    synchronized (s.localTransactionIds) {
      localIds = new ArrayList<>(s.localTransactionIds);
    }
    checks.equal(n + " local transactions executed", 1, localIds.size());
    if (!localIds.isEmpty()) {
      checks.equal(n + " transactionId seen by executeLocalTransaction (= msgId)", s.msgId, localIds.get(0));
    }

    List<MessageExt> checkBacks;
    synchronized (s.checkBacks) {
      checkBacks = new ArrayList<>(s.checkBacks);
    }
    log("%s: %d check-back(s), %d delivery(ies)", n, checkBacks.size(), s.deliveries.size());
    if (s.kind.check != null) {
      checks.that(!checkBacks.isEmpty(), "%s: the broker never checked back", n);
    } else if (holdfast) {
      // Holdfast's promise: a transaction ended by END_TRANSACTION is never checked.
      checks.equal(n + " check-backs (ended by the producer; Holdfast never checks an ended transaction)", 0,
                   checkBacks.size());
    }
    for (int i = 0; i < checkBacks.size(); i++) {
      MessageExt m = checkBacks.get(i);
      String what = n + " check-back " + (i + 1);
      checks.equal(what + " transactionId (= msgId)", s.msgId, m.getTransactionId());
      checks.equal(what + " topic", topic, m.getTopic());
      checks.equal(what + " tags", kTag, m.getTags());
      checks.equal(what + " keys", s.keys, m.getKeys());
    }

    List<MessageExt> deliveries;
    synchronized (s.deliveries) {
      deliveries = new ArrayList<>(s.deliveries);
    }
    checks.equal(n + " deliveries", s.kind.committed() ? 1 : 0, deliveries.size());
    for (MessageExt m : deliveries) {
      checks.equal(n + " delivered topic", topic, m.getTopic());
      checks.equal(n + " delivered tags", kTag, m.getTags());
      checks.equal(n + " delivered keys", s.keys, m.getKeys());
      checks.equal(n + " delivered UNIQ_KEY (= the send's msgId and transactionId)", s.msgId,
                   m.getProperty(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX));
      checks.equal(n + " delivered body", s.body, new String(m.getBody(), StandardCharsets.UTF_8));
    }
    if (s.kind.check == LocalTransactionState.COMMIT_MESSAGE && !deliveries.isEmpty() && !checkBacks.isEmpty()) {
      long delivered = s.deliveryMillis.get(0);
      long checked = s.checkBackMillis.get(0);
      checks.that(delivered >= checked, "%s was delivered %d ms before its first check-back: the half message was "
                  + "visible while its local transaction was still UNKNOW", n, checked - delivered);
    }
  }

  static String chain(Throwable t) {
    StringBuilder out = new StringBuilder();
    for (; t != null; t = t.getCause()) {
      if (out.length() > 0) out.append(" <- caused by ");
      out.append(t.getClass().getSimpleName()).append(": ").append(t.getMessage());
    }
    return out.toString();
  }
}
