#!/usr/bin/env bash
# bench/xenops: the engine's two figures (release build).
#   bench/xenops/run.sh [DURATION_SECONDS] [VMS]
# 1. Updates.get with 100,000 entries and 10 changes since the token, against a table of only
#    those 10 (target: ratio ≤ 2) and against xenopsd's scan-and-sort on the same data.
# 2. Signal throughput: VMS (default 1000) running simulated VMs whose guest agents write as fast
#    as they can, for DURATION_SECONDS (default 20; BENCHMARKS.md records a 600 s run): watch
#    events and Updates signals per second, and the Updates table's memory over the run.
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
DURATION=${1:-20}
VMS=${2:-1000}
SAMPLE=$(( DURATION >= 120 ? 60 : 5 ))

build_release xenops-bench
echo "# bench/xenops ($(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ))"
echo
"$BIN/xenops-bench" updates
echo
"$BIN/xenops-bench" signals --vms "$VMS" --duration "$DURATION" --sample "$SAMPLE"
