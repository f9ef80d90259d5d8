// Interim until the JSON writer lands: the exact JSON size is computed by the codec's writer.
extension Value {
    var jsonByteCount: Int { binaryEncoded.count }
}
