import Foundation
import Testing
@testable import BackplaneCLI

@Suite("join token: never on argv")
struct JoinTokenTests {
    @Test("read from a file (trimmed), refused when empty, binary, huge or unreadable; --token is refused with the reason")
    func fromFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bp-token-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "  abc123\n".write(toFile: directory + "/ok", atomically: true, encoding: .utf8)
        #expect(try JoinToken.read(directory + "/ok") == "abc123")
        try "\n \n".write(toFile: directory + "/empty", atomically: true, encoding: .utf8)
        try String(repeating: "x", count: 300).write(toFile: directory + "/long", atomically: true, encoding: .utf8)
        for path in [directory + "/empty", directory + "/long", directory + "/missing", "/dev/zero"] {
            #expect(throws: (any Error).self, "\(path)") { try JoinToken.read(path) }
        }
        #expect(throws: (any Error).self, "bmc --token is refused at parse time") { _ = try BMCCommand.parse(["--token", "secret"]) }
        #expect(JoinToken.notOnArgv.contains("ps"))
    }
}
