#!/usr/bin/env bash
# bench/rpc — VM.get_record calls/s over keep-alive XML-RPC and JSON-RPC, 32 connections,
# side by side in the same run with the stack's ceiling: bench/http-ceiling, a bare SwiftNIO
# HTTP/1 server answering a fixed 200 (same request body as the XML-RPC load).
# The first two xapi rows read one VM, so the record cache answers every call; two more rows
# keep it from answering (post.lua's BENCH_MODE): get_record rotating over more VMs than the
# cache holds (1,024 answers), and a set_name_description before each VM's get_record.
#
#   bench/rpc/run.sh                 # everything (needs .build/release/xapi-server)
#   bench/rpc/run.sh --ceiling-only  # only the ceiling row
#
# Environment: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 2),
#              BENCH_CONNECTIONS (default 32), BENCH_SKIP_BUILD=1 to use existing binaries,
#              BENCH_XAPI_SERVER (default .build/release/xapi-server) to measure another binary,
#              BENCH_VMS (demo VMs, default 2000: the rotation covers them all),
#              BENCH_WRITE_VMS (VMs of the write-read row, default 500).
# With BENCH_SKIP_BUILD=1 and no .build/release/http-ceiling, the ceiling row is skipped.
# Targets (issue #2): XML-RPC >= 50 % of the ceiling; JSON-RPC at least as fast as XML-RPC.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/bench/rpc"
cd "$ROOT"

DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
VMS=${BENCH_VMS:-2000}
WRITE_VMS=${BENCH_WRITE_VMS:-500}
PASSWORD=pw
CEILING_ONLY=0
for argument in "$@"; do
    case "$argument" in
        --ceiling-only) CEILING_ONLY=1 ;;
        *) echo "bench/rpc: unknown argument $argument" >&2; exit 2 ;;
    esac
done

WORK_PREFIX=bench-rpc
source "$HERE/lib.sh"

if ! command -v wrk >/dev/null; then
    say "wrk not found; installing Debian's package"
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1; } \
        || { say "cannot install wrk (apt-get install -y wrk)"; exit 1; }
fi

if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    say "building release (swift build -c release)"
    swift build -c release >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; say "release build failed"; exit 1; }
fi
BIN="$ROOT/.build/release"
XAPI_SERVER=${BENCH_XAPI_SERVER:-$BIN/xapi-server}


# measure NAME PORT PATH BODYFILE CONTENT-TYPE [MODE]: warm-up, then the measured run; prints
# "req/s p50 p99 non2xx socket-errors requests xmlrpc-failures". MODE is post.lua's BENCH_MODE
# (then BODYFILE is unused and the bodies come from client.py's files in $WORK).
measure() {
    local name=$1 port=$2 path=$3 body=$4 type=$5 line
    export BENCH_BODY_FILE=$body BENCH_CONTENT_TYPE=$type BENCH_PATH=$path BENCH_MODE=${6:-} \
        BENCH_VMS_FILE="$WORK/vms" BENCH_READ_TEMPLATE="$WORK/get_record.template" \
        BENCH_WRITE_TEMPLATE="$WORK/set_name_description.template" BENCH_WRITE_VMS=$WRITE_VMS
    wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$HERE/post.lua" "http://127.0.0.1:$port" >/dev/null
    line=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$HERE/post.lua" "http://127.0.0.1:$port" | grep '^BENCH-RESULT') \
        || { say "wrk produced no result for $name"; return 1; }
    echo "${line#BENCH-RESULT }"
}

ROWS=()
CEILING_RPS=
add_row() {  # NAME "req/s p50 p99 non2xx errors requests failures" KEY
    local name=$1 rps p50 p99 status errors failures percent
    read -r rps p50 p99 status errors _ failures _ <<<"$2"
    if [[ $3 == ceiling ]]; then CEILING_RPS=$rps; fi
    if [[ -n "$CEILING_RPS" ]]; then
        percent=$(awk -v a="$rps" -v b="$CEILING_RPS" 'BEGIN { printf "%.0f %%", 100 * a / b }')
    else
        percent="n/a"
    fi
    ROWS+=("$(printf '| %-34s | %9.0f | %7s | %7s | %12s | %6d |' "$name" "$rps" "$p50" "$p99" "$percent" $((status + errors + ${failures:-0})))")
    eval "RPS_$3=$rps"
}

# --- the ceiling ------------------------------------------------------------------------
STATUS=0
CEILING_SKIPPED=0
if [[ ! -x "$BIN/http-ceiling" && "${BENCH_SKIP_BUILD:-0}" == 1 && $CEILING_ONLY == 0 ]]; then
    say "no $BIN/http-ceiling (BENCH_SKIP_BUILD=1): skipping the ceiling row"
    CEILING_SKIPPED=1
else
    python3 "$HERE/client.py" --dummy "$WORK"
    CEILING_PORT=$(free_port)
    "$BIN/http-ceiling" --host 127.0.0.1 --port "$CEILING_PORT" >"$WORK/http-ceiling.log" 2>&1 &
    PIDS+=($!)
    wait_for_port "${PIDS[-1]}" "$CEILING_PORT" http-ceiling
    say "measuring the ceiling (port $CEILING_PORT)"
    RESULT=$(measure ceiling "$CEILING_PORT" / "$WORK/xmlrpc.body" text/xml) || exit 1
    add_row "ceiling: bare SwiftNIO fixed 200" "$RESULT" ceiling
fi

# --- xapi-server --------------------------------------------------------------------------
if [[ $CEILING_ONLY == 0 ]]; then
    if [[ ! -x "$XAPI_SERVER" ]]; then
        say "FAILED: $XAPI_SERVER is missing (the release build has no xapi-server product)"
        STATUS=1
    else
        PORT=$(free_port)
        "$XAPI_SERVER" --in-memory --host 127.0.0.1 --port "$PORT" --password "$PASSWORD" \
            --demo-vms "$VMS" --log-level error >"$WORK/xapi-server.log" 2>&1 &
        PIDS+=($!)
        if ! wait_for_port "${PIDS[-1]}" "$PORT" xapi-server; then
            say "FAILED: xapi-server did not start with --in-memory --host --port --password --demo-vms --log-level"
            STATUS=1
        elif ! python3 "$HERE/client.py" "$PORT" "$PASSWORD" "$WORK" "$VMS"; then
            say "FAILED: could not log in and read a VM record"
            STATUS=1
        else
            say "measuring XML-RPC (port $PORT)"
            if RESULT=$(measure xmlrpc "$PORT" / "$WORK/xmlrpc.body" text/xml); then
                add_row "XML-RPC VM.get_record (POST /)" "$RESULT" xml
            else
                STATUS=1
            fi
            say "measuring JSON-RPC"
            if RESULT=$(measure jsonrpc "$PORT" /jsonrpc "$WORK/jsonrpc.body" application/json); then
                add_row "JSON-RPC 2.0 VM.get_record" "$RESULT" json
            else
                STATUS=1
            fi
            # Uncached: last, as the writes change the VMs.
            say "measuring XML-RPC get_record over $VMS VMs in turn"
            if RESULT=$(measure rotate "$PORT" / - text/xml rotate); then
                add_row "XML-RPC get_record, $VMS VMs" "$RESULT" rotate
            else
                STATUS=1
            fi
            say "measuring XML-RPC set_name_description then get_record, $WRITE_VMS VMs"
            if RESULT=$(measure write-read "$PORT" / - text/xml write-read); then
                add_row "XML-RPC set_name_desc + get_record" "$RESULT" writeread
            else
                STATUS=1
            fi
        fi
    fi
fi

# --- the table ----------------------------------------------------------------------------
echo "## bench/rpc — VM.get_record throughput vs the HTTP ceiling"
echo
echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s after a ${WARMUP} s warm-up each; $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo
echo "| load                               |     req/s |  p50 ms |  p99 ms | % of ceiling | errors |"
echo "| ---------------------------------- | --------: | ------: | ------: | -----------: | -----: |"
for row in "${ROWS[@]}"; do echo "$row"; done
if [[ -n "${RPS_rotate:-}" || -n "${RPS_writeread:-}" ]]; then
    echo
    echo "Uncached rows: get_record of each of $VMS VMs in turn (more than the 1,024 answers the record"
    echo "cache holds), and VM.set_name_description alternating with VM.get_record over $WRITE_VMS VMs, each"
    echo "read after its VM's write (req/s counts both: reads/s is half$( [[ -n "${RPS_writeread:-}" ]] &&
        awk -v w="$RPS_writeread" 'BEGIN { printf ", %.0f", w / 2 }')). Errors include XML-RPC Failure answers."
fi
if [[ $CEILING_SKIPPED == 1 ]]; then
    echo
    echo "ceiling not measured ($BIN/http-ceiling missing); no % of ceiling, no targets"
elif [[ -n "${RPS_xml:-}" && -n "${RPS_json:-}" ]]; then
    echo
    awk -v x="$RPS_xml" -v j="$RPS_json" -v c="$CEILING_RPS" 'BEGIN {
        printf "target XML-RPC >= 50 %% of ceiling: %s (%.0f %%); JSON-RPC >= XML-RPC: %s (%.2fx)\n",
            (x >= 0.5 * c ? "met" : "MISSED"), 100 * x / c, (j >= x ? "met" : "MISSED"), j / x }'
elif [[ $CEILING_ONLY == 0 ]]; then
    echo
    echo "xapi-server rows missing: see the error above"
fi
exit $STATUS
