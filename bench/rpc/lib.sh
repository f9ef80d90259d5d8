# Shared by bench/rpc/run.sh and cpu.sh (sourced; set WORK_PREFIX first): a scratch directory
# $WORK, the background processes in PIDS stopped on exit, and finding and awaiting ports.

WORK=$(mktemp -d "/tmp/$WORK_PREFIX.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

say() { echo "bench/rpc: $*" >&2; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_for_port PID PORT NAME: until PORT accepts connections; fails if PID exits first (showing
# the end of $WORK/NAME.log) or after 30 s.
wait_for_port() {
    local pid=$1 port=$2 name=$3
    for _ in $(seq 300); do
        if ! kill -0 "$pid" 2>/dev/null; then
            say "$name exited before listening on port $port; its output:"
            tail -20 "$WORK/$name.log" >&2
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    say "$name is not listening on port $port after 30 s"
    return 1
}
