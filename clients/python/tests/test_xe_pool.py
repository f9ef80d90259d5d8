"""xe's pool commands against a pool of three hosts in one server (issue 13): vm-migrate,
host-disable, host-evacuate, host-enable, pool-designate-new-master, pool-eject."""
import pytest

from conftest import Server, ordinary_vms


@pytest.fixture(scope="module")
def pool():
    srv = Server()
    srv.args += ["--hosts", "3", "--simulation", "instant", "--guest-agent-period", "0"]
    srv.start()
    yield srv
    srv.stop()


def ok(result):
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_xe_migrates_evacuates_and_reshapes_the_pool(pool):
    x = pool.session().xenapi
    hosts = {x.host.get_name_label(h): h for h in x.host.get_all()}
    vm = ordinary_vms(x)[0]
    uuid = x.VM.get_uuid(vm)
    ok(pool.xe("vm-start", "uuid=" + uuid, "on=xapi-swift-2"))
    ok(pool.xe("vm-migrate", "uuid=" + uuid, "host=xapi-swift-3"))
    assert x.VM.get_resident_on(vm) == hosts["xapi-swift-3"]
    member = x.host.get_uuid(hosts["xapi-swift-3"])
    ok(pool.xe("host-disable", "uuid=" + member))
    ok(pool.xe("host-evacuate", "uuid=" + member, "batch-size=2"))
    assert x.VM.get_resident_on(vm) != hosts["xapi-swift-3"] and x.VM.get_power_state(vm) == "Running"
    ok(pool.xe("host-enable", "uuid=" + member))
    bad = pool.xe("vm-migrate", "uuid=" + uuid, "host=no-such-host")
    assert bad.returncode != 0 and "no-such-host" in bad.stderr
    ok(pool.xe("vm-shutdown", "uuid=" + uuid, "--force"))
    failed = pool.xe("vm-migrate", "uuid=" + uuid, "host=xapi-swift-2")
    assert failed.returncode != 0 and "VM_BAD_POWER_STATE" in failed.stderr
    ok(pool.xe("pool-designate-new-master", "host-uuid=" + x.host.get_uuid(hosts["xapi-swift-2"])))
    assert x.pool.get_master(x.pool.get_all()[0]) == hosts["xapi-swift-2"]
    ok(pool.xe("pool-designate-new-master", "host-uuid=" + x.host.get_uuid(hosts["xapi-swift"])))
    ok(pool.xe("pool-eject", "host-uuid=" + member, "--force"))
    assert hosts["xapi-swift-3"] not in x.host.get_all()
