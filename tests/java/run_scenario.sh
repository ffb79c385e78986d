#!/usr/bin/env bash
# Runs one Java-client scenario (a main class in this folder) with the stock Apache RocketMQ 4.9.8 Java
# client against a broker this script starts on free ports, then stops that broker, whatever happened.
#
# Usage: run_scenario.sh SCENARIO_CLASS [holdfast-only] [key=value ...]
#   holdfast-only  skip the scenario (exit 77) when the target is rocketmq
#   key=value      broker settings the scenario needs, given to either broker: to `holdfast standalone` as
#                  overrides, to RocketMQ's start-broker.sh as extra broker.conf lines
#                  (e.g. transactionCheckInterval=1000)
# Env:
#   HOLDFAST_JAVA_TARGET     holdfast (default) or rocketmq: which broker the scenario talks to
#   HOLDFAST_BIN             the holdfast binary (target holdfast)
#   HOLDFAST_ROCKETMQ_HOME   the Apache RocketMQ 4.9.8 peer (its client classpath; the broker for target rocketmq);
#                            when unset: HOLDFAST_ROCKETMQ_HOME_DEFAULT (set by CMake), else ../shared beside the repo
#   HOLDFAST_JAVA_CLASSES    where the scenarios are compiled to (default: a folder under TMPDIR)
#   HOLDFAST_JAVA_BUDGET     seconds the scenario itself may run (default 100)
#   HOLDFAST_JAVA_KEEP=1     keep the data folder even when the scenario passes
# Exit: 0 passed, 1 failed, 77 skipped (no RocketMQ peer, hence no stock Java client).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly here
# shellcheck source=SCRIPTDIR/java_env.sh
source "$here/java_env.sh"  # kSkip, say, skip, java_peer, java_env_load, java_compile, pick_ports
readonly kUsage="usage: run_scenario.sh SCENARIO_CLASS [holdfast-only] [key=value ...]"
scenario="${1:?$kUsage}"
shift
holdfast_only=""
if [ "${1:-}" = holdfast-only ]; then holdfast_only=holdfast-only; shift; fi
broker_settings=()
for kv in "$@"; do
  [[ "$kv" =~ ^[A-Za-z][A-Za-z0-9_.]*=.*$ ]] || { echo "not key=value: '$kv'; $kUsage" >&2; exit 2; }
  broker_settings+=("$kv")
done
target="${HOLDFAST_JAVA_TARGET:-holdfast}"
peer="$(java_peer)"
budget="${HOLDFAST_JAVA_BUDGET:-100}"

case "$target" in
  holdfast) ;;
  rocketmq)
    if [ "$holdfast_only" = holdfast-only ]; then
      echo "SKIPPED: $scenario runs against Holdfast only (it checks something RocketMQ does not do)"
      exit "$kSkip"
    fi ;;
  *) echo "HOLDFAST_JAVA_TARGET must be holdfast or rocketmq, not '$target'" >&2; exit 2 ;;
esac

java_env_load "$scenario"  # sets work, RMQ_CP, RMQ_JAVA_CMD; exits 77 without the peer or javac

server_pid=""
scenario_pid=""
rocketmq_started=0
status=1
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$scenario_pid" ] && kill -0 "$scenario_pid" 2>/dev/null; then
    kill -TERM "$scenario_pid" 2>/dev/null  # timeout(1) passes it on to the JVM
    wait "$scenario_pid" 2>/dev/null
  fi
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$server_pid" 2>/dev/null; then
      say "holdfast still running 5 s after SIGTERM; sending SIGKILL"
      kill -KILL "$server_pid" 2>/dev/null
    fi
    wait "$server_pid" 2>/dev/null
  fi
  if [ "$rocketmq_started" = 1 ]; then
    "$peer/bin/stop.sh" >>"$work/stop.log" 2>&1 || say "stop.sh failed, see $work/stop.log"
  fi
  if [ "$status" = 0 ] && [ "${HOLDFAST_JAVA_KEEP:-0}" != 1 ]; then
    rm -rf "$work"
  else
    say "data, broker and client logs kept in $work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'say "interrupted"; status=1; exit 1' INT TERM

# ---- compile: once per source change, shared by concurrently running scenarios ------------------------
java_compile || { say "javac failed"; exit 1; }

# ---- free ports: RocketMQ's broker also opens BROKER_PORT-2 and BROKER_PORT+1 -------------------------
ports="$(pick_ports 2)" || { say "no free port"; exit 1; }
{ read -r namesrv_port; read -r broker_port; } <<<"$ports"
namesrv="127.0.0.1:$namesrv_port"

# ---- start the broker under test ------------------------------------------------------------------------
if [ "$target" = holdfast ]; then
  bin="${HOLDFAST_BIN:-}"
  [ -x "$bin" ] || { say "HOLDFAST_BIN='$bin' is not an executable"; exit 1; }
  "$bin" standalone --data "$work/data" --host 127.0.0.1 --namesrv-port "$namesrv_port" \
    --broker-port "$broker_port" mappedFileSizeCommitLog=67108864 "${broker_settings[@]}" >"$work/holdfast.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    grep -q '^Holdfast standalone:' "$work/holdfast.log" && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q '^Holdfast standalone:' "$work/holdfast.log"; then
    say "holdfast did not start:"; tail -20 "$work/holdfast.log"; exit 1
  fi
  say "$(grep '^Holdfast standalone:' "$work/holdfast.log")"
else
  export NAMESRV_PORT="$namesrv_port" BROKER_PORT="$broker_port"
  rocketmq_started=1
  if ! "$peer/bin/start-namesrv.sh" >"$work/start.log" 2>&1 \
     || ! "$peer/bin/start-broker.sh" SYNC_FLUSH fresh "${broker_settings[@]}" >>"$work/start.log" 2>&1; then
    say "RocketMQ did not start:"; cat "$work/start.log"; exit 1
  fi
  say "Apache RocketMQ 4.9.8: name server $namesrv, broker 127.0.0.1:$broker_port, SYNC_FLUSH, data in $RMQ_DATA"
fi
[ "${#broker_settings[@]}" = 0 ] || say "broker settings for this scenario: ${broker_settings[*]}"

# ---- the scenario ---------------------------------------------------------------------------------------
say "running $scenario against $target (budget ${budget} s)"
# In the background, so a TERM or INT to this script is handled at once rather than after the scenario.
timeout -k 5 "$budget" "${RMQ_JAVA_CMD[@]}" -cp "$RMQ_CP:$classes" "holdfast.javatest.$scenario" \
  "$namesrv" "$target" &
scenario_pid=$!
wait "$scenario_pid"
status=$?
scenario_pid=""
[ "$status" = 124 ] && say "$scenario did not finish within $budget s"
[ "$status" = 0 ] || status=1
exit "$status"
