#!/usr/bin/env bash
# Replication cost and lag, measured on this machine (client, master and slave share its cores).
# Setups, run alternately (A B C A B C ...) on fresh data folders and free ports:
#   single      one broker, ASYNC_MASTER + ASYNC_FLUSH (no copy, nothing fsynced per message)
#   sync        SYNC_MASTER + SYNC_FLUSH master, SYNC_FLUSH slave (the zero-loss chain)
#   async       ASYNC_MASTER + SYNC_FLUSH master, SYNC_FLUSH slave (ack before the slave has it)
#   sync_am     SYNC_MASTER + ASYNC_FLUSH master, SYNC_FLUSH slave (the slave's fsync alone makes an
#               acknowledged message durable: it survives the master's power loss)
#   sync_as     SYNC_MASTER + SYNC_FLUSH master, ASYNC_FLUSH slave (RocketMQ's usual pairing)
#   sync_ctrl   as sync, in controller mode: etcd (/usr/bin/etcd, its own free ports) elects one of
#               two members (SYNC_FLUSH, SYNC_MASTER, minInSyncReplicas 2); the cost of automatic
#               failover (lease checks, in-sync-set quorum) on the same chain
# Each run: `holdfast bench produce --json` with THREADS sync senders of SIZE-byte bodies for
# DURATION seconds, while `holdfast admin ha status --json` is sampled every second (a process per
# sample: its CPU is charged to the replicated setups) for the
# slave's lag behind the master (bytes; and, for async, the time the slave is behind = lag bytes /
# bytes per second). At the end of each async run the master is killed with kill -9: the bytes it
# acknowledged that the slave did not hold at that instant are the loss window of ASYNC_MASTER if
# the master's disk were gone too.
#   bench/replication_bench.sh [build-dir]     (default: build)
# Environment: DURATION=10 REPEATS=2 THREADS=32 SIZE=1024 SETUPS="single sync async"
# Prints one markdown row per run and the medians per setup.
set -euo pipefail

BUILD=${1:-build}
BIN="$BUILD/bin/holdfast"
DURATION=${DURATION:-10}
REPEATS=${REPEATS:-2}
THREADS=${THREADS:-32}
SIZE=${SIZE:-1024}
SETUPS=${SETUPS:-single sync async}
export HOLDFAST_LOG_LEVEL=${HOLDFAST_LOG_LEVEL:-warn}
[ -x "$BIN" ] || { echo "build first: cmake --build $BUILD --target holdfast" >&2; exit 1; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/holdfast

WORK=$(mktemp -d "${TMPDIR:-/tmp}/replication_bench_XXXXXX")
PIDS=()
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "replication_bench: $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_line() {  # file, text: waits up to 20 s for the line
  for _ in $(seq 1 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "no '$2' in $1:" >&2; tail -5 "$1" >&2; return 1
}
start() {  # log-file ready-text args... ; appends the pid to PIDS, prints it
  local logf=$1 ready=$2; shift 2
  "$BIN" "$@" >"$logf" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_line "$logf" "$ready"
  echo "$pid"
}
stop_all() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

confirmed_offset() {  # name-server broker-id: that broker's confirmed commit-log offset
  "$BIN" admin ha status -n "$1" --json 2>/dev/null | python3 -c 'import json,sys
for line in sys.stdin:
    d=json.loads(line)
    if d.get("brokerId")=='"$2"': print(d["status"]["confirmedOffset"])'
}

# One run of a setup; prints: setup tps p50 p99 max_lag_bytes avg_lag_bytes window_bytes
run_one() {
  local setup=$1 run=$2 dir="$WORK/$1-$2"
  mkdir -p "$dir"
  local ns_port master_port slave_port
  ns_port=$(free_port); master_port=$(free_port); slave_port=$(free_port)
  local ns="127.0.0.1:$ns_port"
  local common=(--host 127.0.0.1 brokerName=bench brokerClusterName=BenchCluster namesrvAddr="$ns" brokerIP1=127.0.0.1
                autoCreateTopicEnable=true mappedFileSizeCommitLog=268435456)
  start "$dir/ns.log" "Holdfast name server on" namesrv --host 127.0.0.1 --port "$ns_port" >/dev/null
  local master_role=ASYNC_MASTER master_flush=SYNC_FLUSH slave_flush=SYNC_FLUSH
  case $setup in
    single) master_flush=ASYNC_FLUSH ;;
    sync) master_role=SYNC_MASTER ;;
    async) ;;
    sync_am) master_role=SYNC_MASTER master_flush=ASYNC_FLUSH ;;
    sync_as) master_role=SYNC_MASTER slave_flush=ASYNC_FLUSH ;;
    sync_ctrl) master_role=SYNC_MASTER ;;
    *) log "unknown setup $setup"; return 1 ;;
  esac
  local master_pid
  if [ "$setup" = sync_ctrl ]; then
    local etcd_client etcd_peer
    etcd_client=$(free_port); etcd_peer=$(free_port)
    /usr/bin/etcd --name b --data-dir "$dir/etcd" --listen-client-urls "http://127.0.0.1:$etcd_client" \
      --advertise-client-urls "http://127.0.0.1:$etcd_client" --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
      --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" --initial-cluster "b=http://127.0.0.1:$etcd_peer" \
      >"$dir/etcd.log" 2>&1 &
    PIDS+=("$!")
    for _ in $(seq 1 100); do
      curl -s -X POST "http://127.0.0.1:$etcd_client/v3/kv/range" -d '{"key":"AA=="}' >/dev/null 2>&1 && break
      sleep 0.1
    done
    local ctrl=(enableControllerMode=true etcdEndpoints="127.0.0.1:$etcd_client" brokerRole=SYNC_MASTER
                flushDiskType=SYNC_FLUSH)
    master_pid=$(start "$dir/m1.log" "Holdfast broker on" broker "${common[@]}" listenPort="$master_port" \
      haListenPort="$(free_port)" brokerId=1 storePathRootDir="$dir/m1" "${ctrl[@]}")
    start "$dir/m2.log" "Holdfast broker on" broker "${common[@]}" listenPort="$slave_port" \
      haListenPort="$(free_port)" brokerId=2 storePathRootDir="$dir/m2" "${ctrl[@]}" >/dev/null
    # Ready once the elected master acknowledges with both members in its in-sync set.
    for _ in $(seq 1 150); do
      "$BIN" admin ha status -n "$ns" --json 2>/dev/null | python3 -c 'import json,sys
ok = False
for line in sys.stdin:
    c = (json.loads(line).get("status") or {}).get("controller") or {}
    ok = ok or (c.get("mayAcknowledge") and len(((c.get("etcd") or {}).get("syncset") or {}).get("members", [])) == 2)
sys.exit(0 if ok else 1)' && break
      sleep 0.2
    done
  else
    master_pid=$(start "$dir/master.log" "Holdfast broker on" broker "${common[@]}" listenPort="$master_port" \
      haListenPort="$(free_port)" brokerRole="$master_role" flushDiskType="$master_flush" storePathRootDir="$dir/master")
  fi
  if [ "$setup" != single ] && [ "$setup" != sync_ctrl ]; then
    start "$dir/slave.log" "Holdfast broker on" broker "${common[@]}" listenPort="$slave_port" \
      haListenPort="$(free_port)" brokerRole=SLAVE brokerId=1 flushDiskType="$slave_flush" storePathRootDir="$dir/slave" >/dev/null
    # The slave is attached once it reports the master's offset.
    for _ in $(seq 1 100); do
      "$BIN" admin ha status -n "$ns" --json 2>/dev/null | grep -q '"ackOffset"' && break
      sleep 0.2
    done
  fi
  "$BIN" admin topic create -n "$ns" -t BenchRep -c BenchCluster -r 8 -w 8 >/dev/null 2>&1 || true
  # Warm-up (route, connections), then the measured run.
  "$BIN" bench produce -n "$ns" -t BenchRep -w 4 -s "$SIZE" --duration 1 --json >/dev/null 2>&1 || true
  local lag_file="$dir/lag"
  : >"$lag_file"
  if [ "$setup" != single ]; then
    (
      while :; do
        "$BIN" admin ha status -n "$ns" --json 2>/dev/null |
          python3 -c 'import json,sys
for line in sys.stdin:
    d=json.loads(line).get("status") or {}
    for s in d.get("slaves",[]): print(s["lagBytes"])' >>"$lag_file" || true
        sleep 1
      done
    ) &
    local sampler=$!
  fi
  local out
  out=$("$BIN" bench produce -n "$ns" -t BenchRep -w "$THREADS" -s "$SIZE" --duration "$DURATION" --json)
  local window=0
  if [ "$setup" != single ]; then
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
  fi
  if [ "$setup" = async ]; then
    # Under load again, kill -9 the master and compare what it confirmed with what the slave holds.
    "$BIN" bench produce -n "$ns" -t BenchRep -w "$THREADS" -s "$SIZE" --duration 4 --json >/dev/null 2>&1 &
    local load=$!
    sleep 2
    local before
    before=$(confirmed_offset "$ns" 0)
    kill -9 "$master_pid"
    sleep 0.5
    local slave_end
    slave_end=$(confirmed_offset "$ns" 1)
    wait "$load" 2>/dev/null || true
    # The master confirmed at least `before` bytes; whatever of them the slave lacks is the window.
    window=$(( before > slave_end ? before - slave_end : 0 ))
  fi
  stop_all
  python3 - "$setup" "$out" "$lag_file" "$window" <<'EOF'
import json, sys
setup, out, lag_file, window = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4])
lags = [int(x) for x in open(lag_file).read().split()]
print(setup, round(out["tps"]), out["p50_rt_ms"], out["p99_rt_ms"], max(lags) if lags else 0,
      round(sum(lags) / len(lags)) if lags else 0, window, out["not_send_ok"], out["failures"])
EOF
}

echo "| setup | run | msgs/s | p50 ms | p99 ms | slave lag max / avg (bytes) | ASYNC kill -9 window (bytes) | not SEND_OK | failures |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
RESULTS="$WORK/results"
: >"$RESULTS"
for run in $(seq 1 "$REPEATS"); do
  for setup in $SETUPS; do
    log "run $run: $setup"
    line=$(run_one "$setup" "$run")
    echo "$line" >>"$RESULTS"
    read -r s tps p50 p99 lmax lavg window notok fail <<<"$line"
    echo "| $s | $run | $tps | $p50 | $p99 | $lmax / $lavg | $window | $notok | $fail |"
  done
done
echo
python3 - "$RESULTS" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows: by.setdefault(r[0], []).append(r)
med = {s: statistics.median(float(r[1]) for r in rs) for s, rs in by.items()}
print("| setup | median msgs/s | median p50 ms | median p99 ms | vs single |")
print("|---|---:|---:|---:|---:|")
for s, rs in by.items():
    ratio = med[s] / med["single"] if "single" in med and med["single"] else float("nan")
    print(f"| {s} | {med[s]:.0f} | {statistics.median(float(r[2]) for r in rs):.3f} | "
          f"{statistics.median(float(r[3]) for r in rs):.3f} | {ratio:.2f} |")
EOF
