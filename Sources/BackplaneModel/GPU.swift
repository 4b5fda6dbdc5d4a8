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

    /// `2` (two whole GPUs), `1` , `500m` or `0.5` (half of one GPU). A share must be under one GPU.
    public static func parse(_ text: String) throws(Quantity.ParseError) -> GPUDemand {
        let milli = try Quantity.parseCPU(text)  // the same notation: 1 = 1000m
        let error = Quantity.ParseError(text: text, expected: "a GPU amount: whole GPUs such as 1 or 2, or a share of one GPU such as 500m or 0.25")
        guard milli > 0 else { throw error }
        if milli < 1000 { return GPUDemand(count: 1, milliPerDevice: Int(milli)) }
        guard milli % 1000 == 0, milli <= 64_000 else { throw error }
        return GPUDemand(count: Int(milli / 1000))
    }

    public var description: String {
        let amount = milliPerDevice < 1000 ? "\(milliPerDevice)m GPU" : "\(count) GPU"
        return models.isEmpty ? amount : "\(amount) (\(models.joined(separator: "|")))"
    }
}
