#!/bin/bash
# Benchmark our xenstored against Debian's C xenstored 4.17 with the same client, same run.
#   bench/xenstore/run.sh [ROUNDS]
# Builds release binaries, starts both servers on temp sockets, and runs xenstore-bench in three
# CPU placements, because on a 2-core machine where client and server wake each other for every
# request the placement dominates latency:
#   unpinned   — as the scheduler likes (noisy)
#   one core   — client and both servers pinned to CPU 0 (wake-ups stay on one core)
#   split      — servers on CPU 0, client on CPU 1 (every wake-up crosses cores)
# Env: XENSTORE_BASELINE = the baseline's start script (default ../shared/tools/xenstored-baseline/start).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=${1:-3}
baseline=${XENSTORE_BASELINE:-$root/../shared/tools/xenstored-baseline/start}
[ -x "$baseline" ] || baseline=/work/shared/tools/xenstored-baseline/start

cd "$root"
swift build -c release --product xenstored 2>&1 | tail -1
swift build -c release --product xenstore-bench 2>&1 | tail -1
bin=$(swift build -c release --show-bin-path)

dir=$(mktemp -d /tmp/xenstore-bench.XXXXXX)
mkdir -p "$dir/ours" "$dir/c"
"$bin/xenstored" --socket "$dir/ours/socket" --log-level warning >"$dir/ours/log" 2>&1 &
ours=$!
read -r cpid _ < <("$baseline" "$dir/c")
cleanup() { kill "$ours" "$cpid" 2>/dev/null || true; wait "$ours" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$dir/ours/socket" ] && break; sleep 0.1; done

pin() {  # pin every thread of a process
  for task in /proc/"$1"/task/*; do taskset -pc "$2" "$(basename "$task")" >/dev/null; done
}
args=(--server "ours=$dir/ours/socket" --server "c=$dir/c/socket" --rounds "$rounds"
      --sequential-ops 40000 --pipelined-ops 200000 --watch-samples 5000)

echo "== unpinned"
"$bin/xenstore-bench" "${args[@]}"
echo
echo "== one core (client and servers on CPU 0)"
pin "$ours" 0; pin "$cpid" 0
taskset -c 0 "$bin/xenstore-bench" "${args[@]}"
echo
echo "== split (servers on CPU 0, client on CPU 1)"
taskset -c 1 "$bin/xenstore-bench" "${args[@]}"
rm -rf "$dir"
