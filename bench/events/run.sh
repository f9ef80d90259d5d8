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

for vms in 10000 100000; do
    port=$(free_port)
    start_server "$port" --demo-vms "$vms"
    echo -n "vms=$vms "
    "$LOAD" from-cost --port "$port" --password bench --calls 300 | tee "/tmp/xapi-bench-cost-$vms"
    stop_server "$SERVER_PID"
done
python3 - <<'PY'
import re
cost = {n: float(re.search(r"p50_us=([\d.]+)", open(f"/tmp/xapi-bench-cost-{n}").read()).group(1)) for n in (10000, 100000)}
print("size-independence ratio(100k/10k)=%.2f (target <= 1.2)" % (cost[100000] / cost[10000]))
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
