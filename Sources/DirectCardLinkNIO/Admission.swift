import BackplaneModel
import DirectCardLink
import NIOConcurrencyHelpers

/// What an accepting node decides about a peer that said hello.
public enum AdmissionDecision: Sendable, Hashable {
    /// Admit the peer under this CardID (its claimed one, or a newly assigned one).
    case accept(CardID)
    case reject(DCLStatus, reason: String)
}

/// What the transport proved about a peer: on a TLS link, the certificate it presented (the
/// TLS handshake verified it against the trust roots).
public struct LinkCredentials: Sendable, Hashable {
    /// The peer's certificate (DER), when it presented one.
    public var peerCertificate: [UInt8]?
    /// Whether the link is TLS at all.
    public var tls: Bool
    public init(peerCertificate: [UInt8]? = nil, tls: Bool = false) {
        self.peerCertificate = peerCertificate
        self.tls = tls
    }
}

/// Decides admission of peers. The decision may take time (e.g. a store write to assign a
/// CardID); the connection waits for it within its handshake timeout.
public struct Admission: Sendable {
    public let decide: @Sendable (Hello, LinkCredentials) async -> AdmissionDecision
    public init(_ decide: @escaping @Sendable (Hello, LinkCredentials) async -> AdmissionDecision) { self.decide = decide }
    /// An admission that looks at the hello only.
    public init(_ decide: @escaping @Sendable (Hello) async -> AdmissionDecision) { self.decide = { hello, _ in await decide(hello) } }

    /// Admits peers that present a CardID; refuses ones that ask to be given one.
    public static let claimedIdentity = Admission { hello in
        if hello.cardID == .unassigned || hello.cardID == .broadcast {
            return .reject(.unauthorized, reason: "this node does not assign CardIDs; connect with an assigned CardID")
        }
        return .accept(hello.cardID)
    }

    /// Admits everyone; peers without a CardID get the next one from `first` upwards.
    /// Peers with a token other than `token` (when given) are refused.
    public static func assigning(startingAt first: CardID = .firstAssignable, token: String? = nil) -> Admission {
        let next = NIOLockedValueBox(first.rawValue)
        return Admission { hello in
            if let token, hello.token != token {
                return .reject(.unauthorized, reason: "join token rejected")
            }
            if hello.cardID != .unassigned && hello.cardID != .broadcast { return .accept(hello.cardID) }
            return .accept(CardID(next.withLockedValue { value in
                defer { value += 1 }
                return value
            }))
        }
    }
}
