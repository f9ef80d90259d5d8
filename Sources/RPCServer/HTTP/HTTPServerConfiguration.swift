/// Settings of ``XapiHTTPServer``.
public struct HTTPServerConfiguration: Sendable {
    /// Address of the TCP listener.
    public var host: String
    /// Port of the TCP listener; `0` picks a free port (reported through `onListening`).
    public var port: Int
    /// Path of the Unix-socket listener (xapi: `/var/lib/xcp/xapi`), or `nil` for none. Callers
    /// on it are pre-authenticated as root, so the file is created with mode 0600.
    public var unixSocketPath: String?
    /// Largest request body accepted; larger requests get `413` and the connection closes.
    ///
    /// 300 KiB, the same as xapi (`Constants.http_limit_max_rpc_size`): every request real
    /// xapi accepts is accepted here and nothing more, so scripts that work against this
    /// server work against xapi. It also bounds buffered request memory to
    /// ~300 KiB × `maxTCPConnections` (xapi answers an oversized body with a 500; a 413 says
    /// what went wrong and Python's client raises `ProtocolError` for either).
    public var maxBodyBytes: Int
    /// How long a connection may sit with no request in progress before it is closed.
    ///
    /// A request being handled is never timed out (an `event.from` may wait as long as its
    /// caller asked), so this only reclaims abandoned keep-alive connections. 300 s is longer
    /// than the 30 s/60 s `event.from` timeouts clients use between their calls.
    public var idleTimeout: Duration
    /// Concurrent TCP connections; further ones are closed at once (xapi: `conn_limit_tcp` 800).
    public var maxTCPConnections: Int
    /// Concurrent Unix-socket connections (xapi: `conn_limit_unix` 1024).
    public var maxUnixConnections: Int

    public init(
        host: String = "127.0.0.1",
        port: Int = 80,
        unixSocketPath: String? = nil,
        maxBodyBytes: Int = 300 * 1024,
        idleTimeout: Duration = .seconds(300),
        maxTCPConnections: Int = 800,
        maxUnixConnections: Int = 1024
    ) {
        self.host = host
        self.port = port
        self.unixSocketPath = unixSocketPath
        self.maxBodyBytes = maxBodyBytes
        self.idleTimeout = idleTimeout
        self.maxTCPConnections = maxTCPConnections
        self.maxUnixConnections = maxUnixConnections
    }
}
