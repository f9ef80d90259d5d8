/// Every failure a XenAPI call can return, mapped to xapi's wire form (`[CODE, params…]`) in one
/// place: `errorDescription`. Parameter lists follow what xapi really sends, which sometimes
/// differs from the datamodel's documentation (xen-api ocaml/xapi/exnHelper.ml and the raising functions).
public enum XapiError: Error, Sendable, Hashable {
    case handleInvalid(class: String, ref: String)
    case uuidInvalid(class: String, uuid: String)
    case messageMethodUnknown(String)
    case messageParameterCountMismatch(method: String, expected: Int, received: Int)
    case messageRemoved
    /// Wrong argument types and unexpected conditions, with xapi's message text.
    case internalError(String)
    case invalidValue(field: String, value: String)
    case mapDuplicateKey(table: String, field: String, ref: String, key: String)
    case uniquenessViolation(table: String, field: String, value: String)
    case sessionAuthenticationFailed(user: String, message: String)
    case sessionInvalid(String)
    /// The parameter is `trackid=<md5 hex of the session ref>`, not the ref.
    case sessionNotRegistered(handle: String)
    case eventsLost
    case eventFromTokenParseFailure(String)
    case notImplemented(String)
    /// `Async.` of a message without an async mode: xapi's `["Fault", …]` pseudo-error.
    case noAsyncMode(rpc: String)
    case tooManyPendingTasks
    case taskCancelled(task: String)
    /// `expected` are lower-case power states, `actual` lower-case.
    case vmBadPowerState(vm: String, expected: [String], actual: String)
    case operationNotAllowed(String)
    case operationBlocked(ref: String, code: String)
    case otherOperationInProgress(class: String, ref: String, operation: String, task: String)
    case vmIsTemplate(vm: String, operation: String)
    case vmIsSnapshot(vm: String, operation: String)
    case vmLacksFeature(vm: String)
    case vmMissingPVDrivers(vm: String)
    case vmNonSuspendable(vm: String, reason: String)
    case cannotResetControlDomain(vm: String)
    case provisionOnlyAllowedOnTemplate
    case deviceAlreadyAttached(device: String)
    case deviceAlreadyDetached(device: String)
    case vdiInUse(vdi: String, operation: String)
    case srFull(requested: Int64, maximum: Int64)
    case vmRequiresSR(vm: String, sr: String)
    case hostNotLive
    case hostOffline(host: String)
    case noHostsAvailable
    case onlyRevertSnapshot
    case vmIsImmobile(vm: String)
    case vmHasVGPU(vm: String)
    case vmHasPCIAttached(vm: String)
    case vmHasVUSBs(vm: String)
    case vmSnapshotWithQuiesceNotSupported(vm: String)
    case vtpmMaxAmountReached(count: Int)
    case notSystemDomain(vm: String)
    case vdiIsNotInSR(vdi: String, sr: String)
    case invalidDevice(String)
    case deviceNotAttached(device: String)
    case vmHasNoSuspendVDI(vm: String)
    case vmFailedShutdownAcknowledgment(vm: String)
    case vmShutdownTimeout(vm: String, timeout: String)
    case vbdNotRemovableMedia(vbd: String)
    case vbdNotEmpty(vbd: String)
    case vbdIsEmpty(vbd: String)
    /// The network's VIFs that are attached or reserved.
    case networkContainsVIF(vifs: [String])
    case networkContainsPIF(pifs: [String])
    case cannotDestroySystemNetwork(network: String)
    case vmssHasVM
    case pvsCacheStorageIsInUse(storage: String)
    case deviceAlreadyExists(device: String)
    case vdiIncompatibleType(vdi: String, type: String)
    case vbdCDsMustBeReadonly
    case vdiReadonly(vdi: String)
    case macInvalid(mac: String)
    case memoryConstraintViolationOrder
    case vmBiosStringsAlreadySet
    case hostNotEnoughFreeMemory(needed: Int64, available: Int64)
    case hostDisabled(host: String)
    case vmRequiresNetwork(vm: String, network: String)
    case memoryConstraintViolationMaxpin(reason: String)
    case srNoPBDs(sr: String)
    case pifUnmanaged(pif: String)
    case pifIsManagementInterface(pif: String)
    case pifDoesNotAllowUnplug(pif: String)
    case cannotPlugBondSlave(pif: String)
    case pifAlreadyBonded(pif: String)
    case pifVLANStillExists(pif: String)
    case pifTunnelStillExists(pif: String)
    case networkUnmanaged(network: String)
    case networkAlreadyConnected(host: String, pif: String)
    case vlanTagInvalid(tag: Int64)
    case pifVLANExists(device: String)
    case pifIsVLAN(pif: String)
    case pifIsPhysical
    case cannotAddVLANToBondSlave(pif: String)
    case pifBondNeedsMoreMembers
    case pifCannotBondCrossHost
    case incompatiblePIFProperties
    case pifBondMoreThanOneIP
    case pifHasNoNetworkConfiguration(pif: String)
    case duplicatePIFDeviceName(device: String)
    case noSuchNetworkInterface(device: String, mac: String)
    case haConstraintViolationSRNotShared(sr: String)
    case haConstraintViolationNetworkNotShared(network: String)
    case hostCannotAttachNetwork(host: String, network: String)
    case noHostsAvailableFor(vm: String)
    /// An evacuation plan's: the VM fits on none of the other hosts.
    case hostNotEnoughFreeMemoryFor(vm: String)
    case hostNotDisabled
    case hostDisabledUntilReboot(host: String)
    case cannotEvacuateHost(errors: String)
    case xenapiMissingPlugin(name: String)
    case invalidIPAddressSpecified(field: String)
    case invalidCIDRAddressSpecified(field: String)
    case addressViolatesLockingConstraint(address: String)
    case srOperationNotSupported(sr: String)
    /// A storage driver's own error, as xapi passes SMAPIv1 failures on: `SR_BACKEND_FAILURE_<code>`.
    case srBackendFailure(code: Int, message: String)

    /// The `ErrorDescription` list: code first, then the parameters as strings.
    public var errorDescription: [String] {
        switch self {
        case .handleInvalid(let c, let r): ["HANDLE_INVALID", c, r]
        case .uuidInvalid(let c, let u): ["UUID_INVALID", c, u]
        case .messageMethodUnknown(let m): ["MESSAGE_METHOD_UNKNOWN", m]
        case .messageParameterCountMismatch(let m, let e, let r):
            ["MESSAGE_PARAMETER_COUNT_MISMATCH", m, String(e), String(r)]
        case .messageRemoved: ["MESSAGE_REMOVED"]
        case .internalError(let m): ["INTERNAL_ERROR", m]
        case .invalidValue(let f, let v): ["INVALID_VALUE", f, v]
        case .mapDuplicateKey(let t, let f, let r, let k): ["MAP_DUPLICATE_KEY", t, f, r, k]
        case .uniquenessViolation(let t, let f, let v): ["DB_UNIQUENESS_CONSTRAINT_VIOLATION", t, f, v]
        case .sessionAuthenticationFailed(let u, let m): ["SESSION_AUTHENTICATION_FAILED", u, m]
        case .sessionInvalid(let s): ["SESSION_INVALID", s]
        case .sessionNotRegistered(let h): ["SESSION_NOT_REGISTERED", h]
        case .eventsLost: ["EVENTS_LOST"]
        case .eventFromTokenParseFailure(let t): ["EVENT_FROM_TOKEN_PARSE_FAILURE", t]
        case .notImplemented(let f): ["NOT_IMPLEMENTED", f]
        case .noAsyncMode(let rpc): ["Fault", "No async mode for this operation (rpc: \(rpc))"]
        case .tooManyPendingTasks: ["TOO_MANY_PENDING_TASKS"]
        case .taskCancelled(let t): ["TASK_CANCELLED", t]
        case .vmBadPowerState(let vm, let expected, let actual):
            ["VM_BAD_POWER_STATE", vm, expected.joined(separator: ", "), actual]
        case .operationNotAllowed(let r): ["OPERATION_NOT_ALLOWED", r]
        case .operationBlocked(let r, let c): ["OPERATION_BLOCKED", r, c]
        case .otherOperationInProgress(let c, let r, let o, let t): ["OTHER_OPERATION_IN_PROGRESS", c, r, o, t]
        case .vmIsTemplate(let vm, let op): ["VM_IS_TEMPLATE", vm, op]
        case .vmIsSnapshot(let vm, let op): ["VM_IS_SNAPSHOT", vm, op]
        case .vmLacksFeature(let vm): ["VM_LACKS_FEATURE", vm]
        case .vmMissingPVDrivers(let vm): ["VM_MISSING_PV_DRIVERS", vm]
        case .vmNonSuspendable(let vm, let reason): ["VM_NON_SUSPENDABLE", vm, reason]
        case .cannotResetControlDomain(let vm): ["CANNOT_RESET_CONTROL_DOMAIN", vm]
        case .provisionOnlyAllowedOnTemplate: ["PROVISION_ONLY_ALLOWED_ON_TEMPLATE"]
        case .deviceAlreadyAttached(let d): ["DEVICE_ALREADY_ATTACHED", d]
        case .deviceAlreadyDetached(let d): ["DEVICE_ALREADY_DETACHED", d]
        case .vdiInUse(let v, let op): ["VDI_IN_USE", v, op]
        case .srFull(let r, let m): ["SR_FULL", String(r), String(m)]
        case .vmRequiresSR(let vm, let sr): ["VM_REQUIRES_SR", vm, sr]
        case .hostNotLive: ["HOST_NOT_LIVE"]
        case .hostOffline(let host): ["HOST_OFFLINE", host]
        case .noHostsAvailable: ["NO_HOSTS_AVAILABLE"]
        case .onlyRevertSnapshot: ["REVERT_ONLY_ALLOWED_ON_SNAPSHOT"]
        case .vmIsImmobile(let vm): ["VM_IS_IMMOBILE", vm]
        case .vmHasVGPU(let vm): ["VM_HAS_VGPU", vm]
        case .vmHasPCIAttached(let vm): ["VM_HAS_PCI_ATTACHED", vm]
        case .vmHasVUSBs(let vm): ["VM_HAS_VUSBS", vm]
        case .vmSnapshotWithQuiesceNotSupported(let vm): ["VM_SNAPSHOT_WITH_QUIESCE_NOT_SUPPORTED", vm]
        case .vtpmMaxAmountReached(let n): ["VTPM_MAX_AMOUNT_REACHED", String(n)]
        case .notSystemDomain(let vm): ["NOT_SYSTEM_DOMAIN", vm]
        case .vdiIsNotInSR(let vdi, let sr): ["VDI_NOT_IN_SR", vdi, sr]
        case .invalidDevice(let d): ["INVALID_DEVICE", d]
        case .deviceNotAttached(let d): ["DEVICE_NOT_ATTACHED", d]
        case .vmHasNoSuspendVDI(let vm): ["VM_HAS_NO_SUSPEND_VDI", vm]
        case .vmFailedShutdownAcknowledgment(let vm): ["VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT", vm]
        case .vmShutdownTimeout(let vm, let timeout): ["VM_SHUTDOWN_TIMEOUT", vm, timeout]
        case .vbdNotRemovableMedia(let vbd): ["VBD_NOT_REMOVABLE_MEDIA", vbd]
        case .vbdNotEmpty(let vbd): ["VBD_NOT_EMPTY", vbd]
        case .vbdIsEmpty(let vbd): ["VBD_IS_EMPTY", vbd]
        case .networkContainsVIF(let vifs): ["NETWORK_CONTAINS_VIF"] + vifs
        case .networkContainsPIF(let pifs): ["NETWORK_CONTAINS_PIF"] + pifs
        case .cannotDestroySystemNetwork(let network): ["CANNOT_DESTROY_SYSTEM_NETWORK", network]
        case .vmssHasVM: ["VMSS_HAS_VM"]
        case .pvsCacheStorageIsInUse(let storage): ["PVS_CACHE_STORAGE_IS_IN_USE", storage]
        case .deviceAlreadyExists(let device): ["DEVICE_ALREADY_EXISTS", device]
        case .vdiIncompatibleType(let vdi, let type): ["VDI_INCOMPATIBLE_TYPE", vdi, type]
        case .vbdCDsMustBeReadonly: ["VBD_CDS_MUST_BE_READONLY"]
        case .vdiReadonly(let vdi): ["VDI_READONLY", vdi]
        case .macInvalid(let mac): ["MAC_INVALID", mac]
        case .memoryConstraintViolationOrder: ["MEMORY_CONSTRAINT_VIOLATION_ORDER"]
        case .vmBiosStringsAlreadySet: ["VM_BIOS_STRINGS_ALREADY_SET"]
        case .hostNotEnoughFreeMemory(let needed, let available): ["HOST_NOT_ENOUGH_FREE_MEMORY", String(needed), String(available)]
        case .hostDisabled(let host): ["HOST_DISABLED", host]
        case .vmRequiresNetwork(let vm, let network): ["VM_REQUIRES_NETWORK", vm, network]
        case .memoryConstraintViolationMaxpin(let reason): ["MEMORY_CONSTRAINT_VIOLATION_MAXPIN", reason]
        case .srNoPBDs(let sr): ["SR_NO_PBDS", sr]
        case .pifUnmanaged(let pif): ["PIF_UNMANAGED", pif]
        case .pifIsManagementInterface(let pif): ["PIF_IS_MANAGEMENT_IFACE", pif]
        case .pifDoesNotAllowUnplug(let pif): ["PIF_DOES_NOT_ALLOW_UNPLUG", pif]
        case .cannotPlugBondSlave(let pif): ["CANNOT_PLUG_BOND_SLAVE", pif]
        case .pifAlreadyBonded(let pif): ["PIF_ALREADY_BONDED", pif]
        case .pifVLANStillExists(let pif): ["PIF_VLAN_STILL_EXISTS", pif]
        case .pifTunnelStillExists(let pif): ["PIF_TUNNEL_STILL_EXISTS", pif]
        case .networkUnmanaged(let network): ["NETWORK_UNMANAGED", network]
        case .networkAlreadyConnected(let host, let pif): ["NETWORK_ALREADY_CONNECTED", host, pif]
        case .vlanTagInvalid(let tag): ["VLAN_TAG_INVALID", String(tag)]
        case .pifVLANExists(let device): ["PIF_VLAN_EXISTS", device]
        case .pifIsVLAN(let pif): ["PIF_IS_VLAN", pif]
        case .pifIsPhysical: ["PIF_IS_PHYSICAL"]
        case .cannotAddVLANToBondSlave(let pif): ["CANNOT_ADD_VLAN_TO_BOND_SLAVE", pif]
        case .pifBondNeedsMoreMembers: ["PIF_BOND_NEEDS_MORE_MEMBERS"]
        case .pifCannotBondCrossHost: ["PIF_CANNOT_BOND_CROSS_HOST"]
        case .incompatiblePIFProperties: ["INCOMPATIBLE_PIF_PROPERTIES"]
        case .pifBondMoreThanOneIP: ["PIF_BOND_MORE_THAN_ONE_IP"]
        case .pifHasNoNetworkConfiguration(let pif): ["PIF_HAS_NO_NETWORK_CONFIGURATION", pif]
        case .duplicatePIFDeviceName(let device): ["DUPLICATE_PIF_DEVICE_NAME", device]
        case .noSuchNetworkInterface(let device, let mac):
            ["COULD_NOT_FIND_NETWORK_INTERFACE_WITH_SPECIFIED_DEVICE_NAME_AND_MAC_ADDRESS", device, mac]
        case .haConstraintViolationSRNotShared(let sr): ["HA_CONSTRAINT_VIOLATION_SR_NOT_SHARED", sr]
        case .haConstraintViolationNetworkNotShared(let network): ["HA_CONSTRAINT_VIOLATION_NETWORK_NOT_SHARED", network]
        case .hostCannotAttachNetwork(let host, let network): ["HOST_CANNOT_ATTACH_NETWORK", host, network]
        case .noHostsAvailableFor(let vm): ["NO_HOSTS_AVAILABLE", vm]
        case .hostNotEnoughFreeMemoryFor(let vm): ["HOST_NOT_ENOUGH_FREE_MEMORY", vm]
        case .hostNotDisabled: ["HOST_NOT_DISABLED"]
        case .hostDisabledUntilReboot(let host): ["HOST_DISABLED_UNTIL_REBOOT", host]
        case .cannotEvacuateHost(let errors): ["CANNOT_EVACUATE_HOST", errors]
        case .xenapiMissingPlugin(let name): ["XENAPI_MISSING_PLUGIN", name]
        case .invalidIPAddressSpecified(let field): ["INVALID_IP_ADDRESS_SPECIFIED", field]
        case .invalidCIDRAddressSpecified(let field): ["INVALID_CIDR_ADDRESS_SPECIFIED", field]
        case .addressViolatesLockingConstraint(let address): ["ADDRESS_VIOLATES_LOCKING_CONSTRAINT", address]
        case .srOperationNotSupported(let sr): ["SR_OPERATION_NOT_SUPPORTED", sr]
        case .srBackendFailure(let code, let message): ["SR_BACKEND_FAILURE_\(code)", "", message, ""]
        }
    }

    public var code: String { errorDescription[0] }
}
