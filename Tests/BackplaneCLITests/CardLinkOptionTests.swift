import ArgumentParser
import Testing
@testable import BackplaneCLI

@Suite("card --link: lanes × rate")
struct CardLinkOptionTests {
    @Test("LANESxRATE gives lanes × rate bits a second; bad lanes, rates and overflow are refused naming --link")
    func parse() throws {
        #expect(try CardRun.parseLink("4x25Gbps") == 100_000_000_000)
        #expect(try CardRun.parseLink("1x10Gbps") == 10_000_000_000)
        #expect(try CardRun.parseLink("2X500Mbps") == 1_000_000_000)
        for bad in ["", "x", "4x", "x25Gbps", "0x25Gbps", "65x1Gbps", "-1x1Gbps", "4x25", "4x-1Gbps", "4x0bps", "64x1Tbps", "4x25Gbps\u{0}", "٤x25Gbps", String(repeating: "9", count: 400) + "x1Gbps"] {
            #expect(throws: ValidationError.self, "\(bad.prefix(20))") { _ = try CardRun.parseLink(bad) }
        }
    }
}
