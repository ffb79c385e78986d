# shellcheck shell=bash
# Shell pieces shared by the Java-client drivers (run_scenario.sh, run_replication.sh). Source it, do not run
# it; the sourcing script sets `here` (this folder) first and runs under `set -uo pipefail`.
#
# Defines:
#   kSkip                   77, the exit status ctest reports as skipped (SKIP_RETURN_CODE)
#   say MSG...              prints "[driver] MSG"
#   skip [WHY]              prints the SKIPPED line for a missing RocketMQ peer (at $peer) and exits 77
#   java_peer               prints where the RocketMQ 4.9.8 peer should be: HOLDFAST_ROCKETMQ_HOME, else
#                           HOLDFAST_ROCKETMQ_HOME_DEFAULT (set by CMake), else ../shared beside the repository
#   java_env_load NAME      needs $peer. Skips (exit 77) unless the peer's bin/env.sh is there and succeeds and
#                           javac exists. Sets `work` to a new temporary folder (holdfast-java-NAME-XXXXXX under
#                           TMPDIR), exports RMQ_DATA=$work/rocketmq (the client JVMs' logs and state), sources
#                           the peer's env.sh (RMQ_CP, RMQ_JAVA_CMD, ...) and makes $peer absolute.
#   java_compile            compiles every *.java in $here into `classes` (HOLDFAST_JAVA_CLASSES, default a
#                           folder under TMPDIR; sets the variable), under a lock and only when a source is newer
#                           than the last compile, so concurrent drivers share one compile. Returns 1 on failure.
#   port_open PORT          whether something accepts connections on 127.0.0.1:PORT
#   pick_ports N            prints N free ports, one a line, such that for each port P the ports P-2 .. P+1 are
#                           closed and no two of these ranges overlap (a RocketMQ broker on P also opens P-2, its
#                           "fast" remoting port, and P+1, its HA port). Returns 1 when it finds none.

readonly kSkip=77

say() { printf '[driver] %s\n' "$*"; }

skip() {
  echo "SKIPPED: Apache RocketMQ 4.9.8 not found at $peer (the stock Java client comes from it)${1:+: $1}"
  exit "$kSkip"
}

java_peer() {
  printf '%s\n' "${HOLDFAST_ROCKETMQ_HOME:-${HOLDFAST_ROCKETMQ_HOME_DEFAULT:-$here/../../../shared/peers/rocketmq-4.9.8}}"
}

java_env_load() {
  [ -f "$peer/bin/env.sh" ] || skip
  work="$(mktemp -d "${TMPDIR:-/tmp}/holdfast-java-$1-XXXXXX")" || exit 1
  # The client JVM (and, for target rocketmq, the servers unless told otherwise) keep logs and state under
  # RMQ_DATA.
  export RMQ_DATA="$work/rocketmq"
  # shellcheck source=/dev/null
  if ! source "$peer/bin/env.sh" >"$work/env.log" 2>&1; then
    cat "$work/env.log"
    rm -rf "$work"
    skip "its env.sh failed (output above)"
  fi
  peer="$(cd "$peer" && pwd)"
  if ! command -v javac >/dev/null; then
    rm -rf "$work"
    echo "SKIPPED: javac not found (install openjdk-17-jdk-headless); the scenarios are compiled with it"
    exit "$kSkip"
  fi
}

java_compile() {
  classes="${HOLDFAST_JAVA_CLASSES:-${TMPDIR:-/tmp}/holdfast-java-classes}"
  mkdir -p "$classes" || return 1
  (
    flock 9
    stamp="$classes/.compiled"
    if [ ! -f "$stamp" ] || [ -n "$(find "$here" -maxdepth 1 -name '*.java' -newer "$stamp")" ]; then
      rm -rf "$classes/holdfast"
      javac -encoding UTF-8 -Xlint:-options -cp "$RMQ_CP" -d "$classes" "$here"/*.java || exit 1
      touch "$stamp"
    fi
  ) 9>"$classes/.lock"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_ports() {
  local want="$1" p q ok tries=0
  local -a got=()
  while [ "${#got[@]}" -lt "$want" ]; do
    tries=$((tries + 1))
    [ "$tries" -le 1000 ] || return 1
    # 26000-31999: below the kernel's ephemeral range (no outgoing connection is handed one) and
    # apart from the C++ tests' 20000-25999 (src/transport/ports.h), so they never race for one.
    p=$(( 26000 + RANDOM % 6000 ))
    ok=1
    for q in "${got[@]}"; do
      if [ $((p - q)) -le 3 ] && [ $((q - p)) -le 3 ]; then ok=0; break; fi
    done
    [ "$ok" = 1 ] || continue
    if ! port_open "$p" && ! port_open $((p - 2)) && ! port_open $((p - 1)) && ! port_open $((p + 1)); then
      got+=("$p")
    fi
  done
  printf '%s\n' "${got[@]}"
}
