import NIOCore

/// Decoding a payload whose type the caller already knows.
extension Hello {
    public init(decoding payload: ByteBuffer) throws(PayloadDecodingError) {
        guard case .hello(let m) = try Message.decode(type: .hello, payload: payload) else { preconditionFailure("decode(type: .hello) returns .hello") }
        self = m
    }
}

extension Welcome {
    public init(decoding payload: ByteBuffer) throws(PayloadDecodingError) {
        guard case .welcome(let m) = try Message.decode(type: .welcome, payload: payload) else { preconditionFailure("decode(type: .welcome) returns .welcome") }
        self = m
    }
}

extension Credit {
    public init(decoding payload: ByteBuffer) throws(PayloadDecodingError) {
        guard case .credit(let m) = try Message.decode(type: .credit, payload: payload) else { preconditionFailure("decode(type: .credit) returns .credit") }
        self = m
    }
}
