import XapiDB

/// Storage a host sets aside for a PVS site's cache.
enum PVSCacheStorageHandlers {
    static let table = ClassHandlers("PVS_cache_storage", [
        "destroy": destroy,
    ])

    /// xen-api ocaml/xapi/xapi_pvs_cache_storage.ml `destroy`: refused while a running proxy of
    /// the site serves a VM resident on the storage's host (`PVS_CACHE_STORAGE_IS_IN_USE`);
    /// the cache VDI goes with it (pvs_cache_vdi.ml `destroy_vdi`).
    static let destroy: Handler = { call in
        let t = call.tables
        let storage = try call.string("self")
        try call.database.write { s throws(XapiError) in
            let (site, host) = (try s.get(t.pvsCacheStorage, storage, .site), try s.get(t.pvsCacheStorage, storage, .host))
            for (_, proxy) in s.rows(t.pvsProxy)
            where proxy.fields[t.pvsProxy[.site]] == site && proxy.fields[t.pvsProxy[.currentlyAttached]] == .bool(true) {
                guard let vif = proxy.fields[t.pvsProxy[.vif]].stringValue, s.contains(t.vif, vif),
                      let vm = try s.get(t.vif, vif, .vm).stringValue, s.contains(t.vm, vm) else { continue }
                if try s.get(t.vm, vm, .residentOn) == host { throw .pvsCacheStorageIsInUse(storage: storage) }
            }
            if let vdi = try s.get(t.pvsCacheStorage, storage, .vdi).stringValue, s.contains(t.vdi, vdi) {
                try VDIHandlers.destroyVDI(vdi, in: &s, t)
            }
            try s.delete(t.pvsCacheStorage, storage)
        }
        return .emptyString
    }
}
