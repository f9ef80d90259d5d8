#!/usr/bin/env bash
# Event API benchmarks (issue 3): fan-out, latency, size independence, flood, batching delay.
source "$(dirname "$0")/../lib/common.sh"
build_release xapi-server xapi-load
LOAD=$BIN/xapi-load

echo "## events"
port=$(free_port)
start_server "$port" --demo-vms 100 --max-connections 2000 --event-from-min-interval-ms 0
"$LOAD" fanout --port "$port" --password bench --clients 1000 --rounds 20 --pid "$SERVER_PID"
"$LOAD" latency --port "$port" --password bench --changes 1000
stop_server "$SERVER_PID"

# Size independence: a server with 10,000 VMs and one with 100,000, both up at once, their calls
# alternating so that both see the same machine (separate runs differed by ±20 % from run to run).
small=$(free_port)
start_server "$small" --demo-vms 10000 --event-from-min-interval-ms 0
small_pid=$SERVER_PID
large=$(free_port)
start_server "$large" --demo-vms 100000 --event-from-min-interval-ms 0
"$LOAD" from-cost --port "$small" --compare-port "$large" --password bench --calls 1000 | tee /tmp/xapi-bench-cost
stop_server "$SERVER_PID"
stop_server "$small_pid"
python3 - <<'PY'
import re
ratio = float(re.search(r"ratio=([\d.]+)", open("/tmp/xapi-bench-cost").read()).group(1))
print("size-independence ratio(100k/10k)=%.2f (target <= 1.2)" % ratio)
PY

port=$(free_port)
start_server "$port" --demo-vms 10
"$LOAD" flood --port "$port" --password bench --changes 100000 --pid "$SERVER_PID"
stop_server "$SERVER_PID"

# Batching policies: none, xapi's fixed 50 ms sleep, and our per-session minimum interval.
for policy in "--event-from-delay-ms 0 --event-from-min-interval-ms 0" \
              "--event-from-delay-ms 50 --event-from-min-interval-ms 0" \
              "--event-from-delay-ms 0 --event-from-min-interval-ms 50"; do
    port=$(free_port)
    # shellcheck disable=SC2086
    start_server "$port" --demo-vms 10 $policy
    echo -n "[$policy] "
    "$LOAD" watch-storm --port "$port" --password bench --seconds 5
    echo -n "[$policy] "
    "$LOAD" latency --port "$port" --password bench --changes 50 --gap-ms 100
    stop_server "$SERVER_PID"
done
