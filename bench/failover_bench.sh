#!/usr/bin/env bash
# Failover time under load: kill -9 of the master of a three-member controller-mode group
# (etcd from /usr/bin/etcd, SYNC_MASTER + SYNC_FLUSH, lease TTL 2 s) to the first SEND_OK the C++
# producer gets from the new master, over ROUNDS promotions (the killed member is restarted and
# rejoins before the next round). Runs failover_test's kill loop, which also checks that no
# acknowledged message is lost, and prints every round and the median and maximum.
#   bench/failover_bench.sh [build-dir]      (default: build)
# Environment: ROUNDS=20
set -euo pipefail
BUILD=${1:-build}
ROUNDS=${ROUNDS:-20}
TEST="$BUILD/bin/failover_test"
[ -x "$TEST" ] || { echo "build first: cmake --build $BUILD --target failover_test holdfast" >&2; exit 1; }
[ -x /usr/bin/etcd ] || { echo "needs /usr/bin/etcd (Debian package etcd-server)" >&2; exit 1; }
HOLDFAST_KILL_ROUNDS=$ROUNDS HOLDFAST_LOG_LEVEL=warn "$TEST" --gtest_filter='*KillNineOfTheMasterAgainAndAgain*' 2>/dev/null |
  grep -E '^  (round|FAILOVER|acknowledged|sends|[0-9]+ epochs)|OK \]|FAILED'
