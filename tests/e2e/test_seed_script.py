"""Issue 3 acceptance: the seed document's event loop (clients/python/examples/event_loop.py, a
Python 3 port changed only in syntax) receives a `vm mod` when another session renames a VM,
and its EVENTS_LOST branch recovers after a flood that overflows the event.next queue."""
import os
import signal
import subprocess
import sys
import threading
import time

from conftest import PASSWORD, ROOT, Server, ordinary_vms

SCRIPT = os.path.join(ROOT, "clients", "python", "examples", "event_loop.py")


class Output:
    """Collects the script's stdout lines as they arrive."""

    def __init__(self, process):
        self.lines = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process):
        for line in process.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if any(predicate(line) for line in self.lines):
                    return True
            time.sleep(0.05)
        return False

    def count(self, predicate):
        with self.lock:
            return sum(1 for line in self.lines if predicate(line))


def test_seed_event_loop_receives_mods_and_recovers_from_events_lost(state_dir):
    # A small queue bound so that a flood of a few hundred changes overflows it.
    server = Server(state_dir, in_memory=True, demo_vms=3, extra=["--event-queue-bytes", "200000"]).start()
    process = subprocess.Popen([sys.executable, "-u", SCRIPT, "--url", server.url, "-u", "root", "-pw", PASSWORD],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output = Output(process)
        other = server.session()
        vm = ordinary_vms(other)[0]
        uuid = other.xenapi.VM.get_uuid(vm)
        time.sleep(1.0)                                   # the script registers, then blocks in event.next
        other.xenapi.VM.set_name_label(vm, "renamed by another session")
        assert output.wait_for(lambda l: l == "received event op=mod class=vm ref=%s" % vm)
        assert output.wait_for(lambda l: l.startswith("xapi-event on vm: vm_uuid=%s, power_state=Halted" % uuid))

        # Stop the reader, flood: far more than 200 kB of VM events pile up and the oldest go.
        process.send_signal(signal.SIGSTOP)
        before = output.count(lambda l: l.startswith("received event"))
        flood = 400
        for i in range(flood):
            other.xenapi.VM.set_name_description(vm, "flood %d" % i)
        process.send_signal(signal.SIGCONT)
        # EVENTS_LOST: the script registers again and carries on; fewer events than written arrive.
        marker = other.xenapi.VM.get_all()[0]
        time.sleep(1.0)
        other.xenapi.pool.set_name_label(other.xenapi.pool.get_all()[0], "after recovery")
        assert output.wait_for(lambda l: l.startswith("received event op=mod class=pool"))
        received = output.count(lambda l: l.startswith("received event op=mod class=vm")) - before
        assert received < flood, "no events were lost, so the EVENTS_LOST branch never ran"
        assert process.poll() is None, "the script stopped instead of recovering"
        assert marker
    finally:
        process.kill()
        process.wait()
        server.stop()
