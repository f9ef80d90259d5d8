"""End-to-end tests of our xenstored through python3-pyxs (and raw frames where pyxs would
refuse to send something). Run by tests/xenstore/run.sh."""
import queue
import struct
import time

from pyxs import Client
from pyxs._internal import Op as PyxsOp

from conftest import ERRNO, Raw, domain_socket, errno_of

NUL = b"\x00"


class Op:
    """Wire message types (xs_wire.h); pyxs's table lacks the newer ones."""

    CONTROL, DIRECTORY, READ, GET_PERMS, WATCH, UNWATCH = 0, 1, 2, 3, 4, 5
    TRANSACTION_START, TRANSACTION_END, INTRODUCE, RELEASE, GET_DOMAIN_PATH = 6, 7, 8, 9, 10
    WRITE, MKDIR, RM, SET_PERMS, WATCH_EVENT, ERROR = 11, 12, 13, 14, 15, 16
    IS_DOMAIN_INTRODUCED, RESUME, SET_TARGET, RESET_WATCHES, DIRECTORY_PART = 17, 18, 19, 21, 22


assert PyxsOp.WRITE == Op.WRITE and PyxsOp.SET_TARGET == Op.SET_TARGET


def next_event(monitor, timeout=5.0):
    return tuple(monitor.events.get(timeout=timeout))


def no_event(monitor, timeout=0.3):
    try:
        event = monitor.events.get(timeout=timeout)
    except queue.Empty:
        return True
    raise AssertionError(f"unexpected event {event!r}")


# ---------------------------------------------------------------- transactions


def test_transaction_conflict_gives_eagain_and_retry_succeeds(dom0, dom0b, base):
    path = base + b"/counter"
    dom0.write(path, b"1")
    dom0.transaction()
    assert dom0.read(path) == b"1"
    dom0b.write(path, b"2")  # a concurrent write to a node the transaction read
    dom0.write(path, b"11")
    assert dom0.commit() is False  # EAGAIN
    assert dom0b.read(path) == b"2"
    # The retry reads the new value and wins.
    dom0.transaction()
    value = int(dom0.read(path))
    dom0.write(path, str(value + 10).encode())
    assert dom0.commit() is True
    assert dom0b.read(path) == b"12"


def test_transaction_commit_ok_with_unrelated_write(dom0, dom0b, base):
    dom0.write(base + b"/x", b"1")
    dom0.transaction()
    assert dom0.read(base + b"/x") == b"1"
    dom0b.write(base + b"/unrelated", b"z")
    dom0.write(base + b"/y", b"2")
    assert dom0.commit() is True
    assert dom0b.read(base + b"/y") == b"2"


def test_transaction_sees_own_writes_others_do_not(dom0, dom0b, base):
    dom0.transaction()
    dom0.write(base + b"/iso", b"mine")
    assert dom0.read(base + b"/iso") == b"mine"
    assert errno_of(dom0b.read, base + b"/iso") == ERRNO.ENOENT
    assert dom0.commit() is True
    assert dom0b.read(base + b"/iso") == b"mine"


def test_transaction_abort_discards(dom0, dom0b, base):
    dom0.transaction()
    dom0.write(base + b"/gone", b"x")
    dom0.rollback()
    assert errno_of(dom0b.read, base + b"/gone") == ERRNO.ENOENT


def test_transaction_reads_are_repeatable(dom0, dom0b, base):
    dom0.write(base + b"/r", b"a")
    dom0.transaction()
    assert dom0.read(base + b"/r") == b"a"
    dom0b.write(base + b"/r", b"b")
    assert dom0.read(base + b"/r") == b"a"
    dom0.rollback()


def test_watches_fire_only_at_commit(dom0, dom0b, base):
    with dom0b.monitor() as monitor:
        monitor.watch(base, b"tx")
        assert next_event(monitor) == (base, b"tx")
        dom0.transaction()
        dom0.write(base + b"/a", b"1")
        no_event(monitor)
        assert dom0.commit() is True
        assert next_event(monitor) == (base + b"/a", b"tx")
        dom0.transaction()
        dom0.write(base + b"/b", b"1")
        dom0.rollback()
        no_event(monitor)


def test_unknown_transaction_id_is_enoent(raw):
    connection = raw()
    op, _, _, payload = connection.call(Op.READ, b"/\x00", tx_id=4242)
    assert (op, payload) == (Op.ERROR, b"ENOENT\x00")


def test_nested_transaction_start_is_ebusy(raw):
    connection = raw()
    op, _, _, payload = connection.call(Op.TRANSACTION_START, NUL)
    assert op == Op.TRANSACTION_START
    tx = int(payload.rstrip(NUL))
    op, _, _, payload = connection.call(Op.TRANSACTION_START, NUL, tx_id=tx)
    assert (op, payload) == (Op.ERROR, b"EBUSY\x00")
    op, _, _, payload = connection.call(Op.TRANSACTION_END, b"F\x00", tx_id=tx)
    assert payload == b"OK\x00"
    op, _, _, payload = connection.call(Op.TRANSACTION_END, b"F\x00", tx_id=tx)
    assert payload == b"ENOENT\x00"


# ---------------------------------------------------------------- watches


def test_watch_fires_once_on_registration_even_if_absent(dom0, base):
    with dom0.monitor() as monitor:
        monitor.watch(base + b"/absent", b"t0")
        assert next_event(monitor) == (base + b"/absent", b"t0")
        no_event(monitor)


def test_watch_recurses_by_whole_components(dom0, dom0b, base):
    with dom0.monitor() as monitor:
        monitor.watch(base + b"/w", b"rec")
        assert next_event(monitor) == (base + b"/w", b"rec")
        dom0b.write(base + b"/wz", b"no")  # shares a prefix, not a component
        dom0b.write(base + b"/w/x/y", b"1")
        assert next_event(monitor) == (base + b"/w/x/y", b"rec")
        # RM fires subtree watches at the removed root and exact watches on each deleted node
        # (C xenstored's rule), so a watch on /w sees one event.
        dom0b.delete(base + b"/w")
        assert next_event(monitor) == (base + b"/w", b"rec")
        no_event(monitor)


def test_rm_fires_exact_watches_on_deleted_descendants(dom0, dom0b, base):
    dom0b.write(base + b"/d/a/b", b"1")
    with dom0.monitor() as monitor:
        monitor.watch(base + b"/d/a/b", b"deep")
        monitor.watch(base + b"/d/a/absent", b"absent")
        assert {next_event(monitor), next_event(monitor)} == {
            (base + b"/d/a/b", b"deep"), (base + b"/d/a/absent", b"absent")}
        dom0b.delete(base + b"/d")
        assert next_event(monitor) == (base + b"/d/a/b", b"deep")
        no_event(monitor)


def test_watch_tokens_are_independent(dom0, dom0b, base):
    with dom0.monitor() as monitor:
        monitor.watch(base, b"one")
        monitor.watch(base, b"two")
        assert {next_event(monitor), next_event(monitor)} == {(base, b"one"), (base, b"two")}
        dom0b.write(base + b"/k", b"v")
        assert {next_event(monitor), next_event(monitor)} == {(base + b"/k", b"one"), (base + b"/k", b"two")}
        monitor.unwatch(base, b"one")
        dom0b.write(base + b"/k", b"v2")
        assert next_event(monitor) == (base + b"/k", b"two")
        no_event(monitor)


def test_duplicate_watch_is_eexist_and_unknown_unwatch_enoent(dom0, base):
    with dom0.monitor() as monitor:
        monitor.watch(base, b"dup")
        next_event(monitor)
        assert errno_of(dom0.ack, Op.WATCH, base + NUL, b"dup" + NUL) == ERRNO.EEXIST
    assert errno_of(dom0.ack, Op.UNWATCH, base + NUL, b"never" + NUL) == ERRNO.ENOENT


def test_relative_watch_reports_relative_paths(dom0, dom0b):
    dom0b.delete(b"/local/domain/0/relw") if dom0b.exists(b"/local/domain/0/relw") else None
    with dom0.monitor() as monitor:
        monitor.watch(b"relw", b"tokR")
        assert next_event(monitor) == (b"relw", b"tokR")
        dom0b.write(b"/local/domain/0/relw/q", b"1")
        assert next_event(monitor) == (b"relw/q", b"tokR")
    dom0b.delete(b"/local/domain/0/relw")


def test_reset_watches_removes_all(raw, dom0, base):
    connection = raw()
    assert connection.call(Op.WATCH, base + NUL + b"r" + NUL)[3] == b"OK\x00"
    assert connection.receive()[0] == Op.WATCH_EVENT
    assert connection.call(Op.RESET_WATCHES, NUL)[3] == b"OK\x00"
    dom0.write(base + b"/after-reset", b"1")
    assert connection.call(Op.READ, base + b"/after-reset" + NUL)[3] == b"1"  # reply, no event before it


def test_watch_with_depth_argument_is_einval(raw, base):
    op, _, _, payload = raw().call(Op.WATCH, base + NUL + b"t" + NUL + b"1" + NUL)
    assert (op, payload) == (Op.ERROR, b"EINVAL\x00")


# ---------------------------------------------------------------- permissions


def test_permissions_as_dom0(dom0, base):
    dom0.write(base + b"/p", b"v")
    assert dom0.get_perms(base + b"/p") == [b"n0"]
    dom0.set_perms(base + b"/p", [b"n0", b"r5", b"w6", b"b7"])
    assert dom0.get_perms(base + b"/p") == [b"n0", b"r5", b"w6", b"b7"]
    dom0.write(base + b"/p/child", b"c")  # children inherit
    assert dom0.get_perms(base + b"/p/child") == [b"n0", b"r5", b"w6", b"b7"]
    dom0.set_perms(base + b"/p", [b"r9"])  # dom0 may change the owner
    assert dom0.get_perms(base + b"/p") == [b"r9"]
    assert errno_of(dom0.ack, Op.SET_PERMS, base + b"/p" + NUL, b"x1" + NUL) == ERRNO.EINVAL


def make_home(dom0, domid):
    home = b"/local/domain/%d" % domid
    if dom0.exists(home):
        dom0.delete(home)
    dom0.mkdir(home)
    dom0.set_perms(home, [b"n%d" % domid])
    return home


def test_unprivileged_domain_is_confined(dom0, domain, base):
    home5 = make_home(dom0, 5)
    home6 = make_home(dom0, 6)
    dom5 = domain(5)
    try:
        dom5.write(b"data/x", b"guest")  # relative to its own home
        assert dom0.read(home5 + b"/data/x") == b"guest"
        assert dom0.get_perms(home5 + b"/data/x") == [b"n5"]  # guests own what they create
        assert errno_of(dom5.read, home6) == ERRNO.EACCES
        assert errno_of(dom5.write, home6 + b"/x", b"1") == ERRNO.EACCES
        assert errno_of(dom5.write, b"/toplevel", b"1") == ERRNO.EACCES
        # Existence of unreadable nodes does not leak: EACCES, not ENOENT.
        assert errno_of(dom5.read, home6 + b"/nope") == ERRNO.EACCES
        assert errno_of(dom5.read, home5 + b"/nope") == ERRNO.ENOENT
        # Privileged-only operations.
        assert errno_of(dom5.introduce_domain, 9, 1, 1) == ERRNO.EACCES
        # Grants.
        dom0.write(base + b"/shared", b"s")
        assert errno_of(dom5.read, base + b"/shared") == ERRNO.EACCES
        dom0.set_perms(base + b"/shared", [b"n0", b"r5"])
        assert dom5.read(base + b"/shared") == b"s"
        assert errno_of(dom5.write, base + b"/shared", b"w") == ERRNO.EACCES
        # SET_PERMS: the owner may change grants but not the owner.
        dom5.set_perms(b"data/x", [b"n5", b"r6"])
        assert errno_of(dom5.set_perms, b"data/x", [b"n6"]) == ERRNO.EPERM
        assert errno_of(dom5.set_perms, home6, [b"n6", b"r5"]) == ERRNO.EACCES
    finally:
        dom0.delete(home5)
        dom0.delete(home6)


def test_watch_events_are_filtered_by_read_permission(dom0, domain, base):
    dom5 = domain(5)
    dom0.set_perms(base, [b"n0", b"r5"])
    with dom5.monitor() as monitor:
        monitor.watch(base, b"g")
        assert next_event(monitor) == (base, b"g")
        dom0.write(base + b"/secret", b"x")
        dom0.set_perms(base + b"/secret", [b"n0"])  # readable through the parent only
        dom0.mkdir(base + b"/hidden")
        dom0.set_perms(base + b"/hidden", [b"n0"])
        dom0.write(base + b"/hidden/deep", b"x")  # neither node nor parent readable
        dom0.write(base + b"/visible", b"x")
        seen = set()
        while True:
            event = next_event(monitor)
            seen.add(event)
            if event == (base + b"/visible", b"g"):
                break
        assert (base + b"/hidden/deep", b"g") not in seen
        assert (base + b"/secret", b"g") in seen


def test_bind_domid_control_command(dom0, raw, base):
    connection = raw()
    op, _, _, payload = connection.call(Op.CONTROL, b"bind-domid\x005\x00")
    assert payload == b"OK\x00"
    op, _, _, payload = connection.call(Op.READ, base + NUL)
    assert (op, payload) == (Op.ERROR, b"EACCES\x00")
    op, _, _, payload = connection.call(Op.CONTROL, b"help\x00")
    assert payload == b"EACCES\x00"


# ---------------------------------------------------------------- quotas and limits


def test_node_quota_for_unprivileged_domain(dom0, domain):
    home = make_home(dom0, 5)
    dom5 = domain(5)
    try:
        created = 0
        error = None
        for index in range(1100):
            # Spread over directories so no child list reaches the node-size quota.
            error = errno_of(dom5.write, b"q%d/n%d" % (index // 100, index % 100), b"")
            if error is not None:
                break
            created += 1
        assert error == ERRNO.ENOSPC
        assert 985 <= created < 1000  # 1000 nodes per domain, its home and the q dirs included
        dom0.write(home + b"/dom0-may", b"1")  # dom0 is exempt
    finally:
        dom0.delete(home)


def test_node_size_quota(dom0, domain):
    home = make_home(dom0, 5)
    dom5 = domain(5)
    try:
        assert errno_of(dom5.write, b"big", b"x" * 3000) == ERRNO.ENOSPC
        dom5.write(b"ok", b"x" * 1500)
        dom0.write(home + b"/dom0-big", b"y" * 4000)  # privileged: accepted, as C xenstored
        assert len(dom0.read(home + b"/dom0-big")) == 4000
    finally:
        dom0.delete(home)


def test_watch_and_transaction_quotas(dom0, raw):
    connection = raw(domain_socket(6))
    results = []
    for index in range(135):
        results.append(connection.call(Op.WATCH, b"/w%d\x00t\x00" % index)[3])
    assert results[:129] == [b"OK\x00"] * 129
    assert results[129] == b"E2BIG\x00"  # C 4.17: above 128 per domain
    outcomes = [connection.call(Op.TRANSACTION_START, NUL) for _ in range(12)]
    assert all(op == Op.TRANSACTION_START for op, *_ in outcomes[:11])
    assert outcomes[11][0] == Op.ERROR and outcomes[11][3] == b"ENOSPC\x00"


def test_e2big_reply_and_oversized_request(dom0, raw, base):
    for index in range(40):
        dom0.write(base + b"/" + (b"child%03d-" % index) + b"n" * 100, b"")
    assert errno_of(dom0.list, base) == ERRNO.E2BIG
    # DIRECTORY_PART pages through the same list.
    connection = raw()
    names = []
    offset = 0
    while True:
        op, _, _, payload = connection.call(Op.DIRECTORY_PART, base + NUL + str(offset).encode() + NUL)
        assert op == Op.DIRECTORY_PART
        parts = payload.split(NUL)
        chunk = [name for name in parts[1:] if name]
        names += chunk
        offset += sum(len(name) + 1 for name in chunk)
        if payload.endswith(NUL + NUL):
            break
    assert len(names) == 40
    # A request above 4096 bytes drops that connection; others carry on.
    victim = raw()
    victim.send(Op.WRITE, b"/x\x00" + b"v" * 5000)
    assert victim.is_closed()
    assert dom0.read(base + b"/" + b"child000-" + b"n" * 100) == b""


def test_hostile_frames_get_errors_and_server_survives(raw, dom0):
    connection = raw()
    assert connection.call(Op.READ, b"")[3] == b"EINVAL\x00"  # zero-length payload = no argument
    assert connection.call(99, b"junk")[3] == b"ENOSYS\x00"
    assert connection.call(15, b"x\x00y\x00")[3] == b"ENOSYS\x00"
    assert connection.call(Op.READ, b"/a\x00b\x00")[3] == b"EINVAL\x00"
    assert connection.call(Op.READ, b"/no//double\x00")[3] == b"EINVAL\x00"
    assert connection.call(Op.WRITE, b"@probe\x00v")[3] == b"EINVAL\x00"
    assert connection.call(Op.RM, b"/\x00")[3] == b"EINVAL\x00"
    assert connection.call(Op.TRANSACTION_END, b"X\x00")[3] == b"EINVAL\x00"
    assert connection.call(Op.TRANSACTION_START, b"")[0] == Op.TRANSACTION_START  # len 0 accepted
    op, rq_id, _, payload = connection.call(Op.GET_DOMAIN_PATH, b"12\x00", rq_id=77)
    assert (op, rq_id, payload) == (Op.GET_DOMAIN_PATH, 77, b"/local/domain/12\x00")
    # A truncated frame followed by a close must not disturb anybody.
    broken = raw()
    broken.sock.sendall(struct.pack("IIII", Op.READ, 0, 0, 100) + b"/partial")
    broken.close()
    assert dom0.read(b"/tool/xenstored") == b""


def test_pipelined_requests_are_answered_in_order(raw, base):
    connection = raw()
    frames = b""
    for index in range(50):
        payload = base + b"/pipe%d" % index + NUL + b"%d" % index
        frames += struct.pack("IIII", Op.WRITE, index, 0, len(payload)) + payload
    for index in range(50):
        payload = base + b"/pipe%d" % index + NUL
        frames += struct.pack("IIII", Op.READ, 100 + index, 0, len(payload)) + payload
    connection.sock.sendall(frames)
    replies = [connection.receive() for _ in range(100)]
    assert [rq for _, rq, _, _ in replies] == list(range(50)) + [100 + i for i in range(50)]
    assert [payload for _, _, _, payload in replies[50:]] == [b"%d" % i for i in range(50)]


# ---------------------------------------------------------------- domains


def test_introduce_and_release_fire_special_watches(dom0, dom0b):
    domid = 7
    if dom0.is_domain_introduced(domid):
        dom0.ack(Op.RELEASE, b"7" + NUL)
    with dom0b.monitor() as monitor:
        monitor.watch(b"@introduceDomain", b"tI")
        monitor.watch(b"@releaseDomain", b"tR")
        assert {next_event(monitor), next_event(monitor)} == {(b"@introduceDomain", b"tI"), (b"@releaseDomain", b"tR")}
        dom0.introduce_domain(domid, 1, 5)
        assert next_event(monitor) == (b"@introduceDomain", b"tI")
        assert dom0.is_domain_introduced(domid) is True
        dom0.introduce_domain(domid, 1, 5)  # re-introduce: no event
        no_event(monitor)
        dom0.ack(Op.SET_TARGET, b"7" + NUL, b"0" + NUL)
        dom0.ack(Op.RESUME, b"7" + NUL)
        dom0.ack(Op.RELEASE, b"7" + NUL)
        assert next_event(monitor) == (b"@releaseDomain", b"tR")
        assert dom0.is_domain_introduced(domid) is False
    assert errno_of(dom0.ack, Op.RELEASE, b"7" + NUL) == ERRNO.ENOENT
    assert errno_of(dom0.ack, Op.RELEASE, b"0" + NUL) == ERRNO.EINVAL
    assert errno_of(dom0.introduce_domain, 8, 1, 0) == ERRNO.EINVAL  # port must be > 0
    assert dom0.get_domain_path(3) == b"/local/domain/3"
    assert dom0.get_perms(b"@releaseDomain") == [b"n0"]


def test_release_drops_the_domains_connections_and_nodes(dom0):
    domid = 7
    dom0.introduce_domain(domid, 1, 5)
    home = make_home(dom0, domid)
    guest = Raw(domain_socket(domid))
    assert guest.call(Op.WRITE, b"data/x\x00v")[3] == b"OK\x00"
    dom0.ack(Op.RELEASE, b"7" + NUL)
    assert guest.is_closed()
    assert not dom0.exists(home)  # nodes it owned go with it (C without --keep-orphans)
    guest.close()
