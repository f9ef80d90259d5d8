# Shared helpers for bench/*/run.sh: release build, free ports, servers started and stopped.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$ROOT/.build/release
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

# build_release PRODUCT... (swift build takes one --product at a time)
build_release() {
    local product
    for product in "$@"; do
        (cd "$ROOT" && swift build -c release --product "$product" 2>&1 | grep -E "error|warning: /" >&2 || true)
        [ -x "$BIN/$product" ] || { echo "building $product failed" >&2; exit 1; }
    done
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

SERVER_PIDS=()
cleanup_servers() {
    for pid in "${SERVER_PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup_servers EXIT

# start_server PORT ARGS... : an in-memory xapi-server with password "bench"; sets SERVER_PID.
start_server() {
    local port=$1; shift
    "$BIN/xapi-server" --in-memory --host 127.0.0.1 --port "$port" --password bench --log-level error "$@" \
        >"/tmp/xapi-bench-$port.log" 2>&1 &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    for _ in $(seq 600); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then return 0; fi
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "/tmp/xapi-bench-$port.log" >&2; return 1; }
        sleep 0.1
    done
    echo "server on $port did not start" >&2
    return 1
}

stop_server() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
