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


def new_network(x, name, bridge):
    return x.network.create({"name_label": name, "name_description": "", "MTU": "1500", "other_config": {},
                             "bridge": bridge, "managed": True, "tags": []})


def test_vlans_on_a_nic_and_across_the_pool(fast):
    s = fast.session()
    x = s.xenapi
    host = x.pool.get_master(x.pool.get_all()[0])
    x.PIF.scan(host)
    pifs = pifs_by_device(x, host)
    storage = new_network(x, "VLAN 20", "xapi20")
    vlan = x.VLAN.create(pifs["eth2"], "20", storage)
    record = x.VLAN.get_record(vlan)
    untagged = x.PIF.get_record(record["untagged_PIF"])
    assert (record["tagged_PIF"], record["tag"]) == (pifs["eth2"], "20")
    assert (untagged["device"], untagged["VLAN"], untagged["MAC"], untagged["network"]) == ("eth2", "20", "fe:ff:ff:ff:ff:ff", storage)
    assert untagged["currently_attached"] is True and untagged["physical"] is False
    assert untagged["metrics"] == x.PIF.get_metrics(pifs["eth2"])
    assert failure(x.VLAN.create, pifs["eth2"], "20", new_network(x, "again", "xapi21")) == ["PIF_VLAN_EXISTS", "eth2"]
    assert failure(x.VLAN.create, pifs["eth2"], "4095", new_network(x, "too high", "xapi22")) == ["VLAN_TAG_INVALID", "4095"]
    assert failure(x.VLAN.create, pifs["eth1"], "30", storage) == ["NETWORK_ALREADY_CONNECTED", host, record["untagged_PIF"]]
    assert failure(x.VLAN.create, record["untagged_PIF"], "31", new_network(x, "on a VLAN", "xapi23")) == [
        "PIF_IS_VLAN", record["untagged_PIF"]]
    assert failure(x.PIF.forget, pifs["eth2"]) == ["PIF_VLAN_STILL_EXISTS", pifs["eth2"]]
    assert failure(x.PIF.destroy, pifs["eth2"]) == ["PIF_IS_PHYSICAL"]
    x.VLAN.destroy(vlan)
    assert x.network.get_PIFs(storage) == [] and vlan not in x.VLAN.get_all()

    # pool.create_VLAN_from_PIF: a VLAN on every live host's PIF of that PIF's network.
    made = x.pool.create_VLAN_from_PIF(pifs["eth0"], storage, "40")
    assert len(made) == 1 and x.PIF.get_VLAN(made[0]) == "40" and x.PIF.get_device(made[0]) == "eth0"
    x.PIF.destroy(made[0])                                     # the deprecated way out
    made = x.pool.create_VLAN("eth1", storage, "41")
    assert [x.PIF.get_VLAN(p) for p in made] == ["41"]
    assert failure(x.pool.create_VLAN, "eth9", new_network(x, "nowhere", "xapi24"), "42") == [
        "INVALID_VALUE", "device", "eth9"]
    x.VLAN.destroy(x.PIF.get_VLAN_master_of(made[0]))


def test_a_bond_takes_over_its_members_and_gives_them_back(fast):
    """xapi_bond.ml: the master PIF bond<n> on the bond's network, the primary member's address
    and management role, its VLANs and its network's VIFs on running VMs move to the master; a
    destroy moves them back."""
    s = fast.session()
    x = s.xenapi
    host = x.pool.get_master(x.pool.get_all()[0])
    x.PIF.scan(host)
    pifs = pifs_by_device(x, host)
    bonded = new_network(x, "Bond 0+3", "xapi30")
    assert failure(x.Bond.create, bonded, [], "", "balance-slb", {}) == ["PIF_BOND_NEEDS_MORE_MEMBERS"]
    assert failure(x.Bond.create, bonded, [pifs["eth0"], pifs["eth3"]], "zz", "balance-slb", {}) == ["MAC_INVALID", "zz"]
    assert failure(x.Bond.create, bonded, [pifs["eth0"], pifs["eth3"]], "", "lacp", {"lacp-time": "sometimes"}) == [
        "INVALID_VALUE", "properties", "lacp-time = sometimes"]
    vm = [r for r, rec in x.VM.get_all_records().items() if not rec["is_a_template"] and not rec["is_control_domain"]][0]
    x.VM.start(vm, False, False)
    try:
        vif = x.VM.get_VIFs(vm)[0]
        eth0_network = x.PIF.get_network(pifs["eth0"])
        assert x.VIF.get_network(vif) == eth0_network
        address = x.PIF.get_IP(pifs["eth0"])
        bond = x.Bond.create(bonded, [pifs["eth0"], pifs["eth3"], pifs["eth3"]], "", "lacp", {})
        record = x.Bond.get_record(bond)
        master = x.PIF.get_record(record["master"])
        assert sorted(record["slaves"]) == sorted([pifs["eth0"], pifs["eth3"]]) and record["primary_slave"] == pifs["eth0"]
        assert record["properties"]["hashing_algorithm"] == "tcpudp_ports" and record["auto_update_mac"] is True
        assert (master["device"], master["network"], master["MAC"]) == ("bond0", bonded, x.PIF.get_MAC(pifs["eth0"]))
        assert master["management"] is True and master["IP"] == address and master["currently_attached"] is True
        assert x.PIF.get_management(pifs["eth0"]) is False and x.PIF.get_IP(pifs["eth0"]) == ""
        assert x.VIF.get_network(vif) == bonded                  # the running VM's NIC moved with the bond
        assert failure(x.PIF.plug, pifs["eth3"]) == ["CANNOT_PLUG_BOND_SLAVE", pifs["eth3"]]
        assert failure(x.Bond.create, new_network(x, "again", "xapi31"), [pifs["eth3"], pifs["eth1"]], "", "active-backup", {}) == [
            "PIF_ALREADY_BONDED", pifs["eth3"]]
        x.Bond.set_mode(bond, "active-backup")
        assert x.Bond.get_properties(bond) == {}
        x.Bond.set_mode(bond, "lacp")
        assert failure(x.Bond.set_property, bond, "lacp-time", "never") == ["INVALID_VALUE", "properties", "lacp-time = never"]
        x.Bond.set_property(bond, "lacp-time", "fast")
        assert x.Bond.get_properties(bond)["lacp-time"] == "fast"
        x.Bond.destroy(bond)
        assert x.PIF.get_management(pifs["eth0"]) is True and x.PIF.get_IP(pifs["eth0"]) == address
        assert x.VIF.get_network(vif) == eth0_network and x.PIF.get_bond_slave_of(pifs["eth3"]) == "OpaqueRef:NULL"
        assert x.network.get_PIFs(bonded) == []
    finally:
        x.VM.hard_shutdown(vm)


def test_no_networking_change_leaves_a_dangling_reference(fast):
    """After the scans, VLANs and bonds above (and a scan after a forget), every reference in
    the database names a live row (GET /diagnostics?check=refs)."""
    from test_references import reference_faults
    s = fast.session()
    x = s.xenapi
    host = x.pool.get_master(x.pool.get_all()[0])
    x.PIF.forget(pifs_by_device(x, host)["eth2"])
    x.PIF.scan(host)
    assert reference_faults(fast) == []
