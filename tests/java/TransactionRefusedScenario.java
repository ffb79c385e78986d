// Scenario java_transaction_refused (Holdfast only): Holdfast has no transactions yet, so a half message
// (TRAN_MSG=true) must be refused with a broker error that names transactions, instead of SEND_OK for a
// message nothing will ever commit, roll back or check. The local transaction must never run, and a
// consumer of the real topic (shown to be live by a plain message before and after) must never receive
// the transactional message. Apache RocketMQ accepts the half message, so this runs against Holdfast only.
package holdfast.javatest;

import static holdfast.javatest.ScenarioSupport.log;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.exception.MQBrokerException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.LocalTransactionState;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.client.producer.TransactionListener;
import org.apache.rocketmq.client.producer.TransactionMQProducer;
import org.apache.rocketmq.client.producer.TransactionSendResult;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;

public final class TransactionRefusedScenario {
  private static final long kDeliveryTimeoutMillis = 30_000;
  private static final long kQuietMillis = 5_000;

  public static void main(String[] argv) throws Exception {
    ScenarioSupport.Args args = new ScenarioSupport.Args(argv);
    ScenarioSupport.speedUpClientTimers();
    ScenarioSupport.Checks checks = new ScenarioSupport.Checks();
    String run = ScenarioSupport.runId();
    String topic = "HfJavaTxn_" + run;
    String before = "plain-before-" + run;
    String transactional = "transactional-" + run;
    String after = "plain-after-" + run;
    log("target %s, name server %s, topic %s", args.target, args.namesrv, topic);

    DefaultMQProducer plain = new DefaultMQProducer("hf_java_txn_plain_" + run);
    plain.setNamesrvAddr(args.namesrv);
    TransactionMQProducer txn = new TransactionMQProducer("hf_java_txn_producer_" + run);
    txn.setNamesrvAddr(args.namesrv);
    AtomicInteger localTransactions = new AtomicInteger();
    AtomicInteger checkBacks = new AtomicInteger();
    txn.setTransactionListener(new TransactionListener() {
      @Override
      public LocalTransactionState executeLocalTransaction(Message msg, Object arg) {
        localTransactions.incrementAndGet();
        return LocalTransactionState.COMMIT_MESSAGE;
      }

      @Override
      public LocalTransactionState checkLocalTransaction(MessageExt msg) {
        checkBacks.incrementAndGet();
        return LocalTransactionState.COMMIT_MESSAGE;
      }
    });
    DefaultMQPushConsumer consumer = new DefaultMQPushConsumer("hf_java_txn_" + run);
    consumer.setNamesrvAddr(args.namesrv);
    List<String> received = Collections.synchronizedList(new ArrayList<>());
    try {
      plain.start();
      // The topic exists before the transactional send, so a refusal cannot be about routing.
      checks.equal("plain send before: status", SendStatus.SEND_OK, plain.send(message(topic, before)).getSendStatus());

      consumer.subscribe(topic, "*");
      consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
      consumer.registerMessageListener((MessageListenerConcurrently) (msgs, context) -> {
        for (MessageExt msg : msgs) {
          String b = new String(msg.getBody(), StandardCharsets.UTF_8);
          log("consumer received %s (properties %s)", ScenarioSupport.quote(b),
              ScenarioSupport.describe(msg.getProperties()));
          received.add(b);
        }
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
      });
      consumer.start();
      checks.that(ScenarioSupport.waitUntil(kDeliveryTimeoutMillis, () -> received.contains(before)),
                  "the consumer did not receive the plain message sent before within %d s",
                  kDeliveryTimeoutMillis / 1000);

      txn.start();
      Throwable refusal = null;
      try {
        TransactionSendResult result = txn.sendMessageInTransaction(message(topic, transactional), null);
        checks.that(false, "sendMessageInTransaction returned (send status %s, local transaction state %s, msgId %s); "
                    + "expected the broker to refuse the half message", result.getSendStatus(),
                    result.getLocalTransactionState(), result.getMsgId());
      } catch (Exception e) {
        refusal = e;
        log("sendMessageInTransaction threw: %s", chain(e));
      }
      if (refusal != null) checkRefusal(checks, refusal);

      checks.equal("plain send after: status", SendStatus.SEND_OK, plain.send(message(topic, after)).getSendStatus());
      checks.that(ScenarioSupport.waitUntil(kDeliveryTimeoutMillis, () -> received.contains(after)),
                  "the consumer did not receive the plain message sent after within %d s",
                  kDeliveryTimeoutMillis / 1000);
      Thread.sleep(kQuietMillis);
      List<String> got;
      synchronized (received) {
        got = new ArrayList<>(received);
      }
      checks.that(!got.contains(transactional), "the consumer received the transactional message %s", transactional);
      checks.equal("bodies the consumer received", List.of(before, after), got);
      checks.equal("local transactions executed", 0, localTransactions.get());
      checks.equal("transaction check-backs from the broker", 0, checkBacks.get());
    } finally {
      consumer.shutdown();
      txn.shutdown();
      plain.shutdown();
    }
    System.exit(checks.finish("java_transaction_refused"));
  }

  static Message message(String topic, String body) {
    return new Message(topic, "TagTxn", body, body.getBytes(StandardCharsets.UTF_8));
  }

  /** The refusal must be the broker's answer (not a client-side timeout) and its remark must name transactions. */
  static void checkRefusal(ScenarioSupport.Checks checks, Throwable refusal) {
    MQBrokerException broker = null;
    for (Throwable t = refusal; t != null && broker == null; t = t.getCause()) {
      if (t instanceof MQBrokerException) broker = (MQBrokerException) t;
    }
    if (!checks.that(broker != null, "the refusal carries no broker answer (MQBrokerException): %s", chain(refusal))) {
      return;
    }
    String remark = broker.getErrorMessage();
    log("broker refused the half message: response code %d, remark %s", broker.getResponseCode(),
        ScenarioSupport.quote(remark));
    checks.that(broker.getResponseCode() != 0, "the broker's refusal has response code 0 (SUCCESS)");
    checks.that(remark != null && remark.toLowerCase(Locale.ROOT).contains("transaction"),
                "the broker's remark %s does not name transactions", ScenarioSupport.quote(remark));
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
