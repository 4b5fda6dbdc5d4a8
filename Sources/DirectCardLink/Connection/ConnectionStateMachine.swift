import BackplaneModel
import NIOCore

/// The life of one DCL link, sans I/O: events in, actions out (STYLE rule 2).
///
/// ```
///  opener:   idle ──start──► awaitingWelcome ──welcome──► established ──close──► closed
///  acceptor: idle ──start──► awaitingHello ──hello──► awaitingAdmission ──admitted──► established
///                                                            └──rejected──► closed
/// ```
/// The hello, welcome and close frames are always framed as version 1, so two ends that share
/// no version still understand why they are parting. Timers are actions (`scheduleTick`): the
/// shell calls ``tick(now:)`` at or after the instant asked for.
public struct ConnectionStateMachine: Sendable {
    public struct Configuration: Sendable {
        public var role: PeerRole
        /// This end's CardID; ``CardID/unassigned`` for an opener that asks to be given one.
        public var localID: CardID
        public var versions: ClosedRange<UInt8>
        public var heartbeatInterval: Duration
        public var deadAfter: Duration
        public var handshakeTimeout: Duration
        /// Per-class flow-control windows (the acceptor's apply to both directions; carried in welcome).
        public var windows: ClassWindows
        public var token: String
        public var metadata: [String: String]
        public var maxMessageBytes: Int
        /// Whether frames whose source is not the peer (relayed by a router card) are accepted.
        public var acceptsForwardedFrames: Bool

        public init(
            role: PeerRole,
            localID: CardID,
            versions: ClosedRange<UInt8> = DCLVersion.supported,
            heartbeatInterval: Duration = .seconds(1),
            deadAfter: Duration = .seconds(5),
            handshakeTimeout: Duration = .seconds(5),
            windows: ClassWindows = ClassWindows(),
            token: String = "",
            metadata: [String: String] = [:],
            maxMessageBytes: Int = 64 << 20,
            acceptsForwardedFrames: Bool = true
        ) {
            self.role = role
            self.localID = localID
            self.versions = versions
            self.heartbeatInterval = heartbeatInterval
            self.deadAfter = deadAfter
            self.handshakeTimeout = handshakeTimeout
            self.windows = windows
            self.token = token
            self.metadata = metadata
            self.maxMessageBytes = maxMessageBytes
            self.acceptsForwardedFrames = acceptsForwardedFrames
        }
    }

    /// What both ends agreed on.
    public struct Established: Hashable, Sendable {
        public var version: UInt8
        public var localID: CardID
        public var peerID: CardID
        public var peerRole: PeerRole
        public var heartbeatInterval: Duration
        public var deadAfter: Duration
        public var windows: ClassWindows
    }

    public enum Action: Sendable {
        /// Queue this message on the link.
        case send(OutboundMessage)
        /// A whole message for this end. After handling it, call ``consumed(_:bytes:)`` with
        /// `creditBytes` so the peer gets its credit back.
        case deliver(Frame, creditBytes: Int)
        /// A frame for another card: hand it to the router, then call ``consumed(_:bytes:)``.
        case forward(Frame, creditBytes: Int)
        /// Acceptor only: decide whether to admit this peer, then call ``admitted(as:now:)`` or ``rejected(_:reason:)``.
        case admit(Hello)
        /// The handshake is done; set the scheduler's version and credit from it.
        case established(Established)
        /// The peer returned credit for one class.
        case creditReceived(QoSClass, bytes: Int)
        /// Close the connection; when `sendFirst`, write `close` to the peer before closing.
        case close(Close, sendFirst: Bool)
        /// Call ``tick(now:)`` at this instant.
        case scheduleTick(Instant)
    }

    enum State: Sendable {
        case idle
        case awaitingWelcome
        case awaitingHello
        case awaitingAdmission(Hello, version: UInt8)
        case established(Established)
        case closed
    }

    public let configuration: Configuration
    private var state: State = .idle
    private var startedAt = Instant.zero
    private var lastHeard = Instant.zero
    private var lastHeartbeatSent = Instant.zero
    private var heartbeatNonce: UInt64 = 0
    private var window: ReceiveWindow
    private var reassembler: Reassembler

    public init(configuration: Configuration) {
        self.configuration = configuration
        self.window = ReceiveWindow(windows: configuration.windows)
        self.reassembler = Reassembler(maxMessageBytes: configuration.maxMessageBytes)
    }

    public var established: Established? {
        if case .established(let e) = state { return e }
        return nil
    }

    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    private var localID: CardID { established?.localID ?? configuration.localID }
    private var peerID: CardID { established?.peerID ?? .unassigned }

    private func control(_ message: Message, flags: FrameFlags = [], correlation: UInt64 = 0) -> Action {
        .send(OutboundMessage(message, qos: .control, priority: .highest, flags: flags, source: localID, destination: peerID, correlation: correlation))
    }

    // MARK: Events

    /// The transport is connected. The opener sends its hello; both ends arm the handshake timer.
    public mutating func start(opener: Bool, now: Instant) -> [Action] {
        guard case .idle = state else { return [] }
        startedAt = now
        lastHeard = now
        let deadline = Action.scheduleTick(now + configuration.handshakeTimeout)
        if opener {
            state = .awaitingWelcome
            let hello = Hello(versions: configuration.versions, role: configuration.role, cardID: configuration.localID, token: configuration.token, metadata: configuration.metadata)
            return [control(.hello(hello)), deadline]
        }
        state = .awaitingHello
        return [deadline]
    }

    /// Acceptor: the shell admitted the peer under `peerID`.
    public mutating func admitted(as peerID: CardID, now: Instant) -> [Action] {
        guard case .awaitingAdmission(let hello, let version) = state else { return [] }
        let e = Established(
            version: version, localID: configuration.localID, peerID: peerID, peerRole: hello.role,
            heartbeatInterval: configuration.heartbeatInterval, deadAfter: configuration.deadAfter,
            windows: configuration.windows
        )
        state = .established(e)
        lastHeartbeatSent = now
        let welcome = Welcome(
            version: version, acceptorRole: configuration.role, assignedID: peerID, acceptorID: configuration.localID,
            heartbeatIntervalMilliseconds: UInt32(clamping: e.heartbeatInterval.milliseconds),
            deadAfterMilliseconds: UInt32(clamping: e.deadAfter.milliseconds),
            windows: e.windows
        )
        // Established first: the shell registers the link before the peer can see the welcome.
        return [.established(e), control(.welcome(welcome)), .scheduleTick(now + e.heartbeatInterval)]
    }

    /// Acceptor: the shell refused the peer.
    public mutating func rejected(_ status: DCLStatus, reason: String) -> Action? {
        closing(status, reason)
    }

    /// This end wants to close the link.
    public mutating func closeRequested(_ status: DCLStatus = .normalClose, reason: String) -> Action? {
        closing(status, reason)
    }

    /// The byte stream could not be decoded: close, telling the peer why.
    public mutating func decodingFailed(_ error: FrameDecodingError) -> Action? {
        closing(.protocolError, error.description)
    }

    /// The transport is gone (peer closed or I/O error).
    public mutating func transportClosed() {
        state = .closed
    }

    private mutating func closing(_ status: DCLStatus, _ reason: String) -> Action? {
        if case .closed = state { return nil }
        state = .closed
        return .close(Close(status: status, reason: reason), sendFirst: true)
    }

    /// The application finished with `bytes` of a delivered or forwarded frame.
    public mutating func consumed(_ qos: QoSClass, bytes: Int) -> Action? {
        guard case .established = state, let grant = window.consumed(qos, bytes: bytes) else { return nil }
        return control(.credit(grant))
    }

    /// A timer asked for by `scheduleTick` fired.
    public mutating func tick(now: Instant) -> [Action] {
        switch state {
        case .idle, .closed:
            return []
        case .awaitingHello, .awaitingWelcome, .awaitingAdmission:
            let deadline = startedAt + configuration.handshakeTimeout
            if now >= deadline {
                return closing(.handshakeTimeout, "no handshake within \(configuration.handshakeTimeout.milliseconds) ms").map { [$0] } ?? []
            }
            return [.scheduleTick(deadline)]
        case .established(let e):
            let silence = now.since(lastHeard)
            if silence > e.deadAfter {
                return closing(.peerDead, "peer \(e.peerID) silent for \(silence.milliseconds) ms (limit \(e.deadAfter.milliseconds) ms)").map { [$0] } ?? []
            }
            var actions: [Action] = []
            if now.since(lastHeartbeatSent) >= e.heartbeatInterval {
                heartbeatNonce &+= 1
                lastHeartbeatSent = now
                actions.append(control(.heartbeat(Heartbeat(nonce: heartbeatNonce))))
            }
            let next = min(lastHeartbeatSent + e.heartbeatInterval, lastHeard + e.deadAfter + .milliseconds(1))
            actions.append(.scheduleTick(max(next, now + .milliseconds(1))))
            return actions
        }
    }

    /// A frame arrived (already checked by ``FrameDecoder``).
    public mutating func frameReceived(_ frame: Frame, now: Instant) -> Action? {
        let h = frame.header
        switch state {
        case .idle, .closed:
            return nil
        case .awaitingHello:
            lastHeard = now
            guard h.type == .hello else {
                return closing(.protocolError, "expected hello as the first frame, got \(h.type)")
            }
            let hello: Hello
            do {
                hello = try Hello(decoding: frame.payload)
            } catch {
                return closing(.protocolError, error.description)
            }
            let low = max(hello.versions.lowerBound, configuration.versions.lowerBound)
            let high = min(hello.versions.upperBound, configuration.versions.upperBound)
            guard low <= high else {
                return closing(.versionMismatch, "no common protocol version: peer speaks \(hello.versions.lowerBound)...\(hello.versions.upperBound), this end speaks \(configuration.versions.lowerBound)...\(configuration.versions.upperBound)")
            }
            state = .awaitingAdmission(hello, version: high)
            return .admit(hello)
        case .awaitingAdmission:
            return closing(.protocolError, "\(h.type) frame sent before the welcome")
        case .awaitingWelcome:
            lastHeard = now
            if h.type == .close { return peerClosed(frame) }
            guard h.type == .welcome else {
                return closing(.protocolError, "expected welcome, got \(h.type)")
            }
            let welcome: Welcome
            do {
                welcome = try Welcome(decoding: frame.payload)
            } catch {
                return closing(.protocolError, error.description)
            }
            guard configuration.versions.contains(welcome.version) else {
                return closing(.versionMismatch, "welcome chose version \(welcome.version), this end speaks \(configuration.versions.lowerBound)...\(configuration.versions.upperBound)")
            }
            guard welcome.assignedID != .unassigned, welcome.assignedID != .broadcast else {
                return closing(.protocolError, "welcome assigned the reserved CardID \(welcome.assignedID)")
            }
            let e = Established(
                version: welcome.version, localID: welcome.assignedID, peerID: welcome.acceptorID, peerRole: welcome.acceptorRole,
                heartbeatInterval: .milliseconds(Int64(max(1, welcome.heartbeatIntervalMilliseconds))),
                deadAfter: .milliseconds(Int64(max(1, welcome.deadAfterMilliseconds))),
                windows: welcome.windows
            )
            window = ReceiveWindow(windows: e.windows)
            state = .established(e)
            lastHeartbeatSent = now
            return .established(e)
        case .established(let e):
            lastHeard = now
            let bytes = frame.payload.readableBytes
            guard window.received(h.qos, bytes: bytes) else {
                return closing(.flowControlViolation, "peer sent \(h.qos) data beyond its credit")
            }
            if h.source != e.peerID && !configuration.acceptsForwardedFrames {
                return closing(.unauthorized, "frame source \(h.source) is not the peer \(e.peerID) and this link does not accept forwarded frames")
            }
            if h.destination != e.localID && h.destination != .broadcast {
                return .forward(frame, creditBytes: bytes)
            }
            switch h.type {
            case .heartbeat:
                if h.flags.contains(.response) { return nil }
                guard case .heartbeat(let hb)? = try? Message.decode(type: .heartbeat, payload: frame.payload) else {
                    return closing(.protocolError, "heartbeat payload must be an 8-byte nonce")
                }
                return control(.heartbeat(hb), flags: .response, correlation: h.correlation)
            case .credit:
                do {
                    let credit = try Credit(decoding: frame.payload)
                    return .creditReceived(credit.qos, bytes: Int(credit.bytes))
                } catch {
                    return closing(.protocolError, error.description)
                }
            case .close:
                return peerClosed(frame)
            case .hello, .welcome:
                return closing(.protocolError, "\(h.type) after the handshake")
            default:
                do {
                    guard let whole = try reassembler.frameReceived(frame) else {
                        // Buffered fragments count as consumed: the reassembler bounds them.
                        return consumed(h.qos, bytes: bytes)
                    }
                    return .deliver(whole, creditBytes: bytes)
                } catch {
                    return closing(.protocolError, error.description)
                }
            }
        }
    }

    private mutating func peerClosed(_ frame: Frame) -> Action? {
        state = .closed
        if case .close(let close)? = try? Message.decode(type: .close, payload: frame.payload) {
            return .close(close, sendFirst: false)
        }
        return .close(Close(status: .protocolError, reason: "peer closed with an unreadable close frame"), sendFirst: false)
    }
}
