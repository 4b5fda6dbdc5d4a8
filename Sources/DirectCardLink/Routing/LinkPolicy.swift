import BackplaneModel

/// What a controller (the BMC) accepts on a link from a card or client (pure).
///
/// - A peer speaks only as itself: every frame's source must be the CardID its link was admitted
///   with (later, the CardID in its certificate). A frame claiming another source — another
///   card, alive or dead, or the BMC — closes the link.
/// - Only the controller commands cards: a peer's `command` or `event` addressed to another card
///   is not forwarded (a card once had the BMC forward `instance.start` to another card, which
///   ran a container the BMC did not know about). Card-to-card data, shard-routed requests and
///   one-sided operations are forwarded as before.
/// - A client (a load generator, a gateway) talks only to the controller: nothing it sends is
///   forwarded to a card. Its shard-routed requests go to the controller, which checks that the
///   client may use the workload and routes them itself.
public enum LinkPolicy {
    public enum Verdict: Hashable, Sendable {
        case accept
        /// Close the link with this status and reason.
        case refuse(DCLStatus, String)
    }

    /// For a frame that arrived at a controller on the link of `peer`, to be delivered to the
    /// controller itself (`forwarding` false) or passed on to `header.destination`.
    public static func check(_ header: FrameHeader, onLinkOf peer: CardID, role: PeerRole = .card, forwarding: Bool) -> Verdict {
        guard header.source == peer else {
            return .refuse(.unauthorized, "a frame with source \(header.source) came on the link of \(peer): a card speaks only as itself")
        }
        if forwarding && (header.type == .command || header.type == .event) {
            return .refuse(.unauthorized, "\(peer) sent a \(header.type) to \(header.destination): only the BMC commands cards")
        }
        if forwarding && header.type == .routedRequest && header.flags.contains(.shardResolved) {
            return .refuse(.unauthorized, "\(peer) sent a shard-resolved request to \(header.destination): only the BMC resolves shard owners (and checks who may use the workload)")
        }
        if forwarding && role == .client {
            return .refuse(.unauthorized, "client \(peer) sent a \(header.type) to \(header.destination): a client talks only to the BMC")
        }
        return .accept
    }
}
