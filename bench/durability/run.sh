#!/usr/bin/env bash
# Per-call durability (issue 18): VM.get_record latency while guest agents write through
# xenstore, each write a persisted VM_guest_metrics change that the group commit flushes.
# Two servers with persistence on (a state directory, not --in-memory), the same population:
# `--durable-wait all` (the old rule: every answer waits until every change made so far by
# anyone is on disk) against the default `--durable-wait call` (only what the call wrote).
# Sizes can be lowered for a quick run: VMS=50 READS=500 bench/durability/run.sh
source "$(dirname "$0")/../lib/common.sh"
build_release xapi-server xapi-load
LOAD=$BIN/xapi-load
VMS=${VMS:-200}
READS=${READS:-3000}
STORM=${STORM:-400000}

echo "## durability"
for wait in all call; do
    port=$(free_port)
    state=$(mktemp -d /tmp/xapi-bench-durability.XXXXXX)
    "$BIN/xapi-server" --state-dir "$state" --host 127.0.0.1 --port "$port" --password bench --log-level error \
        --demo-vms "$VMS" --simulation instant --guest-agent-period 0 --durable-wait "$wait" \
        --xenstore-socket "$state/xs.sock" >"$state/log" 2>&1 &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    for _ in $(seq 600); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
        sleep 0.1
    done
    "$LOAD" boot-storm --port "$port" --password bench --vms "$VMS" --callers 16 > /dev/null
    sleep 2  # the boot storm's last signals and commits settle
    "$LOAD" record-latency --port "$port" --password bench --reads "$READS" --label "durable-wait=$wait, quiet" \
        | tee "/tmp/xapi-bench-durability-quiet-$wait"
    "$LOAD" signal-storm --port "$port" --password bench --xenstore-socket "$state/xs.sock" --writes "$STORM" > "$state/storm" &
    storm=$!
    sleep 0.5
    "$LOAD" record-latency --port "$port" --password bench --reads "$READS" --label "durable-wait=$wait, under a guest-agent write storm" \
        | tee "/tmp/xapi-bench-durability-storm-$wait"
    kill -0 "$storm" 2>/dev/null && storm_state="still running at the end (the reads were all under it)" || storm_state="ended before the reads did"
    wait "$storm" || true
    echo "  storm: $(cat "$state/storm"); $storm_state"
    stop_server "$SERVER_PID"
    rm -rf "$state"
done
python3 - <<'PY'
import re
def field(path, name): return float(re.search(name + r"=([\d.]+)", open(path).read()).group(1))
before, after = "/tmp/xapi-bench-durability-storm-all", "/tmp/xapi-bench-durability-storm-call"
for p in ("p50_ms", "p99_ms"):
    b, a = field(before, p), field(after, p)
    print(f"durable-per-call {p.replace('_ms', '')} under storm: before (all) {b:.3f} ms, after (call) {a:.3f} ms, ratio before/after {b / a:.2f}")
PY
