#!/usr/bin/env bash
# `holdfast bench` against a fresh `holdfast standalone` (fresh data directory, free ports):
#  1. produce: 32 sync senders, 1 KiB, SYNC_FLUSH then ASYNC_FLUSH (and their ratio);
#  2. produce: 1 sync sender, SYNC_FLUSH (latency);
#  3. produce (32 sync senders) and consume together, SYNC_FLUSH: born-to-consumed latency.
#   bench/client_bench.sh [build-dir] [seconds]
set -euo pipefail
BUILD=${1:-build}
DUR=${2:-20}
BIN="$BUILD/bin/holdfast"
[ -x "$BIN" ] || { echo "build first: make build" >&2; exit 1; }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

start_broker() {  # $1 = flushDiskType
  DIR=$(mktemp -d /tmp/hf_client_bench_XXXXXX); NS=$(free_port); BP=$(free_port); OUT=$(mktemp)
  HOLDFAST_LOG_LEVEL=warn "$BIN" standalone --data "$DIR" --namesrv-port "$NS" --broker-port "$BP" \
      "flushDiskType=$1" >"$OUT" &
  PID=$!
  for _ in $(seq 1 400); do grep -q '^Holdfast standalone:' "$OUT" && break; sleep 0.05; done
  grep -q '^Holdfast standalone:' "$OUT" || { echo "broker did not start" >&2; exit 1; }
  "$BIN" admin topic create -n "127.0.0.1:$NS" -t BenchTopic -r 8 -w 8 >/dev/null
}
stop_broker() { kill -TERM "$PID"; wait "$PID" || true; rm -rf "$DIR" "$OUT"; }

echo "== produce, 32 sync senders, 1 KiB, SYNC_FLUSH"
start_broker SYNC_FLUSH
"$BIN" bench produce -n "127.0.0.1:$NS" -t BenchTopic -w 32 -s 1024 --duration "$DUR" --interval 10
echo "== produce, 1 sync sender, 1 KiB, SYNC_FLUSH"
"$BIN" bench produce -n "127.0.0.1:$NS" -t BenchTopic -w 1 -s 1024 --duration "$DUR" --interval 10
echo "== produce (32 sync senders) and consume together, SYNC_FLUSH"
"$BIN" bench consume -n "127.0.0.1:$NS" -t BenchTopic -g bench_consumer --from last --duration "$((DUR + 2))" --interval 10 &
CPID=$!
sleep 1
"$BIN" bench produce -n "127.0.0.1:$NS" -t BenchTopic -w 32 -s 1024 --duration "$DUR" --interval 10
wait "$CPID" || true
stop_broker

echo "== produce, 32 sync senders, 1 KiB, ASYNC_FLUSH"
start_broker ASYNC_FLUSH
"$BIN" bench produce -n "127.0.0.1:$NS" -t BenchTopic -w 32 -s 1024 --duration "$DUR" --interval 10
stop_broker
