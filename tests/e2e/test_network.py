"""Issue 20: the host's networking objects as XenCenter's network pages, xe pif-*/vlan-*/bond-*
and Xen Orchestra drive them (xapi_pif.ml, xapi_vlan.ml, xapi_bond.ml, xapi_host.ml): the
simulated host has four NICs, eth0 its management interface."""
import pytest

from conftest import failure, fast_server


@pytest.fixture(scope="module")
def fast():
    yield from fast_server(1)


def pifs_by_device(x, host):
    return {x.PIF.get_device(p): p for p in x.host.get_PIFs(host) if x.PIF.get_VLAN(p) == "-1"}


def test_scan_introduce_plug_address_and_forget_nics(fast):
    s = fast.session()
    x = s.xenapi
    host = x.pool.get_master(x.pool.get_all()[0])
    assert list(pifs_by_device(x, host)) == ["eth0"]
    x.PIF.scan(host)
    pifs = pifs_by_device(x, host)
    assert sorted(pifs) == ["eth0", "eth1", "eth2", "eth3"]
    eth1 = x.PIF.get_record(pifs["eth1"])
    assert eth1["physical"] is True and eth1["currently_attached"] is False and eth1["management"] is False
    assert x.network.get_bridge(eth1["network"]) == "xenbr1" and eth1["MAC"].count(":") == 5
    x.PIF.scan(host)                                              # nothing new the second time
    assert len(pifs_by_device(x, host)) == 4

    mac = x.PIF.get_MAC(pifs["eth3"])
    assert failure(x.PIF.introduce, host, mac, "eth3", True) == ["DUPLICATE_PIF_DEVICE_NAME", "eth3"]
    assert failure(x.PIF.introduce, host, "not-a-mac", "eth9", True) == ["MAC_INVALID", "not-a-mac"]
    assert failure(x.PIF.introduce, host, "a0:36:9f:00:00:09", "eth9", True) == [
        "COULD_NOT_FIND_NETWORK_INTERFACE_WITH_SPECIFIED_DEVICE_NAME_AND_MAC_ADDRESS", "eth9", "a0:36:9f:00:00:09"]
    assert failure(x.PIF.forget, pifs["eth0"]) == ["PIF_IS_MANAGEMENT_IFACE", pifs["eth0"]]
    x.PIF.forget(pifs["eth3"])
    assert "eth3" not in pifs_by_device(x, host)
    eth3 = x.PIF.introduce(host, "", "eth3", True)                # the MAC may be left out
    assert x.PIF.get_MAC(eth3) == mac

    assert failure(x.PIF.unplug, pifs["eth0"]) == ["PIF_IS_MANAGEMENT_IFACE", pifs["eth0"]]
    x.PIF.plug(pifs["eth1"])
    assert x.PIF.get_currently_attached(pifs["eth1"]) is True
    x.PIF.set_disallow_unplug(pifs["eth1"], True)
    assert failure(x.PIF.unplug, pifs["eth1"]) == ["PIF_DOES_NOT_ALLOW_UNPLUG", pifs["eth1"]]
    x.PIF.set_disallow_unplug(pifs["eth1"], False)
    x.PIF.unplug(pifs["eth1"])
    assert x.PIF.get_currently_attached(pifs["eth1"]) is False

    assert failure(x.PIF.reconfigure_ip, pifs["eth1"], "Static", "10.1.1", "255.255.255.0", "", "") == [
        "INVALID_IP_ADDRESS_SPECIFIED", "IP"]
    assert failure(x.PIF.reconfigure_ip, pifs["eth0"], "None", "", "", "", "") == [
        "PIF_IS_MANAGEMENT_IFACE", pifs["eth0"]]
    assert failure(x.host.management_reconfigure, pifs["eth1"]) == [
        "PIF_HAS_NO_NETWORK_CONFIGURATION", pifs["eth1"]]
    x.PIF.reconfigure_ip(pifs["eth1"], "Static", "10.1.1.5", "255.255.255.0", "10.1.1.1", "10.1.1.2,fd00::53")
    record = x.PIF.get_record(pifs["eth1"])
    assert (record["IP"], record["netmask"], record["gateway"], record["DNS"]) == ("10.1.1.5", "255.255.255.0", "10.1.1.1", "10.1.1.2")

    old_address = x.host.get_address(host)
    x.host.management_reconfigure(pifs["eth1"])
    assert x.PIF.get_management(pifs["eth1"]) is True and x.PIF.get_management(pifs["eth0"]) is False
    assert x.PIF.get_currently_attached(pifs["eth1"]) is True and x.host.get_address(host) == "10.1.1.5"
    x.host.management_reconfigure(pifs["eth0"])
    assert x.host.get_address(host) == old_address and x.PIF.get_management(pifs["eth1"]) is False
