#!/usr/bin/env bash
# bench/compare — the current server against a baseline binary in the same run, alternating, so
# that the figures of two commits share the machine (single runs on this 2-core VM drift by
# ±30 % and more between hours; on 2026-12-07 the bare NIO ceiling ran at 40 % of the day before).
#
#   BASELINE=/path/to/old/xapi-server bench/compare/run.sh [rounds]
#
# Per round and binary: event latency (one change → one waiting client, 1,000 changes) and
# event.from cost (a token one change old, 1,000 calls) (COMPARE_EVENTS=0 skips them), then
# bench/rpc's XML-RPC and JSON-RPC rows (COMPARE_RPC=0 skips them), then bench/e2e's boot
# storm, guest-agent write → event, and VM.start with 100 signals per running VM pending
# (COMPARE_E2E=0 skips them; VMS sets the VM count, 1,000 as in bench/e2e). Which binary goes
# first alternates by round. Prints each figure and the ratio current / baseline of the medians.
# bench/run skips it unless BASELINE is set. Build a baseline from a worktree, e.g.
#   git worktree add /tmp/xapi-baseline <commit> && (cd /tmp/xapi-baseline &&
#   swift build -c release --product xapi-server)
source "$(dirname "$0")/../lib/common.sh"
if [ -z "${BASELINE:-}" ]; then
    echo "bench/compare: skipped (set BASELINE to a baseline xapi-server binary)"
    exit 0
fi
ROUNDS=${1:-2}
build_release xapi-server xapi-load
CURRENT=$BIN/xapi-server
LOAD=$BIN/xapi-load
OUT=/tmp/xapi-bench-compare
: >"$OUT"

events() {  # both servers up at once; event latency on each, then event.from cost alternating
    local cur base cur_pid
    cur=$(free_port)
    start_server "$cur" --demo-vms 100 --event-from-min-interval-ms 0
    cur_pid=$SERVER_PID
    base=$(free_port)
    BIN_SAVED=$BIN; BIN=$(dirname "$BASELINE")
    start_server "$base" --demo-vms 100 --event-from-min-interval-ms 0
    BIN=$BIN_SAVED
    # Which goes first alternates by round: the one measured first shares the machine with the
    # other server's start-up.
    local order=("current $cur" "baseline $base")
    ((round % 2 == 0)) && order=("baseline $base" "current $cur")
    for entry in "${order[@]}"; do
        set -- $entry
        "$LOAD" latency --port "$2" --password bench --changes 1000 | sed "s/^/$1 /" | tee -a "$OUT"
    done
    # Calls alternate between the two servers; the tool prints the baseline/current ratio.
    "$LOAD" from-cost --port "$cur" --compare-port "$base" --password bench --calls 1000 |
        sed -E "s/^from-cost calls=[0-9]+ port=[0-9]+ (p50_us=[0-9.]+) .*compare-port=[0-9]+ (p50_us=[0-9.]+).*/current from-cost \1\nbaseline from-cost \2/" |
        tee -a "$OUT"
    stop_server "$SERVER_PID"
    stop_server "$cur_pid"
}

rpc() {  # rpc LABEL BINARY
    local label=$1 binary=$2
    BENCH_SKIP_BUILD=1 BENCH_XAPI_SERVER=$binary BENCH_DURATION=8 bash "$ROOT/bench/rpc/run.sh" 2>/dev/null |
        grep -E "^\| (XML-RPC VM|JSON-RPC 2.0|ceiling)" | sed "s/^/$label /" | tee -a "$OUT"
}

e2e() {  # e2e LABEL BINARY : one server at a time, as bench/e2e runs them
    local label=$1 port saved=$BIN
    port=$(free_port)
    BIN=$(dirname "$2")
    start_server "$port" --demo-vms "$((VMS + 1))" --simulation instant --guest-agent-period 0 \
        --xenstore-socket "/tmp/xapi-bench-$port.xs" --max-connections 2000 --event-from-min-interval-ms 0
    BIN=$saved
    "$LOAD" boot-storm --port "$port" --password bench --vms "$VMS" --callers 16 | sed "s/^/$label /" | tee -a "$OUT"
    "$LOAD" guest-events --port "$port" --password bench --xenstore-socket "/tmp/xapi-bench-$port.xs" \
        --writes 1000 --parked 200 | sed "s/^/$label /" | tee -a "$OUT"
    sleep 2  # let the boot storm's last signals settle, as bench/e2e does
    "$LOAD" backlog-start --pid "$SERVER_PID" --port "$port" --password bench --xenstore-socket "/tmp/xapi-bench-$port.xs" \
        --writes "$((VMS * 100))" --repeats 15 --label "$label" | grep "^backlog-start" | sed "s/^/$label /" | tee -a "$OUT"
    stop_server "$SERVER_PID"
}

VMS=${VMS:-1000}
for round in $(seq "$ROUNDS"); do
    echo "## round $round"
    [ "${COMPARE_EVENTS:-1}" = 1 ] && events
    if [ "${COMPARE_RPC:-1}" = 1 ]; then
        if ((round % 2)); then rpc current "$CURRENT"; rpc baseline "$BASELINE"
        else rpc baseline "$BASELINE"; rpc current "$CURRENT"; fi
    fi
    if [ "${COMPARE_E2E:-1}" = 1 ]; then
        if ((round % 2)); then e2e current "$CURRENT"; e2e baseline "$BASELINE"
        else e2e baseline "$BASELINE"; e2e current "$CURRENT"; fi
    fi
done

python3 - "$OUT" <<'PY'
import re, statistics, sys
rows = open(sys.argv[1]).read().splitlines()
def figures(label, pattern):
    out = []
    for row in rows:
        if row.startswith(label + " "):
            m = re.search(pattern, row)
            if m: out.append(float(m.group(1)))
    return out
measures = [
    ("event latency p50 ms", r"latency .*?p50_ms=([\d.]+)"),
    ("event latency p99 ms", r"latency .*?p99_ms=([\d.]+)"),
    ("event.from cost p50 µs", r"from-cost .*?p50_us=([\d.]+)"),
    ("XML-RPC get_record req/s", r"XML-RPC VM.get_record[^|]*\|\s*(\d+)"),
    ("JSON-RPC get_record req/s", r"JSON-RPC 2.0 VM.get_record[^|]*\|\s*(\d+)"),
    ("HTTP ceiling req/s", r"ceiling: bare SwiftNIO[^|]*\|\s*(\d+)"),
    ("boot storm s", r"boot-storm .*?total_s=([\d.]+)"),
    ("boot storm per-VM p50 ms", r"boot-storm .*?p50_ms=([\d.]+)"),
    ("guest write → event p50 ms", r"guest-events .*?p50_ms=([\d.]+)"),
    ("guest write → event p99 ms", r"guest-events .*?p99_ms=([\d.]+)"),
    ("VM.start, signals pending, p50 ms", r"backlog-start .*?backlog_p50_ms=([\d.]+)"),
    ("VM.start pending / quiet", r"backlog-start .*? ratio=([\d.]+)"),
]
print("\n## bench/compare: current / baseline (medians over rounds)\n")
print("| measure | current | baseline | current / baseline |")
print("| --- | ---: | ---: | ---: |")
for name, pattern in measures:
    c, b = figures("current", pattern), figures("baseline", pattern)
    if not c or not b: continue
    mc, mb = statistics.median(c), statistics.median(b)
    print(f"| {name} | {mc:.3f} | {mb:.3f} | {mc / mb:.2f} |")
PY
