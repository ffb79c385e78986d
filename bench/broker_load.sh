#!/usr/bin/env bash
# Loopback load against a real `holdfast standalone`: 32 in-flight SEND_MESSAGE_V2 of 1 KiB,
# once under SYNC_FLUSH and once under ASYNC_FLUSH, each on a fresh data directory.
#   bench/broker_load.sh [build-dir] [seconds] [inflight] [size]
set -euo pipefail
BUILD=${1:-build}
SECONDS_RUN=${2:-10}
INFLIGHT=${3:-32}
SIZE=${4:-1024}
BIN="$BUILD/bin/holdfast"
LOAD="$BUILD/bin/send_load"
[ -x "$BIN" ] && [ -x "$LOAD" ] || { echo "build first: make build" >&2; exit 1; }

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

run_one() {
  local flush=$1 dir ns bp pid out
  dir=$(mktemp -d /tmp/hf_broker_load_XXXXXX)
  ns=$(free_port); bp=$(free_port)
  out=$(mktemp)
  HOLDFAST_LOG_LEVEL=warn "$BIN" standalone --data "$dir" --namesrv-port "$ns" --broker-port "$bp" \
      "flushDiskType=$flush" >"$out" &
  pid=$!
  for _ in $(seq 1 200); do grep -q '^Holdfast standalone:' "$out" && break; sleep 0.05; done
  grep -q '^Holdfast standalone:' "$out" || { echo "broker did not start" >&2; cat "$out" >&2; kill -9 $pid; exit 1; }
  printf '%-11s ' "$flush"
  "$LOAD" --addr "127.0.0.1:$bp" --topic BrokerLoad --inflight "$INFLIGHT" --size "$SIZE" --seconds "$SECONDS_RUN" ${JSON:+--json}
  kill -TERM $pid; wait $pid || true
  rm -rf "$dir" "$out"
}

run_one SYNC_FLUSH
run_one ASYNC_FLUSH
