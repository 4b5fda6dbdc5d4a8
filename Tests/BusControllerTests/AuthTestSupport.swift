import Hummingbird
import HummingbirdTesting
import NIOCore
@testable import BusController

/// A test client that sends `Authorization: Bearer <token>` with every request that carries no
/// Authorization header of its own.
struct BearerClient: TestClientProtocol {
    let base: any TestClientProtocol
    let token: String
    var port: Int? { base.port }

    func executeRequest(uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) async throws -> TestResponse {
        var headers = headers
        if headers[.authorization] == nil { headers[.authorization] = "Bearer \(token)" }
        return try await base.executeRequest(uri: uri, method: method, headers: headers, body: body)
    }
}

extension TestClientProtocol {
    /// This client, presenting `token`.
    func bearer(_ token: String) -> BearerClient { BearerClient(base: self, token: token) }
}

extension APIServer {
    /// A new token of `role` (a bus-admin one by default), as `bmc` hands out.
    func testToken(_ role: TokenRole = .busAdmin, tenant: String? = nil, ttl: Duration? = nil) async throws -> String {
        try await tokens.issue(role: role, tenant: tenant, ttl: ttl, description: "test").token
    }

    /// Runs `body` against this API's router with a bus-admin client.
    func testAsBusAdmin(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let token = try await testToken()
        try await Application(router: router()).test(.router) { client in try await body(client.bearer(token)) }
    }
}
