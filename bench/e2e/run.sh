#!/usr/bin/env bash
# End-to-end benchmarks of xapi over Xenops (issue 6): boot storm, guest-agent write → event,
# and VM.start's barrier under a storm of signals for other VMs (CA-87377), parallel vs FIFO loop.
# Sizes can be lowered for a quick run: VMS=200 bench/e2e/run.sh
source "$(dirname "$0")/../lib/common.sh"
build_release xapi-server xapi-load
LOAD=$BIN/xapi-load
VMS=${VMS:-1000}

echo "## e2e"
# Boot storm, then guest events with every VM running and 200 parked clients.
port=$(free_port)
start_server "$port" --demo-vms "$VMS" --simulation instant --guest-agent-period 0 \
    --xenstore-socket "/tmp/xapi-bench-$port.xs" --max-connections 2000 --event-from-min-interval-ms 0
"$LOAD" boot-storm --port "$port" --password bench --vms "$VMS" --callers 16
"$LOAD" guest-events --port "$port" --password bench --xenstore-socket "/tmp/xapi-bench-$port.xs" --writes 1000 --parked 200
stop_server "$SERVER_PID"

# CA-87377: VM.start of one VM while 100,000 check_state signals for the other VMs are pending.
# `backlog-start` pipelines 100 writes of each running guest's data/updated through the xenstore
# socket, waits for all of them to be acknowledged (every watch has fired, the signals sit in
# xenops and the events loop), then starts the VM; its rounds alternate with a start on the
# quiet server, so the ratio compares starts seconds apart. The idle figures from before the
# other VMs start and with them running are printed too. Last, the harsher case of a storm
# still being written while the start runs (`signal-storm`, one write per round trip).
for loop in parallel fifo; do
    port=$(free_port)
    start_server "$port" --demo-vms "$((VMS + 1))" --simulation instant --guest-agent-period 0 --events-loop "$loop" \
        --xenstore-socket "/tmp/xapi-bench-$port.xs"
    "$LOAD" start-latency --port "$port" --password bench --repeats 40 --label "$loop, idle" | tee "/tmp/xapi-bench-idle-$loop"
    "$LOAD" boot-storm --port "$port" --password bench --vms "$VMS" --callers 16 > /dev/null
    sleep 2  # let the boot storm's last signals settle
    "$LOAD" start-latency --port "$port" --password bench --repeats 40 --label "$loop, idle with $VMS running" \
        | tee "/tmp/xapi-bench-running-$loop"
    "$LOAD" backlog-start --pid "$SERVER_PID" --port "$port" --password bench --xenstore-socket "/tmp/xapi-bench-$port.xs" \
        --writes "$((VMS * 100))" --repeats 30 --label "$loop" | tee "/tmp/xapi-bench-backlog-$loop"
    if [ "$loop" = parallel ]; then
        # The other spellings of the same call: each must be foreground work of the gate too.
        for spelling in VM_start Async.VM.start; do
            "$LOAD" backlog-start --pid "$SERVER_PID" --port "$port" --password bench \
                --xenstore-socket "/tmp/xapi-bench-$port.xs" --writes "$((VMS * 100))" --repeats 15 \
                --spelling "$spelling" --label "$loop, $spelling" | grep "^backlog-start"
        done
    fi
    "$LOAD" signal-storm --port "$port" --password bench --xenstore-socket "/tmp/xapi-bench-$port.xs" --writes "$((VMS * 100))" &
    storm=$!
    sleep 0.3
    "$LOAD" start-latency --port "$port" --password bench --repeats 40 --label "$loop, while a storm of $((VMS * 100)) writes is written" \
        | tee "/tmp/xapi-bench-storm-$loop"
    wait "$storm"
    stop_server "$SERVER_PID"
done
python3 - <<'PY'
import re
def field(path, name): return float(re.search(name + r"=([\d.]+)", open(path).read()).group(1))
for loop in ("parallel", "fifo"):
    backlog = f"/tmp/xapi-bench-backlog-{loop}"
    idle, running = field(f"/tmp/xapi-bench-idle-{loop}", "p50_ms"), field(f"/tmp/xapi-bench-running-{loop}", "p50_ms")
    quiet, pending = field(backlog, "idle_p50_ms"), field(backlog, "backlog_p50_ms")
    print(f"barrier-under-storm loop={loop} pending_signals_ms={pending:.1f} idle_interleaved_ms={quiet:.1f} "
          f"ratio={pending / quiet:.2f}" + (" (target <= 1.5)" if loop == "parallel" else "") +
          f" ratio_to_idle_before_boot={pending / idle:.2f} ratio_to_idle_running={pending / running:.2f}")
    storm = field(f"/tmp/xapi-bench-storm-{loop}", "p50_ms")
    print(f"start-while-storm-written loop={loop} storm_ms={storm:.1f} ratio_to_idle_running={storm / running:.2f}")
PY
