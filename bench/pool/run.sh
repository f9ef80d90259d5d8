#!/usr/bin/env bash
# bench/pool — issue 13: a 16-host pool in one process with 1,000 running VMs; host.evacuate
# of a host with 60 VMs, the latency of an unrelated VM.start_on on a third host during it
# against the quiet pool (target <= 1.5x), and a 4 GiB VM's migration with realistic timings
# against the modelled copy time. Needs the XenAPI module (scripts/test's .venv has it).
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
[ "${BENCH_SKIP_BUILD:-0}" = 1 ] || build_release xapi-server
PYTHON=$ROOT/.venv/bin/python
[ -x "$PYTHON" ] || PYTHON=python3
echo "## bench/pool (load average $(cut -d' ' -f1-3 /proc/loadavg))"
"$PYTHON" "$ROOT/bench/pool/pool.py" "$ROOT" "${BENCH_XAPI_SERVER:-$BIN/xapi-server}" "$(free_port)" "$(free_port)" "$(free_port)"
