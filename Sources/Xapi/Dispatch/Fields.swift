import XapiDB

/// The fields of one class that logic reads and writes by name: an enum whose raw values are the
/// datamodel's spellings. `Tables` resolves every case to its column when the server starts, so a
/// misspelt field stops the start (and the first unit test), never a client's call.
public protocol FieldName: RawRepresentable<String>, CaseIterable, Hashable, Sendable {
    /// The datamodel class, exactly spelt (`VM`, `VM_metrics`).
    static var className: String { get }
}

/// A `FieldName` that does not match the datamodel.
public enum FieldResolutionError: Error, Equatable, CustomStringConvertible {
    case noClass(String)
    case noField(className: String, field: String)

    public var description: String {
        switch self {
        case .noClass(let name): "the datamodel has no class \(name)"
        case .noField(let className, let field): "\(className) has no field \(field)"
        }
    }
}

/// A class's table with the columns of its named fields, resolved once.
public struct TableFields<Name: FieldName>: Sendable {
    public let table: Int
    private let columns: [Name: Int]

    init(_ model: Datamodel) throws(FieldResolutionError) {
        guard let schema = model.class(named: Name.className) else { throw .noClass(Name.className) }
        table = schema.index
        var columns: [Name: Int] = [:]
        for name in Name.allCases {
            guard let column = schema.fieldIndex[name.rawValue] else {
                throw .noField(className: Name.className, field: name.rawValue)
            }
            columns[name] = column
        }
        self.columns = columns
    }

    /// The column of `name` in the class's rows.
    public subscript(_ name: Name) -> Int { columns[name]! }
}

/// The `pool` fields logic names.
public enum PoolField: String, FieldName {
    public static let className = "pool"
    case defaultSR = "default_SR", master, suspendImageSR = "suspend_image_SR", coordinatorBias = "coordinator_bias"
}

/// The `host` fields logic names.
public enum HostField: String, FieldName {
    public static let className = "host"
    case address, allowedOperations = "allowed_operations", biosStrings = "bios_strings", pifs = "PIFs"
    case currentOperations = "current_operations", enabled, memoryOverhead = "memory_overhead", metrics
    case otherConfig = "other_config", pbds = "PBDs", residentVMs = "resident_VMs", uuid, hostname, nameLabel = "name_label"
    case hostCPUs = "host_CPUs", pcis = "PCIs", pgpus = "PGPUs"
}

/// The `VM` fields logic names.
public enum VMField: String, FieldName {
    public static let className = "VM"
    case actionsAfterCrash = "actions_after_crash", actionsAfterReboot = "actions_after_reboot"
    case actionsAfterShutdown = "actions_after_shutdown", affinity, allowedOperations = "allowed_operations", appliance
    case attachedPCIs = "attached_PCIs", biosStrings = "bios_strings", blobs, blockedOperations = "blocked_operations"
    case children, consoles, currentOperations = "current_operations", domainType = "domain_type", domid
    case guestMetrics = "guest_metrics", hasVendorDevice = "has_vendor_device", hvmBootPolicy = "HVM_boot_policy"
    case hvmShadowMultiplier = "HVM_shadow_multiplier", memoryOverhead = "memory_overhead"
    case isASnapshot = "is_a_snapshot", isATemplate = "is_a_template", isControlDomain = "is_control_domain"
    case isDefaultTemplate = "is_default_template", memoryDynamicMax = "memory_dynamic_max"
    case memoryDynamicMin = "memory_dynamic_min", memoryStaticMax = "memory_static_max", memoryStaticMin = "memory_static_min"
    case memoryTarget = "memory_target", metrics, nameLabel = "name_label", otherConfig = "other_config", parent
    case platform, powerState = "power_state", requiresReboot = "requires_reboot", residentOn = "resident_on"
    case scheduledToBeResidentOn = "scheduled_to_be_resident_on", shutdownDelay = "shutdown_delay"
    case snapshotOf = "snapshot_of", snapshotTime = "snapshot_time", suspendSR = "suspend_SR"
    case suspendVDI = "suspend_VDI", uuid, vbds = "VBDs", vcpusAtStartup = "VCPUs_at_startup"
    case vcpusMax = "VCPUs_max", vgpus = "VGPUs", vifs = "VIFs", vtpms = "VTPMs", vusbs = "VUSBs"
    case xenstoreData = "xenstore_data"
}

/// The `VM_metrics` fields logic names.
public enum VMMetricsField: String, FieldName {
    public static let className = "VM_metrics"
    case currentDomainType = "current_domain_type", hvm, installTime = "install_time", lastUpdated = "last_updated"
    case memoryActual = "memory_actual", nestedVirt = "nested_virt", nomigrate, startTime = "start_time", state
    case vcpusNumber = "VCPUs_number"
}

/// The `VM_guest_metrics` fields logic names.
public enum VMGuestMetricsField: String, FieldName {
    public static let className = "VM_guest_metrics"
    case canUseHotplugVbd = "can_use_hotplug_vbd", canUseHotplugVif = "can_use_hotplug_vif"
    case lastUpdated = "last_updated", live, memory, networks, osVersion = "os_version", other
    case pvDriversDetected = "PV_drivers_detected", pvDriversUpToDate = "PV_drivers_up_to_date"
    case pvDriversVersion = "PV_drivers_version"
}

/// The `VBD` fields logic names.
public enum VBDField: String, FieldName {
    public static let className = "VBD"
    case allowedOperations = "allowed_operations", currentlyAttached = "currently_attached"
    case currentOperations = "current_operations", device, empty, metrics, mode, otherConfig = "other_config", type
    case unpluggable, userdevice, uuid, vdi = "VDI", vm = "VM"
}

/// The `VIF` fields logic names.
public enum VIFField: String, FieldName {
    public static let className = "VIF"
    case allowedOperations = "allowed_operations", currentlyAttached = "currently_attached"
    case currentOperations = "current_operations", device, mac = "MAC", macAutogenerated = "MAC_autogenerated"
    case metrics, mtu = "MTU", network, otherConfig = "other_config", vm = "VM"
    case lockingMode = "locking_mode", ipv4Allowed = "ipv4_allowed", ipv6Allowed = "ipv6_allowed"
    case ipv4ConfigurationMode = "ipv4_configuration_mode", ipv4Addresses = "ipv4_addresses", ipv4Gateway = "ipv4_gateway"
    case ipv6ConfigurationMode = "ipv6_configuration_mode", ipv6Addresses = "ipv6_addresses", ipv6Gateway = "ipv6_gateway"
}

/// The `VDI` fields logic names.
public enum VDIField: String, FieldName {
    public static let className = "VDI"
    case currentOperations = "current_operations", isASnapshot = "is_a_snapshot", location, managed
    case nameLabel = "name_label", otherConfig = "other_config", readOnly = "read_only", smConfig = "sm_config"
    case snapshotOf = "snapshot_of", snapshotTime = "snapshot_time", sr = "SR", type, vbds = "VBDs", virtualSize = "virtual_size"
}

/// The `SR` fields logic names.
public enum SRField: String, FieldName {
    public static let className = "SR"
    case pbds = "PBDs", physicalSize = "physical_size", shared, type, uuid, vdis = "VDIs", virtualAllocation = "virtual_allocation"
}

/// The `SM` fields logic names.
public enum SMField: String, FieldName {
    public static let className = "SM"
    case capabilities, configuration, copyright, driverFilename = "driver_filename", features
    case nameDescription = "name_description", nameLabel = "name_label", requiredAPIVersion = "required_api_version"
    case type, vendor, version
}

/// The `network` fields logic names.
public enum NetworkField: String, FieldName {
    public static let className = "network"
    case bridge, defaultLockingMode = "default_locking_mode", managed, otherConfig = "other_config", pifs = "PIFs", vifs = "VIFs"
}

/// The `PBD` fields logic names.
public enum PBDField: String, FieldName {
    public static let className = "PBD"
    case currentlyAttached = "currently_attached", deviceConfig = "device_config", host, sr = "SR"
}

/// The `task` fields logic names.
public enum TaskField: String, FieldName {
    public static let className = "task"
    case allowedOperations = "allowed_operations", created, currentOperations = "current_operations"
    case errorInfo = "error_info", finished, nameDescription = "name_description", nameLabel = "name_label"
    case progress, residentOn = "resident_on", result, status, type
}

/// The `session` fields logic names.
public enum SessionField: String, FieldName {
    public static let className = "session"
    case authUserName = "auth_user_name", isLocalSuperuser = "is_local_superuser", lastActive = "last_active"
    case originator, pool, thisHost = "this_host", validationTime = "validation_time"
}

/// The `console` fields logic names.
public enum ConsoleField: String, FieldName {
    public static let className = "console"
    case location, otherConfig = "other_config", `protocol`, uuid, vm = "VM"
}

/// The `VGPU` fields logic names.
public enum VGPUField: String, FieldName {
    public static let className = "VGPU"
    case currentlyAttached = "currently_attached", device, gpuGroup = "GPU_group", otherConfig = "other_config"
    case residentOn = "resident_on", scheduledToBeResidentOn = "scheduled_to_be_resident_on", type, vm = "VM"
}

/// The `GPU_group` fields logic names.
public enum GPUGroupField: String, FieldName {
    public static let className = "GPU_group"
    case enabledVGPUTypes = "enabled_VGPU_types", supportedVGPUTypes = "supported_VGPU_types"
}

/// The `message` fields logic names.
public enum MessageField: String, FieldName {
    public static let className = "message"
    case body, cls, name, objUUID = "obj_uuid", priority, timestamp
}

/// The `VMSS` fields logic names.
public enum VMSSField: String, FieldName {
    public static let className = "VMSS"
    case uuid, vms = "VMs"
}

/// The `PVS_cache_storage` fields logic names.
public enum PVSCacheStorageField: String, FieldName {
    public static let className = "PVS_cache_storage"
    case host, site, vdi = "VDI"
}

/// The `PVS_proxy` fields logic names.
public enum PVSProxyField: String, FieldName {
    public static let className = "PVS_proxy"
    case currentlyAttached = "currently_attached", site, vif = "VIF"
}

/// The `host_metrics` fields logic names.
public enum HostMetricsField: String, FieldName {
    public static let className = "host_metrics"
    case lastUpdated = "last_updated", live, memoryTotal = "memory_total"
}

/// The `PIF` fields logic names.
public enum PIFField: String, FieldName {
    public static let className = "PIF"
    case bondMasterOf = "bond_master_of", bondSlaveOf = "bond_slave_of", currentlyAttached = "currently_attached"
    case device, disallowUnplug = "disallow_unplug", dns = "DNS", gateway, host, ip = "IP"
    case ipConfigurationMode = "ip_configuration_mode", mac = "MAC", managed, management, metrics, mtu = "MTU"
    case netmask, network, physical, primaryAddressType = "primary_address_type", properties
    case tunnelAccessPIFOf = "tunnel_access_PIF_of", tunnelTransportPIFOf = "tunnel_transport_PIF_of"
    case vlan = "VLAN", vlanMasterOf = "VLAN_master_of", vlanSlaveOf = "VLAN_slave_of"
}

/// The `Bond` fields logic names.
public enum BondField: String, FieldName {
    public static let className = "Bond"
    case autoUpdateMAC = "auto_update_mac", master, mode, primarySlave = "primary_slave", properties, slaves
}

/// The `VLAN` fields logic names.
public enum VLANField: String, FieldName {
    public static let className = "VLAN"
    case tag, taggedPIF = "tagged_PIF", untaggedPIF = "untagged_PIF"
}
