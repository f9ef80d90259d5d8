"""bench/pool: a pool of 16 hosts in one process with 1,000 running VMs.

* host.evacuate of a host running 60 VMs (VM.pool_migrate in batches of 10): total time;
* meanwhile, VM.start_on of an unrelated VM on a third host, timed to the return of the call
  (its barrier included), against the same start with the pool quiet (target: <= 1.5x);
  with realistic timings (a migration is mostly its memory copy, as on real hosts) and with
  instant ones (every migration pure CPU: the two cores are shared by ten at once);
* with --simulation realistic, VM.pool_migrate of a 4 GiB VM against the copy time the
  simulation models (1 GiB/s; live rounds of what the guest dirties, 20 % of the round before,
  until a round is at most 64 MiB or five rounds ran; the rest with the guest suspended).

Prints its figures; asserts nothing about time.
"""
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import XenAPI

ROOT = sys.argv[1]
BIN = sys.argv[2]
PORTS = [int(p) for p in sys.argv[3:6]]
HOSTS = 16
VMS = 1000
ON_EVACUATED = 60
GIB = 1 << 30


def serve(port, *args):
    log = open("/tmp/xapi-bench-pool-%d.log" % port, "w")
    process = subprocess.Popen([BIN, "--in-memory", "--host", "127.0.0.1", "--port", str(port), "--password", "bench",
                                "--log-level", "error", *args], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            session(port).xenapi.session.logout()
            return process
        except Exception:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server on %d did not start" % port)


def session(port):
    s = XenAPI.Session("http://127.0.0.1:%d/" % port)
    s.login_with_password("root", "bench", "1.0", "bench/pool")
    return s


def guests(x):
    return sorted(v for v, r in x.VM.get_all_records().items() if not r["is_a_template"] and not r["is_control_domain"])


def timed_starts(port, vm, host, stop=None, count=10):
    """Start-on latencies (ms) of `vm` on `host`, each followed by a hard shutdown: `count` of
    them, or as many as fit until `stop` is set."""
    x = session(port).xenapi
    latencies = []
    while (stop is None and len(latencies) < count) or (stop is not None and not stop.is_set()):
        started = time.monotonic()
        x.VM.start_on(vm, host, False, False)
        latencies.append((time.monotonic() - started) * 1000)
        x.VM.hard_shutdown(vm)
    return latencies


def describe(latencies):
    ordered = sorted(latencies)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return statistics.median(ordered), p90, len(ordered)


def evacuation(port, simulation):
    server = serve(port, "--hosts", str(HOSTS), "--demo-vms", str(VMS + 1), "--simulation", simulation,
                   "--guest-agent-period", "0")
    print("--simulation %s" % simulation)
    try:
        x = session(port).xenapi
        hosts = sorted(x.host.get_all())
        master = x.pool.get_master(x.pool.get_all()[0])
        members = [h for h in hosts if h != master]
        evacuated, third = members[0], members[1]
        vms = guests(x)
        probe, population = vms[0], vms[1:]
        others = [h for h in hosts if h != evacuated]
        plan = [(vm, evacuated if i < ON_EVACUATED else others[i % len(others)]) for i, vm in enumerate(population)]
        started = time.monotonic()

        def start(chunk):
            y = session(port).xenapi
            for vm, host in chunk:
                y.VM.start_on(vm, host, False, False)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(start, [plan[i::8] for i in range(8)]))
        print("started %d VMs on %d hosts in %.1f s" % (len(population), HOSTS, time.monotonic() - started))
        assert len(x.host.get_resident_VMs(evacuated)) == ON_EVACUATED + 1
        quiet = timed_starts(port, probe, third, count=20)
        stop = threading.Event()
        during = []
        prober = threading.Thread(target=lambda: during.extend(timed_starts(port, probe, third, stop=stop)))
        x.host.disable(evacuated)
        began = time.monotonic()
        prober.start()
        x.host.evacuate(evacuated, "OpaqueRef:NULL", "10")
        total = time.monotonic() - began
        stop.set()
        prober.join()
        left = len(x.host.get_resident_VMs(evacuated)) - 1
        q50, q90, qn = describe(quiet)
        d50, d90, dn = describe(during)
        print("evacuate host with %d VMs (batches of 10): %.2f s, %d left on it" % (ON_EVACUATED, total, left))
        print("VM.start_on on a third host, quiet pool:       p50 %.1f ms  p90 %.1f ms  (n=%d)" % (q50, q90, qn))
        print("VM.start_on on a third host, during evacuate:  p50 %.1f ms  p90 %.1f ms  (n=%d)" % (d50, d90, dn))
        print("ratio during/quiet: p50 %.2fx  p90 %.2fx  (target <= 1.5x)" % (d50 / q50, d90 / q90))
    finally:
        server.terminate()
        server.wait(timeout=60)


def modelled_copy_seconds(memory, bandwidth=GIB, final=64 << 20, dirty=0.2, rounds=5):
    total, round_bytes, n = 0, memory, 0
    while round_bytes > final and n < rounds:
        total += round_bytes
        round_bytes = int(round_bytes * dirty)
        n += 1
    return (total + round_bytes) / bandwidth


def big_migration(port):
    server = serve(port, "--hosts", "2", "--demo-vms", "1", "--simulation", "realistic", "--guest-agent-period", "0")
    try:
        x = session(port).xenapi
        hosts = sorted(x.host.get_all())
        vm = guests(x)[0]
        x.VM.set_memory_limits(vm, str(2 * GIB), str(4 * GIB), str(4 * GIB), str(4 * GIB))
        x.VM.start_on(vm, hosts[0], False, False)
        while x.VM.get_guest_metrics(vm) == "OpaqueRef:NULL":
            time.sleep(0.1)
        for destination in (hosts[1], hosts[0]):
            began = time.monotonic()
            x.VM.pool_migrate(vm, destination, {})
            took = time.monotonic() - began
            modelled = modelled_copy_seconds(4 * GIB)
            print("VM.pool_migrate of a 4 GiB VM (realistic): %.2f s; modelled copy %.2f s; ratio %.2fx"
                  % (took, modelled, took / modelled))
    finally:
        server.terminate()
        server.wait(timeout=60)


evacuation(PORTS[0], "realistic")
evacuation(PORTS[1], "instant")
big_migration(PORTS[2])
