/// Disk device numbers: the Linux name (`xvda`, `hdb`, `sdc`) ↔ the integer a xenstore device
/// path carries (`xvda` = 51712), as in xapi-idl's `device_number.ml`.
public struct DeviceNumber: Hashable, Sendable {
    public enum Bus: Sendable, Hashable {
        case xen, scsi, floppy, ide
    }

    public let bus: Bus
    public let disk: Int
    public let partition: Int

    public init(bus: Bus, disk: Int, partition: Int = 0) {
        self.bus = bus
        self.disk = disk
        self.partition = partition
    }

    /// IDE majors by disk pair (hda/hdb share the first).
    private static let ideMajors = [3, 22, 33, 34, 56, 57, 88, 89, 90, 91]

    /// The integer used as `devid` in xenstore paths.
    public var xenstoreKey: Int {
        switch bus {
        case .xen where disk < 16: (202 << 8) | (disk << 4) | partition
        case .xen: (1 << 28) | (disk << 8) | partition
        case .scsi: (8 << 8) | (disk << 4) | partition
        case .floppy: (203 << 8) | (disk << 4) | partition
        case .ide: (Self.ideMajors[disk / 2] << 8) | ((disk % 2) << 6) | partition
        }
    }

    public init?(xenstoreKey key: Int) {
        if key & (1 << 28) != 0 {
            self.init(bus: .xen, disk: (key >> 8) & 0xFFFFF, partition: key & 0xFF)
            return
        }
        let major = key >> 8
        let minor = key & 0xFF
        switch major {
        case 202: self.init(bus: .xen, disk: minor >> 4, partition: minor & 0xF)
        case 8: self.init(bus: .scsi, disk: minor >> 4, partition: minor & 0xF)
        case 203: self.init(bus: .floppy, disk: minor >> 4, partition: minor & 0xF)
        default:
            guard let pair = Self.ideMajors.firstIndex(of: major) else { return nil }
            self.init(bus: .ide, disk: pair * 2 + (minor >> 6), partition: minor & 0x3F)
        }
    }

    /// `xvda`, `xvdaa`, `sdc`… (IDE disks are named `xvd*`, as xenopsd does).
    public var linuxName: String {
        let prefix = switch bus {
        case .xen: "xvd"
        case .scsi: "sd"
        case .floppy: "fd"
        case .ide: "xvd"  // emulated IDE disks appear as PV disks to the guest, as in xenopsd
        }
        return prefix + Self.letters(disk) + (partition == 0 ? "" : String(partition))
    }

    /// Disk `n` on the bus a guest sees it on: the first four disks of an emulated (HVM) guest
    /// are IDE, every other disk is a Xen PV disk (`device_number.ml` `of_disk_number`).
    public init?(diskNumber n: Int, hvm: Bool) {
        let bus: Bus = hvm && n < 4 ? .ide : .xen
        guard n >= 0, n <= Self.limits(bus).disk else { return nil }
        self.init(bus: bus, disk: n)
    }

    /// A `userdevice` or `device` as xapi reads it: a disk number, else a Linux name (`xvdb`,
    /// `hdc`, `sda1`) or the `d<disk>p<partition>` form (`device_number.ml` `of_string`).
    public init?(userdevice: String, hvm: Bool) {
        if let n = Int(userdevice), let disk = DeviceNumber(diskNumber: n, hvm: hvm) {
            self = disk
        } else if let named = DeviceNumber(linuxName: userdevice) {
            self = named
        } else if userdevice.hasPrefix("d"), let parsed = Self.diskAndPartition(userdevice.dropFirst()) {
            self.init(bus: .xen, disk: parsed.disk, partition: parsed.partition)
        } else {
            return nil
        }
    }

    /// Every device a `userdevice` string could name, read as an HVM and as a PV guest would:
    /// what a new VBD's device must not clash with (xapi_vm_helpers.ml
    /// `possible_VBD_devices_of_string`).
    public static func interpretations(of userdevice: String) -> [DeviceNumber] {
        [DeviceNumber(userdevice: userdevice, hvm: true), DeviceNumber(userdevice: userdevice, hvm: false)].compactMap { $0 }
    }

    private static func limits(_ bus: Bus) -> (disk: Int, partition: Int) {
        switch bus {
        case .xen: ((1 << 20) - 1, 15)
        case .scsi: (15, 15)
        case .floppy: (2, 0)
        case .ide: (19, 63)
        }
    }

    /// `123` or `123p4`.
    private static func diskAndPartition(_ text: Substring) -> (disk: Int, partition: Int)? {
        let parts = text.split(separator: "p", maxSplits: 1, omittingEmptySubsequences: false)
        func digits(_ s: Substring) -> Int? { !s.isEmpty && s.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } ? Int(s) : nil }
        guard let first = parts.first, let disk = digits(first) else { return nil }
        guard parts.count == 2 else { return (disk, 0) }
        guard let partition = digits(parts[1]) else { return nil }
        return (disk, partition)
    }

    public init?(linuxName name: String) {
        let prefixes: [(String, Bus)] = [("xvd", .xen), ("sd", .scsi), ("hd", .ide), ("fd", .floppy)]
        guard let (prefix, bus) = prefixes.first(where: { name.hasPrefix($0.0) }) else { return nil }
        let rest = name.dropFirst(prefix.count)
        let letters = rest.prefix { $0 >= "a" && $0 <= "z" }
        let digits = rest.dropFirst(letters.count)
        guard !letters.isEmpty, digits.allSatisfy(\.isNumber) else { return nil }
        var disk = 0
        for letter in letters.unicodeScalars {
            disk = disk * 26 + Int(letter.value - 96)
        }
        disk -= 1
        let partition = digits.isEmpty ? 0 : Int(digits) ?? -1
        guard partition >= 0 else { return nil }
        let (diskMax, partitionMax) = Self.limits(bus)
        guard disk <= diskMax, partition <= partitionMax else { return nil }
        self.init(bus: bus, disk: disk, partition: partition)
    }

    /// Bijective base 26: 0 → a, 25 → z, 26 → aa.
    static func letters(_ n: Int) -> String {
        var n = n + 1
        var out: [Character] = []
        while n > 0 {
            n -= 1
            out.append(Character(Unicode.Scalar(UInt8(97 + n % 26))))
            n /= 26
        }
        return String(out.reversed())
    }
}
