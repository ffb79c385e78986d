#!/usr/bin/env bash
# Java-client replication check (ctest java_replication, java_migration_*): the stock Apache RocketMQ 4.9.8
# client must read back, from the slave, every message a SYNC_MASTER acknowledged before it was killed with
# SIGKILL and its data folder deleted.
#
# Starts, on free 127.0.0.1 ports and each with a data folder of its own under one temporary folder:
#   - a name server;
#   - broker group hf-repl-broker of cluster HfReplCluster: a SYNC_MASTER (brokerId 0) and a SLAVE (brokerId 1)
#     that replicates from the master's HA port; both SYNC_FLUSH, 64 MiB commit-log segments.
# The master and the slave may be of different products (HOLDFAST_JAVA_MASTER, HOLDFAST_JAVA_SLAVE): the
# migration path, where a Holdfast slave copies a running RocketMQ master (or a RocketMQ slave a Holdfast
# master) before the operator switches. The reads after the kill then come from the other product's slave.
# Then creates the topic on the master (4 queues; `holdfast admin topic create`, or mqadmin updateTopic, by
# the name server's product), waits until the topic's route names both the master and the slave and until
# 12 s have passed since the creation (the slave has copied the topic's config). Then runs
# ReplicationScenario, which
# sends 2000 messages and, after 1000 SEND_OK, creates `half` in its signal folder and waits. At that moment
# this script kills the master with SIGKILL, deletes the master's data folder (its store; its log is kept),
# and creates `go`. The scenario then sends the rest (they fail: the group has no master any more) and
# reads the topic with a new consumer group, which can only be served by the slave.
# Whatever happens, every process this script started is stopped before it exits.
#
# Usage: run_replication.sh
# Env:
#   HOLDFAST_JAVA_TARGET     holdfast (default) or rocketmq: whose name server and brokers the client talks to
#   HOLDFAST_JAVA_MASTER     holdfast or rocketmq: the master's product (default: HOLDFAST_JAVA_TARGET)
#   HOLDFAST_JAVA_SLAVE      holdfast or rocketmq: the slave's product (default: HOLDFAST_JAVA_TARGET)
#                            The name server is RocketMQ's when either broker is (see "name server" below).
#   HOLDFAST_BIN             the holdfast binary (when any server is Holdfast's)
#   HOLDFAST_ROCKETMQ_HOME   the Apache RocketMQ 4.9.8 peer (its client classpath; RocketMQ's servers);
#                            when unset: HOLDFAST_ROCKETMQ_HOME_DEFAULT (set by CMake), else ../shared beside the repo
#   HOLDFAST_JAVA_CLASSES    where the scenarios are compiled to (default: a folder under TMPDIR)
#   HOLDFAST_JAVA_BUDGET     seconds the scenario itself may run (default 170)
#   HOLDFAST_JAVA_KEEP=1     keep the temporary folder even when the scenario passes
#   HOLDFAST_REPLICATION_MESSAGES  messages the scenario sends (default 2000; the kill comes after half of them)
#   NAMESRV_JAVA_OPTS, BROKER_JAVA_OPTS  JVM options of RocketMQ's servers (small heaps by default)
# Exit: 0 passed, 1 failed, 77 skipped (no RocketMQ peer, hence no stock Java client).
#
# Layout of the temporary folder ($TMPDIR/holdfast-java-ReplicationScenario-*, printed, kept on failure):
#   namesrv/, master/, slave/  each server's log (holdfast: holdfast.log; RocketMQ: logs/, its broker.conf)
#                              and, for the brokers, store/ (the data folder; the master's is deleted)
#   slave/metadata_warnings_before_kill.txt  what the slave logged, before the kill, about failing to copy the
#                              master's metadata (none expected; after the kill it is)
#   rocketmq/                  the client JVMs' logs (logs/rocketmqlogs/)
#   scenario/                  acked.txt (every SEND_OK: key msgId offsetMsgId queue offset), half, go
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly here
# shellcheck source=SCRIPTDIR/java_env.sh
source "$here/java_env.sh"  # kSkip, say, skip, java_peer, java_env_load, java_compile, pick_ports
readonly kScenario=ReplicationScenario
readonly kCluster=HfReplCluster
readonly kBrokerName=hf-repl-broker
readonly kSegmentBytes=67108864  # 64 MiB commit-log segments: quick to create
# Both products' slaves copy the master's topics, groups and offsets every 10 s. A RocketMQ slave answers a
# pull of a topic it has not copied yet with TOPIC_NOT_EXIST, so the scenario starts only this long after
# the topic was created: one whole copy period and a margin, as an operator lets the slave catch up first.
readonly kMetadataCopySeconds=12
target="${HOLDFAST_JAVA_TARGET:-holdfast}"
master_product="${HOLDFAST_JAVA_MASTER:-$target}"
slave_product="${HOLDFAST_JAVA_SLAVE:-$target}"
peer="$(java_peer)"
budget="${HOLDFAST_JAVA_BUDGET:-170}"
for choice in "HOLDFAST_JAVA_TARGET=$target" "HOLDFAST_JAVA_MASTER=$master_product" "HOLDFAST_JAVA_SLAVE=$slave_product"; do
  case "${choice#*=}" in
    holdfast|rocketmq) ;;
    *) echo "${choice%%=*} must be holdfast or rocketmq, not '${choice#*=}'" >&2; exit 2 ;;
  esac
done
# The name server: RocketMQ's as soon as either broker is RocketMQ's. A migration happens inside a running
# RocketMQ deployment: its name servers stay up and keep answering the clients while its brokers are
# replaced one at a time, so a Holdfast broker, and a Holdfast slave learning its master's address from a
# registration reply, must work with RocketMQ's name server. It also keeps a mixed run about the
# replication link: the RocketMQ broker registers with the name server it was written for, so a failure
# cannot be a gap of Holdfast's name server in disguise (java_replication covers that one).
if [ "$master_product" = rocketmq ] || [ "$slave_product" = rocketmq ]; then
  namesrv_product=rocketmq
else
  namesrv_product=holdfast
fi
# What the scenario logs as its target: one product, or the pair.
if [ "$master_product" = "$slave_product" ]; then
  setup="$master_product"
else
  setup="$master_product-master+$slave_product-slave"
fi
[ $# = 0 ] || { echo "usage: run_replication.sh (no arguments; see the header for the environment)" >&2; exit 2; }

java_env_load "$kScenario"  # sets work, RMQ_CP, RMQ_JAVA_CMD; exits 77 without the peer or javac
mkdir -p "$work/namesrv" "$work/master" "$work/slave" "$work/scenario" || exit 1
# RocketMQ's servers: small heaps (the defaults are 512 MiB and 1 GiB, times three JVMs).
export NAMESRV_JAVA_OPTS="${NAMESRV_JAVA_OPTS:--Xms64m -Xmx128m -XX:+UseSerialGC}"
export BROKER_JAVA_OPTS="${BROKER_JAVA_OPTS:--Xms128m -Xmx256m -XX:MaxDirectMemorySize=256m -XX:+UseSerialGC -XX:-OmitStackTraceInFastThrow}"
export MQADMIN_JAVA_OPTS="${MQADMIN_JAVA_OPTS:--Xms64m -Xmx128m -XX:+UseSerialGC}"

# Holdfast's servers: the pids of our own children. RocketMQ's: the start scripts detach the servers and
# record their pids in <folder>/{namesrv,broker}.pid; bin/stop.sh stops them by those files.
declare -A holdfast_pid=()
rocketmq_started=()
scenario_pid=""
master_killed=0
status=1

# Stops a holdfast server we started: TERM, then KILL after 5 s.
# shellcheck disable=SC2317  # called by cleanup
stop_holdfast() {
  local name="$1" pid="${holdfast_pid[$1]:-}"
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      say "holdfast $name still running 5 s after SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  wait "$pid" 2>/dev/null
  holdfast_pid[$name]=""
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$scenario_pid" ] && kill -0 "$scenario_pid" 2>/dev/null; then
    kill -TERM "$scenario_pid" 2>/dev/null  # timeout(1) passes it on to the JVM
    wait "$scenario_pid" 2>/dev/null
  fi
  local name
  for name in slave master namesrv; do stop_holdfast "$name"; done
  for name in slave master namesrv; do
    case " ${rocketmq_started[*]} " in *" $name "*) ;; *) continue ;; esac
    local what=broker
    [ "$name" = namesrv ] && what=namesrv
    RMQ_DATA="$work/$name" "$peer/bin/stop.sh" "$what" >>"$work/stop.log" 2>&1 \
      || say "stop.sh $what ($name) failed, see $work/stop.log"
  done
  if [ "$status" = 0 ] && [ "${HOLDFAST_JAVA_KEEP:-0}" != 1 ]; then
    rm -rf "$work"
  else
    say "data, server and client logs kept in $work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'say "interrupted"; status=1; exit 1' INT TERM

# ---- compile: once per source change, shared by concurrently running scenarios ------------------------
java_compile || { say "javac failed"; exit 1; }

# ---- free ports: for each broker P-2 .. P+1 (RocketMQ's fast port, the port, the HA port P+1) -----------
ports="$(pick_ports 3)" || { say "no free port"; exit 1; }
{ read -r namesrv_port; read -r master_port; read -r slave_port; } <<<"$ports"
namesrv="127.0.0.1:$namesrv_port"
master_ha_port=$((master_port + 1))
slave_ha_port=$((slave_port + 1))
topic="HfJavaRepl_$(date +%s)_$RANDOM"

# The settings both products' brokers get (RocketMQ's start-broker.sh adds listenPort, namesrvAddr, brokerIP1,
# storePathRootDir and storePathCommitLog itself). Both sides of a mixed group need the same segment size:
# the HA stream carries commit-log offsets, and each side maps them to its own segment files.
common_settings=(brokerClusterName="$kCluster" brokerName="$kBrokerName" flushDiskType=SYNC_FLUSH
                 autoCreateTopicEnable=true mappedFileSizeCommitLog="$kSegmentBytes")
master_settings=(brokerId=0 brokerRole=SYNC_MASTER haListenPort="$master_ha_port")
slave_settings=(brokerId=1 brokerRole=SLAVE haListenPort="$slave_ha_port"
                haMasterAddress="127.0.0.1:$master_ha_port")

# Waits (up to 30 s) until FILE has a line starting with TEXT while PID runs; prints that line.
await_line() {
  local file="$1" text="$2" pid="$3"
  for _ in $(seq 1 300); do
    grep -q "^$text" "$file" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -m1 "^$text" "$file" 2>/dev/null
}

# ---- start the name server and the two brokers -------------------------------------------------------
if [ "$master_product" = holdfast ] || [ "$slave_product" = holdfast ]; then
  bin="${HOLDFAST_BIN:-}"
  [ -x "$bin" ] || { say "HOLDFAST_BIN='$bin' is not an executable"; exit 1; }
fi
if [ "$namesrv_product" = holdfast ]; then
  "$bin" namesrv --host 127.0.0.1 --port "$namesrv_port" >"$work/namesrv/holdfast.log" 2>&1 &
  holdfast_pid[namesrv]=$!
  line="$(await_line "$work/namesrv/holdfast.log" 'Holdfast name server on' "${holdfast_pid[namesrv]}")" || {
    say "holdfast namesrv did not start:"; tail -20 "$work/namesrv/holdfast.log"; exit 1; }
  say "$line"
else
  rocketmq_started+=(namesrv)
  if ! RMQ_DATA="$work/namesrv" NAMESRV_PORT="$namesrv_port" "$peer/bin/start-namesrv.sh" \
       >"$work/namesrv/start.log" 2>&1; then
    say "RocketMQ name server did not start:"; cat "$work/namesrv/start.log"; exit 1
  fi
  say "RocketMQ $(grep -m1 'namesrv started' "$work/namesrv/start.log")"
fi
start_holdfast_broker() {  # NAME PORT SETTINGS...
  local name="$1" port="$2"
  shift 2
  "$bin" broker --host 127.0.0.1 listenPort="$port" namesrvAddr="$namesrv" brokerIP1=127.0.0.1 \
    storePathRootDir="$work/$name/store" "${common_settings[@]}" "$@" >"$work/$name/holdfast.log" 2>&1 &
  holdfast_pid[$name]=$!
  line="$(await_line "$work/$name/holdfast.log" 'Holdfast broker on' "${holdfast_pid[$name]}")" || {
    say "holdfast broker ($name) did not start:"; tail -20 "$work/$name/holdfast.log"; exit 1; }
  say "$name: $line"
}
start_rocketmq_broker() {  # NAME PORT SETTINGS...  (the data folder is <folder>/store, wiped first)
  local name="$1" port="$2"
  shift 2
  rocketmq_started+=("$name")
  if ! RMQ_DATA="$work/$name" NAMESRV_PORT="$namesrv_port" BROKER_PORT="$port" \
       "$peer/bin/start-broker.sh" SYNC_FLUSH fresh "${common_settings[@]}" "$@" >"$work/$name/start.log" 2>&1; then
    say "RocketMQ broker ($name) did not start:"; cat "$work/$name/start.log"; exit 1
  fi
  say "$name: RocketMQ $(grep -m1 'boot success' "$work/$name/start.log")"
}
start_broker() {  # NAME PRODUCT PORT SETTINGS...
  local name="$1" product="$2"
  shift 2
  if [ "$product" = holdfast ]; then start_holdfast_broker "$name" "$@"; else start_rocketmq_broker "$name" "$@"; fi
}
start_broker master "$master_product" "$master_port" "${master_settings[@]}"
start_broker slave "$slave_product" "$slave_port" "${slave_settings[@]}"
say "name server $namesrv ($namesrv_product); $kCluster/$kBrokerName: SYNC_MASTER 127.0.0.1:$master_port" \
    "(HA $master_ha_port, $master_product), SLAVE 127.0.0.1:$slave_port (HA $slave_ha_port, $slave_product);" \
    "SYNC_FLUSH; folders in $work"

# ---- the topic, and a route that names both brokers --------------------------------------------------
# With the admin tool of the name server's product (mqadmin as soon as RocketMQ's name server runs).
create_topic() {
  if [ "$namesrv_product" = holdfast ]; then
    "$bin" admin topic create -n "$namesrv" -c "$kCluster" -t "$topic" -r 4 -w 4
  else
    "$peer/bin/mqadmin.sh" updateTopic -n "$namesrv" -c "$kCluster" -t "$topic" -r 4 -w 4
  fi
}
# Whether the name server's route of the topic has the master and the slave.
route_ready() {
  if [ "$namesrv_product" = holdfast ]; then
    # `topic stats` goes through the topic's route to its master; `cluster list` shows the group's brokers.
    "$bin" admin topic stats -n "$namesrv" -t "$topic" >"$work/route.log" 2>&1 \
      && "$bin" admin cluster list -n "$namesrv" >>"$work/route.log" 2>&1 \
      && grep -q "$kBrokerName .*127.0.0.1:$master_port" "$work/route.log" \
      && grep -q "$kBrokerName .*127.0.0.1:$slave_port" "$work/route.log"
  else
    "$peer/bin/mqadmin.sh" topicRoute -n "$namesrv" -t "$topic" >"$work/route.log" 2>&1 \
      && grep -q "\"127.0.0.1:$master_port\"" "$work/route.log" \
      && grep -q "\"127.0.0.1:$slave_port\"" "$work/route.log"
  fi
}
created=0
for _ in $(seq 1 15); do
  if create_topic >"$work/create_topic.log" 2>&1; then created=1; break; fi
  sleep 1
done
[ "$created" = 1 ] || { say "could not create topic $topic:"; tail -20 "$work/create_topic.log"; exit 1; }
created_at=$SECONDS
say "created topic $topic (4 queues) on the master"
ready=0
for _ in $(seq 1 15); do
  if route_ready; then ready=1; break; fi
  sleep 1
done
[ "$ready" = 1 ] || { say "the route of $topic does not name both brokers after 15 tries:"; cat "$work/route.log"; exit 1; }
say "the route of $topic names the master 127.0.0.1:$master_port and the slave 127.0.0.1:$slave_port"
wait_s=$((created_at + kMetadataCopySeconds - SECONDS))
if [ "$wait_s" -gt 0 ]; then
  say "waiting $wait_s s so the slave copies the master's metadata (the topic) at least once"
  sleep "$wait_s"
fi

# ---- kill -9 the master and delete its data folder ----------------------------------------------------
kill_master() {
  local pid
  if [ "$master_product" = holdfast ]; then
    pid="${holdfast_pid[master]}"
  else
    pid="$(cat "$work/master/broker.pid" 2>/dev/null)"
    # Only the broker the start script recorded, and only while it still runs RocketMQ's broker.
    if [ -z "$pid" ] || ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q BrokerStartup; then
      say "the master is not running (pid '${pid}' from $work/master/broker.pid)"; return 1
    fi
  fi
  kill -KILL "$pid" 2>/dev/null || { say "kill -9 $pid failed: the master had already exited"; return 1; }
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if [ "$master_product" = holdfast ]; then
    wait "$pid" 2>/dev/null
    holdfast_pid[master]=""
  fi
  kill -0 "$pid" 2>/dev/null && { say "the master (pid $pid) survived SIGKILL for 5 s"; return 1; }
  rm -rf "$work/master/store" || return 1
  say "killed the master (pid $pid) with SIGKILL and deleted its data folder $work/master/store"
}

# What the slave logged about copying the master's metadata (topics, groups, offsets) up to the kill, kept in
# slave/metadata_warnings_before_kill.txt and shown: against a master of the other product it is a check of
# the formats (and of the ports) the copy uses. A Holdfast slave warns "copying the master's metadata: ...";
# a RocketMQ slave logs "Sync... Exception" and the exception on the next line. Nothing is decided here:
# a slave without the topic fails the reads.
note_slave_metadata_warnings() {
  local file="$work/slave/metadata_warnings_before_kill.txt"
  if [ "$slave_product" = holdfast ]; then
    grep "copying the master's metadata" "$work/slave/holdfast.log" >"$file" 2>/dev/null
  else
    grep -A1 'Sync[A-Za-z]* *Exception' "$work/slave/logs/rocketmqlogs/broker.log" >"$file" 2>/dev/null
  fi
  if [ -s "$file" ]; then
    say "the slave logged problems copying the master's metadata before the kill (first lines of $file):"
    head -6 "$file" | cut -c1-300 | sed 's/^/[driver]   /'
  else
    say "the slave logged no problem copying the master's metadata before the kill"
  fi
}

# ---- the scenario ---------------------------------------------------------------------------------------
say "running $kScenario against $setup (budget ${budget} s)"
props=()
[ -z "${HOLDFAST_REPLICATION_MESSAGES:-}" ] || props+=("-Dholdfast.replication.messages=$HOLDFAST_REPLICATION_MESSAGES")
# In the background, so this script can act on the HALF signal, and handle TERM or INT at once.
timeout -k 5 "$budget" "${RMQ_JAVA_CMD[@]}" -Xms64m -Xmx256m "${props[@]}" -cp "$RMQ_CP:$classes" \
  "holdfast.javatest.$kScenario" "$namesrv" "$setup" "$topic" "$work/scenario" &
scenario_pid=$!
while kill -0 "$scenario_pid" 2>/dev/null; do
  if [ "$master_killed" = 0 ] && [ -f "$work/scenario/half" ]; then
    master_killed=1
    note_slave_metadata_warnings
    # No `go` when the kill failed: the scenario then reports that the driver did not answer.
    kill_master && touch "$work/scenario/go"
  fi
  sleep 0.1
done
wait "$scenario_pid"
status=$?
scenario_pid=""
[ "$status" = 124 ] && say "$kScenario did not finish within $budget s"
[ "$status" = 0 ] || status=1
exit "$status"
