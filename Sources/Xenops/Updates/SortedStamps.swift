extension Array where Element == Int {
    /// Index of the first stamp greater than `stamp` in an ascending array (binary search):
    /// where a reader that has seen `stamp` resumes.
    func firstIndex(after stamp: Int) -> Int {
        var low = 0
        var high = count
        while low < high {
            let mid = (low + high) / 2
            if self[mid] > stamp { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
