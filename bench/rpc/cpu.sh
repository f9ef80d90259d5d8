#!/usr/bin/env bash
# bench/rpc/cpu.sh — server CPU per request (utime+stime from /proc/PID/stat over a wrk run
# ÷ requests) and req/s, in interleaved rounds: ceiling, then each xapi-server binary over
# XML-RPC and JSON-RPC, round after round. On a shared machine req/s swings with other load;
# CPU per request is the steadier figure, and interleaving spreads the swings over every row.
#
#   bench/rpc/cpu.sh [ROUNDS]                           # default 5 rounds
#   BENCH_XAPI_SERVERS="old=/tmp/a new=.build/release/xapi-server" bench/rpc/cpu.sh 5
#
# Environment: BENCH_DURATION (s per run, default 6), BENCH_CONNECTIONS (default 32),
#              BENCH_XAPI_SERVERS (NAME=PATH ..., default "xapi=.build/release/xapi-server").
# Needs release builds of http-ceiling and xapi-server (bench/rpc/run.sh builds them).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/bench/rpc"
ROUNDS=${1:-5}
DURATION=${BENCH_DURATION:-6}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
SERVERS=${BENCH_XAPI_SERVERS:-"xapi=$ROOT/.build/release/xapi-server"}
TICKS=$(getconf CLK_TCK)

WORK_PREFIX=bench-rpc-cpu
source "$HERE/lib.sh"
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run NAME PID PORT PATH BODY TYPE: one measured wrk run; appends "NAME rps cpu_us" to results.
run() {
    local name=$1 pid=$2 port=$3 path=$4 body=$5 type=$6 before after line rps requests
    export BENCH_BODY_FILE=$body BENCH_CONTENT_TYPE=$type BENCH_PATH=$path
    before=$(cpu_ticks "$pid")
    line=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$HERE/post.lua" "http://127.0.0.1:$port" | grep '^BENCH-RESULT')
    after=$(cpu_ticks "$pid")
    read -r _ rps _ _ _ _ requests _ <<<"$line"
    awk -v n="$name" -v r="$rps" -v q="$requests" -v t=$((after - before)) -v hz="$TICKS" \
        'BEGIN { printf "%s %.0f %.1f\n", n, r, t / hz * 1e6 / q }' | tee -a "$WORK/results" >&2
}

python3 "$HERE/client.py" --dummy "$WORK"
CEILING_PORT=$(free_port)
"$ROOT/.build/release/http-ceiling" --host 127.0.0.1 --port "$CEILING_PORT" >"$WORK/http-ceiling.log" 2>&1 &
CEILING_PID=$!
PIDS+=("$CEILING_PID")
wait_for_port "$CEILING_PID" "$CEILING_PORT" http-ceiling
cp "$WORK/xmlrpc.body" "$WORK/ceiling.body"

NAMES=()
for spec in $SERVERS; do
    name=${spec%%=*}
    port=$(free_port)
    "${spec#*=}" --in-memory --host 127.0.0.1 --port "$port" --password pw --demo-vms 10 --log-level error \
        >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    eval "PID_$name=$! PORT_$name=$port"
    wait_for_port "$!" "$port" "$name"
    mkdir -p "$WORK/$name"
    python3 "$HERE/client.py" "$port" pw "$WORK/$name"
    NAMES+=("$name")
done

echo "bench/rpc/cpu: $ROUNDS rounds of wrk -t1 -c$CONNECTIONS -d${DURATION}s; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# Warm-up: one short run of each.
DURATION_SAVED=$DURATION; DURATION=2
run warmup "$CEILING_PID" "$CEILING_PORT" / "$WORK/ceiling.body" text/xml 2>/dev/null
for name in "${NAMES[@]}"; do
    eval "pid=\$PID_$name port=\$PORT_$name"
    run warmup "$pid" "$port" / "$WORK/$name/xmlrpc.body" text/xml 2>/dev/null
    run warmup "$pid" "$port" /jsonrpc "$WORK/$name/jsonrpc.body" application/json 2>/dev/null
done
DURATION=$DURATION_SAVED
: >"$WORK/results"

for round in $(seq "$ROUNDS"); do
    run ceiling "$CEILING_PID" "$CEILING_PORT" / "$WORK/ceiling.body" text/xml
    for name in "${NAMES[@]}"; do
        eval "pid=\$PID_$name port=\$PORT_$name"
        run "$name-xml" "$pid" "$port" / "$WORK/$name/xmlrpc.body" text/xml
        run "$name-json" "$pid" "$port" /jsonrpc "$WORK/$name/jsonrpc.body" application/json
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# Per row: median CPU µs/request [range], median req/s [range], and the median of each round's
# req/s as a share of the same round's ceiling.
python3 - "$WORK/results" <<'PY'
import statistics, sys
rows, order, ceilings, shares = {}, [], [], {}
for line in open(sys.argv[1]):
    name, rps, cpu = line.split()
    if name not in rows: rows[name] = []; order.append(name)
    rows[name].append((float(rps), float(cpu)))
    if name == "ceiling": ceilings.append(float(rps))
    else: shares.setdefault(name, []).append(float(rps) / ceilings[-1])
print("| row | CPU µs/request, median [range] | req/s, median [range] | % of same round's ceiling, median [range] |")
print("| --- | ---: | ---: | ---: |")
for name in order:
    rps = [r for r, _ in rows[name]]; cpu = [c for _, c in rows[name]]
    share = shares.get(name)
    s = "100 %" if share is None else "%.0f %% [%.0f–%.0f]" % (100 * statistics.median(share), 100 * min(share), 100 * max(share))
    print("| %s | %.1f [%.1f–%.1f] | %.0f [%.0f–%.0f] | %s |" % (
        name, statistics.median(cpu), min(cpu), max(cpu), statistics.median(rps), min(rps), max(rps), s))
PY
