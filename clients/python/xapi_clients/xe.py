"""`xe`: an xe-style command-line client for xapi-swift, built on the official XenAPI module.

Real xe is a thin client that ships its arguments to xapi's /cli handler; this one runs the same
commands client-side over the XenAPI, keeping xe's command names, `key=value` syntax, filters,
`params=`, output layout (`name ( RO): value` blocks, `--minimal` comma lists) and error text.
"""
import json
import sys
import time
import xml.etree.ElementTree as ET
import xmlrpc.client

import XenAPI

from . import connection, records
from .records import CLASSES, EVENT_CLASSES, Lookup, Row

USAGE = """Usage:
  xe <command>
    [ -s <server> ]            server host (XE_HOST, default 127.0.0.1)
    [ -p <port> ]              server port (XE_PORT, default 8080)
    [ -u <username> ]          user name (XE_USER, default root)
    [ -pw <password> | -pwf <password file> ]
                               password (XE_PASSWORD, XE_PASSWORD_FILE, default ./state/password)
    [ --unix-socket <path> ]   talk to the server's unix socket (XE_UNIX_SOCKET), no password
    [ --minimal ]              output only values in a comma-separated list
    [ <other arguments> ... ]  command-specific key=value arguments

A full list of commands can be obtained by running
  xe help
"""

# Parameters that never act as filters (xen-api cli_operations.ml stdparams).
STDPARAMS = {"server", "password", "port", "username", "minimal", "force", "multiple", "all",
             "message-priority", "trace"}

# Global options that take a value, and the setting each one fills.
_VALUE_OPTIONS = {"-s": "server", "-h": "server", "-p": "port", "-u": "username", "-pw": "password",
                  "-pwf": "passwordfile", "--unix-socket": "unix-socket", "--traceparent": None}
_CONNECTION_KEYS = {"server", "port", "username", "password", "passwordfile", "unix-socket"}
_IGNORED_SWITCHES = {"--nossl", "--debug", "--debug-on-fail"}


class CliError(Exception):
    """A failure detected by the client; printed as xe prints its own failures ("Error: ...")."""


class ParamError(Exception):
    """A command line xe refuses before running anything: printed as "<kind>: <detail>"."""

    def __init__(self, kind, detail):
        super().__init__("%s: %s" % (kind, detail))


class MultipleFailure(Exception):
    """Some of the objects selected with --multiple failed: [(uuid, message)]."""

    def __init__(self, failures):
        super().__init__(failures)
        self.failures = failures


class Usage(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Command line


def parse_command_line(argv):
    """Splits argv into (connection settings dict, command name or None, [(key, value)])."""
    conn = {}
    rest = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-help", "--help"):
            raise Usage()
        if arg in _VALUE_OPTIONS:
            if i + 1 >= len(argv):
                raise ParamError("Syntax error", "Switch %s requires a parameter" % arg)
            if _VALUE_OPTIONS[arg]:
                conn[_VALUE_OPTIONS[arg]] = argv[i + 1]
            i += 2
            continue
        if arg.startswith("--unix-socket="):
            conn["unix-socket"] = arg.split("=", 1)[1]
        elif arg in _IGNORED_SWITCHES:
            pass
        elif "=" in arg and arg.split("=", 1)[0] in _CONNECTION_KEYS:
            key, value = arg.split("=", 1)
            conn[key] = value
        else:
            rest.append(arg)
        i += 1
    if not rest:
        return conn, None, []
    command = rest[0]
    if "=" in command or command.startswith("-"):
        raise ParamError("Syntax error", "command name is missing")
    params = []
    i = 1
    while i < len(rest):
        arg = rest[i]
        if arg == "--timeout" and i + 1 < len(rest) and "=" not in rest[i + 1]:
            params.append(("timeout", rest[i + 1]))
            i += 2
            continue
        if arg.startswith("--"):
            key, _, value = arg[2:].partition("=")
            params.append((key, value if "=" in arg else "true"))
        elif arg.startswith("-"):
            raise ParamError("Syntax error", "Unknown switch: " + arg)
        else:
            key, _, value = arg.partition("=")
            params.append((key, value))
        i += 1
    return conn, command, params


def settings_from(conn, environ=None):
    return connection.resolve(host=conn.get("server"), port=conn.get("port"), user=conn.get("username"),
                              password=conn.get("password"), password_file=conn.get("passwordfile"),
                              unix_socket=conn.get("unix-socket"), environ=environ)


# ---------------------------------------------------------------------------------------------
# Output


def _escape_commas(s):
    return s.replace("\\", "\\\\").replace(",", "\\,")


def format_record(pairs):
    """xe's record block: the first name left-aligned, the others right-aligned to one column."""
    width = 4 + max(len(name) for name, _ in pairs)
    lines = [(pairs[0][0].ljust(width), pairs[0][1])] + [(n.rjust(width), v) for n, v in pairs[1:]]
    return "\n".join("%s: %s" % line for line in lines) + "\n"


class Printer:
    """xe's printer: record tables and value lists, or with --minimal one comma-separated line."""

    def __init__(self, out, minimal):
        self.out = out
        self.minimal = minimal
        self._buffer = []

    def table(self, recs):
        if self.minimal:
            if recs and all(recs):
                self._buffer.append(",".join(_escape_commas(r[0][1]) for r in recs))
        else:
            for r in recs:
                if r:
                    # xe prints each block followed by two empty lines.
                    self.out.write(format_record(r) + "\n\n")

    def values(self, values):
        if self.minimal:
            self._buffer.append(",".join(_escape_commas(v) for v in values))
        else:
            for v in values:
                self.out.write(v + "\n")

    def flush(self):
        if self.minimal:
            self.out.write(",".join(self._buffer) + "\n")
        self.out.flush()


# ---------------------------------------------------------------------------------------------
# Running a command


class Context:
    """One command invocation: the parameters, the logged-in API and the output."""

    def __init__(self, settings, params, printer, session=None, stdin=None):
        self.settings = settings
        self.params = params
        self.printer = printer
        self.session = session
        self.stdin = stdin or sys.stdin
        self.api = session.xenapi if session else None
        self.lookup = Lookup(self.api) if session else None

    def has(self, key):
        return any(k == key for k, _ in self.params)

    def get(self, key, default=None):
        for k, v in self.params:
            if k == key:
                return v
        return default

    def require(self, key):
        value = self.get(key)
        if value is None:
            raise ParamError("Required parameter not found", key)
        return value

    def flag(self, key):
        value = self.get(key)
        if value is None:
            return False
        lowered = value.lower()
        if lowered in ("true", "t", "yes", "y", "1"):
            return True
        if lowered in ("false", "f", "no", "n", "0"):
            return False
        raise CliError("Expected 'true','t','yes','y','1','false','f','no','n','0' got %s" % value)


def rows_of(ctx, spec):
    recs = getattr(ctx.api, spec.api_class).get_all_records()
    ctx.lookup.seed(spec.api_class, recs)
    return [Row(ctx.lookup, spec.api_class, ref, rec) for ref, rec in recs.items()]


def field_type(spec, name, rec):
    """('normal', field) | ('map', field) | ('set', field), as xe decides it for filters and setters."""
    field = spec.field(name, rec)
    if field is not None:
        return "normal", field
    if ":" in name:
        stem = name.split(":", 1)[0]
        field = spec.field(stem, rec)
        if field is None:
            raise CliError("Unknown field '%s'" % name)
        if field.get_set is not None:
            return "set", field
        if field.get_map is not None:
            return "map", field
        raise CliError("Field '%s' is not a set or map" % field.name)
    # Older syntax: <map-name>-<key>=value, longest map (then set) name first.
    for kind, attr in (("map", "get_map"), ("set", "get_set")):
        candidates = [f for f in spec.fields_of(rec) if getattr(f, attr) is not None]
        for f in sorted(candidates, key=lambda f: -len(f.name)):
            if name.startswith(f.name + "-"):
                return kind, f
    raise CliError("Unknown field '%s'" % name)


def filter_rows(spec, rows, filters):
    for key, value in filters:
        if not rows:
            return []
        kind, field = field_type(spec, key, rows[0].rec)
        suffix = key[len(field.name) + 1:]
        if kind == "normal":
            if field.case_insensitive:
                rows = [r for r in rows if field.get(r).lower() == value.lower()]
            else:
                rows = [r for r in rows if field.get(r) == value]
        elif kind == "map":
            if field.case_insensitive:
                rows = [r for r in rows
                        if {k.lower(): v.lower() for k, v in field.get_map(r).items()}.get(suffix.lower())
                        == value.lower()]
            else:
                rows = [r for r in rows if field.get_map(r).get(suffix) == value]
        else:
            if suffix != "contains":
                raise CliError("Invalid syntax for set filtering (should be set-param:contains=key)")
            rows = [r for r in rows if value in field.get_set(r)]
    return rows


def shown_fields(ctx, spec, row, defaults):
    """The fields `params=` asks for (or the class's defaults), in the record's own order."""
    wanted = ctx.get("params")
    names = None if wanted == "all" else (wanted.split(",") if wanted is not None else defaults)
    return [f for f in spec.fields_of(row.rec) if not f.hidden and (names is None or f.name in names)]


def cmd_list(spec):
    def run(ctx):
        rows = rows_of(ctx, spec)
        filters = [(k, v) for k, v in ctx.params if k != "params" and k not in STDPARAMS]
        selected = rows if ctx.flag("all") else filter_rows(spec, rows, spec.list_filters + filters)
        table = []
        for row in selected:
            fields = shown_fields(ctx, spec, row, spec.list_params)
            table.append([(f.label, "<expensive field>" if f.expensive else f.get(row)) for f in fields])
        ctx.printer.table(table)
    return run


def object_row(ctx, spec, uuid):
    cls = getattr(ctx.api, spec.api_class)
    ref = cls.get_by_uuid(uuid)
    return Row(ctx.lookup, spec.api_class, ref, cls.get_record(ref))


def lookup_field(spec, row, name):
    field = spec.field(name, row.rec)
    if field is None:
        raise XenAPI.Failure(["Missing parameter", name])
    return field


def cmd_param_list(spec):
    def run(ctx):
        row = object_row(ctx, spec, ctx.require("uuid"))
        ctx.printer.table([[(f.label, f.get(row)) for f in spec.fields_of(row.rec) if not f.hidden]])
    return run


def cmd_param_get(spec):
    def run(ctx):
        row = object_row(ctx, spec, ctx.require("uuid"))
        field = lookup_field(spec, row, ctx.require("param-name"))
        key = ctx.get("param-key")
        if key is not None and field.get_map is not None:
            m = field.get_map(row)
            if key not in m:
                raise CliError("Key %s not found in map" % key)
            ctx.printer.values([m[key]])
        else:
            ctx.printer.values([field.get(row)])
    return run


def cmd_param_set(spec):
    def run(ctx):
        row = object_row(ctx, spec, ctx.require("uuid"))
        pending_maps = {}
        for key, value in ctx.params:
            if key == "uuid" or key in STDPARAMS:
                continue
            kind, field = field_type(spec, key, row.rec)
            if kind == "map":
                map_key = key[len(field.name) + 1:]
                if field.set_map is not None:
                    pending_maps.setdefault(field.name, (field, {}))[1][map_key] = value
                    continue
                if field.add_to_map is None:
                    raise CliError("Map field '%s' is read-only." % field.name)
                if map_key in field.get_map(row):
                    field.remove_from_map(row, map_key)
                field.add_to_map(row, map_key, value)
            elif kind == "set":
                raise CliError("Cannot param-set on set fields")
            elif field.set is None:
                if field.add_to_map is not None:
                    raise CliError("Field '%s' is a map or set. use the 'name:key=value' syntax." % key)
                raise CliError("Field '%s' is read-only." % key)
            else:
                field.set(row, value)
        for field, pairs in pending_maps.values():
            field.set_map(row, pairs)
    return run


# ---------------------------------------------------------------------------------------------
# VM operations


def select_vms(ctx, include_control=False, include_templates=False, ignore=()):
    spec = CLASSES["vm"]
    params = list(ctx.params)
    if not include_control:
        params.insert(0, ("is-control-domain", "false"))
    if not include_templates:
        params.insert(0, ("is-a-template", "false"))
    rows = rows_of(ctx, spec)
    name_or_uuid = ctx.get("vm")
    if name_or_uuid is not None:
        rows = [r for r in rows if name_or_uuid in (r.rec["uuid"], r.rec["name_label"])]
    filters = [(k, v) for k, v in params
               if k != "vm" and k.split(":", 1)[0] not in STDPARAMS and k not in ignore]
    try:
        return filter_rows(spec, rows, filters)
    except CliError as e:
        if str(e).startswith("Unknown field"):
            name = str(e).split("'")[1]
            raise CliError("Parameter '%s' is not a field of the VM class. Failed to select VM for operation."
                           % name)
        raise


def describe_failure(lookup, failure):
    details = [str(d) for d in failure.details]
    code, params = (details[0], details[1:]) if details else ("", [])
    return "Error code: %s\nError parameters: %s" % (code, ", ".join(lookup.describe(p) for p in params))


def do_vm_op(ctx, op, include_control=False, include_templates=False, multiple=True, ignore=()):
    vms = select_vms(ctx, include_control, include_templates, ignore)
    if not vms:
        raise CliError("No matching VMs found")
    if len(vms) == 1:
        return [op(vms[0])]
    if not multiple:
        raise CliError("Multiple matches VMs found. Operation can only be performed on one VM at a time")
    if not ctx.flag("multiple"):
        raise CliError("Multiple matches VMs found. --multiple required to complete the operation")
    results, failures = [], []
    for vm in vms:
        try:
            results.append(op(vm))
        except XenAPI.Failure as e:
            failures.append((vm.rec["uuid"], describe_failure(ctx.lookup, e)))
        except CliError as e:
            failures.append((vm.rec["uuid"], str(e)))
    if failures:
        raise MultipleFailure(failures)
    return results


def wait_for_task(ctx, task):
    """Follows the task with event.from until it leaves `pending`, then raises its error if it failed.

    Like xe, the task is destroyed afterwards whatever happened.
    """
    api = ctx.api
    progress = ctx.has("progress")
    try:
        status = api.task.get_status(task)
        token = ""
        while status == "pending":
            batch = api.event_from(["task/" + task], token, 30.0)
            token = batch["token"]
            for event in batch["events"]:
                if event["ref"] != task:
                    continue
                if "snapshot" not in event:
                    raise CliError("The task %s disappeared before it completed" % task)
                status = event["snapshot"]["status"]
                if progress:
                    p = float(event["snapshot"]["progress"])
                    sys.stderr.write("\r %3d%% %s" % (int(p * 100), "#" * int(p * 70)))
                    sys.stderr.flush()
        if progress:
            sys.stderr.write("\n")
        if status in ("cancelling", "cancelled"):
            raise XenAPI.Failure(["TASK_CANCELLED", task])
        if status == "failure":
            info = api.task.get_error_info(task)
            if not info:
                raise CliError("Task failed but no error recorded: %s" % task)
            raise XenAPI.Failure(info)
        return api.task.get_result(task)
    finally:
        try:
            api.task.destroy(task)
        except XenAPI.Failure:
            pass


def host_by_name_or_uuid(ctx, value):
    for ref, rec in ctx.api.host.get_all_records().items():
        if value in (rec["uuid"], rec["name_label"], rec.get("hostname")):
            return ref
    raise CliError("Host %s not found" % value)


def cmd_vm_start(ctx):
    force, paused = ctx.flag("force"), ctx.flag("paused")
    on = ctx.get("on")
    host = host_by_name_or_uuid(ctx, on) if on is not None else None

    def start(vm):
        if host is not None:
            task = ctx.api.Async.VM.start_on(vm.ref, host, paused, force)
        else:
            task = ctx.api.Async.VM.start(vm.ref, paused, force)
        wait_for_task(ctx, task)
    do_vm_op(ctx, start, include_control=True, ignore=("on", "paused", "progress"))


def cmd_vm_shutdown(ctx):
    method = "hard_shutdown" if ctx.flag("force") else "clean_shutdown"
    do_vm_op(ctx, lambda vm: wait_for_task(ctx, getattr(ctx.api.Async.VM, method)(vm.ref)), ignore=("progress",))


def cmd_vm_reboot(ctx):
    method = "hard_reboot" if ctx.flag("force") else "clean_reboot"
    do_vm_op(ctx, lambda vm: getattr(ctx.api.VM, method)(vm.ref))


def cmd_vm_suspend(ctx):
    do_vm_op(ctx, lambda vm: wait_for_task(ctx, ctx.api.Async.VM.suspend(vm.ref)), ignore=("progress",))


def cmd_vm_resume(ctx):
    force = ctx.flag("force")
    on = ctx.get("on")
    host = host_by_name_or_uuid(ctx, on) if on is not None else None

    def resume(vm):
        if host is not None:
            task = ctx.api.Async.VM.resume_on(vm.ref, host, False, force)
        else:
            task = ctx.api.Async.VM.resume(vm.ref, False, force)
        wait_for_task(ctx, task)
    do_vm_op(ctx, resume, ignore=("on", "progress"))


def cmd_vm_migrate(ctx):
    """xe's intra-pool migration: VM.pool_migrate to host= (a name or uuid) or host-uuid=."""
    target = ctx.get("host") or ctx.get("host-uuid")
    if target is None:
        raise CliError("vm-migrate needs host= or host-uuid=")
    host = host_by_name_or_uuid(ctx, target)
    options = {"live": ctx.get("live") or "true"}
    do_vm_op(ctx, lambda vm: wait_for_task(ctx, ctx.api.Async.VM.pool_migrate(vm.ref, host, options)),
             ignore=("host", "host-uuid", "live", "progress"))


def cmd_host_evacuate(ctx):
    host = host_by_name_or_uuid(ctx, ctx.require("uuid"))
    network = ctx.get("network-uuid")
    network = ctx.api.network.get_by_uuid(network) if network else "OpaqueRef:NULL"
    wait_for_task(ctx, ctx.api.Async.host.evacuate(host, network, ctx.get("batch-size") or "0"))


def cmd_host_disable(ctx):
    ctx.api.host.disable(host_by_name_or_uuid(ctx, ctx.require("uuid")))


def cmd_host_enable(ctx):
    ctx.api.host.enable(host_by_name_or_uuid(ctx, ctx.require("uuid")))


def cmd_pool_eject(ctx):
    ctx.api.pool.eject(host_by_name_or_uuid(ctx, ctx.require("host-uuid")))


def cmd_pool_designate_new_master(ctx):
    ctx.api.pool.designate_new_master(host_by_name_or_uuid(ctx, ctx.require("host-uuid")))


def cmd_vm_pause(ctx):
    do_vm_op(ctx, lambda vm: ctx.api.VM.pause(vm.ref))


def cmd_vm_unpause(ctx):
    do_vm_op(ctx, lambda vm: ctx.api.VM.unpause(vm.ref))


def cmd_vm_clone(ctx):
    new_name = ctx.require("new-name-label")
    description = ctx.get("new-name-description")
    new_vms = do_vm_op(ctx, lambda vm: ctx.api.VM.clone(vm.ref, new_name), include_templates=True,
                       ignore=("new-name-label", "new-name-description", "ignore-vdi-uuids"))
    if description is not None:
        ctx.api.VM.set_name_description(new_vms[0], description)
    ctx.printer.values([ctx.api.VM.get_uuid(vm) for vm in new_vms])


def _find_template(ctx):
    api = ctx.api
    if ctx.has("template-uuid"):
        try:
            return api.VM.get_by_uuid(ctx.get("template-uuid"))
        except XenAPI.Failure:
            raise CliError("Cannot find template")

    def by_name(name):
        matches = [ref for ref, rec in api.VM.get_all_records().items()
                   if rec["name_label"] == name and rec["is_a_template"] and not rec["is_control_domain"]]
        if not matches:
            raise CliError("No templates matched")
        if len(matches) > 1:
            raise CliError("More than one matching template found")
        return matches[0]
    name = ctx.get("template-name-label", ctx.get("template-name"))
    if name is not None:
        return by_name(name)
    if ctx.has("template"):
        try:
            return api.VM.get_by_uuid(ctx.get("template"))
        except XenAPI.Failure:
            return by_name(ctx.get("template"))
    raise CliError("Template must be specified by parameter 'template-uuid', 'template-name', "
                   "'template-name-label' or 'template'")


def _install_sr(ctx, template):
    """The SR named by sr-uuid / sr-name-label, or None to clone onto the template's SRs."""
    api = ctx.api
    if api.VM.get_is_a_snapshot(template):
        if ctx.has("sr-uuid") or ctx.has("sr-name-label"):
            raise CliError("Do not use the sr-name-label or sr-uuid argument when installing from a snapshot.")
        return None
    sr = api.SR.get_by_uuid(ctx.get("sr-uuid")) if ctx.has("sr-uuid") else None
    if ctx.has("sr-name-label"):
        named = api.SR.get_by_name_label(ctx.get("sr-name-label"))
        if not named:
            raise CliError("No SR with that name-label found")
        if sr is not None and sr not in named:
            raise CliError("SR specified via sr-uuid doesn't have the name specified via sr-name-label")
        if sr is None:
            if len(named) > 1:
                raise CliError("Multiple SRs with that name-label found")
            sr = named[0]
    return sr


def _default_sr_uuid(api):
    try:
        return api.SR.get_uuid(api.pool.get_default_SR(api.pool.get_all()[0]))
    except XenAPI.Failure:
        return None


def _rewrite_provision_sr(api, vm, sr_uuid):
    """Points every disk of the provision XML (other_config:disks) at the chosen SR, as xe does."""
    other_config = api.VM.get_other_config(vm)
    if "disks" not in other_config:
        return
    root = ET.fromstring(other_config["disks"])
    for disk in root.iter("disk"):
        if "sr" in disk.attrib:
            disk.set("sr", sr_uuid)
    api.VM.remove_from_other_config(vm, "disks")
    api.VM.add_to_other_config(vm, "disks", ET.tostring(root, encoding="unicode"))


def _recommends_vendor_device(recommendations):
    try:
        root = ET.fromstring(recommendations)
    except ET.ParseError:
        return False
    return any(r.get("field") == "has-vendor-device" and r.get("value") == "true" for r in root.iter("restriction"))


def cmd_vm_install(ctx):
    api = ctx.api
    template = _find_template(ctx)
    if not api.VM.get_is_a_template(template):
        raise CliError("Can only install from templates")
    new_name = ctx.require("new-name-label")
    sr = _install_sr(ctx, template)
    sr_uuid = api.SR.get_uuid(sr) if sr is not None else _default_sr_uuid(api)
    if sr_uuid is None:
        if "disks" in api.VM.get_other_config(template):
            raise CliError("Failed to find a valid default SR for the Pool. Please provide an sr-name-label "
                           "or sr-uuid parameter.")
        sr_uuid = ""
    new_vm = api.VM.copy(template, new_name, sr) if sr is not None else api.VM.clone(template, new_name)
    try:
        api.VM.set_name_description(new_vm, "Installed via xe CLI")
        api.VM.set_suspend_SR(new_vm, sr if sr is not None else api.VM.get_suspend_SR(template))
        _rewrite_provision_sr(api, new_vm, sr_uuid)
        pool = api.pool.get_all()[0]
        wants_device = (_recommends_vendor_device(api.VM.get_recommendations(template))
                        and not api.pool.get_policy_no_vendor_device(pool))
        api.VM.set_has_vendor_device(new_vm, wants_device)
        api.VM.provision(new_vm)
        ctx.printer.values([api.VM.get_uuid(new_vm)])
    except BaseException:
        try:
            api.VM.destroy(new_vm)
        except XenAPI.Failure:
            pass
        raise


def _user_says_yes(ctx):
    sys.stdout.write("Type 'yes' to continue\n")
    sys.stdout.flush()
    answer = ctx.stdin.readline().strip()
    if answer.lower() == "yes":
        return True
    sys.stdout.write("Aborted (you typed: '%s')\n" % answer)
    return False


def cmd_vm_uninstall(ctx):
    api = ctx.api
    vms = do_vm_op(ctx, lambda vm: vm.ref)
    vms += [s for vm in vms for s in api.VM.get_snapshots(vm)]
    listing, actions = [], []
    for vm in vms:
        rec = api.VM.get_record(vm)
        listing.append("VM : %s (%s)" % (rec["uuid"], rec["name_label"]))
        vdis = []
        for vbd in rec["VBDs"]:
            # Only disks the VM owns (VBD other_config:owner, set when xapi provisions them) go with it.
            try:
                vbd_rec = api.VBD.get_record(vbd)
                if "owner" in vbd_rec["other_config"]:
                    api.VDI.get_uuid(vbd_rec["VDI"])
                    vdis.append(vbd_rec["VDI"])
            except XenAPI.Failure:
                pass
        suspend_vdi = rec["suspend_VDI"]
        try:
            api.VDI.get_uuid(suspend_vdi)
        except XenAPI.Failure:
            suspend_vdi = None
        for vdi in vdis + ([suspend_vdi] if suspend_vdi else []):
            vdi_rec = api.VDI.get_record(vdi)
            shared = " ** WARNING: disk is shared by other VMs" if len(vdi_rec["VBDs"]) > 1 else ""
            listing.append("VDI: %s (%s) %s" % (vdi_rec["uuid"], vdi_rec["name_label"], shared))
        actions.append((vm, vdis, suspend_vdi))
    out = sys.stdout
    out.write("The following items are about to be destroyed\n")
    for line in listing:
        out.write(line + "\n")
    if not (ctx.flag("force") or _user_says_yes(ctx)):
        return
    for vm, vdis, suspend_vdi in actions:
        if api.VM.get_power_state(vm) != "Halted":
            api.VM.hard_shutdown(vm)
        api.VM.destroy(vm)
        for vdi in vdis:
            api.VDI.destroy(vdi)
        if suspend_vdi:
            try:
                api.VDI.destroy(suspend_vdi)
            except XenAPI.Failure:
                pass
    out.write("All objects destroyed\n")


# ---------------------------------------------------------------------------------------------
# Tasks, events, diagnostics


def cmd_task_cancel(ctx):
    ctx.api.task.cancel(ctx.api.task.get_by_uuid(ctx.require("uuid")))


def _timeout_of(ctx):
    text = ctx.get("timeout")
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1
    if not seconds >= 0:
        raise CliError("timeout must be a number of seconds, got '%s'" % text)
    return seconds


def cmd_event_wait(ctx):
    """Blocks until an object of `class` matches every key=value (key=/=value: differs).

    The first event.from with an empty token returns every object of the class, so the current
    state is checked without a separate poll; later calls block on the returned token.
    """
    cls = ctx.require("class").lower()
    spec = EVENT_CLASSES.get(cls)
    if spec is None:
        raise CliError("Cli listening for class '%s' not currently implemented" % cls)
    conditions = []
    for key, value in ctx.params:
        if key in ("class", "timeout") or key in STDPARAMS:
            continue
        if value.startswith("/="):
            conditions.append((False, key, value[2:]))
        else:
            conditions.append((True, key, value))
    for _, key, _ in conditions:
        if spec.field(key) is None:
            raise CliError("key missing: %s" % key)
    timeout = _timeout_of(ctx)
    deadline = None if timeout is None else time.monotonic() + timeout

    def matches(row):
        for equal, key, value in conditions:
            field = spec.field(key, row.rec)
            if field is None:
                raise CliError("key missing: %s" % key)
            if (field.get(row) == value) != equal:
                return False
        return True

    token = ""
    while True:
        wait = 30.0 if deadline is None else max(0.0, min(30.0, deadline - time.monotonic()))
        batch = ctx.api.event_from([cls], token, wait)
        token = batch["token"]
        lookup = Lookup(ctx.api)  # related objects (metrics) as of this batch
        for event in batch["events"]:
            if "snapshot" in event and matches(Row(lookup, spec.api_class, event["ref"], event["snapshot"])):
                return
        if deadline is not None and time.monotonic() >= deadline:
            wanted = ", ".join("%s%s%s" % (k, "=" if eq else "=/=", v) for eq, k, v in conditions)
            raise CliError("timed out after %g seconds waiting for an object of class %s with %s"
                           % (timeout, cls, wanted or "any value"))


def cmd_diagnostics(ctx):
    status, body = ctx.settings.http_get("/diagnostics")
    if status != 200:
        raise CliError("GET /diagnostics answered HTTP %d: %s" % (status, body.decode("utf-8", "replace").strip()))
    text = body.decode("utf-8", "replace")
    try:
        text = json.dumps(json.loads(text), indent=2)
    except ValueError:
        pass
    ctx.printer.values([text])


# ---------------------------------------------------------------------------------------------
# Command table


class Command:
    def __init__(self, run, required=(), optional=(), help="", session=True):
        self.run = run
        self.required = list(required)
        self.optional = list(optional)
        self.help = help
        self.session = session


def cmd_help(ctx):
    name = None
    for key, _ in ctx.params:
        name = key
    if name and name in COMMANDS:
        c = COMMANDS[name]
        lines = ["command name            : " + name,
                 "        reqd params     : " + ", ".join(c.required),
                 "        optional params : " + ", ".join(c.optional),
                 "",
                 "description             : " + c.help]
        ctx.printer.values(lines)
    else:
        ctx.printer.values(sorted(COMMANDS))


_VM_SELECT = ["vm", "<vm-selectors>", "--multiple"]


def _build_commands():
    table = {
        "help": Command(cmd_help, help="Show the commands, or the parameters of one: xe help <command>.",
                        session=False),
        "diagnostics": Command(cmd_diagnostics, help="Print the server's diagnostics document (GET /diagnostics).",
                               session=False),
        "vm-start": Command(cmd_vm_start, optional=_VM_SELECT + ["--force", "paused", "on", "progress"],
                            help="Start the selected VM(s), following each start task with event.from."),
        "vm-shutdown": Command(cmd_vm_shutdown, optional=_VM_SELECT + ["--force", "progress"],
                               help="Shut down the selected VM(s): clean, or hard with --force."),
        "vm-reboot": Command(cmd_vm_reboot, optional=_VM_SELECT + ["--force"],
                             help="Reboot the selected VM(s): clean, or hard with --force."),
        "vm-suspend": Command(cmd_vm_suspend, optional=_VM_SELECT + ["progress"], help="Suspend the selected VM(s)."),
        "vm-resume": Command(cmd_vm_resume, optional=_VM_SELECT + ["--force", "on", "progress"],
                             help="Resume the selected VM(s)."),
        "vm-pause": Command(cmd_vm_pause, optional=_VM_SELECT, help="Pause the selected VM(s)."),
        "vm-migrate": Command(cmd_vm_migrate, optional=_VM_SELECT + ["host", "host-uuid", "live", "progress"],
                              help="Migrate the selected VM(s) live to another host of the pool (VM.pool_migrate)."),
        "host-evacuate": Command(cmd_host_evacuate, required=["uuid"], optional=["network-uuid", "batch-size"],
                                 help="Migrate every VM off the host (host.evacuate)."),
        "host-disable": Command(cmd_host_disable, required=["uuid"], help="Stop new VMs starting on the host."),
        "host-enable": Command(cmd_host_enable, required=["uuid"], help="Let VMs start on the host again."),
        "pool-eject": Command(cmd_pool_eject, required=["host-uuid"], optional=["--force"],
                              help="Remove a member from the pool (pool.eject)."),
        "pool-designate-new-master": Command(cmd_pool_designate_new_master, required=["host-uuid"],
                                             help="Make a member the pool's master."),
        "vm-unpause": Command(cmd_vm_unpause, optional=_VM_SELECT, help="Unpause the selected VM(s)."),
        "vm-install": Command(cmd_vm_install, required=["new-name-label"],
                              optional=["template", "template-uuid", "template-name-label", "sr-uuid", "sr-name-label"],
                              help="Install a new VM from a template (clone or copy, then provision its disks)."),
        "vm-uninstall": Command(cmd_vm_uninstall, optional=_VM_SELECT + ["--force"],
                                help="Destroy the selected VM(s), their snapshots and the disks they own."),
        "vm-clone": Command(cmd_vm_clone, required=["new-name-label"],
                            optional=_VM_SELECT + ["new-name-description"], help="Clone the selected VM or template."),
        "task-cancel": Command(cmd_task_cancel, required=["uuid"], help="Cancel the task."),
        "event-wait": Command(cmd_event_wait, required=["class"], optional=["<field>=<value>", "<field>=/=<value>",
                                                                             "timeout"],
                              help="Wait until an object of the class matches all conditions (event.from, no "
                                   "polling). timeout=SECONDS fails after that long; the default waits forever."),
    }
    for xe_name, spec in CLASSES.items():
        plural = xe_name + "s"
        table[xe_name + "-list"] = Command(cmd_list(spec), optional=["params", "--all", "<field>=<value>"],
                                           help="Lists all the %s, filtering on the optional arguments." % plural)
        table[xe_name + "-param-list"] = Command(cmd_param_list(spec), required=["uuid"],
                                                 help="Lists all the parameters of the object.")
        table[xe_name + "-param-get"] = Command(cmd_param_get(spec), required=["uuid", "param-name"],
                                                optional=["param-key"], help="Gets one parameter of the object.")
        table[xe_name + "-param-set"] = Command(cmd_param_set(spec), required=["uuid"],
                                                optional=["<field>=<value>", "<map-field>:<key>=<value>"],
                                                help="Sets parameters of the object.")
    return table


COMMANDS = _build_commands()


# ---------------------------------------------------------------------------------------------
# Entry point


def run(argv, stdout=None, stderr=None, stdin=None, environ=None):
    """Runs one xe command line; returns the exit status."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    session = settings = lookup = None
    try:
        conn, name, params = parse_command_line(argv)
        if name is None:
            raise Usage()
        command = COMMANDS.get(name)
        if command is None:
            raise ParamError("Unknown command", name)
        settings = settings_from(conn, environ)
        printer = Printer(stdout, any(k == "minimal" and v != "false" for k, v in params))
        for key in command.required:
            if not any(k == key for k, _ in params):
                raise ParamError("Required parameter not found", key)
        if command.session:
            session = settings.session(originator="cli")
        ctx = Context(settings, params, printer, session, stdin)
        lookup = ctx.lookup
        command.run(ctx)
        printer.flush()
        return 0
    except Usage:
        stderr.write(USAGE)
        return 0
    except ParamError as e:
        stderr.write("%s\n" % e)
    except (CliError, records.RecordError, connection.SettingsError) as e:
        stderr.write("Error: %s\n" % e)
    except MultipleFailure as e:
        for uuid, message in e.failures:
            stderr.write("operation failed on %s: %s\n" % (uuid, message))
    except XenAPI.Failure as e:
        code = e.details[0] if e.details else ""
        if code == "SESSION_AUTHENTICATION_FAILED":
            user = e.details[1] if len(e.details) > 1 else ""
            stderr.write("Username/password must be specified\n" if user == "" else "Authentication failed\n")
        else:
            stderr.write(describe_failure(lookup or Lookup(None), e) + "\n")
    except xmlrpc.client.Error as e:
        # Transport-level trouble below the XenAPI (HTTP errors, unparseable replies).
        stderr.write("Error: %s\n" % e)
    except ConnectionError:
        stderr.write("Unable to contact server. Please check server and port settings.\n")
    except OSError as e:
        where = " (connecting to %s)" % settings.describe() if settings else ""
        stderr.write("Error: %s%s\n" % (e.strerror or e, where))
    except KeyboardInterrupt:
        stderr.write("\n")
    finally:
        if session is not None:
            try:
                session.xenapi.session.logout()
            except Exception:
                pass
    return 1


def main():
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
