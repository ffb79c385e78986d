// Scenario java_auto_create_topic: a DefaultMQProducer with its default createTopicKey (TBW102) sends to
// a topic nobody created. The name server must not know the topic before the first send; afterwards the
// topic must exist with the producer's default 4 queues (readable and writable), the sends must spread
// over all of them, and a push consumer must receive every message exactly once with its body, tag and
// keys intact.
package holdfast.javatest;

import static holdfast.javatest.ScenarioSupport.log;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
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
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.common.protocol.ResponseCode;
import org.apache.rocketmq.common.protocol.route.QueueData;
import org.apache.rocketmq.common.protocol.route.TopicRouteData;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;

public final class AutoCreateTopicScenario {
  private static final int kMessages = 20;
  private static final int kDefaultQueues = 4;  // DefaultMQProducer's defaultTopicQueueNums
  private static final String kTag = "TagAuto";
  private static final long kConsumeTimeoutMillis = 30_000;

  public static void main(String[] argv) throws Exception {
    ScenarioSupport.Args args = new ScenarioSupport.Args(argv);
    ScenarioSupport.speedUpClientTimers();
    ScenarioSupport.Checks checks = new ScenarioSupport.Checks();
    String run = ScenarioSupport.runId();
    String topic = "HfJavaAuto_" + run;
    String group = "hf_java_auto_" + run;
    log("target %s, name server %s, topic %s, group %s", args.target, args.namesrv, topic, group);

    DefaultMQAdminExt admin = new DefaultMQAdminExt();
    admin.setNamesrvAddr(args.namesrv);
    DefaultMQProducer producer = new DefaultMQProducer("hf_java_auto_producer_" + run);
    producer.setNamesrvAddr(args.namesrv);
    DefaultMQPushConsumer consumer = new DefaultMQPushConsumer(group);
    consumer.setNamesrvAddr(args.namesrv);
    Map<String, Integer> received = new ConcurrentHashMap<>();
    List<String> wrong = Collections.synchronizedList(new ArrayList<>());
    try {
      admin.start();
      checks.equal("producer createTopicKey", "TBW102", producer.getCreateTopicKey());
      checks.equal("producer defaultTopicQueueNums", kDefaultQueues, producer.getDefaultTopicQueueNums());
      try {
        admin.examineTopicRouteInfo(topic);
        checks.that(false, "the name server already has a route for %s before anything was sent", topic);
      } catch (MQClientException e) {
        checks.equal("route lookup before the first send: response code (TOPIC_NOT_EXIST)",
                     ResponseCode.TOPIC_NOT_EXIST, e.getResponseCode());
      }

      producer.start();
      TreeMap<Integer, Integer> perQueue = new TreeMap<>();
      for (int i = 0; i < kMessages; i++) {
        Message msg = new Message(topic, kTag, "auto-" + i + "-" + run, body(i, run).getBytes(StandardCharsets.UTF_8));
        SendResult result = producer.send(msg);
        checks.equal("send " + i + " status", SendStatus.SEND_OK, result.getSendStatus());
        checks.equal("send " + i + " topic", topic, result.getMessageQueue().getTopic());
        perQueue.merge(result.getMessageQueue().getQueueId(), 1, Integer::sum);
      }
      log("sent %d messages; per queue id: %s", kMessages, perQueue);
      checks.equal("queue ids the sends went to", new TreeSet<>(List.of(0, 1, 2, 3)), perQueue.navigableKeySet());

      List<MessageQueue> publish = producer.fetchPublishMessageQueues(topic);
      checks.equal("publish queues of the new topic", kDefaultQueues, publish.size());
      TopicRouteData route = admin.examineTopicRouteInfo(topic);
      List<QueueData> queueDatas = route.getQueueDatas();
      if (checks.equal("brokers in the new topic's route", 1, queueDatas.size())) {
        QueueData q = queueDatas.get(0);
        log("route of %s: %d read / %d write queues, perm %d", topic, q.getReadQueueNums(), q.getWriteQueueNums(),
            q.getPerm());
        checks.equal("read queues of the new topic", kDefaultQueues, q.getReadQueueNums());
        checks.equal("write queues of the new topic", kDefaultQueues, q.getWriteQueueNums());
        checks.equal("perm of the new topic (read + write)", 6, q.getPerm());
      }

      consumer.subscribe(topic, "*");
      consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
      consumer.registerMessageListener((MessageListenerConcurrently) (msgs, context) -> {
        for (MessageExt msg : msgs) {
          String b = new String(msg.getBody(), StandardCharsets.UTF_8);
          received.merge(b, 1, Integer::sum);
          int i = indexOf(b, run);
          if (i < 0) {
            wrong.add("unexpected body " + ScenarioSupport.quote(b));
          } else if (!topic.equals(msg.getTopic()) || !kTag.equals(msg.getTags())
                     || !("auto-" + i + "-" + run).equals(msg.getKeys())) {
            wrong.add(String.format("message %d arrived with topic %s, tags %s, keys %s", i, msg.getTopic(),
                                    ScenarioSupport.quote(msg.getTags()), ScenarioSupport.quote(msg.getKeys())));
          }
        }
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
      });
      consumer.start();
      boolean all = ScenarioSupport.waitUntil(kConsumeTimeoutMillis, () -> received.size() >= kMessages);
      Thread.sleep(2000);  // room for a duplicate or a stray to show up
      log("consumer received %d distinct bodies, %d deliveries", received.size(),
          received.values().stream().mapToInt(Integer::intValue).sum());
      checks.that(all, "the consumer received %d of %d messages within %d s", received.size(), kMessages,
                  kConsumeTimeoutMillis / 1000);
      for (int i = 0; i < kMessages; i++) {
        checks.equal("deliveries of message " + i, 1, received.getOrDefault(body(i, run), 0));
      }
      checks.equal("distinct bodies received", kMessages, received.size());
      for (String w : wrong) checks.that(false, "%s", w);
    } finally {
      consumer.shutdown();
      producer.shutdown();
      admin.shutdown();
    }
    System.exit(checks.finish("java_auto_create_topic"));
  }

  static String body(int i, String run) {
    return "auto-body-" + i + "-" + run;
  }

  static int indexOf(String body, String run) {
    String prefix = "auto-body-";
    String suffix = "-" + run;
    if (!body.startsWith(prefix) || !body.endsWith(suffix)) return -1;
    try {
      int i = Integer.parseInt(body.substring(prefix.length(), body.length() - suffix.length()));
      return i >= 0 && i < kMessages ? i : -1;
    } catch (NumberFormatException e) {
      return -1;
    }
  }
}
