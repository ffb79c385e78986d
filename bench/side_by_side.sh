#!/usr/bin/env bash
# Holdfast and Apache RocketMQ 4.9.8 side by side, measured the same way every time: one client
# (`holdfast bench produce --json`, 1 KiB bodies, a topic of 8 queues) against `holdfast standalone`
# and against RocketMQ's name server + broker, both SYNC_FLUSH on fresh data directories and free
# ports. For each load shape the runs alternate A B A B. Per run it records msgs/s, p50/p99, and the
# broker's and the client's CPU time and context switches per acknowledged (SEND_OK) message; it
# prints a per-run table and a table of medians per (shape, broker), in markdown.
#   bench/side_by_side.sh [build-dir]          (default: build)
# Environment:
#   DURATION=10        seconds per run            REPEATS=2     runs per (shape, broker)
#   WARMUP=5           seconds of 32 sync senders against each broker before the runs (0 = none)
#   IDLE=3             seconds over which each broker's CPU use without load is measured (0 = none)
#   SHAPES="sync1 sync32 async256 async32x64"     which load shapes, in this order
#   SIZE=1024          body bytes                 TOPIC=BenchTopic
#   HOLDFAST_ONLY=1    run Holdfast only
#   ROCKETMQ_HOME      the RocketMQ 4.9.8 package (default: ../shared/peers/rocketmq-4.9.8 from the repo)
#   RAW=FILE           also keep one line per run: shape, broker, run, broker CPU ticks, broker context
#                      switches, load average, the client's JSON
# Everything it starts is stopped on exit, Ctrl-C included.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
BIN="$BUILD/bin/holdfast"
DURATION=${DURATION:-10}
REPEATS=${REPEATS:-2}
WARMUP=${WARMUP:-5}
IDLE=${IDLE:-3}
SHAPES=${SHAPES:-sync1 sync32 async256 async32x64}
SIZE=${SIZE:-1024}
TOPIC=${TOPIC:-BenchTopic}
HOLDFAST_ONLY=${HOLDFAST_ONLY:-0}
ROCKETMQ_HOME=${ROCKETMQ_HOME:-$REPO/../shared/peers/rocketmq-4.9.8}
CLK_TCK=$(getconf CLK_TCK)
export HOLDFAST_LOG_LEVEL=${HOLDFAST_LOG_LEVEL:-warn}

[ -x "$BIN" ] || { echo "build first: cmake --build $BUILD --target holdfast" >&2; exit 1; }

shape_args() {  # the `bench produce` options of a load shape
  case $1 in
    sync1) echo "-w 1" ;;
    sync32) echo "-w 32" ;;
    async256) echo "-w 1 -a --in-flight 256" ;;
    async32x64) echo "-w 32 -a --in-flight 64" ;;
    *) echo "unknown shape '$1' (sync1 sync32 async256 async32x64)" >&2; return 1 ;;
  esac
}
for shape in $SHAPES; do shape_args "$shape" >/dev/null; done

log() { echo "side_by_side: $*" >&2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/side_by_side_XXXXXX")
HF_PID="" RMQ_STARTED=0 BENCH_PID=""
cleanup() {
  set +e
  if [ -n "$BENCH_PID" ]; then kill -TERM "$BENCH_PID"; wait "$BENCH_PID"; fi
  if [ -n "$HF_PID" ]; then kill -TERM "$HF_PID"; wait "$HF_PID"; fi
  if [ "$RMQ_STARTED" = 1 ]; then rocketmq stop.sh >&2; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A block of 12 consecutive free ports: Holdfast uses base and base+4; RocketMQ's name server
# base+6 and its broker base+10 (which also opens base+8 and base+11).
BASE=$(python3 - <<'EOF'
import random, socket
for _ in range(200):
    base = random.randrange(20000, 32000)
    try:
        socks = []
        for port in range(base, base + 12):
            s = socket.socket(); socks.append(s); s.bind(("127.0.0.1", port))
        print(base); break
    except OSError:
        pass
    finally:
        for s in socks: s.close()
EOF
)
[ -n "$BASE" ] || { log "no free port block"; exit 1; }
HF_NS="127.0.0.1:$BASE"
RMQ_NS="127.0.0.1:$((BASE + 6))"

expect_8_queues() {  # $1 = name server: wait until its route of $TOPIC has 8 queues
  local n=0
  for _ in $(seq 1 50); do
    n=$("$BIN" admin topic stats -n "$1" -t "$TOPIC" 2>/dev/null | grep -c '^[^#]' || true)
    [ "$n" = 8 ] && return 0
    sleep 0.1
  done
  log "$TOPIC has $n queues at $1, not 8"; exit 1
}

start_holdfast() {
  mkdir -p "$WORK/holdfast"
  "$BIN" standalone --data "$WORK/holdfast/data" --namesrv-port "$BASE" --broker-port "$((BASE + 4))" \
      flushDiskType=SYNC_FLUSH >"$WORK/holdfast/out" 2>&1 &
  HF_PID=$!
  for _ in $(seq 1 400); do grep -q '^Holdfast standalone:' "$WORK/holdfast/out" && break; sleep 0.05; done
  grep -q '^Holdfast standalone:' "$WORK/holdfast/out" || { cat "$WORK/holdfast/out" >&2; log "holdfast did not start"; exit 1; }
  "$BIN" admin topic create -n "$HF_NS" -t "$TOPIC" -r 8 -w 8 >/dev/null
  expect_8_queues "$HF_NS"
  log "holdfast standalone pid $HF_PID, name server $HF_NS, 8 queues in $TOPIC"
}

rocketmq() {  # $1 = a script in RocketMQ's bin/, then its arguments; its data and ports are ours
  RMQ_DATA="$WORK/rocketmq" NAMESRV_PORT=$((BASE + 6)) BROKER_PORT=$((BASE + 10)) "$ROCKETMQ_HOME/bin/$1" "${@:2}"
}

start_rocketmq() {
  mkdir -p "$WORK/rocketmq"
  RMQ_STARTED=1
  rocketmq start-namesrv.sh >&2
  rocketmq start-broker.sh SYNC_FLUSH fresh >&2
  RMQ_PID=$(cat "$WORK/rocketmq/broker.pid")
  tr '\0' ' ' <"/proc/$RMQ_PID/cmdline" | grep -q org.apache.rocketmq.broker.BrokerStartup ||
      { log "pid $RMQ_PID in broker.pid is not the broker JVM"; exit 1; }
  # The same admin client as for Holdfast; RocketMQ's own mqadmin if that fails.
  if ! "$BIN" admin topic create -n "$RMQ_NS" -t "$TOPIC" -r 8 -w 8 >/dev/null 2>"$WORK/create.err"; then
    log "holdfast admin topic create failed on RocketMQ ($(head -1 "$WORK/create.err")); using mqadmin updateTopic"
    rocketmq mqadmin.sh updateTopic -n "$RMQ_NS" -c DefaultCluster -t "$TOPIC" -r 8 -w 8 >&2
  fi
  expect_8_queues "$RMQ_NS"
  log "rocketmq broker JVM pid $RMQ_PID, name server $RMQ_NS, 8 queues in $TOPIC"
}

cpu_ticks() {  # utime + stime of process $1 (fields 14 and 15 of /proc/PID/stat), in clock ticks
  local stat fields
  stat=$(</proc/"$1"/stat)
  read -r -a fields <<<"${stat##*) }"  # fields[0] is field 3 (state); the name may hold spaces
  echo $((fields[11] + fields[12]))
}

context_switches() {  # voluntary + nonvoluntary context switches summed over the threads of $1
  cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }'
}

produce() {  # $1 = name server, then `bench produce` options; its JSON summary goes to $WORK/bench.json
  local ns=$1 rc=0
  shift
  # In the background so that a signal reaches the trap (and the trap stops it) at once.
  "$BIN" bench produce --json -n "$ns" -t "$TOPIC" -s "$SIZE" "$@" >"$WORK/bench.json" 2>"$WORK/bench.err" &
  BENCH_PID=$!
  wait "$BENCH_PID" || rc=$?
  BENCH_PID=""
  if [ "$rc" != 0 ]; then log "bench produce failed (rc $rc): $(head -3 "$WORK/bench.err")"; return 1; fi
}

run_once() {  # $1 = shape, $2 = broker name, $3 = run number, $4 = name server, $5 = broker pid
  local ticks0 switches0 ticks1 switches1 load json args
  read -r -a args <<<"$(shape_args "$1")"
  load=$(cut -d' ' -f1 /proc/loadavg)
  ticks0=$(cpu_ticks "$5"); switches0=$(context_switches "$5")
  produce "$4" --duration "$DURATION" "${args[@]}" || return 0  # logged; the run is left out
  ticks1=$(cpu_ticks "$5"); switches1=$(context_switches "$5")
  json=$(<"$WORK/bench.json")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" $((ticks1 - ticks0)) $((switches1 - switches0)) \
      "$load" "$json" >>"$WORK/runs.tsv"
  log "$1 $2 #$3: $(python3 -c 'import json, sys; j = json.loads(sys.argv[1])
print("%.0f msgs/s, p50 %.3f ms, p99 %.3f ms" % (j["tps"], j["p50_rt_ms"], j["p99_rt_ms"]))' "$json")"
}

BROKERS="holdfast"
start_holdfast
if [ "$HOLDFAST_ONLY" = 1 ]; then
  log "HOLDFAST_ONLY=1: running Holdfast only"
elif [ ! -x "$ROCKETMQ_HOME/bin/start-broker.sh" ]; then
  log "no Apache RocketMQ 4.9.8 at $ROCKETMQ_HOME (set ROCKETMQ_HOME): running Holdfast only"
  HOLDFAST_ONLY=1
else
  start_rocketmq
  BROKERS="holdfast rocketmq"
fi
ns_of() { if [ "$1" = holdfast ]; then echo "$HF_NS"; else echo "$RMQ_NS"; fi; }
pid_of() { if [ "$1" = holdfast ]; then echo "$HF_PID"; else echo "$RMQ_PID"; fi; }

if [ "$WARMUP" != 0 ]; then
  for broker in $BROKERS; do
    log "warm-up: $broker, 32 sync senders, $WARMUP s"
    produce "$(ns_of "$broker")" --duration "$WARMUP" -w 32
  done
fi
# What a broker burns with no load at all (timers, GC, heartbeats) is in every per-message figure too.
IDLE_NOTE=""
if [ "$IDLE" != 0 ]; then
  for broker in $BROKERS; do
    ticks0=$(cpu_ticks "$(pid_of "$broker")"); sleep "$IDLE"; ticks1=$(cpu_ticks "$(pid_of "$broker")")
    IDLE_NOTE="$IDLE_NOTE $broker $(awk -v t=$((ticks1 - ticks0)) -v hz="$CLK_TCK" -v s="$IDLE" \
        'BEGIN { printf "%.1f", t * 1000 / hz / s }') ms/s;"
  done
  log "broker CPU without load:$IDLE_NOTE"
fi

: >"$WORK/runs.tsv"
for shape in $SHAPES; do
  for run in $(seq 1 "$REPEATS"); do
    for broker in $BROKERS; do run_once "$shape" "$broker" "$run" "$(ns_of "$broker")" "$(pid_of "$broker")"; done
  done
done
if [ -n "${RAW:-}" ]; then cp "$WORK/runs.tsv" "$RAW"; fi

echo "Side by side, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, kernel $(uname -r): SYNC_FLUSH, ${SIZE}-byte" \
     "bodies, topic of 8 queues, $DURATION s per run, $REPEATS run(s) per (shape, broker)," \
     "$([ "$HOLDFAST_ONLY" = 1 ] && echo "Holdfast only" || echo "Holdfast and Apache RocketMQ 4.9.8 alternating")." \
     "${IDLE_NOTE:+Broker CPU without load (CPU ms per second, over $IDLE s):${IDLE_NOTE%;}.}"
echo
python3 - "$WORK/runs.tsv" "$CLK_TCK" "$SHAPES" <<'EOF'
import json, statistics, sys

rows_path, clk_tck, shape_order = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
names = {"sync1": "1 sync sender", "sync32": "32 sync senders", "async256": "1 thread, 256 async in flight",
         "async32x64": "32 async senders × 64 in flight"}
brokers = {"holdfast": "Holdfast", "rocketmq": "RocketMQ 4.9.8"}

runs = []
for line in open(rows_path):
    shape, broker, run, ticks, switches, load, text = line.rstrip("\n").split("\t", 6)
    j = json.loads(text)
    acked = j["send_ok"]
    per = lambda v: v / acked if acked else float("nan")
    runs.append({"shape": shape, "broker": broker, "run": run, "load": float(load), "acked": acked,
                 "failed": j["failures"] + j["not_send_ok"], "tps": j["tps"], "p50": j["p50_rt_ms"],
                 "p99": j["p99_rt_ms"], "bcpu": per(int(ticks) * 1e6 / clk_tck), "bcs": per(int(switches)),
                 "ccpu": per(j["client_cpu_us"]), "ccs": per(j["client_context_switches"])})

print("| load shape | broker | run | msgs/s | p50 ms | p99 ms | acked | failed | broker CPU µs/msg "
      "| broker cs/msg | client CPU µs/msg | client cs/msg | load 1m |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in runs:
    print(f"| {names[r['shape']]} | {brokers[r['broker']]} | {r['run']} | {r['tps']:,.0f} | {r['p50']:.3f} "
          f"| {r['p99']:.3f} | {r['acked']:,} | {r['failed']} | {r['bcpu']:.1f} | {r['bcs']:.2f} | {r['ccpu']:.1f} "
          f"| {r['ccs']:.2f} | {r['load']:.2f} |")
print()
print("Medians per (load shape, broker):")
print()
print("| load shape | broker | runs | msgs/s | × RocketMQ | p50 ms | p99 ms | broker CPU µs/msg | broker cs/msg "
      "| client CPU µs/msg | client cs/msg |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for shape in shape_order:
    med = {}
    for broker in brokers:
        rs = [r for r in runs if r["shape"] == shape and r["broker"] == broker]
        if rs:
            med[broker] = {k: statistics.median(r[k] for r in rs) for k in
                           ("tps", "p50", "p99", "bcpu", "bcs", "ccpu", "ccs")} | {"n": len(rs)}
    for broker, m in med.items():
        ratio = (f"{m['tps'] / med['rocketmq']['tps']:.2f}×" if broker == "holdfast" and "rocketmq" in med
                 and med["rocketmq"]["tps"] > 0 else "")
        print(f"| {names[shape]} | {brokers[broker]} | {m['n']} | {m['tps']:,.0f} | {ratio} | {m['p50']:.3f} "
              f"| {m['p99']:.3f} | {m['bcpu']:.1f} | {m['bcs']:.2f} | {m['ccpu']:.1f} | {m['ccs']:.2f} |")
EOF
