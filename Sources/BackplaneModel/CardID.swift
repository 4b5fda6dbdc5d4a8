/// A bus-unique, 64-bit card address assigned by the BMC at enumeration.
///
/// A CardID is independent of IP address, port or slot and stays the same across restarts of
/// the card. Its text form is `c-<high>-<low>`: the low 24 bits as exactly six hex digits and
/// the remaining high 40 bits as at least four hex digits, e.g. `c-0001-00a3f2`. The text form
/// round-trips through ``init(parsing:)``.
public struct CardID: RawRepresentable, Hashable, Comparable, Sendable, Codable {
    public var rawValue: UInt64

    @inlinable
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    @inlinable
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// No identity yet: what a card presents in its hello before the BMC has assigned one.
    public static let unassigned = CardID(0)
    /// The Bus Management Controller's own address.
    public static let bmc = CardID(1)
    /// Every card: a frame addressed here is delivered to each receiver and never forwarded.
    public static let broadcast = CardID(UInt64.max)
    /// The first value the BMC hands out to cards; lower values are reserved.
    public static let firstAssignable = CardID(0x1_000000)

    /// True for the values with a fixed meaning (unassigned, BMC, broadcast).
    public var isReserved: Bool { self.rawValue < Self.firstAssignable.rawValue || self == .broadcast }

    public static func < (lhs: CardID, rhs: CardID) -> Bool { lhs.rawValue < rhs.rawValue }
}

extension CardID: CustomStringConvertible, LosslessStringConvertible {
    public var description: String {
        let high = String(self.rawValue >> 24, radix: 16)
        let low = String(self.rawValue & 0xFF_FFFF, radix: 16)
        return "c-" + String(repeating: "0", count: max(0, 4 - high.count)) + high
            + "-" + String(repeating: "0", count: 6 - low.count) + low
    }

    public init?(_ description: String) {
        guard let id = try? CardID(parsing: description) else { return nil }
        self = id
    }

    /// Parses the text form `c-<high hex>-<6 low hex digits>`.
    /// - Throws: ``CardIDParseError`` naming what is wrong with the text.
    public init(parsing text: String) throws(CardIDParseError) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "c" else {
            throw CardIDParseError(text: text, reason: "expected the form c-<hex>-<6 hex digits>, e.g. c-0001-00a3f2")
        }
        guard (1...10).contains(parts[1].count), let high = UInt64(parts[1], radix: 16) else {
            throw CardIDParseError(text: text, reason: "the middle part must be 1 to 10 hex digits")
        }
        guard parts[2].count == 6, let low = UInt64(parts[2], radix: 16) else {
            throw CardIDParseError(text: text, reason: "the last part must be exactly 6 hex digits")
        }
        self.init(high << 24 | low)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try CardID(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.description)
    }
}

/// A CardID text that does not parse.
public struct CardIDParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public var text: String
    public var reason: String
    public var description: String { "invalid CardID '\(text)': \(reason)" }
}
