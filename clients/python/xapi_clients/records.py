"""xe's view of XenAPI objects: hyphenated field names, value formatting and setters.

Each class is a list of `Field`s in the order xe prints them (xen-api
ocaml/xapi-cli-server/records.ml). A field reads one `Row` (an object's ref and XenAPI record,
plus lazily fetched related objects such as VM_metrics) and renders it as xe does: booleans
`true`/`false`, maps `k: v; k2: v2`, sets `a; b`, refs as the target's uuid, `<not in database>`
for missing or null refs. Fields whose record key the server does not send are left out.
"""
import xmlrpc.client

import XenAPI

NID = "<not in database>"
UNKNOWN_TIME = "<unknown time>"
NULL_REF = "OpaqueRef:NULL"

# Classes searched when an error parameter is a ref of unknown class (see Lookup.describe).
_DESCRIBABLE = ("VM", "VDI", "SR", "host", "network", "VBD", "VIF", "PIF", "PBD", "task", "pool")


class RecordError(Exception):
    """A value or field the user gave that xe would refuse before calling the server."""


# ---------------------------------------------------------------------------------------------
# Value formatting and parsing


def show_bool(b):
    return "true" if b else "false"


def show_float(f):
    return "%.3f" % float(f)


def show_date(d):
    return d.value if isinstance(d, xmlrpc.client.DateTime) else str(d)


def show_map(d):
    return "; ".join("%s: %s" % (k, v) for k, v in d.items())


def parse_int(field, text):
    try:
        return str(int(text.strip()))
    except ValueError:
        raise RecordError("Failed to parse parameter '%s': expecting an integer" % field)


def parse_bool(field, text):
    if text in ("true", "false"):
        return text == "true"
    raise RecordError("Failed to parse parameter '%s': expecting a boolean (true or false)" % field)


def parse_float(field, text):
    try:
        return float(text)
    except ValueError:
        raise RecordError("Parameter %s must be a floating-point number" % field)


_BYTE_UNITS = {"": 0, "b": 0, "bytes": 0, "k": 1, "kb": 1, "kib": 1, "m": 2, "mb": 2, "mib": 2,
               "g": 3, "gb": 3, "gib": 3, "t": 4, "tb": 4, "tib": 4}


def parse_bytes(field, text):
    """An integer with an optional binary unit suffix (512MiB, 2 GiB, 4g), as xe's memory fields take."""
    s = text.strip()
    digits = len(s) - len(s.lstrip("0123456789"))
    unit = s[digits:].strip().lower()
    if digits == 0 or unit not in _BYTE_UNITS:
        raise RecordError("Failed to parse field '%s': expecting an integer (possibly with suffix "
                          "KiB, MiB, GiB, TiB), got '%s'" % (field, text))
    return str(int(s[:digits]) * 1024 ** _BYTE_UNITS[unit])


def words(text):
    return [w for w in text.split(",") if w != ""] if text else []


# ---------------------------------------------------------------------------------------------
# Object access


class Lookup:
    """Cached access to other objects, so refs can be shown as uuids and names.

    One table fetch per class (get_all_records) serves every row of a listing; a ref missing from
    the cached table (created since) is fetched on its own.
    """

    def __init__(self, api):
        self.api = api
        self._tables = {}

    def seed(self, cls, records):
        self._tables.setdefault(cls, {}).update(records)

    def table(self, cls):
        if cls not in self._tables:
            try:
                self._tables[cls] = getattr(self.api, cls).get_all_records()
            except XenAPI.Failure:
                self._tables[cls] = {}
        return self._tables[cls]

    def record(self, cls, ref):
        if not ref or ref == NULL_REF:
            return None
        table = self.table(cls)
        if ref not in table:
            try:
                table[ref] = getattr(self.api, cls).get_record(ref)
            except XenAPI.Failure:
                return None
        return table[ref]

    def uuid(self, cls, ref):
        rec = self.record(cls, ref)
        return rec.get("uuid", NID) if rec else NID

    def name(self, cls, ref):
        rec = self.record(cls, ref)
        return rec.get("name_label", NID) if rec else NID

    def describe(self, value):
        """An error parameter as xe shows it: a ref becomes 'uuid (name-label)'."""
        if self.api is None or not isinstance(value, str) or not value.startswith("OpaqueRef:") \
                or value == NULL_REF:
            return str(value)
        for cls in _DESCRIBABLE:
            cached = self._tables.get(cls, {}).get(value)
            if cached is None:
                try:
                    cached = getattr(self.api, cls).get_record(value)
                except XenAPI.Failure:
                    continue
            name = cached.get("name_label")
            return cached["uuid"] + (" (%s)" % name if name is not None else "")
        return value


class Row:
    """One object as xe sees it: its class, ref and record, with access to related objects."""

    def __init__(self, lookup, cls, ref, rec):
        self.lookup = lookup
        self.cls = cls
        self.ref = ref
        self.rec = rec

    @property
    def api(self):
        return self.lookup.api

    def call(self, method, *args):
        """`<Class>.<method>(ref, *args)` on this object."""
        return getattr(getattr(self.api, self.cls), method)(self.ref, *args)

    def linked(self, cls, key):
        """The record of the object the ref field `key` points to, or None."""
        return self.lookup.record(cls, self.rec.get(key))


# ---------------------------------------------------------------------------------------------
# Fields


class Field:
    """One xe parameter of a class.

    Like xe, its kind shows in the qualifier: `get_set` makes it a set (SRO/SRW), `get_map` a map
    (MRO/MRW), otherwise a plain value that is RW when it has a setter.
    """

    def __init__(self, name, get, key=None, set=None, get_set=None, add_to_set=None, remove_from_set=None,
                 get_map=None, add_to_map=None, remove_from_map=None, set_map=None, hidden=False,
                 deprecated=False, expensive=False, case_insensitive=False):
        self.name = name
        self.key = key
        self._get = get
        self.set = set
        self.get_set = get_set
        self.add_to_set = add_to_set
        self.remove_from_set = remove_from_set
        self.get_map = get_map
        self.add_to_map = add_to_map
        self.remove_from_map = remove_from_map
        self.set_map = set_map
        self.hidden = hidden
        self.deprecated = deprecated
        self.expensive = expensive
        self.case_insensitive = case_insensitive

    def available(self, rec):
        return self.key is None or self.key in rec

    def get(self, row):
        try:
            return self._get(row)
        except XenAPI.Failure as e:
            if e.details and e.details[0] == "HANDLE_INVALID":
                return "<invalid reference>"
            if self.expensive:
                # Extra calls the server may not offer must not break a whole listing.
                return "<unknown>"
            raise

    @property
    def qualifier(self):
        if self.get_set is not None:
            return " (SRO)" if self.add_to_set is None else " (SRW)"
        if self.get_map is not None:
            return " (MRO)" if self.add_to_map is None else " (MRW)"
        return " ( RO)" if self.set is None else " ( RW)"

    @property
    def label(self):
        return self.name + self.qualifier + (" [DEPRECATED]" if self.deprecated else "")


def _setter(name, key, parse=None):
    """`<Class>.set_<key>(ref, value)` with the text parsed as field `name` expects."""
    def set_value(row, text):
        row.call("set_" + key, parse(name, text) if parse else text)
    return set_value


def text(name, key, rw=False, **kw):
    return Field(name, lambda r: str(r.rec[key]), key=key,
                 set=_setter(name, key) if rw else None, **kw)


def integer(name, key, rw=False, parse=parse_int, **kw):
    return Field(name, lambda r: str(int(r.rec[key])), key=key,
                 set=_setter(name, key, parse) if rw else None, **kw)


def memory(name, key):
    return integer(name, key, rw=True, parse=parse_bytes)


def boolean(name, key, rw=False, **kw):
    return Field(name, lambda r: show_bool(r.rec[key]), key=key,
                 set=_setter(name, key, parse_bool) if rw else None, **kw)


def floating(name, key, rw=False, **kw):
    return Field(name, lambda r: show_float(r.rec[key]), key=key,
                 set=_setter(name, key, parse_float) if rw else None, **kw)


def enum(name, key, rw=False, show=str, parse=None, **kw):
    to_wire = (lambda field, t: parse(t)) if parse else None
    return Field(name, lambda r: show(r.rec[key]), key=key,
                 set=_setter(name, key, to_wire) if rw else None, **kw)


def date(name, key, **kw):
    return Field(name, lambda r: show_date(r.rec[key]), key=key, **kw)


def ref_uuid(name, key, target, rw=False, **kw):
    def set_ref(row, uuid):
        value = NULL_REF if uuid == "" else getattr(row.api, target).get_by_uuid(uuid)
        row.call("set_" + key, value)
    return Field(name, lambda r: r.lookup.uuid(target, r.rec[key]), key=key,
                 set=set_ref if rw else None, **kw)


def ref_name(name, key, target, **kw):
    return Field(name, lambda r: r.lookup.name(target, r.rec[key]), key=key, **kw)


def refs(name, key, target, as_set=False, sep="; ", **kw):
    def uuids(r):
        return [r.lookup.uuid(target, ref) for ref in r.rec[key]]
    return Field(name, lambda r: sep.join(uuids(r)), key=key, get_set=uuids if as_set else None, **kw)


def mapping(name, key, rw=False, as_map=True, show_key=str, **kw):
    """A (string -> string) map; rw maps are changed with add_to_<key> / remove_from_<key>."""
    def get_map(r):
        return {show_key(k): str(v) for k, v in r.rec[key].items()}
    extra = {}
    if rw:
        extra["add_to_map"] = lambda row, k, v: row.call("add_to_" + key, k, v)
        extra["remove_from_map"] = lambda row, k: row.call("remove_from_" + key, k)
    extra.update(kw)
    return Field(name, lambda r: show_map(get_map(r)), key=key, get_map=get_map if as_map else None, **extra)


def strings(name, key, sep="; ", rw=False, as_set=True, show=str, parse=str, **kw):
    """A set of strings; rw sets are changed with add_<key> / remove_<key>."""
    def members(r):
        return [show(v) for v in r.rec[key]]
    extra = {}
    if rw:
        extra["add_to_set"] = lambda row, v: row.call("add_" + key, parse(v))
        extra["remove_from_set"] = lambda row, v: row.call("remove_" + key, parse(v))
    extra.update(kw)
    return Field(name, lambda r: sep.join(members(r)), key=key, get_set=members if as_set else None, **extra)


def operations(name, key, show=str):
    """allowed_operations (a set) or current_operations (a map task -> op, shown by its values)."""
    def members(r):
        ops = r.rec[key]
        return [show(op) for op in (ops.values() if isinstance(ops, dict) else ops)]
    return Field(name, lambda r: "; ".join(members(r)), key=key, get_set=members)


def linked(name, cls, link_key, render, none=NID, **kw):
    """A value read from a related object (VM_metrics, VM_guest_metrics, host_metrics)."""
    def get(r):
        other = r.linked(cls, link_key)
        try:
            return none if other is None else render(other)
        except KeyError:
            # The related record lacks this (newer) field.
            return none
    return Field(name, get, key=link_key, **kw)


def linked_map(name, cls, link_key, key):
    def get_map(r):
        other = r.linked(cls, link_key)
        return {} if other is None else dict(other.get(key, {}))
    return linked(name, cls, link_key, lambda o: show_map(o.get(key, {})), get_map=get_map)


# ---------------------------------------------------------------------------------------------
# Enum renderings where xe differs from the wire spelling (xen-api record_util.ml)

_VM_OP_NAMES = {"assert_operation_valid": "assertoperationvalid", "data_source_op": "data_sources_op"}
_VM_OP_WIRE = {v: k for k, v in _VM_OP_NAMES.items()}
_HOST_OP_NAMES = {"vm_start": "VM.start", "vm_resume": "VM.resume", "vm_migrate": "VM.migrate"}
_VDI_TYPE_NAMES = {"system": "System", "user": "User", "ephemeral": "Ephemeral", "suspend": "Suspend",
                   "crashdump": "Crashdump", "ha_statefile": "HA statefile", "metadata": "Metadata",
                   "redo_log": "Redo log", "rrd": "rrd", "pvs_cache": "PVS cache", "cbt_metadata": "CBT metadata"}
_TRISTATE = {"yes": "true", "no": "false"}


def vm_op(op):
    return _VM_OP_NAMES.get(op, op)


def host_op(op):
    return _HOST_OP_NAMES.get(op, op)


def sr_op(op):
    for prefix, cls in (("vdi_", "VDI."), ("pbd_", "PBD.")):
        if op.startswith(prefix):
            return cls + op[len(prefix):]
    return op


def power_state(state):
    return state[:1].lower() + state[1:]


def domain_type(t):
    return t.replace("_", "-")


def vdi_type(t):
    return _VDI_TYPE_NAMES.get(t, t)


# ---------------------------------------------------------------------------------------------
# VM


def _memory_target(r):
    try:
        return str(int(float(r.call("query_data_source", "memory_target"))))
    except XenAPI.Failure as e:
        return "0" if e.details[:1] == ["VM_BAD_POWER_STATE"] else "<unknown>"


def _vcpus_utilisation(r):
    metrics = r.linked("VM_metrics", "metrics")
    count = int(metrics["VCPUs_number"]) if metrics else 0
    try:
        return {str(n): show_float(r.call("query_data_source", "cpu%d" % n)) for n in range(count)}
    except XenAPI.Failure:
        return {}


def _devices(method):
    def get(r):
        try:
            return list(r.call(method))
        except XenAPI.Failure:
            return []
    return get


def _cooperative(r):
    try:
        return show_bool(r.call("get_cooperative"))
    except XenAPI.Failure:
        return "true"


def _add_vcpus_param(row, key, value):
    if key not in ("weight", "cap", "mask"):
        raise RecordError("Failed to add parameter '%s': expecting 'weight','cap' or 'mask'" % key)
    row.call("add_to_VCPUs_params", key, value)


def _set_groups(row, text):
    row.call("set_groups", [row.api.VM_group.get_by_uuid(u) for u in words(text)])


def _vm_metric(name, key, render, none=NID, **kw):
    return linked(name, "VM_metrics", "metrics", lambda m: render(m[key]), none=none, **kw)


def _guest(name, key, render):
    return linked(name, "VM_guest_metrics", "guest_metrics", lambda g: render(g[key]))


def _numa_node_memory_map(r):
    m = r.linked("VM_metrics", "metrics")
    return {str(k): str(v) for k, v in (m or {}).get("numa_node_memory", {}).items()}


VM_FIELDS = [
    text("uuid", "uuid"),
    text("name-label", "name_label", rw=True),
    text("name-description", "name_description", rw=True),
    integer("user-version", "user_version", rw=True),
    boolean("is-a-template", "is_a_template", rw=True),
    boolean("is-default-template", "is_default_template", rw=True),
    boolean("is-a-snapshot", "is_a_snapshot"),
    ref_uuid("snapshot-of", "snapshot_of", "VM"),
    refs("snapshots", "snapshots", "VM"),
    date("snapshot-time", "snapshot_time"),
    text("transportable-snapshot-id", "transportable_snapshot_id", hidden=True),
    mapping("snapshot-info", "snapshot_info", as_map=False),
    ref_uuid("parent", "parent", "VM"),
    refs("children", "children", "VM"),
    boolean("is-control-domain", "is_control_domain"),
    enum("power-state", "power_state", show=power_state),
    _vm_metric("memory-actual", "memory_actual", lambda v: str(int(v))),
    Field("memory-target", _memory_target, expensive=True),
    integer("memory-overhead", "memory_overhead"),
    memory("memory-static-max", "memory_static_max"),
    memory("memory-dynamic-max", "memory_dynamic_max"),
    memory("memory-dynamic-min", "memory_dynamic_min"),
    memory("memory-static-min", "memory_static_min"),
    ref_uuid("suspend-VDI-uuid", "suspend_VDI", "VDI", rw=True),
    ref_uuid("suspend-SR-uuid", "suspend_SR", "SR", rw=True),
    mapping("VCPUs-params", "VCPUs_params", rw=True, add_to_map=_add_vcpus_param),
    integer("VCPUs-max", "VCPUs_max", rw=True),
    integer("VCPUs-at-startup", "VCPUs_at_startup", rw=True),
    enum("actions-after-shutdown", "actions_after_shutdown", rw=True),
    enum("actions-after-softreboot", "actions_after_softreboot", rw=True),
    enum("actions-after-reboot", "actions_after_reboot", rw=True),
    enum("actions-after-crash", "actions_after_crash", rw=True),
    refs("console-uuids", "consoles", "console", as_set=True),
    _vm_metric("hvm", "hvm", show_bool, none="false"),
    _vm_metric("nomigrate", "nomigrate", show_bool, none="false", hidden=True),
    _vm_metric("nested-virt", "nested_virt", show_bool, none="false", hidden=True),
    mapping("platform", "platform", rw=True),
    _vm_metric("numa-optimised", "numa_optimised", show_bool, none="false"),
    _vm_metric("numa-nodes", "numa_nodes", lambda v: str(int(v)), none="0"),
    linked("numa-node-memory", "VM_metrics", "metrics", lambda m: show_map(m.get("numa_node_memory", {})),
           none="[]", get_map=_numa_node_memory_map),
    operations("allowed-operations", "allowed_operations", show=vm_op),
    operations("current-operations", "current_operations", show=vm_op),
    mapping("blocked-operations", "blocked_operations", rw=True, show_key=vm_op,
            add_to_map=lambda row, k, v: row.call("add_to_blocked_operations", _VM_OP_WIRE.get(k, k), v),
            remove_from_map=lambda row, k: row.call("remove_from_blocked_operations", _VM_OP_WIRE.get(k, k))),
    Field("allowed-VBD-devices", lambda r: "; ".join(_devices("get_allowed_VBD_devices")(r)),
          get_set=_devices("get_allowed_VBD_devices"), expensive=True),
    Field("allowed-VIF-devices", lambda r: "; ".join(_devices("get_allowed_VIF_devices")(r)),
          get_set=_devices("get_allowed_VIF_devices"), expensive=True),
    Field("possible-hosts", lambda r: "; ".join(r.lookup.uuid("host", h) for h in r.call("get_possible_hosts")),
          expensive=True),
    enum("domain-type", "domain_type", rw=True, show=domain_type, parse=lambda t: t.lower().replace("-", "_")),
    _vm_metric("current-domain-type", "current_domain_type", domain_type),
    text("HVM-boot-policy", "HVM_boot_policy", rw=True),
    mapping("HVM-boot-params", "HVM_boot_params", rw=True),
    floating("HVM-shadow-multiplier", "HVM_shadow_multiplier", rw=True),
    mapping("NVRAM", "NVRAM", rw=True, hidden=True),
    text("PV-kernel", "PV_kernel", rw=True),
    text("PV-ramdisk", "PV_ramdisk", rw=True),
    text("PV-args", "PV_args", rw=True),
    text("PV-legacy-args", "PV_legacy_args", rw=True),
    text("PV-bootloader", "PV_bootloader", rw=True),
    text("PV-bootloader-args", "PV_bootloader_args", rw=True),
    mapping("last-boot-CPU-flags", "last_boot_CPU_flags", as_map=False),
    Field("last-boot-record", lambda r: "'" + r.rec["last_booted_record"] + "'", key="last_booted_record",
          expensive=True),
    ref_uuid("resident-on", "resident_on", "host"),
    ref_uuid("affinity", "affinity", "host", rw=True),
    mapping("other-config", "other_config", rw=True),
    integer("dom-id", "domid"),
    text("recommendations", "recommendations"),
    mapping("xenstore-data", "xenstore_data", rw=True),
    boolean("ha-always-run", "ha_always_run", rw=True, deprecated=True),
    text("ha-restart-priority", "ha_restart_priority", rw=True),
    Field("blobs", lambda r: show_map({k: r.lookup.uuid("blob", v) for k, v in r.rec["blobs"].items()}),
          key="blobs"),
    _vm_metric("start-time", "start_time", show_date, none=UNKNOWN_TIME),
    _vm_metric("install-time", "install_time", show_date, none=UNKNOWN_TIME),
    _vm_metric("VCPUs-number", "VCPUs_number", lambda v: str(int(v))),
    Field("VCPUs-utilisation", lambda r: show_map(_vcpus_utilisation(r)), get_map=_vcpus_utilisation,
          expensive=True),
    linked_map("os-version", "VM_guest_metrics", "guest_metrics", "os_version"),
    linked_map("netbios-name", "VM_guest_metrics", "guest_metrics", "netbios_name"),
    linked_map("PV-drivers-version", "VM_guest_metrics", "guest_metrics", "PV_drivers_version"),
    _guest("PV-drivers-up-to-date", "PV_drivers_up_to_date", show_bool),
    linked_map("memory", "VM_guest_metrics", "guest_metrics", "memory"),
    linked_map("disks", "VM_guest_metrics", "guest_metrics", "disks"),
    refs("VBDs", "VBDs", "VBD", as_set=True),
    linked_map("networks", "VM_guest_metrics", "guest_metrics", "networks"),
    linked_map("services", "VM_guest_metrics", "guest_metrics", "services"),
    _guest("PV-drivers-detected", "PV_drivers_detected", show_bool),
    linked_map("other", "VM_guest_metrics", "guest_metrics", "other"),
    _guest("live", "live", show_bool),
    _guest("guest-metrics-last-updated", "last_updated", show_date),
    _guest("can-use-hotplug-vbd", "can_use_hotplug_vbd", lambda v: _TRISTATE.get(v, v)),
    _guest("can-use-hotplug-vif", "can_use_hotplug_vif", lambda v: _TRISTATE.get(v, v)),
    Field("cooperative", _cooperative, expensive=True, deprecated=True),
    strings("tags", "tags", sep=", ", rw=True),
    ref_uuid("appliance", "appliance", "VM_appliance", rw=True),
    Field("groups", lambda r: "; ".join(r.lookup.uuid("VM_group", g) for g in r.rec["groups"]), key="groups",
          set=_set_groups),
    enum("secureboot-certificates-state", "secureboot_certificates_state"),
    ref_uuid("snapshot-schedule", "snapshot_schedule", "VMSS", rw=True),
    boolean("is-vmss-snapshot", "is_vmss_snapshot"),
    integer("start-delay", "start_delay", rw=True),
    integer("shutdown-delay", "shutdown_delay", rw=True),
    integer("order", "order", rw=True),
    integer("version", "version"),
    text("generation-id", "generation_id"),
    integer("hardware-platform-version", "hardware_platform_version"),
    boolean("has-vendor-device", "has_vendor_device", rw=True),
    boolean("requires-reboot", "requires_reboot"),
    text("reference-label", "reference_label"),
    mapping("bios-strings", "bios_strings",
            set_map=lambda row, pairs: row.call("set_bios_strings", {**row.rec["bios_strings"], **pairs})),
    strings("pending-guidances", "pending_guidances", as_set=False),
    refs("vtpms", "VTPMs", "VTPM"),
    strings("pending-guidances-recommended", "pending_guidances_recommended", as_set=False),
    strings("pending-guidances-full", "pending_guidances_full", as_set=False),
]


# ---------------------------------------------------------------------------------------------
# VBD, VIF, VDI


def _query_kbs(vm_key, template):
    def get(r):
        try:
            value = r.api.VM.query_data_source(r.rec[vm_key], template % r.rec["device"])
            return show_float(float(value) / 1024.0)
        except XenAPI.Failure:
            return "<unknown>"
    return get


def _attachable(r):
    try:
        r.call("assert_attachable")
        return "true"
    except XenAPI.Failure as e:
        return "false (error: %s)" % ", ".join(e.details)


VBD_FIELDS = [
    text("uuid", "uuid"),
    ref_uuid("vm-uuid", "VM", "VM"),
    ref_name("vm-name-label", "VM", "VM"),
    ref_uuid("vdi-uuid", "VDI", "VDI"),
    Field("vdi-name-label", lambda r: "<EMPTY>" if r.rec["empty"] else r.lookup.name("VDI", r.rec["VDI"]), key="VDI"),
    operations("allowed-operations", "allowed_operations"),
    operations("current-operations", "current_operations"),
    boolean("empty", "empty"),
    text("device", "device"),
    text("userdevice", "userdevice", rw=True),
    boolean("bootable", "bootable", rw=True),
    enum("mode", "mode", rw=True),
    enum("type", "type", rw=True),
    boolean("unpluggable", "unpluggable", rw=True),
    boolean("currently-attached", "currently_attached"),
    Field("attachable", _attachable, expensive=True),
    boolean("storage-lock", "storage_lock"),
    integer("status-code", "status_code"),
    text("status-detail", "status_detail"),
    text("qos_algorithm_type", "qos_algorithm_type", rw=True),
    mapping("qos_algorithm_params", "qos_algorithm_params", rw=True),
    strings("qos_supported_algorithms", "qos_supported_algorithms"),
    mapping("other-config", "other_config", rw=True),
    Field("io_read_kbs", _query_kbs("VM", "vbd_%s_read"), expensive=True),
    Field("io_write_kbs", _query_kbs("VM", "vbd_%s_write"), expensive=True),
]


def _set_words(key):
    def set_value(row, text_value):
        row.call("set_" + key, words(text_value))
    return set_value


VIF_FIELDS = [
    text("uuid", "uuid"),
    ref_uuid("vm-uuid", "VM", "VM"),
    ref_name("vm-name-label", "VM", "VM"),
    operations("allowed-operations", "allowed_operations"),
    operations("current-operations", "current_operations"),
    text("device", "device"),
    text("MAC", "MAC", case_insensitive=True),
    boolean("MAC-autogenerated", "MAC_autogenerated"),
    integer("MTU", "MTU"),
    boolean("currently-attached", "currently_attached"),
    text("qos_algorithm_type", "qos_algorithm_type", rw=True),
    mapping("qos_algorithm_params", "qos_algorithm_params", rw=True),
    strings("qos_supported_algorithms", "qos_supported_algorithms"),
    mapping("other-config", "other_config", rw=True),
    ref_uuid("network-uuid", "network", "network"),
    ref_name("network-name-label", "network", "network"),
    Field("io_read_kbs", _query_kbs("VM", "vif_%s_rx"), expensive=True),
    Field("io_write_kbs", _query_kbs("VM", "vif_%s_tx"), expensive=True),
    enum("locking-mode", "locking_mode", rw=True),
    strings("ipv4-allowed", "ipv4_allowed", rw=True, set=_set_words("ipv4_allowed")),
    strings("ipv6-allowed", "ipv6_allowed", rw=True, set=_set_words("ipv6_allowed")),
    enum("ipv4-configuration-mode", "ipv4_configuration_mode"),
    strings("ipv4-addresses", "ipv4_addresses", as_set=False),
    text("ipv4-gateway", "ipv4_gateway"),
    enum("ipv6-configuration-mode", "ipv6_configuration_mode"),
    strings("ipv6-addresses", "ipv6_addresses", as_set=False),
    text("ipv6-gateway", "ipv6_gateway"),
    strings("trunks", "trunks", rw=True, show=lambda v: str(int(v)), parse=lambda v: str(int(v))),
]


def _metadata_of_pool(r):
    pool_ref = r.rec["metadata_of_pool"]
    if pool_ref in r.lookup.table("pool"):
        return r.lookup.uuid("pool", pool_ref)
    if pool_ref == NULL_REF:
        return NID
    try:
        return r.call("read_database_pool_uuid") or NID
    except XenAPI.Failure:
        return NID


VDI_FIELDS = [
    text("uuid", "uuid"),
    text("name-label", "name_label", rw=True),
    text("name-description", "name_description", rw=True),
    boolean("is-a-snapshot", "is_a_snapshot"),
    ref_uuid("snapshot-of", "snapshot_of", "VDI"),
    refs("snapshots", "snapshots", "VDI"),
    date("snapshot-time", "snapshot_time"),
    operations("allowed-operations", "allowed_operations"),
    operations("current-operations", "current_operations"),
    ref_uuid("sr-uuid", "SR", "SR"),
    ref_name("sr-name-label", "SR", "SR"),
    refs("vbd-uuids", "VBDs", "VBD", as_set=True),
    refs("crashdump-uuids", "crash_dumps", "crashdump", as_set=True),
    integer("virtual-size", "virtual_size"),
    integer("physical-utilisation", "physical_utilisation"),
    text("location", "location"),
    enum("type", "type", show=vdi_type),
    boolean("sharable", "sharable"),
    boolean("read-only", "read_only"),
    boolean("storage-lock", "storage_lock"),
    boolean("managed", "managed"),
    ref_uuid("parent", "parent", "VDI", deprecated=True),
    boolean("missing", "missing"),
    boolean("is-tools-iso", "is_tools_iso"),
    mapping("other-config", "other_config", rw=True),
    mapping("xenstore-data", "xenstore_data"),
    mapping("sm-config", "sm_config"),
    enum("on-boot", "on_boot", rw=True),
    boolean("allow-caching", "allow_caching", rw=True),
    boolean("metadata-latest", "metadata_latest"),
    Field("metadata-of-pool", _metadata_of_pool, key="metadata_of_pool"),
    strings("tags", "tags", sep=", ", rw=True),
    boolean("cbt-enabled", "cbt_enabled"),
]


# ---------------------------------------------------------------------------------------------
# host, SR, network, task


def _host_metric(name, key, render):
    return linked(name, "host_metrics", "metrics", lambda m: render(m[key]))


def _patch_uuids(r):
    uuids = []
    for hp in r.rec["patches"]:
        host_patch = r.lookup.record("host_patch", hp)
        uuids.append(r.lookup.uuid("pool_patch", host_patch["pool_patch"]) if host_patch else NID)
    return uuids


def _update_uuids(r):
    return [r.lookup.uuid("pool_update", u) for u in r.rec["updates"]]


HOST_FIELDS = [
    text("uuid", "uuid"),
    text("name-label", "name_label", rw=True),
    text("name-description", "name_description", rw=True),
    operations("allowed-operations", "allowed_operations", show=host_op),
    operations("current-operations", "current_operations", show=host_op),
    boolean("enabled", "enabled"),
    enum("display", "display"),
    integer("API-version-major", "API_version_major"),
    integer("API-version-minor", "API_version_minor"),
    text("API-version-vendor", "API_version_vendor"),
    mapping("API-version-vendor-implementation", "API_version_vendor_implementation"),
    mapping("logging", "logging", rw=True),
    ref_uuid("suspend-image-sr-uuid", "suspend_image_sr", "SR", rw=True),
    ref_uuid("crash-dump-sr-uuid", "crash_dump_sr", "SR", rw=True),
    mapping("software-version", "software_version"),
    strings("capabilities", "capabilities"),
    mapping("other-config", "other_config", rw=True),
    mapping("cpu_info", "cpu_info"),
    mapping("chipset-info", "chipset_info"),
    text("hostname", "hostname"),
    text("address", "address"),
    boolean("https-only", "https_only", rw=True),
    strings("supported-bootloaders", "supported_bootloaders"),
    Field("blobs", lambda r: show_map({k: r.lookup.uuid("blob", v) for k, v in r.rec["blobs"].items()}),
          key="blobs"),
    integer("memory-overhead", "memory_overhead"),
    _host_metric("memory-total", "memory_total", lambda v: str(int(v))),
    _host_metric("memory-free", "memory_free", lambda v: str(int(v))),
    Field("memory-free-computed", lambda r: str(int(r.api.host.compute_free_memory(r.ref))), expensive=True),
    _host_metric("host-metrics-live", "live", show_bool),
    Field("patches", lambda r: ", ".join(_patch_uuids(r)), key="patches", get_set=_patch_uuids, deprecated=True),
    Field("updates", lambda r: ", ".join(_update_uuids(r)), key="updates", get_set=_update_uuids),
    Field("ha-statefiles", lambda r: "; ".join(r.lookup.uuid("VDI", v) for v in r.rec["ha_statefiles"]),
          key="ha_statefiles"),
    strings("ha-network-peers", "ha_network_peers", as_set=False),
    text("external-auth-type", "external_auth_type"),
    text("external-auth-service-name", "external_auth_service_name"),
    mapping("external-auth-configuration", "external_auth_configuration"),
    text("edition", "edition"),
    mapping("license-server", "license_server"),
    text("power-on-mode", "power_on_mode"),
    mapping("power-on-config", "power_on_config"),
    ref_uuid("local-cache-sr", "local_cache_sr", "SR"),
    strings("tags", "tags", sep=", ", rw=True),
    boolean("ssl-legacy", "ssl_legacy", rw=True),
    mapping("guest_VCPUs_params", "guest_VCPUs_params", rw=True),
    strings("virtual-hardware-platform-versions", "virtual_hardware_platform_versions", show=lambda v: str(int(v))),
    ref_uuid("control-domain-uuid", "control_domain", "VM"),
    refs("resident-vms", "resident_VMs", "VM", as_set=True),
    refs("updates-requiring-reboot", "updates_requiring_reboot", "pool_update", as_set=True),
    refs("features", "features", "Feature", as_set=True),
    text("iscsi_iqn", "iscsi_iqn", rw=True),
    boolean("multipathing", "multipathing", rw=True),
    text("uefi-certificates", "uefi_certificates", rw=True, hidden=True),
    enum("numa-affinity-policy", "numa_affinity_policy", rw=True),
    strings("pending-guidances", "pending_guidances", as_set=False),
    boolean("tls-verification-enabled", "tls_verification_enabled"),
    date("last-software-update", "last_software_update"),
    enum("latest-synced-updates-applied", "latest_synced_updates_applied"),
    strings("pending-guidances-recommended", "pending_guidances_recommended", as_set=False),
    strings("pending-guidances-full", "pending_guidances_full", as_set=False),
    text("last-update-hash", "last_update_hash"),
    boolean("ssh-enabled", "ssh_enabled"),
    integer("ssh-enabled-timeout", "ssh_enabled_timeout", rw=True),
    date("ssh-expiry", "ssh_expiry"),
    integer("console-idle-timeout", "console_idle_timeout", rw=True),
    boolean("ssh-auto-mode", "ssh_auto_mode", rw=True),
    text("max-cstate", "max_cstate", rw=True),
    boolean("secure-boot", "secure_boot"),
    enum("ntp-mode", "ntp_mode", rw=True),
    strings("ntp-custom-servers", "ntp_custom_servers", sep=", ", set=_set_words("ntp_custom_servers")),
    text("timezone", "timezone", rw=True),
]


def _sr_host(r):
    pbds = r.rec["PBDs"]
    if len(pbds) > 1:
        return "<shared>"
    pbd = r.lookup.record("PBD", pbds[0]) if pbds else None
    return r.lookup.name("host", pbd["host"]) if pbd else NID


SR_FIELDS = [
    text("uuid", "uuid"),
    text("name-label", "name_label", rw=True),
    text("name-description", "name_description", rw=True),
    Field("host", _sr_host, key="PBDs"),
    operations("allowed-operations", "allowed_operations", show=sr_op),
    operations("current-operations", "current_operations", show=sr_op),
    refs("VDIs", "VDIs", "VDI", as_set=True),
    refs("PBDs", "PBDs", "PBD", as_set=True),
    integer("virtual-allocation", "virtual_allocation"),
    integer("physical-utilisation", "physical_utilisation"),
    integer("physical-size", "physical_size"),
    text("type", "type"),
    text("content-type", "content_type"),
    boolean("shared", "shared", rw=True),
    ref_uuid("introduced-by", "introduced_by", "DR_task"),
    boolean("is-tools-sr", "is_tools_sr"),
    mapping("other-config", "other_config", rw=True),
    mapping("sm-config", "sm_config"),
    Field("blobs", lambda r: show_map({k: r.lookup.uuid("blob", v) for k, v in r.rec["blobs"].items()}),
          key="blobs"),
    boolean("local-cache-enabled", "local_cache_enabled"),
    strings("tags", "tags", sep=", ", rw=True),
    boolean("clustered", "clustered"),
]

NETWORK_FIELDS = [
    text("uuid", "uuid"),
    text("name-label", "name_label", rw=True),
    text("name-description", "name_description", rw=True),
    refs("VIF-uuids", "VIFs", "VIF", as_set=True),
    refs("PIF-uuids", "PIFs", "PIF", as_set=True),
    integer("MTU", "MTU", rw=True),
    text("bridge", "bridge"),
    boolean("managed", "managed"),
    mapping("other-config", "other_config", rw=True),
    Field("blobs", lambda r: show_map({k: r.lookup.uuid("blob", v) for k, v in r.rec["blobs"].items()}),
          key="blobs"),
    strings("tags", "tags", sep=", ", rw=True),
    enum("default-locking-mode", "default_locking_mode", rw=True),
    strings("purpose", "purpose", sep=", ", rw=True),
]

TASK_FIELDS = [
    text("uuid", "uuid"),
    text("name-label", "name_label"),
    text("name-description", "name_description"),
    ref_uuid("subtask_of", "subtask_of", "task"),
    refs("subtasks", "subtasks", "task"),
    ref_uuid("resident-on", "resident_on", "host"),
    enum("status", "status"),
    floating("progress", "progress"),
    text("type", "type"),
    text("result", "result"),
    date("created", "created"),
    date("finished", "finished"),
    strings("error_info", "error_info", as_set=False),
    strings("allowed_operations", "allowed_operations", as_set=False),
    Field("current_operations", lambda r: "; ".join(r.rec["current_operations"].values()), key="current_operations"),
    mapping("other-config", "other_config", rw=True),
]


class ClassSpec:
    """An xe object class: its XenAPI class, fields, and the defaults of `<name>-list`."""

    def __init__(self, xe_name, api_class, fields, list_params, list_filters=()):
        self.xe_name = xe_name
        self.api_class = api_class
        self.fields = fields
        self.list_params = list_params
        self.list_filters = list(list_filters)

    def fields_of(self, rec):
        return [f for f in self.fields if f.available(rec)]

    def field(self, name, rec=None):
        for f in self.fields:
            if f.name == name and (rec is None or f.available(rec)):
                return f
        return None


# Defaults from xen-api cli_operations.ml gen_cmds.
CLASSES = {spec.xe_name: spec for spec in [
    ClassSpec("vm", "VM", VM_FIELDS, ["name-label", "uuid", "power-state"], [("is-a-template", "false")]),
    ClassSpec("template", "VM", VM_FIELDS, ["name-label", "name-description", "uuid"],
              [("is-a-template", "true"), ("is-a-snapshot", "false")]),
    ClassSpec("vbd", "VBD", VBD_FIELDS, ["uuid", "vm-uuid", "vm-name-label", "vdi-uuid", "device", "empty"]),
    ClassSpec("vif", "VIF", VIF_FIELDS, ["uuid", "device", "vm-uuid", "network-uuid"]),
    ClassSpec("vdi", "VDI", VDI_FIELDS,
              ["uuid", "name-label", "name-description", "virtual-size", "read-only", "sharable", "sr-uuid"]),
    ClassSpec("host", "host", HOST_FIELDS, ["uuid", "name-label", "name-description"]),
    ClassSpec("sr", "SR", SR_FIELDS, ["uuid", "name-label", "name-description", "host", "type", "content-type"]),
    ClassSpec("network", "network", NETWORK_FIELDS, ["uuid", "name-label", "name-description", "bridge"]),
    ClassSpec("task", "task", TASK_FIELDS, ["uuid", "name-label", "name-description", "status", "progress"]),
]}

# event-wait classes: the event class name (lower-case XenAPI class) to its field table.
EVENT_CLASSES = {"vm": CLASSES["vm"], "vbd": CLASSES["vbd"], "vif": CLASSES["vif"], "vdi": CLASSES["vdi"],
                 "host": CLASSES["host"], "sr": CLASSES["sr"], "network": CLASSES["network"],
                 "task": CLASSES["task"]}
