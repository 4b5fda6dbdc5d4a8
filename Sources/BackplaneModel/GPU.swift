/// What a workload's instance asks of GPUs: `count` whole devices, or a share (`milliPerDevice`
/// under 1000) of one device; `models` limits the device models it may use (empty: any).
public struct GPUDemand: Hashable, Sendable, Codable, CustomStringConvertible {
    public var count: Int
    public var milliPerDevice: Int
    public var models: [String]

    public init(count: Int, milliPerDevice: Int = 1000, models: [String] = []) {
        self.count = count
        self.milliPerDevice = milliPerDevice
        self.models = models
    }

    /// The most whole GPUs one instance may ask for.
    public static let maximumCount = 64
    /// At most this many allowed models, each at most ``maximumModelLength`` characters.
    public static let maximumModels = 32
    public static let maximumModelLength = 63

    /// `2` (two whole GPUs), `1` , `500m` or `0.5` (half of one GPU). A share must be under one GPU.
    public static func parse(_ text: String) throws(Quantity.ParseError) -> GPUDemand {
        let expected = "a GPU amount: whole GPUs such as 1 or 2 (at most \(maximumCount)), or a share of one GPU such as 500m or 0.25"
        let milli: Int64
        do {
            milli = try Quantity.parseCPU(text, bound: Int64(maximumCount) * 1000)  // the same notation: 1 = 1000m
        } catch {
            throw Quantity.ParseError(text: text, expected: expected, problem: error.problem)
        }
        guard milli > 0 else { throw Quantity.ParseError(text: text, expected: expected, problem: "is 0 (leave gpu out for none)") }
        if milli < 1000 { return GPUDemand(count: 1, milliPerDevice: Int(milli)) }
        guard milli % 1000 == 0 else { throw Quantity.ParseError(text: text, expected: expected, problem: "is more than one GPU but not a whole number of GPUs") }
        return GPUDemand(count: Int(milli / 1000))
    }

    /// What is wrong with this demand (a stored one may be anything), or nil.
    public var problem: String? {
        if milliPerDevice < 1 || milliPerDevice > 1000 { return "a share of \(milliPerDevice)m per GPU is outside 1m to 1000m" }
        if count < 1 || count > Self.maximumCount { return "\(count) GPUs is outside 1 to \(Self.maximumCount)" }
        if milliPerDevice < 1000 && count != 1 { return "a share of a GPU (\(milliPerDevice)m) is for one GPU, not \(count)" }
        if models.count > Self.maximumModels { return "lists \(models.count) GPU models; at most \(Self.maximumModels)" }
        if let bad = models.first(where: { !Self.isModelName($0) }) {
            return "'\(Quantity.excerpt(bad))' is not a GPU model name such as T4 or V100M16 (1 to \(Self.maximumModelLength) characters, no '|' or ',')"
        }
        return nil
    }

    static func isModelName(_ m: String) -> Bool {
        !m.isEmpty && m.count <= maximumModelLength && !m.contains("|") && !m.contains(",") && !m.contains(where: \.isNewline)
    }

    public var description: String {
        let amount = milliPerDevice < 1000 ? "\(milliPerDevice)m GPU" : "\(count) GPU"
        return models.isEmpty ? amount : "\(amount) (\(models.joined(separator: "|")))"
    }
}
