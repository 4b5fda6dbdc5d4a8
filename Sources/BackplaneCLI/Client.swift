import Foundation
import NIOSSL
import X509

/// A small client for the BMC's HTTP API; sends the bearer token with every request.
struct BMCClient {
    let base: URL
    /// The API token, and where it came from (for messages: never the token itself).
    let credential: Credential?
    /// The bus CA the API's certificate must chain to (https).
    var ca: Certificate?

    /// A token and its origin (`--token`, `$BACKPLANE_TOKEN`, `the client config <path>`).
    struct Credential: Equatable {
        var token: String
        var source: String
    }

    init(_ text: String, credential: Credential? = nil, ca: Certificate? = nil) throws {
        self.ca = ca
        guard let url = URL(string: text.hasSuffix("/") ? String(text.dropLast()) : text), url.scheme == "http" || url.scheme == "https" else {
            throw CLIError("--bmc must be an http(s) URL such as http://127.0.0.1:7070, got '\(text)'", exitCode: 2)
        }
        base = url
        self.credential = credential
    }

    struct APIFailure: Decodable {
        struct Inner: Decodable {
            var code: String
            var message: String
            var details: [String: String]
        }
        var error: Inner
    }

    func request(_ method: String, _ path: String, query: [String: String] = [:], body: Data? = nil, contentType: String = "application/json") async throws -> Data {
        var components = URLComponents(url: base.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        if !query.isEmpty { components.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) } }
        var headers: [(String, String)] = []
        if body != nil { headers.append(("Content-Type", contentType)) }
        if let credential { headers.append(("Authorization", "Bearer \(credential.token)")) }
        let answer: HTTPTransport.Answer
        do {
            answer = try await HTTPTransport.exchange(method, url: components.url!, headers: headers, body: body, trusting: ca)
        } catch let error as NIOSSLError {
            throw CLIError("cannot reach the BMC at \(base.absoluteString) over TLS: \(error)\nThe client config names the bus CA the API's certificate must chain to (`backplane up` writes it).", exitCode: 3)
        } catch {
            throw CLIError("cannot reach the BMC at \(base.absoluteString): \(error)\nIs it running? Start a local bus with `backplane up`, or point --bmc (or BACKPLANE_BMC) at one.", exitCode: 3)
        }
        let (data, status) = (answer.body, answer.status)
        guard (200..<300).contains(status) else {
            if let failure = try? JSONDecoder().decode(APIFailure.self, from: data) {
                if status == 401 || status == 403 { throw CLIError(refusal(status: status, message: failure.error.message), exitCode: 1) }
                var text = failure.error.message
                if !failure.error.details.isEmpty && failure.error.code == "invalid_spec" {
                    text = "invalid workload spec:\n" + failure.error.details.sorted { $0.key < $1.key }.map { "  \($0.key): \($0.value)" }.joined(separator: "\n")
                }
                throw CLIError(text, exitCode: 1)
            }
            throw CLIError("the BMC answered \(status): \(String(decoding: data, as: UTF8.self))", exitCode: 1)
        }
        return data
    }

    /// A 401 or 403 for people: which token was used (from where) and how to get a better one.
    func refusal(status: Int, message: String) -> String {
        let used = credential.map { "the token from \($0.source)" } ?? "no token"
        let refused = credential.map { "the BMC refused the token from \($0.source): \(message)" } ?? "no API token given (the BMC answered: \(message))"
        if status == 403 {
            return "\(message)\nThe BMC knows \(used) but its role or tenant does not allow this; ask a bus-admin or your tenant-admin for a token that does (`backplane token create`)."
        }
        return """
        \(refused)
        Give a token with --token (visible to every local user in ps), $BACKPLANE_TOKEN, or "token" in the client config \(ClientConfig.path()). \
        `backplane up` writes the bus-admin token there (the BMC keeps it in <state>/admin.token); an admin makes others with `backplane token create`.
        """
    }

    func get<T: Decodable>(_ path: String, query: [String: String] = [:], as type: T.Type) async throws -> T {
        let data = try await request("GET", path, query: query)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw CLIError("unexpected answer from \(path): \(error)", exitCode: 1)
        }
    }
}

/// A failure to report to the user, with the process exit code.
struct CLIError: Error, CustomStringConvertible {
    var message: String
    var exitCode: Int32
    init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }
    var description: String { message }
}

/// Left-aligned columns for people.
func table(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
    return all.map { row in
        row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
    }.joined(separator: "\n")
}

func printJSON(_ data: Data) {
    if let object = try? JSONSerialization.jsonObject(with: data),
       let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) {
        print(String(decoding: pretty, as: UTF8.self))
    } else {
        print(String(decoding: data, as: UTF8.self))
    }
}
