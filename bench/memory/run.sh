#!/usr/bin/env bash
# Resident memory with 10,000 VMs (each with a disk VBD, a CD VBD and a VIF) loaded (issue 2:
# target <= 1 GiB), idle and after clients read every VM record once.
source "$(dirname "$0")/../lib/common.sh"
build_release xapi-server
echo "## memory"
for vms in 10000; do
    port=$(free_port)
    start_server "$port" --demo-vms "$vms"
    idle=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
    python3 - "$port" <<'PY'
import sys, xmlrpc.client
p = xmlrpc.client.ServerProxy("http://127.0.0.1:%s/" % sys.argv[1])
s = p.session.login_with_password("root", "bench")["Value"]
assert p.VM.get_all_records(s)["Status"] == "Success"
assert p.VBD.get_all_records(s)["Status"] == "Success"
PY
    after=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
    echo "memory vms=$vms rss_idle_mb=$((idle / 1024)) rss_after_get_all_records_mb=$((after / 1024)) (target <= 1024)"
    stop_server "$SERVER_PID"
done
