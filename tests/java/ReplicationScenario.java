// Scenario java_replication: every message a SYNC_MASTER acknowledged with SEND_OK can still be read after
// the master is killed with SIGKILL and its data folder deleted, because its slave holds it.
//
// run_replication.sh starts a name server, a SYNC_MASTER broker (brokerId 0) and its SLAVE (brokerId 1) in one
// broker group, both SYNC_FLUSH, creates the topic and then runs this class, which:
//  1. starts a DefaultMQProducer (sendMsgTimeout 3000 ms, retryTimesWhenSendFailed 2) and sends a probe
//     message every 500 ms until one is SEND_OK (at most 20 s). Under SYNC_MASTER that shows the slave is
//     connected and acknowledging, so the measured sends do not start while it is still attaching. A probe
//     that is SEND_OK is acknowledged like any other message: it too must be read back.
//  2. sends up to N messages (N = 2000; -Dholdfast.replication.messages=N changes it). Each has a unique key
//     and a body of 1 KiB derived from that key, and is sent synchronously. Each SEND_OK goes to acked.txt in
//     the signal folder (key, msgId, offsetMsgId, queue, queue offset). Only SEND_OK counts as acknowledged.
//     SLAVE_NOT_AVAILABLE, FLUSH_SLAVE_TIMEOUT and FLUSH_DISK_TIMEOUT are counted per status but promise
//     nothing, and neither does an exception (counted as a send failure, never fatal).
//  3. after the (N/2)-th SEND_OK (at most 60 s of sending) prints HALF and creates the file `half` in the
//     signal folder, then waits (at most 30 s) for the driver to create `go`. In between the driver kills
//     the master with SIGKILL and deletes its data folder, so the slave holds the only copy.
//  4. sends the remaining messages (N minus the attempts so far), for at most 20 s. The broker group has no
//     master now, so these are expected to fail; they are counted, and a SEND_OK among them would be
//     recorded and checked like any other.
//  5. shuts the producer down. A DefaultMQPullConsumer of a new group, in a client instance of its own
//     (so it reads the route afresh), lists the topic's queues and reads each from offset 0. The route no
//     longer has brokerId 0, so the client pulls from the slave. It reads until every acknowledged key has
//     been seen and every queue reports no new message, or until 60 s pass. The name server's route of the
//     topic at that point (asked with the stock admin client) is logged.
// Passes when every SEND_OK message was read back with its body intact, the driver answered HALF, and N/2
// sends were SEND_OK before the kill. The counts are printed on one "RESULT" line: sent ok, send failures,
// statuses other than SEND_OK, read, missing (up to 20 missing keys are listed), duplicates. Duplicates (a
// key read more than once, e.g. a retried send whose first try was stored after all) and stored messages
// whose send was not SEND_OK are reported but are not failures.
//
// Usage: ReplicationScenario NAMESRV_ADDR TARGET TOPIC SIGNAL_DIR
package holdfast.javatest;

import static holdfast.javatest.ScenarioSupport.log;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.rocketmq.client.consumer.DefaultMQPullConsumer;
import org.apache.rocketmq.client.consumer.PullResult;
import org.apache.rocketmq.client.exception.MQBrokerException;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.common.protocol.route.BrokerData;
import org.apache.rocketmq.common.protocol.route.TopicRouteData;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;

public final class ReplicationScenario {
  private static final int kDefaultMessages = 2000;
  private static final int kBodyBytes = 1024;
  private static final String kTag = "TagRepl";
  private static final long kProbeMillis = 20_000;
  private static final long kFirstHalfMillis = 60_000;
  private static final long kGoAheadMillis = 30_000;
  private static final long kSecondHalfMillis = 20_000;
  private static final long kReadMillis = 60_000;
  private static final int kPullBatch = 32;
  private static final long kPullTimeoutMillis = 3_000;
  private static final int kMissingShown = 20;
  private static final int kFailuresLogged = 3;  // per phase; the rest are only counted by kind

  /** The producer side: every attempt's outcome, and the acknowledged (SEND_OK) keys in order. */
  static final class Sender {
    final DefaultMQProducer producer;
    final String topic;
    final BufferedWriter ackedFile;
    final Map<String, String> acked = new LinkedHashMap<>();  // key -> "msgId offsetMsgId queue offset"
    final Map<SendStatus, Integer> statuses = new EnumMap<>(SendStatus.class);
    final Map<String, Integer> failureKinds = new TreeMap<>();
    int attempts = 0;
    int failures = 0;
    int failuresLoggedThisPhase = 0;

    Sender(DefaultMQProducer producer, String topic, BufferedWriter ackedFile) {
      this.producer = producer;
      this.topic = topic;
      this.ackedFile = ackedFile;
    }

    /** Sends one message synchronously; returns its status, or null when the send threw. */
    SendStatus send(String key) throws IOException {
      attempts++;
      Message msg = new Message(topic, kTag, key, body(key).getBytes(StandardCharsets.UTF_8));
      SendResult result;
      try {
        result = producer.send(msg);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while sending " + key, e);
      } catch (Exception e) {
        failures++;
        failureKinds.merge(kind(e), 1, Integer::sum);
        if (failuresLoggedThisPhase++ < kFailuresLogged) log("send %s failed: %s", key, chain(e));
        return null;
      }
      SendStatus status = result.getSendStatus();
      statuses.merge(status, 1, Integer::sum);
      if (status == SendStatus.SEND_OK) {
        String where = result.getMsgId() + " " + result.getOffsetMsgId() + " "
            + (result.getMessageQueue() == null ? "?" : result.getMessageQueue().getQueueId()) + " "
            + result.getQueueOffset();
        acked.put(key, where);
        ackedFile.write(key + " " + where + "\n");
        ackedFile.flush();
      } else if (statuses.get(status) <= kFailuresLogged) {
        log("send %s answered %s (not acknowledged)", key, status);
      }
      return status;
    }
  }

  public static void main(String[] argv) throws Exception {
    ScenarioSupport.Args args = new ScenarioSupport.Args(argv);
    if (argv.length < 4) {
      throw new IllegalArgumentException("usage: ReplicationScenario NAMESRV_ADDR TARGET TOPIC SIGNAL_DIR");
    }
    String topic = argv[2];
    Path signals = Paths.get(argv[3]);
    Files.createDirectories(signals);
    int messages = Integer.getInteger("holdfast.replication.messages", kDefaultMessages);
    int half = messages / 2;
    ScenarioSupport.Checks checks = new ScenarioSupport.Checks();
    String run = ScenarioSupport.runId();
    log("target %s, name server %s, topic %s, %d messages of %d bytes, signal folder %s", args.target,
        args.namesrv, topic, messages, kBodyBytes, signals);

    DefaultMQProducer producer = new DefaultMQProducer("hf_java_repl_producer_" + run);
    producer.setNamesrvAddr(args.namesrv);
    producer.setInstanceName("hf_java_repl_producer_" + run);
    producer.setSendMsgTimeout(3000);
    producer.setRetryTimesWhenSendFailed(2);
    // Read the route every second instead of every 30 s, so the client soon learns the master is gone.
    producer.setPollNameServerInterval(1000);

    int probeAcked = 0;
    int ackedBeforeKill = 0;
    Sender sender;
    try (BufferedWriter ackedFile = Files.newBufferedWriter(signals.resolve("acked.txt"), StandardCharsets.UTF_8)) {
      producer.start();
      sender = new Sender(producer, topic, ackedFile);

      // ---- 1. probe: the first SEND_OK shows the master has a live, acknowledging slave -----------------
      long probeDeadline = System.currentTimeMillis() + kProbeMillis;
      int probes = 0;
      boolean probeOk = false;
      while (!probeOk && System.currentTimeMillis() < probeDeadline) {
        probeOk = sender.send("probe-" + run + "-" + probes++) == SendStatus.SEND_OK;
        if (!probeOk) Thread.sleep(500);
      }
      log("probe: %s after %d send(s)", probeOk ? "SEND_OK" : "no SEND_OK", probes);
      if (!checks.that(probeOk, "no probe send was SEND_OK within %d s: the master never had a working slave "
                       + "(statuses %s, %d failures %s)", kProbeMillis / 1000, sender.statuses, sender.failures,
                       sender.failureKinds)) {
        producer.shutdown();
        System.exit(checks.finish("java_replication"));
      }

      // ---- 2. first half: until N/2 SEND_OK ------------------------------------------------------------
      sender.failuresLoggedThisPhase = 0;
      probeAcked = sender.acked.size();
      int next = 0;
      long firstHalfDeadline = System.currentTimeMillis() + kFirstHalfMillis;
      long started = System.currentTimeMillis();
      while (next < messages && sender.acked.size() - probeAcked < half
             && System.currentTimeMillis() < firstHalfDeadline) {
        sender.send(key(run, next++));
      }
      ackedBeforeKill = sender.acked.size() - probeAcked;
      log("first half: %d attempts, %d SEND_OK in %d ms; statuses %s; %d send failures %s", next, ackedBeforeKill,
          System.currentTimeMillis() - started, sender.statuses, sender.failures, sender.failureKinds);
      checks.that(ackedBeforeKill >= half, "only %d of the first %d sends were SEND_OK within %d s (wanted %d "
                  + "before the kill)", ackedBeforeKill, next, kFirstHalfMillis / 1000, half);

      // ---- 3. signal the driver, wait for the master to be gone ----------------------------------------
      Files.write(signals.resolve("half"), (sender.acked.size() + " acknowledged\n").getBytes(StandardCharsets.UTF_8));
      System.out.println("HALF");
      System.out.flush();
      log("waiting for the driver to kill the master (file %s)", signals.resolve("go"));
      boolean killed = ScenarioSupport.waitUntil(kGoAheadMillis, () -> Files.exists(signals.resolve("go")));
      checks.that(killed, "the driver did not answer HALF (no %s within %d s)", signals.resolve("go"),
                  kGoAheadMillis / 1000);
      if (killed) log("go-ahead: the master is dead and its data folder deleted");

      // ---- 4. second half: the group has no master; count what happens ---------------------------------
      sender.failuresLoggedThisPhase = 0;
      int ackedAtKill = sender.acked.size();
      Map<SendStatus, Integer> statusesAtKill = new EnumMap<>(sender.statuses);
      int failuresAtKill = sender.failures;
      int attemptsAtKill = next;
      long secondHalfDeadline = System.currentTimeMillis() + kSecondHalfMillis;
      started = System.currentTimeMillis();
      while (next < messages && System.currentTimeMillis() < secondHalfDeadline) {
        sender.send(key(run, next++));
      }
      log("second half (master gone): %d attempts in %d ms, %d SEND_OK, %d send failures; statuses now %s "
          + "(at the kill %s), failure kinds %s", next - attemptsAtKill, System.currentTimeMillis() - started,
          sender.acked.size() - ackedAtKill, sender.failures - failuresAtKill, sender.statuses, statusesAtKill,
          sender.failureKinds);
      if (sender.acked.size() > ackedAtKill) {
        log("note: %d send(s) were SEND_OK after the master was killed; they are checked like the others",
            sender.acked.size() - ackedAtKill);
      }
      if (next < messages) log("second half stopped after %d s with %d message(s) not attempted",
                               kSecondHalfMillis / 1000, messages - next);
    } finally {
      producer.shutdown();
    }

    // ---- 5. read everything back from what is left: the slave ------------------------------------------
    Reader reader = read(args.namesrv, run, topic, sender.acked, checks);

    List<String> missing = new ArrayList<>();
    for (String key : sender.acked.keySet()) {
      if (!reader.seen.containsKey(key)) missing.add(key);
    }
    int duplicates = 0;
    int unacknowledgedRead = 0;
    for (Map.Entry<String, Integer> e : reader.seen.entrySet()) {
      if (e.getValue() > 1) duplicates++;
      if (!sender.acked.containsKey(e.getKey())) unacknowledgedRead++;
    }
    int notOk = 0;
    for (Map.Entry<SendStatus, Integer> e : sender.statuses.entrySet()) {
      if (e.getKey() != SendStatus.SEND_OK) notOk += e.getValue();
    }
    log("RESULT sent_ok=%d (probes %d, before the kill %d, after it %d) send_failures=%d not_send_ok=%d "
        + "statuses=%s read=%d distinct_read=%d acknowledged_read=%d missing=%d duplicates=%d "
        + "read_without_send_ok=%d corrupt=%d strays=%d", sender.acked.size(), probeAcked, ackedBeforeKill,
        sender.acked.size() - probeAcked - ackedBeforeKill, sender.failures, notOk, sender.statuses,
        reader.messagesRead, reader.seen.size(), sender.acked.size() - missing.size(), missing.size(), duplicates,
        unacknowledgedRead, reader.corrupt.size(), reader.strays.size());
    if (!sender.failureKinds.isEmpty()) log("send failures by kind: %s", sender.failureKinds);
    if (duplicates > 0) {
      List<String> shown = new ArrayList<>();
      for (Map.Entry<String, Integer> e : reader.seen.entrySet()) {
        if (e.getValue() > 1 && shown.size() < kMissingShown) shown.add(e.getKey() + " x" + e.getValue());
      }
      log("duplicates (not a failure: a retried send may be stored twice): %s", shown);
    }
    checks.that(missing.isEmpty(), "%d of %d acknowledged (SEND_OK) messages were not read back from the slave; "
                + "the first %d: %s", missing.size(), sender.acked.size(), Math.min(kMissingShown, missing.size()),
                missing.subList(0, Math.min(kMissingShown, missing.size())));
    checks.that(reader.corrupt.isEmpty(), "%d message(s) read back with a body that is not the one sent: %s",
                reader.corrupt.size(), reader.corrupt.subList(0, Math.min(kMissingShown, reader.corrupt.size())));
    checks.that(reader.strays.isEmpty(), "%d message(s) in the topic with a key this run never sent: %s",
                reader.strays.size(), reader.strays.subList(0, Math.min(kMissingShown, reader.strays.size())));
    System.exit(checks.finish("java_replication"));
  }

  /** What the reading consumer saw. */
  static final class Reader {
    final Map<String, Integer> seen = new HashMap<>();  // key -> times read
    final List<String> corrupt = new ArrayList<>();
    final List<String> strays = new ArrayList<>();
    int messagesRead = 0;
  }

  @SuppressWarnings("deprecation")  // DefaultMQPullConsumer: explicit offsets, no offset store or rebalance
  static Reader read(String namesrv, String run, String topic, Map<String, String> acked,
                     ScenarioSupport.Checks checks) throws Exception {
    Reader reader = new Reader();
    log("route of %s from the name server after the kill: %s", topic, nameServerRoute(namesrv, run, topic));
    DefaultMQPullConsumer consumer = new DefaultMQPullConsumer("hf_java_repl_reader_" + run);
    consumer.setNamesrvAddr(namesrv);
    consumer.setInstanceName("hf_java_repl_reader_" + run);
    consumer.setPollNameServerInterval(1000);
    long deadline = System.currentTimeMillis() + kReadMillis;
    long started = System.currentTimeMillis();
    try {
      consumer.start();
      Set<MessageQueue> queues = null;
      int routeFailures = 0;
      while (queues == null && System.currentTimeMillis() < deadline) {
        try {
          Set<MessageQueue> found = consumer.fetchSubscribeMessageQueues(topic);
          if (found != null && !found.isEmpty()) queues = new TreeSet<>(found);
        } catch (MQClientException e) {
          if (routeFailures++ < kFailuresLogged) log("no route for %s yet: %s", topic, chain(e));
        }
        if (queues == null) Thread.sleep(500);
      }
      if (!checks.that(queues != null, "the reader found no queue of %s within %d s", topic, kReadMillis / 1000)) {
        return reader;
      }
      log("reader: %d queue(s): %s", queues.size(), queues);
      Map<MessageQueue, Long> offsets = new TreeMap<>();
      for (MessageQueue mq : queues) offsets.put(mq, 0L);
      int pullFailures = 0;
      int rounds = 0;
      boolean quiet = false;  // a whole round in which every queue was at its end
      while (System.currentTimeMillis() < deadline) {
        rounds++;
        boolean allAtEnd = true;
        boolean anyFailed = false;
        for (MessageQueue mq : queues) {
          PullResult result;
          try {
            result = consumer.pull(mq, "*", offsets.get(mq), kPullBatch, kPullTimeoutMillis);
          } catch (MQClientException | MQBrokerException | org.apache.rocketmq.remoting.exception.RemotingException e) {
            if (pullFailures++ < 5) log("pull %s at %d failed: %s", mq, offsets.get(mq), chain(e));
            anyFailed = true;
            allAtEnd = false;
            continue;
          }
          switch (result.getPullStatus()) {
            case FOUND:
              for (MessageExt m : result.getMsgFoundList()) take(reader, m, run);
              allAtEnd = false;
              break;
            case OFFSET_ILLEGAL:
              log("pull %s at %d: OFFSET_ILLEGAL (min %d, max %d, next %d)", mq, offsets.get(mq),
                  result.getMinOffset(), result.getMaxOffset(), result.getNextBeginOffset());
              allAtEnd = false;
              break;
            default:  // NO_NEW_MSG, NO_MATCHED_MSG
              break;
          }
          offsets.put(mq, result.getNextBeginOffset());
        }
        boolean allSeen = true;
        for (String key : acked.keySet()) {
          if (!reader.seen.containsKey(key)) {
            allSeen = false;
            break;
          }
        }
        if (allSeen && allAtEnd) {
          quiet = true;
          break;
        }
        if (allAtEnd || anyFailed) Thread.sleep(200);
      }
      log("reader: %d message(s) in %d round(s), %d ms, %d pull failure(s); final offsets %s; %s",
          reader.messagesRead, rounds, System.currentTimeMillis() - started, pullFailures, offsets,
          quiet ? "every acknowledged key seen and every queue at its end"
                : "stopped at the " + kReadMillis / 1000 + " s deadline");
    } finally {
      consumer.shutdown();
    }
    return reader;
  }

  /**
   * The brokers (brokerId -> address) the name server's route of `topic` names, asked with the stock admin
   * client. Without brokerId 0 the reader's pulls can only go to the slave.
   */
  static String nameServerRoute(String namesrv, String run, String topic) {
    DefaultMQAdminExt admin = new DefaultMQAdminExt();
    admin.setNamesrvAddr(namesrv);
    admin.setInstanceName("hf_java_repl_admin_" + run);
    try {
      admin.start();
      TopicRouteData route = admin.examineTopicRouteInfo(topic);
      StringBuilder out = new StringBuilder();
      for (BrokerData b : route.getBrokerDatas()) {
        if (out.length() > 0) out.append("; ");
        out.append(b.getBrokerName()).append(' ').append(new TreeMap<>(b.getBrokerAddrs()));
      }
      return out.length() == 0 ? "(no broker)" : out.toString();
    } catch (Exception e) {
      return "(could not get it: " + chain(e) + ")";
    } finally {
      admin.shutdown();
    }
  }

  static void take(Reader reader, MessageExt m, String run) {
    reader.messagesRead++;
    String key = m.getKeys();
    String body = new String(m.getBody(), StandardCharsets.UTF_8);
    if (key == null || !(key.startsWith("msg-" + run + "-") || key.startsWith("probe-" + run + "-"))) {
      reader.strays.add(String.valueOf(key) + " (msgId " + m.getMsgId() + ")");
      return;
    }
    reader.seen.merge(key, 1, Integer::sum);
    if (!body.equals(body(key))) {
      reader.corrupt.add(key + " (" + m.getBody().length + " bytes, starts "
                         + ScenarioSupport.quote(body.substring(0, Math.min(40, body.length()))) + ")");
    }
  }

  static String key(String run, int i) {
    return "msg-" + run + "-" + i;
  }

  /** kBodyBytes of ASCII determined by the key, so a read-back body can be checked without storing it. */
  static String body(String key) {
    StringBuilder out = new StringBuilder(kBodyBytes);
    out.append(key).append(':');
    int h = key.hashCode();
    while (out.length() < kBodyBytes) {
      h = h * 1103515245 + 12345;
      out.append((char) ('a' + ((h >>> 16) & 0x7fff) % 26));
    }
    return out.toString();
  }

  /** A failure's kind for counting: exception classes along the cause chain, with response codes. */
  static String kind(Throwable t) {
    StringBuilder out = new StringBuilder();
    for (; t != null; t = t.getCause()) {
      if (out.length() > 0) out.append(" <- ");
      out.append(t.getClass().getSimpleName());
      if (t instanceof MQClientException) out.append("(code ").append(((MQClientException) t).getResponseCode()).append(')');
      if (t instanceof MQBrokerException) out.append("(code ").append(((MQBrokerException) t).getResponseCode()).append(')');
    }
    return out.toString();
  }

  static String chain(Throwable t) {
    StringBuilder out = new StringBuilder();
    for (; t != null; t = t.getCause()) {
      if (out.length() > 0) out.append(" <- caused by ");
      String message = String.valueOf(t.getMessage());
      int cut = message.indexOf("\nSee ");  // the client appends a FAQ link to every message
      out.append(t.getClass().getSimpleName()).append(": ")
          .append((cut >= 0 ? message.substring(0, cut) : message).replace('\n', ' '));
    }
    return out.toString();
  }
}
