// Interim until the codec branch lands with the real writer.
extension Value {
    public var xmlrpcFragment: String { "<value>\(self)</value>" }
}
