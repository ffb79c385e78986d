// Scenario java_dlq_properties: a clustering push consumer (maxReconsumeTimes 2) whose listener always
// asks to consume later. Each of five messages must come back with reconsumeTimes 0, 1, 2 after the
// level-3 (10 s) and level-4 (30 s) delays, then land exactly once in %DLQ%<group>. Every retry delivery
// and every dead-letter copy must carry exactly the properties Apache RocketMQ 4.9.8 gives them: body,
// tag, keys, user property and UNIQ_KEY unchanged, RETRY_TOPIC = the original topic, ORIGIN_MESSAGE_ID
// = the offset msgId of the original send, and the bookkeeping properties the broker adds on the way.
// The dead-letter copies are read by key (QUERY_MESSAGE), which needs no consumer group and no read
// permission on the topic, so the same read works on every broker.
package holdfast.javatest;

import static holdfast.javatest.ScenarioSupport.log;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.rocketmq.client.QueryResult;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.protocol.route.QueueData;
import org.apache.rocketmq.common.protocol.route.TopicRouteData;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;

public final class DlqPropertiesScenario {
  private static final int kMessages = 5;
  private static final int kMaxReconsumeTimes = 2;
  private static final String kTag = "TagDlq";
  private static final String kUserKey = "hf_user_prop";
  // Legal but unusual: the broker's property separators are \u0001 and \u0002; everything else may appear.
  private static final String kUserValue =
      "a=b;c:d,e&f?g#h%i/j\\k \"dq\" 'sq' <x>{y}[z]|~^`!@$*()+ tab\tend caf\u00e9 \u4e2d\u6587 \ud83d\ude42";
  // Delay levels 3 and 4 of the default table "1s 5s 10s 30s 1m ...": the first and second retry.
  private static final long kFirstRetryDelayMillis = 10_000;
  private static final long kSecondRetryDelayMillis = 30_000;
  // A retry may come late (pull and rebalance latency) but never early; 100 ms covers clock granularity.
  private static final long kEarlySlackMillis = 100;
  private static final long kLateSlackMillis = 10_000;
  private static final long kDeliveriesTimeoutMillis = 90_000;
  private static final long kDlqTimeoutMillis = 15_000;

  /** One call of the listener for one message. */
  static final class Delivery {
    final long atMillis = System.currentTimeMillis();
    final String topic;
    final int reconsumeTimes;
    final String body;
    final Map<String, String> properties;

    Delivery(MessageExt msg) {
      topic = msg.getTopic();
      reconsumeTimes = msg.getReconsumeTimes();
      body = new String(msg.getBody(), StandardCharsets.UTF_8);
      properties = new HashMap<>(msg.getProperties());
    }
  }

  /** One message as sent, and what the listener saw of it. */
  static final class Sent {
    final int index;
    final String body;
    final String keys;
    String msgId;        // SendResult.getMsgId(): the client-made UNIQ_KEY
    String offsetMsgId;  // SendResult.getOffsetMsgId(): broker address + commit-log offset
    final List<Delivery> deliveries = Collections.synchronizedList(new ArrayList<>());

    Sent(int index, String run, String sharedKey) {
      this.index = index;
      body = "dlq-body-" + index + "-" + run;
      keys = "k" + index + "-" + run + " " + sharedKey;
    }
  }

  public static void main(String[] argv) throws Exception {
    ScenarioSupport.Args args = new ScenarioSupport.Args(argv);
    ScenarioSupport.speedUpClientTimers();
    ScenarioSupport.Checks checks = new ScenarioSupport.Checks();
    String run = ScenarioSupport.runId();
    String topic = "HfJavaDlq_" + run;
    String group = "hf_java_dlq_" + run;
    String retryTopic = "%RETRY%" + group;
    String dlqTopic = "%DLQ%" + group;
    String sharedKey = "shared-" + run;
    log("target %s, name server %s, topic %s, group %s", args.target, args.namesrv, topic, group);
    PropertyExpectation.holdfastTarget = !"rocketmq".equals(args.target);

    List<Sent> sent = new ArrayList<>();
    Map<String, Sent> byBody = new HashMap<>();
    for (int i = 0; i < kMessages; i++) {
      Sent s = new Sent(i, run, sharedKey);
      sent.add(s);
      byBody.put(s.body, s);
    }
    List<Delivery> strays = Collections.synchronizedList(new ArrayList<>());

    DefaultMQProducer producer = new DefaultMQProducer("hf_java_dlq_producer_" + run);
    producer.setNamesrvAddr(args.namesrv);
    DefaultMQPushConsumer consumer = new DefaultMQPushConsumer(group);
    consumer.setNamesrvAddr(args.namesrv);
    DefaultMQAdminExt admin = new DefaultMQAdminExt();
    admin.setNamesrvAddr(args.namesrv);
    try {
      producer.start();
      admin.start();
      // Sending first creates the topic (TBW102); the new group then starts from offset 0.
      for (Sent s : sent) {
        Message msg = new Message(topic, kTag, s.keys, s.body.getBytes(StandardCharsets.UTF_8));
        msg.putUserProperty(kUserKey, kUserValue);
        SendResult result = producer.send(msg);
        checks.equal("send " + s.index + " status", SendStatus.SEND_OK, result.getSendStatus());
        s.msgId = result.getMsgId();
        s.offsetMsgId = result.getOffsetMsgId();
        log("sent %d: msgId %s offsetMsgId %s queue %d", s.index, s.msgId, s.offsetMsgId,
            result.getMessageQueue().getQueueId());
      }

      consumer.subscribe(topic, kTag);
      consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
      consumer.setMaxReconsumeTimes(kMaxReconsumeTimes);
      consumer.setPollNameServerInterval(1000);  // learn the retry topic's route within a second
      consumer.registerMessageListener((MessageListenerConcurrently) (msgs, context) -> {
        for (MessageExt msg : msgs) {
          Delivery d = new Delivery(msg);
          Sent s = byBody.get(d.body);
          if (s == null) {
            strays.add(d);
            log("STRAY delivery: topic %s reconsumeTimes %d body %s", d.topic, d.reconsumeTimes,
                ScenarioSupport.quote(d.body));
          } else {
            s.deliveries.add(d);
            log("delivery of %d: reconsumeTimes %d topic %s properties %s", s.index, d.reconsumeTimes, d.topic,
                ScenarioSupport.describe(d.properties));
          }
        }
        return ConsumeConcurrentlyStatus.RECONSUME_LATER;
      });
      consumer.start();
      log("consumer started");

      boolean allDelivered = ScenarioSupport.waitUntil(kDeliveriesTimeoutMillis, () -> {
        for (Sent s : sent) {
          if (s.deliveries.size() < kMaxReconsumeTimes + 1) return false;
        }
        return true;
      });
      checks.that(allDelivered, "not every message was delivered %d times within %d s", kMaxReconsumeTimes + 1,
                  kDeliveriesTimeoutMillis / 1000);

      List<MessageExt> dlq = new ArrayList<>();
      boolean allDead = ScenarioSupport.waitUntil(kDlqTimeoutMillis, () -> {
        dlq.clear();
        dlq.addAll(queryByKey(admin, dlqTopic, sharedKey));
        return dlq.size() >= kMessages;
      });
      // Give late extras (a fourth delivery, a second dead-letter copy) time to show up.
      Thread.sleep(3000);
      dlq.clear();
      dlq.addAll(queryByKey(admin, dlqTopic, sharedKey));
      checks.that(allDead && dlq.size() == kMessages, "%s holds %d copies with key %s, expected exactly %d",
                  dlqTopic, dlq.size(), sharedKey, kMessages);

      checkDeadLetterRoute(checks, admin, dlqTopic);
      checkDeliveries(checks, sent, strays, topic, retryTopic);
      checkDeadLetters(checks, sent, dlq, topic, dlqTopic, retryTopic);
    } finally {
      consumer.shutdown();
      producer.shutdown();
      admin.shutdown();
    }
    System.exit(checks.finish("java_dlq_properties"));
  }

  /** Every copy the broker's index finds under `key` in `topic`; none yet is an empty list. */
  static List<MessageExt> queryByKey(DefaultMQAdminExt admin, String topic, String key) {
    try {
      long now = System.currentTimeMillis();
      QueryResult result = admin.queryMessage(topic, key, 64, now - 3_600_000, now + 3_600_000);
      return result.getMessageList();
    } catch (MQClientException e) {
      // "no message" and "no route yet" both mean: not there (yet).
      return Collections.emptyList();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Collections.emptyList();
    }
  }

  /** The dead-letter topic is made by the first dead letter: one queue, readable and writable (perm 6). */
  static void checkDeadLetterRoute(ScenarioSupport.Checks checks, DefaultMQAdminExt admin, String dlqTopic) {
    TopicRouteData route;
    try {
      route = admin.examineTopicRouteInfo(dlqTopic);
    } catch (Exception e) {
      checks.that(false, "no route for %s: %s", dlqTopic, e);
      return;
    }
    List<QueueData> queues = route.getQueueDatas();
    if (!checks.equal(dlqTopic + ": brokers in its route", 1, queues.size())) return;
    QueueData q = queues.get(0);
    log("%s route: %d read / %d write queues, perm %d", dlqTopic, q.getReadQueueNums(), q.getWriteQueueNums(),
        q.getPerm());
    checks.equal(dlqTopic + ": read queues", 1, q.getReadQueueNums());
    checks.equal(dlqTopic + ": write queues", 1, q.getWriteQueueNums());
    checks.equal(dlqTopic + ": perm (read + write)", 6, q.getPerm());
  }

  static void checkDeliveries(ScenarioSupport.Checks checks, List<Sent> sent, List<Delivery> strays,
                              String topic, String retryTopic) {
    checks.that(strays.isEmpty(), "%d deliveries of messages that were never sent", strays.size());
    for (Sent s : sent) {
      String who = "message " + s.index;
      List<Delivery> ds;
      synchronized (s.deliveries) {
        ds = new ArrayList<>(s.deliveries);
      }
      List<Integer> times = new ArrayList<>();
      for (Delivery d : ds) times.add(d.reconsumeTimes);
      checks.equal(who + ": reconsumeTimes of its deliveries", List.of(0, 1, 2), times);
      List<Long> gaps = new ArrayList<>();
      for (int i = 1; i < ds.size(); i++) gaps.add(ds.get(i).atMillis - ds.get(i - 1).atMillis);
      log("%s: reconsumeTimes %s, gaps between deliveries %s ms", who, times, gaps);
      if (ds.size() >= 2) {
        checkGap(checks, who + ": first retry", ds.get(1).atMillis - ds.get(0).atMillis, kFirstRetryDelayMillis);
      }
      if (ds.size() >= 3) {
        checkGap(checks, who + ": second retry", ds.get(2).atMillis - ds.get(1).atMillis, kSecondRetryDelayMillis);
      }
      for (int i = 0; i < ds.size(); i++) {
        Delivery d = ds.get(i);
        String what = who + " delivery " + i;
        // The client puts the original topic back before the listener sees a retry.
        checks.equal(what + ": topic", topic, d.topic);
        expectedDelivery(s, i, topic, retryTopic).check(checks, what, d.properties);
      }
    }
  }

  static void checkGap(ScenarioSupport.Checks checks, String what, long gapMillis, long delayMillis) {
    checks.that(gapMillis >= delayMillis - kEarlySlackMillis && gapMillis <= delayMillis + kLateSlackMillis,
                "%s came %d ms after the previous delivery, expected %d ms (up to %d ms late)", what, gapMillis,
                delayMillis, kLateSlackMillis);
  }

  /** What the listener sees: the stored properties plus the three the client adds after each pull. */
  static PropertyExpectation expectedDelivery(Sent s, int attempt, String topic, String retryTopic) {
    PropertyExpectation e = new PropertyExpectation()
        .exact("TAGS", kTag)
        .exact("KEYS", s.keys)
        .exact(kUserKey, kUserValue)
        .exact("UNIQ_KEY", s.msgId)
        .exact("CLUSTER", "DefaultCluster")
        .matching("MIN_OFFSET", PropertyExpectation.kDigits)
        .matching("MAX_OFFSET", PropertyExpectation.kDigits)
        .matching("CONSUME_START_TIME", PropertyExpectation.kDigits);
    // RocketMQ does not store the producer's WAIT=true; Holdfast keeps the bytes the producer sent.
    if (attempt == 0) return e.differs("WAIT", null, "true");
    // Stored by the send-back (WAIT=false, RETRY_TOPIC, ORIGIN_MESSAGE_ID, DELAY = 3 + reconsumeTimes
    // before it) and by the delay service that moved the copy into the retry topic (REAL_TOPIC, REAL_QID).
    // Holdfast stores copies under the full durability contract (no WAIT=false) and its delay service
    // clears DELAY from what it delivers.
    return e.differs("WAIT", "false", null)
        .differs("DELAY", Integer.toString(2 + attempt), null)
        .exact("RETRY_TOPIC", topic)
        .exact("ORIGIN_MESSAGE_ID", s.offsetMsgId)
        .exact("REAL_TOPIC", retryTopic)
        .exact("REAL_QID", "0");
  }

  static void checkDeadLetters(ScenarioSupport.Checks checks, List<Sent> sent, List<MessageExt> dlq, String topic,
                               String dlqTopic, String retryTopic) {
    Map<String, Integer> copies = new HashMap<>();
    for (MessageExt m : dlq) {
      String body = new String(m.getBody(), StandardCharsets.UTF_8);
      Sent s = null;
      for (Sent candidate : sent) {
        if (candidate.body.equals(body)) s = candidate;
      }
      if (!checks.that(s != null, "dead-letter copy with an unknown body %s", ScenarioSupport.quote(body))) continue;
      String what = "dead-letter copy of message " + s.index;
      log("%s: topic %s reconsumeTimes %d properties %s", what, m.getTopic(), m.getReconsumeTimes(),
          ScenarioSupport.describe(m.getProperties()));
      copies.merge(s.body, 1, Integer::sum);
      checks.equal(what + ": topic", dlqTopic, m.getTopic());
      checks.equal(what + ": reconsumeTimes", kMaxReconsumeTimes + 1, m.getReconsumeTimes());
      new PropertyExpectation()
          .exact("TAGS", kTag)
          .exact("KEYS", s.keys)
          .exact(kUserKey, kUserValue)
          .exact("UNIQ_KEY", s.msgId)
          .exact("RETRY_TOPIC", topic)
          .exact("ORIGIN_MESSAGE_ID", s.offsetMsgId)
          .exact("CLUSTER", "DefaultCluster")
          .differs("WAIT", "false", null)
          .differs("DELAY", "0", null)  // RocketMQ's dead-letter send-back resets the level; Holdfast clears it
          .exact("REAL_TOPIC", retryTopic)
          .exact("REAL_QID", "0")
          .check(checks, what, m.getProperties());
    }
    for (Sent s : sent) {
      checks.equal("dead-letter copies of message " + s.index, 1, copies.getOrDefault(s.body, 0));
    }
  }
}
