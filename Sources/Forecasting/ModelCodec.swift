import Foundation

/// Persists any model's state so the BMC can restore it: `decode(encode(m))` gives the same
/// limits as `m`, now and after any further rows fed to both.
///
/// Layout (version 1): the magic bytes `BPFM`, one version byte, then JSON of a tagged state
/// (`{"windowMax":{...}}`, `{"ensemble":{...}}`, …; non-finite numbers as the strings "inf",
/// "-inf", "nan"). Tags are append-only; a decoder rejects an unknown version.
public enum ModelCodec {
    static let magic: [UInt8] = Array("BPFM".utf8)
    static let version: UInt8 = 1

    public struct Error: Swift.Error, CustomStringConvertible, Sendable {
        public enum Code: String, Sendable { case unsupportedModel, badMagic, unsupportedVersion, malformed }
        public var code: Code
        public var message: String
        public var cause: String?
        public var description: String { "\(code.rawValue): \(message)" + (cause.map { " (\($0))" } ?? "") }
    }

    enum State: Codable {
        case windowMax(WindowMax)
        case timeWindowMax(TimeWindowMax)
        case decayedPercentile(DecayedPercentile)
        case holtWinters(HoltWinters)
        case quantileRegression(QuantileRegression)
        case ensemble(Ensemble)

        var model: any LimitModel {
            switch self {
            case .windowMax(let m): return m
            case .timeWindowMax(let m): return m
            case .decayedPercentile(let m): return m
            case .holtWinters(let m): return m
            case .quantileRegression(let m): return m
            case .ensemble(let m): return m
            }
        }
    }

    public static func encode(_ model: any LimitModel) throws -> Data {
        let state: State
        switch model {
        case let m as WindowMax: state = .windowMax(m)
        case let m as TimeWindowMax: state = .timeWindowMax(m)
        case let m as DecayedPercentile: state = .decayedPercentile(m)
        case let m as HoltWinters: state = .holtWinters(m)
        case let m as QuantileRegression: state = .quantileRegression(m)
        case let m as Ensemble: state = .ensemble(m)
        default: throw Error(code: .unsupportedModel, message: "no codec for \(type(of: model)) (\(model.name))")
        }
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        encoder.outputFormatting = [.sortedKeys]
        return Data(magic + [version]) + (try encoder.encode(state))
    }

    public static func decode(_ data: Data) throws -> any LimitModel {
        let bytes = [UInt8](data.prefix(magic.count + 1))
        guard bytes.count == magic.count + 1, Array(bytes.prefix(magic.count)) == magic else {
            throw Error(code: .badMagic, message: "not a model state (no BPFM magic)")
        }
        guard bytes[magic.count] == version else {
            throw Error(code: .unsupportedVersion, message: "model state version \(bytes[magic.count]); this build reads \(version)")
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            return try decoder.decode(State.self, from: Data(data.dropFirst(magic.count + 1))).model
        } catch {
            throw Error(code: .malformed, message: "model state does not decode", cause: "\(error)")
        }
    }
}
