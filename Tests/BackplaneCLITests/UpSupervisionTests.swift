import Foundation
import Testing
@testable import BackplaneCLI

@Suite("backplane up: restarting children")
struct UpSupervisionTests {
    @Test("a child that keeps dying waits 0.2 s, then twice as long each time, at most 5 s")
    func backoffSchedule() {
        var backoff = RestartBackoff()
        let delays = (0..<8).map { _ in backoff.exited(afterRunning: .milliseconds(50)) }
        #expect(delays == [.milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600), .milliseconds(3200), .seconds(5), .seconds(5), .seconds(5)])
    }

    @Test("a child that ran for 30 s before dying is restarted after 0.2 s again", arguments: [
        (Duration.seconds(30), Duration.milliseconds(200)),
        (.seconds(300), .milliseconds(200)),
        (.milliseconds(29_999), .milliseconds(1600)),
    ])
    func backoffResets(ranFor: Duration, expected: Duration) {
        var backoff = RestartBackoff()
        for _ in 0..<3 { _ = backoff.exited(afterRunning: .seconds(1)) }  // 0.2, 0.4, 0.8
        #expect(backoff.exited(afterRunning: ranFor) == expected)
        // After a reset the schedule doubles again from 0.2 s.
        if expected == .milliseconds(200) { #expect(backoff.exited(afterRunning: .seconds(1)) == .milliseconds(400)) }
    }

    @Test("delays and exits read as people expect")
    func wording() {
        #expect(RestartBackoff.format(.milliseconds(200)) == "0.2 s")
        #expect(RestartBackoff.format(.milliseconds(1600)) == "1.6 s")
        #expect(RestartBackoff.format(.seconds(5)) == "5 s")
        #expect(describeTermination(.signaled(9)) == "killed by signal 9 (SIGKILL)")
        #expect(describeTermination(.exited(3)) == "exited with code 3")
    }
}
