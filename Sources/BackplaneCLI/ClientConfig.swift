import BusSecurity
import Foundation

/// The client config: where the BMC is and the token to present, so neither has to be on a
/// command line. JSON `{"bmc": "http://127.0.0.1:7070", "token": "bpt_…", "ca": "/path/ca.pem"}`
/// at `$BACKPLANE_CONFIG`, else `$XDG_CONFIG_HOME/backplane/config.json`, else
/// `~/.config/backplane/config.json`; mode 0600 (a config others can read is refused).
/// `backplane up` writes it.
struct ClientConfig: Codable, Equatable, Sendable {
    var bmc: String?
    var token: String?
    /// The path of the bus CA's certificate (PEM), to verify the BMC's HTTPS certificate with.
    var ca: String?

    static let environmentVariable = "BACKPLANE_CONFIG"

    /// Where the config is read from and written to.
    static func path(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let path = environment[environmentVariable], !path.isEmpty { return path }
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") { return xdg + "/backplane/config.json" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.config/backplane/config.json"
    }

    /// The config at `path`; nil when there is none. Refused when group or others may read it
    /// (it holds a token) or it is not a config.
    static func load(_ path: String) throws -> ClientConfig? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        guard info.st_uid == geteuid() else {
            throw CLIError("the client config \(path) belongs to uid \(info.st_uid), not to you (uid \(geteuid())): another user could have written its URL, CA and token; remove it or point $BACKPLANE_CONFIG at your own", exitCode: 2)
        }
        guard info.st_mode & 0o077 == 0 else {
            throw CLIError("the client config \(path) is readable by others (mode \(String(info.st_mode & 0o777, radix: 8))) and holds a token; run: chmod 600 \(path)", exitCode: 2)
        }
        // At most 64 KiB: the path may name /dev/zero or a pipe.
        guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.read(upToCount: 65_536) else {
            throw CLIError("cannot read the client config \(path)", exitCode: 2)
        }
        try? handle.close()
        do {
            return try JSONDecoder().decode(ClientConfig.self, from: data)
        } catch {
            throw CLIError("the client config \(path) is not {\"bmc\": URL, \"token\": TOKEN, \"ca\": PATH}: \(error)", exitCode: 2)
        }
    }

    /// Writes the config (mode 0600; a missing parent directory is made with mode 0700).
    func write(to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty && !FileManager.default.fileExists(atPath: directory) {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try writePrivateFile(path, contents: try encoder.encode(self) + Data("\n".utf8))
    }
}

/// Writes `contents` to `path` with mode 0600 from the first byte (``SecureFiles/write(_:to:mode:)``:
/// a `mkstemp` temporary renamed over `path`, never a name another user could create first).
func writePrivateFile(_ path: String, contents: Data) throws {
    do {
        try SecureFiles.write(contents, to: path)
    } catch let error as SecurityError {
        throw CLIError(error.message, exitCode: 1)
    }
}

/// The bus-admin token the BMC creates on its first start, in `<state>/admin.token` (mode 0600
/// in the 0700 state directory). `backplane up` copies it into the client config.
enum AdminToken {
    static func path(state: String) -> String { state + "/admin.token" }

    static func write(_ token: String, state: String) throws {
        try writePrivateFile(path(state: state), contents: Data((token + "\n").utf8))
    }

    /// The token, or nil while there is none (at most 4 KiB are read).
    static func read(state: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path(state: state)), let data = try? handle.read(upToCount: 4096) else { return nil }
        try? handle.close()
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return token.isEmpty ? nil : token
    }
}
