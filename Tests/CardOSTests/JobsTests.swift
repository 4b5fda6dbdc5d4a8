import Foundation
import Synchronization
import Testing
@testable import CardOS

@Suite("jobs and process references")
struct JobsTests {
    @Test("a keyed job is replaced by the next of its key and ended by cancel; run() ends after finish()")
    func keyedJobs() async {
        let jobs = Jobs()
        let (events, sink) = AsyncStream.makeStream(of: String.self)
        async let running: Void = jobs.run()
        for name in ["a1", "a2"] {
            jobs.add("a") {
                sink.yield("\(name) started")
                try? await Task.sleep(for: .seconds(3600))  // until cancelled
                sink.yield("\(name) ended")
            }
        }
        var it = events.makeAsyncIterator()
        var seen: [String] = []
        while let event = await it.next() {
            seen.append(event)
            if event == "a2 started" { break }
        }
        // a1 may be replaced before it starts; if it started, it was cancelled by a2's arrival.
        jobs.cancel("a")
        while let event = await it.next() {
            seen.append(event)
            if event == "a2 ended" { break }
        }
        #expect(seen.last == "a2 ended", "cancel ended the job")
        if seen.contains("a1 started") { #expect(seen.contains("a1 ended"), "the replaced job was ended: \(seen)") }
        jobs.finish()
        #expect(jobs.add { sink.yield("late") } == false, "nothing is taken after finish()")
        await running
    }

    @Test("run() outlives its caller's cancellation; finish() with cancelAll() ends it")
    func cancellationOfTheOwner() async {
        let jobs = Jobs()
        let finished = Mutex(false)
        let owner = Task { await jobs.run() }
        jobs.add {
            // Cancellation of the owner does not reach the job: it can still wait.
            try? await Task.sleep(for: .milliseconds(50))  // work that needs time
            finished.withLock { $0 = !Task.isCancelled }
        }
        owner.cancel()
        jobs.finish()
        await owner.value
        #expect(finished.withLock { $0 }, "the job ran to its end")
        let other = Jobs()
        other.add { try? await Task.sleep(for: .seconds(3600)) }  // until cancelled
        async let running: Void = other.run()
        other.cancelAll()
        other.finish()
        await running
    }

    @Test("a process reference reaps only its own process and never signals after the exit")
    func processReference() throws {
        func spawn(_ command: String) throws -> pid_t {
            var pid: pid_t = 0
            let words: [String] = ["/bin/sh", "-c", command]
            let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
            defer { argv.forEach { free($0) } }
            guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0 else { throw RuntimeError("cannot spawn") }
            return pid
        }
        let first = try #require(ProcessReference(pid: try spawn("exit 3")))
        let second = try spawn("sleep 0.2; exit 5")
        while !first.hasExited { usleep(1000) }  // a real process ending
        let status = try #require(first.reap())
        #expect((status >> 8) & 0xff == 3)
        #expect(first.reap() == nil, "reaped once")
        #expect(first.signal(SIGKILL) == false, "an exited process gets no signal, whatever now runs under its PID")
        // The other child's status is still its own to collect.
        var other: Int32 = 0
        #expect(waitpid(second, &other, 0) == second)
        #expect((other >> 8) & 0xff == 5)
    }
}
