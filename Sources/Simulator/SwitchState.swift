import Xenstore

extension XenstoreConnection {
    /// Linux's `xenbus_switch_state`: in a transaction, writes a device's new XenbusState only
    /// while its `state` node exists. A plain write after reading the state re-created a device
    /// directory removed in between (a forced unplug while the driver was between its read and
    /// its write), which nobody then tore down: the unplug waited out its 300 s hotplug timeout
    /// (seen under load in bench/e2e). False when the device is gone.
    /// `details` (the rings and features a driver publishes with the new state, keys under
    /// `device`) go in the same transaction, for the same reason.
    func switchState(of device: String, to value: String, details: [(key: String, value: String)] = []) throws -> Bool {
        try transaction { tx in
            guard (try? tx.read("\(device)/state")) != nil else { return false }
            for (key, detail) in details { try tx.write("\(device)/\(key)", detail) }
            try tx.write("\(device)/state", value)
            return true
        }
    }
}
