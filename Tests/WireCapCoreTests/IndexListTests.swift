import Testing
import WireCapCore

/// The one queue/CPU list parser: order kept, typos refused.
@Suite struct IndexListTests {
    @Test(arguments: [
        ("0", [0]), ("0,1", [0, 1]), ("0-3", [0, 1, 2, 3]), ("2,4-5", [2, 4, 5]),
        ("1,0", [1, 0]), ("4,0-1", [4, 0, 1]), ("7-7", [7]), ("0-4095", Array(0...4095)),
    ])
    func wellFormedListsKeepTheirOrder(_ text: String, _ expected: [Int]) {
        #expect(IndexList.parse(text) == expected)
    }

    @Test(arguments: ["", ",", "0,", ",0", "0,,1", "1-", "-1", "3-1", "a", "0-a", "1-2-3", "0,0", "0-2,1", "0-4096", " 1"])
    func malformedListsAreRefused(_ text: String) {
        #expect(IndexList.parse(text) == nil, "'\(text)' was accepted")
    }
}
