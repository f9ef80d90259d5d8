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

# VM.start of one VM, idle vs while a storm of signals for every other VM is being processed
# (CA-87377): 100 writes of each running guest's data/updated through the xenstore socket.
# 40 starts each, for a p50 that ten samples left noisy. Idle is measured twice: before the
# other VMs start, and with them running before the storm.
for loop in parallel fifo; do
    port=$(free_port)
    start_server "$port" --demo-vms "$((VMS + 1))" --simulation instant --guest-agent-period 0 --events-loop "$loop" \
        --xenstore-socket "/tmp/xapi-bench-$port.xs"
    "$LOAD" start-latency --port "$port" --password bench --repeats 40 --label "$loop, idle" | tee "/tmp/xapi-bench-idle-$loop"
    "$LOAD" boot-storm --port "$port" --password bench --vms "$VMS" --callers 16 > /dev/null
    sleep 2  # let the boot storm's last signals settle
    "$LOAD" start-latency --port "$port" --password bench --repeats 40 --label "$loop, idle with $VMS running" \
        | tee "/tmp/xapi-bench-running-$loop"
    "$LOAD" signal-storm --port "$port" --password bench --xenstore-socket "/tmp/xapi-bench-$port.xs" --writes "$((VMS * 100))" &
    storm=$!
    sleep 0.3
    "$LOAD" start-latency --port "$port" --password bench --repeats 40 --label "$loop, storm of $((VMS * 100)) signals for $VMS VMs" \
        | tee "/tmp/xapi-bench-storm-$loop"
    wait "$storm"
    stop_server "$SERVER_PID"
done
python3 - <<'PY'
import re
def p50(path): return float(re.search(r"p50_ms=([\d.]+)", open(path).read()).group(1))
# Two baselines: the idle server before the boot storm, and the same server with every other VM
# running but no storm (the storm's own effect, with the population held equal).
for loop in ("parallel", "fifo"):
    idle, running, storm = (p50(f"/tmp/xapi-bench-{kind}-{loop}") for kind in ("idle", "running", "storm"))
    print(f"barrier-under-storm loop={loop} idle_ms={idle:.1f} idle_running_ms={running:.1f} storm_ms={storm:.1f} "
          f"ratio={storm / idle:.2f} ratio_same_population={storm / running:.2f}" +
          (" (target <= 1.5)" if loop == "parallel" else ""))
PY
