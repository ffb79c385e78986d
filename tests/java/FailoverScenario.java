package holdfast.javatest;

import static holdfast.javatest.ScenarioSupport.log;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import org.apache.rocketmq.client.consumer.DefaultMQPullConsumer;
import org.apache.rocketmq.client.consumer.PullResult;
import org.apache.rocketmq.client.consumer.PullStatus;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Automatic failover seen by the stock Java client: a producer sends with sync sends and retries; after
 * kBefore acknowledgements it creates `half` in the signal folder, the driver kills the group's master with
 * SIGKILL and creates `killed`; the producer must get SEND_OK again (from the member etcd elected) within
 * kResumeMillis, with nothing but its own route refresh (pollNameServerInterval). Then a new consumer
 * group reads the topic and every acknowledged key must be there.
 *
 * Arguments: NAMESRV_ADDR TOPIC SIGNAL_DIR
 */
public final class FailoverScenario {
  private static final int kBefore = 500;
  private static final int kAfter = 300;
  private static final long kResumeMillis = 30_000;
  private static final long kReadMillis = 60_000;

  public static void main(String[] argv) throws Exception {
    String namesrv = argv[0];
    String topic = argv[1];
    Path signals = Paths.get(argv[2]);
    Files.createDirectories(signals);
    DefaultMQProducer producer = new DefaultMQProducer("hf_failover_java_" + ScenarioSupport.runId());
    producer.setNamesrvAddr(namesrv);
    producer.setRetryTimesWhenSendFailed(4);
    producer.setSendMsgTimeout(3000);
    producer.setPollNameServerInterval(1000);
    producer.start();
    Set<String> acked = new HashSet<>();
    TreeMap<String, Integer> outcomes = new TreeMap<>();
    long killedAt = 0;
    long resumedAt = 0;
    int afterKill = 0;
    long deadline = System.currentTimeMillis() + 120_000;
    for (int i = 0; System.currentTimeMillis() < deadline; ++i) {
      if (killedAt == 0 && Files.exists(signals.resolve("killed"))) {
        killedAt = System.currentTimeMillis();
        log("the driver killed the master; sending on");
      }
      if (killedAt != 0 && resumedAt == 0 && System.currentTimeMillis() - killedAt > kResumeMillis) break;
      String key = "fo-" + i;
      Message m = new Message(topic, "TagFo", key, ("failover " + i).getBytes("UTF-8"));
      try {
        SendResult r = producer.send(m);
        outcomes.merge(r.getSendStatus().name(), 1, Integer::sum);
        if (r.getSendStatus() != SendStatus.SEND_OK) continue;
        acked.add(key);
        if (killedAt != 0) {
          if (resumedAt == 0) {
            resumedAt = System.currentTimeMillis();
            log("SEND_OK again %d ms after the kill (broker %s)", resumedAt - killedAt,
                r.getMessageQueue().getBrokerName());
          }
          if (++afterKill >= kAfter) break;
        }
      } catch (Exception e) {
        outcomes.merge(e.getClass().getSimpleName(), 1, Integer::sum);
        Thread.sleep(20);
      }
      if (acked.size() == kBefore && !Files.exists(signals.resolve("half"))) {
        Files.createFile(signals.resolve("half"));
        log("%d acknowledged: asked the driver to kill the master", kBefore);
      }
    }
    producer.shutdown();
    log("send outcomes: %s", outcomes);
    if (resumedAt == 0) {
      log("FAIL: no SEND_OK within %d ms of the kill", kResumeMillis);
      System.exit(1);
    }

    DefaultMQPullConsumer consumer = new DefaultMQPullConsumer("hf_failover_reader_" + ScenarioSupport.runId());
    consumer.setNamesrvAddr(namesrv);
    consumer.start();
    Set<String> seen = new HashSet<>();
    long readDeadline = System.currentTimeMillis() + kReadMillis;
    List<String> missing = new ArrayList<>();
    while (System.currentTimeMillis() < readDeadline) {
      for (MessageQueue q : consumer.fetchSubscribeMessageQueues(topic)) {
        long offset = 0;
        while (true) {
          PullResult r;
          try {
            r = consumer.pull(q, "*", offset, 32, 3000);
          } catch (Exception e) {
            break;
          }
          if (r.getPullStatus() != PullStatus.FOUND) break;
          for (MessageExt m : r.getMsgFoundList()) seen.add(m.getKeys());
          offset = r.getNextBeginOffset();
        }
      }
      missing.clear();
      for (String k : acked) {
        if (!seen.contains(k)) missing.add(k);
      }
      if (missing.isEmpty()) break;
      Thread.sleep(500);
    }
    consumer.shutdown();
    log("acknowledged %d, read %d, missing %d", acked.size(), seen.size(), missing.size());
    if (!missing.isEmpty()) {
      log("FAIL: acknowledged keys missing, e.g. %s", missing.subList(0, Math.min(10, missing.size())));
      System.exit(1);
    }
    log("PASS");
    System.exit(0);
  }
}
