/// The one parser of queue and CPU lists: `0,1`, `0-3`, `4,0-1`.
///
/// Keeps the order written (queue `i` of a list is served by CPU `i` of a CPU
/// list), and refuses what is surely a typo: an empty part (`0,,1`, `1-`), a
/// negative or reversed range, a range wider than 4096, an index named twice.
public enum IndexList {
    /// The indices of `text` in the order written, or `nil` when it is malformed.
    public static func parse(_ text: String) -> [Int]? {
        var out: [Int] = []
        var seen = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false)
            let range: ClosedRange<Int>
            if ends.count == 1, let v = Int(ends[0]), v >= 0 {
                range = v...v
            } else if ends.count == 2, let a = Int(ends[0]), let b = Int(ends[1]), a >= 0, a <= b, b - a < 4096 {
                range = a...b
            } else {
                return nil
            }
            for v in range {
                guard seen.insert(v).inserted else { return nil }
                out.append(v)
            }
        }
        return out.isEmpty ? nil : out
    }
}
