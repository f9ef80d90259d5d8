#!/usr/bin/env bash
# Server CPU per XML-RPC VM.get_record (utime+stime from /proc/PID/stat ÷ requests) under
# wrk -t1 -c32 -d8s after a 2 s warm-up, for each xapi-server binary given, in turn; steadier
# than req/s on a shared machine. Give binaries twice to interleave rounds:
#   bench/rpc/cpu-per-request.sh /tmp/a/xapi-server /tmp/b/xapi-server /tmp/a/xapi-server /tmp/b/xapi-server
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d /tmp/bench-cpu.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
for bin in "$@"; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$bin" --in-memory --host 127.0.0.1 --port "$port" --password pw --demo-vms 10 --log-level error >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    python3 "$HERE/client.py" "$port" pw "$WORK" >/dev/null
    export BENCH_BODY_FILE=$WORK/xmlrpc.body BENCH_CONTENT_TYPE=text/xml BENCH_PATH=/
    wrk -t1 -c32 -d2s -s "$HERE/post.lua" "http://127.0.0.1:$port" >/dev/null
    before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    line=$(wrk -t1 -c32 -d8s -s "$HERE/post.lua" "http://127.0.0.1:$port" | grep '^BENCH-RESULT')
    after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    rps=$(awk '{print $2}' <<<"$line")
    ticks=$(getconf CLK_TCK)
    echo "$bin req/s=$rps server_cpu_us_per_request=$(python3 -c "print(round(($after - $before) * 1e6 / $ticks / ($rps * 8), 1))")"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
done
