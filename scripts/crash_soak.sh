#!/usr/bin/env bash
# Runs the store crash loop with scheduling noise at the sync points for a given time and prints
# the seeds that failed, each with the command that replays it. Used by `make crash-soak`.
#
#   scripts/crash_soak.sh <store_crash_loop_test binary> <seconds> [noise 1..3] [first seed] [processes]
#
# Seeds run in chunks; a chunk stops at its first failing seed, which is recorded, and the next
# chunk starts right after it. Parallel processes take disjoint seed ranges. Logs of failed chunks
# are kept under $CRASH_SOAK_LOG_DIR (default: a new directory under /tmp).
set -u

binary=${1:?usage: crash_soak.sh <store_crash_loop_test> <seconds> [noise] [first_seed] [processes]}
duration=${2:-600}
noise=${3:-2}
first_seed=${4:-$(( $(date +%s) % 1000000 * 1000 + 1 ))}
processes=${5:-1}
chunk=${CRASH_SOAK_CHUNK:-2000}
log_dir=${CRASH_SOAK_LOG_DIR:-$(mktemp -d /tmp/crash-soak.XXXXXX)}
mkdir -p "$log_dir"

if [[ ! -x $binary ]]; then
  echo "crash-soak: $binary is not an executable" >&2
  exit 2
fi

deadline=$(( $(date +%s) + duration ))

# One worker: seeds first, first + processes*chunk, ... (its own chunks), until the deadline.
# Appends "ran <n>" and "failed <seed>" lines to its result file.
worker() {
  local id=$1 results=$2
  local next=$(( first_seed + id * chunk ))
  while (( $(date +%s) < deadline )); do
    local chunk_end=$(( next + chunk ))
    local seed=$next
    while (( seed < chunk_end && $(date +%s) < deadline )); do
      local log="$log_dir/w${id}_seed${seed}.log"
      # The chunk is stopped at the deadline; the seed still running then is not counted (it is
      # printed, so that a hung seed shows).
      local left=$(( deadline - $(date +%s) ))
      (( left < 1 )) && left=1
      HOLDFAST_LOG_LEVEL=warn HOLDFAST_CRASH_NOISE=$noise HOLDFAST_CRASH_FIRST_SEED=$seed \
        HOLDFAST_CRASH_RUNS=$(( chunk_end - seed )) timeout "$left" "$binary" --gtest_brief=1 \
        >"$log" 2>&1
      local rc=$?
      local failed
      failed=$(grep -o 'crash loop seed [0-9]*$' "$log" | tail -n 1 | awk '{print $4}')
      if (( rc == 124 && $(date +%s) >= deadline )); then
        if [[ -n $failed ]]; then
          echo "ran $(( failed - seed ))" >>"$results"
          echo "stopped $failed" >>"$results"
        fi
        rm -f "$log"
        return
      fi
      if (( rc == 0 )); then
        echo "ran $(( chunk_end - seed ))" >>"$results"
        rm -f "$log"
        seed=$chunk_end
      elif [[ -n $failed ]]; then
        # The last seed the binary announced is the one that failed (or aborted).
        echo "ran $(( failed - seed + 1 ))" >>"$results"
        echo "failed $failed" >>"$results"
        mv "$log" "$log_dir/failed_seed${failed}.log"
        seed=$(( failed + 1 ))
      else
        echo "crash-soak: $binary exited with $rc before any seed; see $log" >&2
        echo "broken" >>"$results"
        return
      fi
    done
    next=$(( next + processes * chunk ))
  done
}

echo "crash-soak: $binary, ${duration} s, noise $noise, seeds from $first_seed, $processes process(es), logs in $log_dir"
pids=()
for (( i = 0; i < processes; i++ )); do
  : >"$log_dir/results.$i"
  worker "$i" "$log_dir/results.$i" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done

ran=$(cat "$log_dir"/results.* | awk '$1 == "ran" {n += $2} END {print n + 0}')
failed=$(cat "$log_dir"/results.* | awk '$1 == "failed" {print $2}' | sort -n)
broken=$(cat "$log_dir"/results.* | grep -c '^broken' || true)
stopped=$(cat "$log_dir"/results.* | awk '$1 == "stopped" {print $2}' | sort -n | tr '\n' ' ')
echo "crash-soak: $ran seeds run with HOLDFAST_CRASH_NOISE=$noise (running at the deadline, not counted: ${stopped:-none})"
if [[ -z $failed && $broken == 0 ]]; then
  echo "crash-soak: no seed failed"
  exit 0
fi
for s in $failed; do
  echo "crash-soak: FAILED seed $s (rerun: HOLDFAST_CRASH_SEED=$s HOLDFAST_CRASH_NOISE=$noise $binary; log $log_dir/failed_seed$s.log)"
done
exit 1
