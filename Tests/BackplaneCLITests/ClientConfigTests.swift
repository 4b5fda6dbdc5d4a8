import Foundation
import Testing
@testable import BackplaneCLI

@Suite("client config and API tokens in the CLI")
struct ClientConfigTests {
    func withDirectory(_ body: (String) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bp-config-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(directory)
    }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test("where the config is: $BACKPLANE_CONFIG, else $XDG_CONFIG_HOME/backplane, else ~/.config/backplane")
    func path() {
        #expect(ClientConfig.path(environment: ["BACKPLANE_CONFIG": "/x/c.json", "XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"]) == "/x/c.json")
        #expect(ClientConfig.path(environment: ["XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"]) == "/xdg/backplane/config.json")
        #expect(ClientConfig.path(environment: ["XDG_CONFIG_HOME": "relative", "HOME": "/home/u"]) == "/home/u/.config/backplane/config.json")
        #expect(ClientConfig.path(environment: ["HOME": "/home/u"]) == "/home/u/.config/backplane/config.json")
    }

    @Test("URL and token precedence: flag, environment, config, default; the config is read only when needed")
    func precedence() throws {
        let config = ClientConfig(bmc: "http://config:1", token: "config-token", ca: nil)
        let environment = ["BACKPLANE_BMC": "http://env:1", "BACKPLANE_TOKEN": "env-token", "BACKPLANE_CONFIG": "/c.json"]
        let neverRead: (String) throws -> ClientConfig? = { _ in Issue.record("the config was read"); return nil }
        var (url, credential) = try BMCOptions.resolve(bmc: "http://flag:1", token: "flag-token", environment: environment, loadConfig: neverRead)
        #expect(url == "http://flag:1" && credential == .init(token: "flag-token", source: "--token"))
        (url, credential) = try BMCOptions.resolve(bmc: nil, token: nil, environment: environment, loadConfig: neverRead)
        #expect(url == "http://env:1" && credential == .init(token: "env-token", source: "$BACKPLANE_TOKEN"))
        (url, credential) = try BMCOptions.resolve(bmc: nil, token: nil, environment: ["BACKPLANE_CONFIG": "/c.json"], loadConfig: { _ in config })
        #expect(url == "http://config:1" && credential == .init(token: "config-token", source: "the client config /c.json"))
        (url, credential) = try BMCOptions.resolve(bmc: nil, token: "", environment: ["BACKPLANE_CONFIG": "/c.json"], loadConfig: { _ in nil })
        #expect(url == BMCOptions.defaultBMC && credential == nil)
    }

    @Test("up's config is written 0600 in a new 0700 directory and read back; one others can read is refused with the fix")
    func writeAndLoad() throws {
        try withDirectory { directory in
            let path = directory + "/sub/backplane/config.json"
            let config = ClientConfig(bmc: "http://127.0.0.1:7070", token: "bpt_x", ca: nil)
            try config.write(to: path)
            #expect(try mode(path) == 0o600)
            #expect(try mode(directory + "/sub/backplane") == 0o700)
            #expect(try ClientConfig.load(path) == config)
            try config.write(to: path)  // replaced, still 0600
            #expect(try mode(path) == 0o600)
            chmod(path, 0o644)
            #expect { try ClientConfig.load(path) } throws: { error in
                (error as? CLIError)?.message.contains("chmod 600 \(path)") == true
            }
            #expect(try ClientConfig.load(directory + "/missing.json") == nil)
            try writePrivateFile(directory + "/bad.json", contents: Data("{\"bmc\": 1}".utf8))
            #expect(throws: CLIError.self) { try ClientConfig.load(directory + "/bad.json") }
        }
    }

    /// The hostile test's finding: another user pre-created `<config>.tmp-<pid>` and owned the
    /// admin token written into it; root's CLI also read a config another user owned.
    @Test("a temporary file another user made first is never written into; a config another user owns is refused")
    func foreignFiles() throws {
        guard geteuid() == 0 else {
            print("skipped: needs root to make files owned by another user")
            return
        }
        try withDirectory { directory in
            let path = directory + "/config.json"
            // Every name the old scheme could have used for the next writes.
            for pid in getpid()...(getpid() + 50) {
                let trap = path + ".tmp-\(pid)"
                FileManager.default.createFile(atPath: trap, contents: Data(), attributes: [.posixPermissions: 0o666])
                chown(trap, 65534, 65534)
            }
            try ClientConfig(bmc: "https://127.0.0.1:7070", token: "bpt_secret", ca: nil).write(to: path)
            var info = stat()
            stat(path, &info)
            #expect(info.st_uid == geteuid() && info.st_mode & 0o777 == 0o600)
            let trapped = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("config.json.tmp-") }
            for name in trapped { #expect(try String(contentsOfFile: directory + "/" + name, encoding: .utf8).isEmpty, "\(name) got the token") }
            chown(path, 65534, 65534)
            #expect { try ClientConfig.load(path) } throws: { error in
                (error as? CLIError)?.message.contains("belongs to uid 65534") == true
            }
        }
    }

    @Test("the BMC's admin.token is written 0600 and read back trimmed; absent is nil")
    func adminToken() throws {
        try withDirectory { directory in
            #expect(AdminToken.read(state: directory) == nil)
            try AdminToken.write("bpt_0123456789abcdef.\(String(repeating: "a", count: 64))", state: directory)
            #expect(try mode(AdminToken.path(state: directory)) == 0o600)
            #expect(AdminToken.read(state: directory) == "bpt_0123456789abcdef.\(String(repeating: "a", count: 64))")
        }
    }

    @Test("a 401 or 403 says which token was used from where and how to get one, never the token")
    func refusals() throws {
        let client = try BMCClient("http://127.0.0.1:7070", credential: .init(token: "bpt_secret", source: "$BACKPLANE_TOKEN"))
        let unauthorized = client.refusal(status: 401, message: "the bearer token is not valid")
        #expect(unauthorized.contains("$BACKPLANE_TOKEN") && unauthorized.contains("backplane token create") && unauthorized.contains("backplane up"))
        #expect(!unauthorized.contains("bpt_secret"))
        let forbidden = client.refusal(status: 403, message: "token x (viewer of team-a) may not deploy workloads")
        #expect(forbidden.contains("$BACKPLANE_TOKEN") && forbidden.contains("may not deploy") && !forbidden.contains("bpt_secret"))
        #expect(try BMCClient("http://127.0.0.1:7070").refusal(status: 401, message: "no bearer token").contains("no API token given"))
    }

    @Test("token create --join takes no role or tenant")
    func joinFlag() throws {
        #expect(throws: (any Error).self) { _ = try TokenCommand.Create.parse(["--join", "--role", "operator"]) }
        #expect(throws: (any Error).self) { _ = try TokenCommand.Create.parse(["--join", "--tenant", "team-a"]) }
        _ = try TokenCommand.Create.parse(["--join", "--ttl", "1h"])
    }
}
