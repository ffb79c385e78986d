#!/usr/bin/env bash
# Java-client failover check (ctest java_failover): the stock Apache RocketMQ 4.9.8 producer keeps sending
# to a Holdfast broker group in controller mode while its master is killed with SIGKILL; etcd elects another
# member, the producer gets SEND_OK again through nothing but its own route refresh, and a new consumer group
# reads back every acknowledged message.
#
# Starts, on free 127.0.0.1 ports, under one temporary folder: etcd (/usr/bin/etcd), a Holdfast name server,
# and three Holdfast brokers of group hf-fo-broker (enableControllerMode, SYNC_MASTER, SYNC_FLUSH, lease TTL
# 2 s). Creates the topic on every member, waits until a master acknowledges with all three members in its
# in-sync set, then runs FailoverScenario. When the scenario creates `half`, the master is killed (SIGKILL)
# and `killed` is created. Every process this script started is stopped before it exits.
#
# Env: HOLDFAST_BIN, HOLDFAST_ROCKETMQ_HOME (see run_scenario.sh), HOLDFAST_JAVA_CLASSES, HOLDFAST_JAVA_BUDGET
#      (default 170), HOLDFAST_JAVA_KEEP=1 keeps the temporary folder.
# Exit: 0 passed, 1 failed, 77 skipped (no RocketMQ peer, or no /usr/bin/etcd).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly here
# shellcheck source=SCRIPTDIR/java_env.sh
source "$here/java_env.sh"
readonly kScenario=FailoverScenario
readonly kCluster=HfFoCluster
readonly kBrokerName=hf-fo-broker
peer="$(java_peer)"
budget="${HOLDFAST_JAVA_BUDGET:-170}"
bin="${HOLDFAST_BIN:?HOLDFAST_BIN must name the holdfast binary}"
[ -x /usr/bin/etcd ] || { echo "SKIPPED: /usr/bin/etcd is missing (Debian package etcd-server)"; exit "$kSkip"; }

java_env_load "$kScenario"
mkdir -p "$work/scenario" || exit 1
pids=()
scenario_pid=""
status=1
cleanup() {
  trap - EXIT INT TERM
  [ -n "$scenario_pid" ] && kill -TERM "$scenario_pid" 2>/dev/null && wait "$scenario_pid" 2>/dev/null
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  if [ "$status" = 0 ] && [ "${HOLDFAST_JAVA_KEEP:-0}" != 1 ]; then rm -rf "$work"; else say "kept $work"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

java_compile || { say "javac failed"; exit 1; }
mapfile -t ports < <(pick_ports 9) || { say "no free ports"; exit 1; }
etcd_client=${ports[0]} etcd_peer=${ports[1]} ns_port=${ports[2]}
/usr/bin/etcd --name fo --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$etcd_client" \
  --advertise-client-urls "http://127.0.0.1:$etcd_client" --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
  --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" --initial-cluster "fo=http://127.0.0.1:$etcd_peer" \
  --heartbeat-interval 50 --election-timeout 500 >"$work/etcd.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 150); do port_open "$etcd_client" && break; sleep 0.1; done
"$bin" namesrv --host 127.0.0.1 --port "$ns_port" >"$work/namesrv.log" 2>&1 &
pids+=("$!")
namesrv="127.0.0.1:$ns_port"
declare -A member_pid=()
for i in 1 2 3; do
  port=${ports[$((2 * i + 1))]} ha=${ports[$((2 * i + 2))]}
  "$bin" broker --host 127.0.0.1 brokerClusterName="$kCluster" brokerName="$kBrokerName" brokerId="$i" \
    listenPort="$port" haListenPort="$ha" fastListenPortEnable=false namesrvAddr="$namesrv" brokerIP1=127.0.0.1 \
    storePathRootDir="$work/member$i" mappedFileSizeCommitLog=67108864 enableControllerMode=true \
    etcdEndpoints="127.0.0.1:$etcd_client" brokerRole=SYNC_MASTER flushDiskType=SYNC_FLUSH \
    controllerHeartBeatTimeoutMills=2000 brokerHeartbeatInterval=400 syncControllerMetadataPeriod=100 \
    >"$work/member$i.log" 2>&1 &
  member_pid[$i]=$!
  pids+=("$!")
  member_port[$i]=$port
done
# The elected master acknowledges with all three members in sync.
master=""
for _ in $(seq 1 300); do
  master=$("$bin" admin ha status -n "$namesrv" --json 2>/dev/null | python3 -c 'import json,sys
for line in sys.stdin:
    d = json.loads(line); c = (d.get("status") or {}).get("controller") or {}
    if c.get("mayAcknowledge") and len(((c.get("etcd") or {}).get("syncset") or {}).get("members", [])) == 3:
        print(c["memberId"])')
  [ -n "$master" ] && break
  sleep 0.2
done
[ -n "$master" ] || { say "no master with a full in-sync set within 60 s"; exit 1; }
say "member $master is master"
topic="HfFoJava_$RANDOM"
for i in 1 2 3; do
  for _ in $(seq 1 50); do
    "$bin" admin topic create -n "$namesrv" -b "127.0.0.1:${member_port[$i]}" -t "$topic" -r 4 -w 4 >/dev/null 2>&1 && break
    sleep 0.2
  done
done

say "running $kScenario (budget ${budget} s)"
timeout -k 5 "$budget" "${RMQ_JAVA_CMD[@]}" -Xms64m -Xmx256m -cp "$RMQ_CP:$classes" \
  "holdfast.javatest.$kScenario" "$namesrv" "$topic" "$work/scenario" &
scenario_pid=$!
killed=0
while kill -0 "$scenario_pid" 2>/dev/null; do
  if [ "$killed" = 0 ] && [ -f "$work/scenario/half" ]; then
    killed=1
    kill -KILL "${member_pid[$master]}" && touch "$work/scenario/killed"
    say "killed member $master (the master) with SIGKILL"
  fi
  sleep 0.1
done
wait "$scenario_pid"
status=$?
scenario_pid=""
[ "$status" = 0 ] || status=1
exit "$status"
