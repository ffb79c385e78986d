// Shared pieces of the Java-client scenarios: arguments, a timestamped log, a failure collector that
// reports every mismatch (not just the first), polling, and a readable dump of message properties.
package holdfast.javatest;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.BooleanSupplier;

final class ScenarioSupport {
  private ScenarioSupport() {}

  /** Exit code of a scenario whose checks all held. */
  static final int kPassed = 0;
  /** Exit code of a scenario with at least one failed check. */
  static final int kFailed = 1;

  private static final long kStartMillis = System.currentTimeMillis();

  /** What the driver passes: the name server address and which broker is behind it. */
  static final class Args {
    final String namesrv;
    final String target;  // "holdfast" or "rocketmq": only named in the log

    Args(String[] argv) {
      if (argv.length < 1) {
        throw new IllegalArgumentException("usage: <scenario> NAMESRV_ADDR [holdfast|rocketmq]");
      }
      namesrv = argv[0];
      target = argv.length > 1 ? argv[1] : "holdfast";
    }
  }

  /** The client reads these once, when its services are first loaded: set them before any client exists. */
  static void speedUpClientTimers() {
    // Rebalance every second instead of every 20 s, so a new route (the retry topic) is consumed at once.
    System.setProperty("rocketmq.client.rebalance.waitInterval", "1000");
  }

  /** A short random suffix so names never collide with an earlier run against the same broker. */
  static String runId() {
    return Long.toString(ThreadLocalRandom.current().nextLong(1L << 40, 1L << 41), 36);
  }

  static long elapsedMillis() {
    return System.currentTimeMillis() - kStartMillis;
  }

  static void log(String format, Object... args) {
    System.out.printf("[%6.1fs] %s%n", elapsedMillis() / 1000.0, String.format(format, args));
    System.out.flush();
  }

  /** Polls `done` every 100 ms until it holds or `timeoutMillis` pass; returns whether it held. */
  static boolean waitUntil(long timeoutMillis, BooleanSupplier done) throws InterruptedException {
    long deadline = System.currentTimeMillis() + timeoutMillis;
    while (!done.getAsBoolean()) {
      if (System.currentTimeMillis() >= deadline) return false;
      Thread.sleep(100);
    }
    return true;
  }

  /** Properties sorted by key, values quoted with control characters escaped, for logs and failures. */
  static String describe(Map<String, String> properties) {
    if (properties == null) return "(no properties)";
    StringBuilder out = new StringBuilder("{");
    for (Map.Entry<String, String> e : new TreeMap<>(properties).entrySet()) {
      if (out.length() > 1) out.append(", ");
      out.append(e.getKey()).append('=').append(quote(e.getValue()));
    }
    return out.append('}').toString();
  }

  static String quote(String s) {
    if (s == null) return "null";
    StringBuilder out = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') {
        out.append('\\').append(c);
      } else if (c < 0x20 || c == 0x7f) {
        out.append(String.format("\\u%04x", (int) c));
      } else {
        out.append(c);
      }
    }
    return out.append('"').toString();
  }

  /** Collects failed checks; `finish` prints them all and gives the exit code. */
  static final class Checks {
    private final List<String> failures = new ArrayList<>();
    private int passed = 0;

    boolean that(boolean ok, String format, Object... args) {
      if (ok) {
        passed++;
      } else {
        failures.add(String.format(format, args));
      }
      return ok;
    }

    boolean equal(String what, Object expected, Object actual) {
      boolean ok = Objects.equals(expected, actual);
      if (ok) {
        passed++;
        return true;
      }
      return that(false, "%s: expected %s, got %s", what, show(expected), show(actual));
    }

    private static String show(Object o) {
      return o instanceof String ? quote((String) o) : String.valueOf(o);
    }

    int failureCount() {
      return failures.size();
    }

    int finish(String scenario) {
      if (failures.isEmpty()) {
        log("PASSED %s (%d checks)", scenario, passed);
        return kPassed;
      }
      System.out.printf("FAILED %s: %d of %d checks failed:%n", scenario, failures.size(),
                        failures.size() + passed);
      for (String f : failures) System.out.println("  - " + f);
      System.out.flush();
      return kFailed;
    }
  }
}
