import XapiDB

/// Request and response bodies from xenapi-protocol.md, byte for byte.
enum Fixtures {
    /// §2.2: `session.login_with_password("root", "secret", "1.0", "my-script")` as CPython's
    /// `xmlrpc.client.dumps` writes it (295 bytes).
    static let loginRequest = """
        <?xml version='1.0'?>
        <methodCall>
        <methodName>session.login_with_password</methodName>
        <params>
        <param>
        <value><string>root</string></value>
        </param>
        <param>
        <value><string>secret</string></value>
        </param>
        <param>
        <value><string>1.0</string></value>
        </param>
        <param>
        <value><string>my-script</string></value>
        </param>
        </params>
        </methodCall>

        """

    /// §2.2: xapi's reply to it.
    static let loginResponse = #"<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value>OpaqueRef:6f8b2c3e-9c1d-4d7e-8a51-0b3c2d4e5f60</value></member></struct></value></param></params></methodResponse>"#

    static let sessionRef = "OpaqueRef:6f8b2c3e-9c1d-4d7e-8a51-0b3c2d4e5f60"

    /// A Python-style `VM.set_other_config(session, vm, {12 entries})` call (~1.4 KB), the
    /// shape of most script traffic.
    static let setOtherConfigRequest: String = {
        var s = "<?xml version='1.0'?>\n<methodCall>\n<methodName>VM.set_other_config</methodName>\n<params>\n"
        s += "<param>\n<value><string>\(sessionRef)</string></value>\n</param>\n"
        s += "<param>\n<value><string>OpaqueRef:0b9e7a3c-1f2d-4e5a-9b8c-7d6e5f4a3b2c</string></value>\n</param>\n"
        s += "<param>\n<value><struct>\n"
        for (k, v) in otherConfig {
            s += "<member>\n<name>\(k)</name>\n<value><string>\(v)</string></value>\n</member>\n"
        }
        s += "</struct></value>\n</param>\n</params>\n</methodCall>\n"
        return s
    }()

    static let otherConfig: [(String, String)] = [
        ("install-methods", "cdrom,nfs,http,ftp"), ("linux_template", "true"),
        ("mac_seed", "6b5d2a6e-0f0c-4d8b-9b7a-1c2d3e4f5a6b"), ("vgpu_pci", ""),
        ("base_template_name", "Debian Bookworm 12"), ("import_task", "OpaqueRef:NULL"),
        ("folder", "/Production/Web &amp; API"), ("HideFromXenCenter", "false"),
        ("XenCenter.CustomFields.owner", "ops-team@example.com"), ("auto_poweron", "true"),
        ("last_shutdown_reason", "halted"), ("notes", "migrated 2024-11-03 &lt;batch 7&gt;"),
    ]

    /// `event.from(session, ["vm", "task"], "", 30.0)` as Python sends it.
    static let eventFromRequest = """
        <?xml version='1.0'?>
        <methodCall>
        <methodName>event.from</methodName>
        <params>
        <param>
        <value><string>\(sessionRef)</string></value>
        </param>
        <param>
        <value><array><data>
        <value><string>vm</string></value>
        <value><string>task</string></value>
        </data></array></value>
        </param>
        <param>
        <value><string></string></value>
        </param>
        <param>
        <value><double>30.0</double></value>
        </param>
        </params>
        </methodCall>

        """
}
