// The exact property set a message must carry: every key named, nothing else. A value is either an
// exact string or a pattern (for values only the broker or client knows, such as offsets and times).
package holdfast.javatest;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;

final class PropertyExpectation {
  static final Pattern kDigits = Pattern.compile("[0-9]+");

  private final Map<String, Object> expected = new TreeMap<>();

  PropertyExpectation exact(String key, String value) {
    expected.put(key, value);
    return this;
  }

  /**
   * Where Holdfast differs from RocketMQ 4.9.8 on purpose (docs/format/commitlog.md, "Properties
   * string"): `key` must be `rocketmqValue` against RocketMQ and `holdfastValue` against Holdfast,
   * where null means absent. Only the WAIT and DELAY hints differ; a client reads neither.
   */
  PropertyExpectation differs(String key, String rocketmqValue, String holdfastValue) {
    String value = holdfastTarget ? holdfastValue : rocketmqValue;
    if (value == null) {
      expected.remove(key);
    } else {
      expected.put(key, value);
    }
    return this;
  }

  /** Which broker the scenario talks to; set once by the scenario from its arguments. */
  static boolean holdfastTarget = true;

  PropertyExpectation matching(String key, Pattern value) {
    expected.put(key, value);
    return this;
  }

  /**
   * Checks `actual` key by key and records one failure for `what` that lists every missing key, stray
   * key and wrong value (the full property set is logged where the message was received).
   */
  void check(ScenarioSupport.Checks checks, String what, Map<String, String> actual) {
    if (!checks.that(actual != null, "%s: message has no properties", what)) return;
    List<String> problems = new ArrayList<>();
    for (Map.Entry<String, Object> e : expected.entrySet()) {
      String key = e.getKey();
      String value = actual.get(key);
      if (value == null) {
        problems.add(key + " missing");
      } else if (e.getValue() instanceof Pattern) {
        Pattern pattern = (Pattern) e.getValue();
        if (!pattern.matcher(value).matches()) {
          problems.add(key + " = " + ScenarioSupport.quote(value) + " does not match /" + pattern + "/");
        }
      } else if (!e.getValue().equals(value)) {
        problems.add(key + " = " + ScenarioSupport.quote(value) + ", expected "
                     + ScenarioSupport.quote((String) e.getValue()));
      }
    }
    for (String key : new TreeSet<>(actual.keySet())) {
      if (!expected.containsKey(key)) {
        problems.add("unexpected " + key + " = " + ScenarioSupport.quote(actual.get(key)));
      }
    }
    checks.that(problems.isEmpty(), "%s: properties: %s", what, String.join("; ", problems));
  }
}
