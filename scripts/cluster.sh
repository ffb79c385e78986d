#!/usr/bin/env bash
# A replicated broker group on this machine, for trying replication: a name server, a master and
# a slave of one broker group, on free ports of 127.0.0.1, with separate data folders.
#   scripts/cluster.sh [--bin PATH] [--data DIR] [--master-role SYNC_MASTER|ASYNC_MASTER]
#                      [--master-flush SYNC_FLUSH|ASYNC_FLUSH] [--slave-flush SYNC_FLUSH|ASYNC_FLUSH]
# Defaults: build/bin/holdfast, a new temp folder (kept, printed), SYNC_MASTER, SYNC_FLUSH on both.
# Prints the name server address and commands to try; Ctrl-C stops all three processes.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$here/build/bin/holdfast"
data=""
master_role=SYNC_MASTER master_flush=SYNC_FLUSH slave_flush=SYNC_FLUSH
usage() { sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --bin) bin=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --master-role) master_role=$2; shift 2 ;;
    --master-flush) master_flush=$2; shift 2 ;;
    --slave-flush) slave_flush=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "cluster.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[ -x "$bin" ] || { echo "cluster.sh: no holdfast binary at $bin (run make build, or pass --bin)" >&2; exit 1; }
[ -n "$data" ] || data=$(mktemp -d "${TMPDIR:-/tmp}/holdfast-cluster-XXXXXX")
mkdir -p "$data"
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
pids=()
cleanup() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "cluster.sh: stopped; data and logs kept in $data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
start() {  # log ready args...
  local logf=$1 ready=$2; shift 2
  "$bin" "$@" >"$logf" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 300); do grep -q "$ready" "$logf" && return 0; sleep 0.1; done
  echo "cluster.sh: '$*' did not start:" >&2; tail -20 "$logf" >&2; exit 1
}
ns_port=$(free_port)
ns="127.0.0.1:$ns_port"
start "$data/namesrv.log" "Holdfast name server on" namesrv --host 127.0.0.1 --port "$ns_port"
common=(--host 127.0.0.1 brokerClusterName=TryCluster brokerName=try-group namesrvAddr="$ns" brokerIP1=127.0.0.1
        autoCreateTopicEnable=true)
start "$data/master.log" "Holdfast broker on" broker "${common[@]}" brokerId=0 brokerRole="$master_role" \
  flushDiskType="$master_flush" listenPort="$(free_port)" haListenPort="$(free_port)" storePathRootDir="$data/master"
start "$data/slave.log" "Holdfast broker on" broker "${common[@]}" brokerId=1 brokerRole=SLAVE \
  flushDiskType="$slave_flush" listenPort="$(free_port)" haListenPort="$(free_port)" storePathRootDir="$data/slave"
cat <<MSG
Holdfast cluster: name server $ns, $master_role ($master_flush) + SLAVE ($slave_flush), data and logs in $data
Try it:
  $bin admin ha status -n $ns
  $bin admin send -n $ns -t TryIt -p hello
  $bin bench produce -n $ns -w 32 --duration 10
Ctrl-C stops it.
MSG
wait -n "${pids[@]}" || true
echo "cluster.sh: a process exited; see the logs in $data" >&2
