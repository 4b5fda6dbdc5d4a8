import ArgumentParser
import Foundation
import Testing
@testable import BackplaneCLI

@Suite("sim allocate: reading usage series")
struct SimAllocateTests {
    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bp-usage-\(UUID().uuidString.prefix(8)).csv").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("the first cpu and memory columns are read in their own units; bad, negative, non-finite and out-of-order rows are skipped and counted")
    func load() throws {
        let path = try write("""
        timestamp,cpu_millicores,memory_mib,net_kbps
        0,100,512,1
        300,120,520,1
        300,999,999,1
        200,5,5,1
        600,-1,530,1
        900,nan,530,1
        1200,abc,530,1
        1500,130
        1800,140,540,1
        """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let s = try Sim.Allocate.load(path)
        #expect(s.times == [0, 300, 1800])
        #expect(s.cpu == [100, 120, 140] && s.memory == [512, 520, 540])
        #expect(s.cpuUnit == "millicores" && s.memoryUnit == "mib")
        #expect(s.skipped == 6)
        let memoryOnly = try Sim.Allocate.load(try write("timestamp,memory_fraction\n1,0.5\n2,0.6\n"))
        #expect(memoryOnly.cpu == nil && memoryOnly.memory == [0.5, 0.6])
        #expect(throws: ValidationError.self) { _ = try Sim.Allocate.load(try write("time,cpu\n1,2\n")) }
        #expect(throws: ValidationError.self) { _ = try Sim.Allocate.load("/nonexistent/x.csv") }
    }

    @Test("headrooms must be 1 to 50 positive finite numbers; options are checked before any file is read")
    func options() throws {
        #expect(try Sim.Allocate.parseHeadrooms("2,1,0.5") == [0.5, 1, 2])
        for bad in ["", "0", "-1", "nan", "inf", "1,,2", "x", String(repeating: "1,", count: 60) + "1", "101"] {
            #expect(throws: ValidationError.self, "\(bad.prefix(20))") { _ = try Sim.Allocate.parseHeadrooms(bad) }
        }
        #expect(throws: (any Error).self) { _ = try Sim.Allocate.parse(["--usage", "/tmp", "--policy", "magic"]) }
        #expect(throws: (any Error).self) { _ = try Sim.Allocate.parse(["--usage", "/tmp", "--delay", "-1"]) }
        #expect(throws: (any Error).self) { _ = try Sim.Allocate.parse(["--usage", "/tmp", "--stabilisation", "nan"]) }
    }
}
