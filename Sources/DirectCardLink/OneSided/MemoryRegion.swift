import NIOCore
import Synchronization

/// A block of memory registered for one-sided access: peers holding its key read and write it
/// without any handler of the owner running (the RDMA model). Every remote access is checked
/// against the key, the access rights and the bounds.
public final class MemoryRegion: Sendable {
    public let id: UInt32
    public let key: UInt64
    public let access: RegionAccess
    public let length: Int
    private let storage: Mutex<[UInt8]>

    public init(id: UInt32, length: Int, key: UInt64, access: RegionAccess = .readWrite) {
        precondition(length >= 0)
        self.id = id
        self.key = key
        self.access = access
        self.length = length
        self.storage = Mutex(Array(repeating: 0, count: length))
    }

    /// A region holding `contents` (e.g. a snapshot peers read one-sided).
    public init(id: UInt32, key: UInt64, access: RegionAccess, contents: [UInt8]) {
        self.id = id
        self.key = key
        self.access = access
        self.length = contents.count
        self.storage = Mutex(contents)
    }

    /// The owner's own access to the bytes (e.g. to read what peers wrote).
    public func withBytes<R>(_ body: (inout [UInt8]) throws -> R) rethrows -> R {
        try storage.withLock { try body(&$0) }
    }

    /// What a peer announcing this region sends.
    public var registration: RegionRegister {
        RegionRegister(region: id, length: UInt64(length), key: key, access: access)
    }

    func check(key: UInt64, offset: UInt64, count: Int, needs: RegionAccess) -> RegionCompletion? {
        // Compare without an early exit on the first differing bit.
        guard (key ^ self.key) == 0 else {
            return RegionCompletion(status: .regionKeyMismatch, message: "access key does not match region \(id)")
        }
        guard access.contains(needs) else {
            return RegionCompletion(status: .regionAccessDenied, message: "region \(id) does not allow remote \(needs == .remoteRead ? "read" : "write")")
        }
        let (end, overflow) = offset.addingReportingOverflow(UInt64(count))
        guard !overflow, end <= UInt64(length) else {
            return RegionCompletion(status: .regionOutOfBounds, message: "bytes \(offset)..<\(offset &+ UInt64(count)) are outside region \(id) of \(length) bytes")
        }
        return nil
    }

    /// Applies a remote write; returns the completion to send back.
    public func remoteWrite(_ write: RegionWrite) -> RegionCompletion {
        if let failure = check(key: write.key, offset: write.offset, count: write.data.readableBytes, needs: .remoteWrite) {
            return failure
        }
        storage.withLock { bytes in
            bytes.withUnsafeMutableBytes { dst in
                write.data.withUnsafeReadableBytes { src in
                    (dst.baseAddress! + Int(write.offset)).copyMemory(from: src.baseAddress!, byteCount: src.count)
                }
            }
        }
        return RegionCompletion(status: .ok)
    }

    /// Serves a remote read; returns the bytes or the failure.
    public func remoteRead(_ read: RegionRead, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> Result<ByteBuffer, RegionAccessError> {
        if let failure = check(key: read.key, offset: read.offset, count: Int(read.length), needs: .remoteRead) {
            return .failure(RegionAccessError(completion: failure))
        }
        return .success(storage.withLock { bytes in
            var out = allocator.buffer(capacity: Int(read.length))
            bytes.withUnsafeBytes { src in
                out.writeBytes(UnsafeRawBufferPointer(rebasing: src[Int(read.offset)..<Int(read.offset) + Int(read.length)]))
            }
            return out
        })
    }
}

/// A rejected one-sided operation.
public struct RegionAccessError: Error, Hashable, Sendable, CustomStringConvertible {
    public var completion: RegionCompletion
    public var status: DCLStatus { completion.status }
    public var description: String { "\(completion.status): \(completion.message)" }
}

/// The regions a card has registered, by id.
public final class MemoryRegionTable: Sendable {
    private let regions = Mutex<[UInt32: MemoryRegion]>([:])

    public init() {}

    public func register(_ region: MemoryRegion) {
        regions.withLock { $0[region.id] = region }
    }

    @discardableResult
    public func deregister(_ id: UInt32) -> MemoryRegion? {
        regions.withLock { $0.removeValue(forKey: id) }
    }

    public subscript(id: UInt32) -> MemoryRegion? {
        regions.withLock { $0[id] }
    }

    public func write(_ write: RegionWrite) -> RegionCompletion {
        guard let region = self[write.region] else {
            return RegionCompletion(status: .regionNotFound, message: "no region \(write.region) is registered")
        }
        return region.remoteWrite(write)
    }

    public func read(_ read: RegionRead) -> Result<ByteBuffer, RegionAccessError> {
        guard let region = self[read.region] else {
            return .failure(RegionAccessError(completion: RegionCompletion(status: .regionNotFound, message: "no region \(read.region) is registered")))
        }
        return region.remoteRead(read)
    }
}
