import Foundation
import KeyValueApp
import ShardSDK

// The reference sharded key-value app (docs/shard-sdk.md): run as an instance of a workload with
// `shards:` in its spec (examples/kv.yaml); its card gives it the socket and token it needs.

/// A line straight to the log (stdout is a file: print would buffer it).
@Sendable func say(_ line: String) { FileHandle.standardOutput.write(Data("backplane-kv: \(line)\n".utf8)) }

do {
    let settings = try ShardAppConnection.Settings(environment: ProcessInfo.processInfo.environment)
    say("instance \(settings.instance), shard host at \(settings.socket)")
    try await ShardAppConnection.serve(KeyValueStore(), settings: settings, linked: { say("linked to the shard host") })
} catch {
    FileHandle.standardError.write(Data("backplane-kv: \(error)\n".utf8))
    exit(1)
}
