import BackplaneModel
import CDCLChecksum
import NIOCore
import PropertyBased
import Testing
@testable import DirectCardLink

@Suite("DCL frame codec")
struct FrameCodecTests {
    @Test("every message type survives encode then decode, with its header", arguments: 0..<Samples.kinds)
    func roundTrip(kind: Int) async {
        await propertyCheck(count: 150, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
            var rng = SplitMix64(seed: seed)
            let message = Samples.message(kind: kind, using: &rng)
            let header = Samples.header(for: message, using: &rng)
            var decoder = FrameDecoder()
            decoder.append(Samples.frame(message, header: header))
            let frame = try? decoder.nextFrame()
            #expect(frame != nil, "seed \(seed)")
            guard let frame else { return }
            var expected = header
            expected.payloadLength = UInt32(message.encodedPayloadLength)
            #expect(frame.header == expected, "seed \(seed)")
            #expect(frame.payload.readableBytes == message.encodedPayloadLength, "encodedPayloadLength agrees with the encoder, seed \(seed)")
            #expect((try? Message.decode(type: frame.header.type, payload: frame.payload)) == message, "seed \(seed)")
            #expect(decoder.bufferedBytes == 0)
        }
    }

    @Test("the header layout is the one documented in docs/dcl.md")
    func documentedLayout() {
        let header = FrameHeader(type: .data, flags: .response, hops: 2, qos: .bulk, priority: FramePriority(7), source: CardID(0x0102_0304_0506_0708), destination: .bmc, correlation: 0xAABB, sequence: 9, fragmentIndex: 1, fragmentCount: 3)
        var buffer = ByteBuffer()
        FrameEncoder.write(header, into: &buffer) { $0.writeString("hi") }
        let bytes = Array(buffer.readableBytesView)
        #expect(bytes.count == 50)
        #expect(Array(bytes[0..<8]) == [0xDC, 0x1C, 0x01, 0x21, 0x01, 0x01, 0x03, 0x07])
        #expect(Array(bytes[8..<16]) == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(Array(bytes[16..<24]) == [0, 0, 0, 0, 0, 0, 0, 1])
        #expect(Array(bytes[24..<32]) == [0, 0, 0, 0, 0, 0, 0xAA, 0xBB])
        #expect(Array(bytes[32..<44]) == [0, 0, 0, 9, 0, 1, 0, 3, 0, 0, 0, 2])
        let crc = bytes[0..<44].withUnsafeBufferPointer { h in dcl_crc32c(0, h.baseAddress, 44) }
        let full = bytes[48...].withUnsafeBufferPointer { p in dcl_crc32c(crc, p.baseAddress, 2) }
        #expect(Array(bytes[44..<48]) == [UInt8(full >> 24), UInt8(full >> 16 & 0xFF), UInt8(full >> 8 & 0xFF), UInt8(full & 0xFF)])
    }

    @Test("CRC32C matches the standard check value and the portable implementation")
    func crc32c() {
        let check = Array("123456789".utf8)
        #expect(dcl_crc32c(0, check, check.count) == 0xE306_9283)
        var rng = SplitMix64(seed: 7)
        for length in [0, 1, 7, 8, 9, 63, 64, 1000, 4099] {
            let data = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(dcl_crc32c(0, data, length) == dcl_crc32c_portable(0, data, length))
        }
    }

    @Test("a multi-frame stream decodes the same under every split point and byte by byte")
    func everyChunking() throws {
        var rng = SplitMix64(seed: 42)
        var stream = ByteBuffer()
        var expected: [Message] = []
        for kind in 0..<Samples.kinds {
            let m = Samples.message(kind: kind, using: &rng)
            expected.append(m)
            stream.writeImmutableBuffer(Samples.frame(m, header: Samples.header(for: m, using: &rng)))
        }
        func decodeAll(_ chunks: [ByteBuffer]) throws -> [Message] {
            var decoder = FrameDecoder()
            var out: [Message] = []
            for chunk in chunks {
                decoder.append(chunk)
                while let frame = try decoder.nextFrame() {
                    out.append(try Message.decode(type: frame.header.type, payload: frame.payload))
                }
            }
            try decoder.finish()
            return out
        }
        #expect(try decodeAll([stream]) == expected)
        #expect(try decodeAll(stream.chunked(Array(repeating: 1, count: stream.readableBytes))) == expected)
        for split in 1..<stream.readableBytes {
            #expect(try decodeAll(stream.chunked([split])) == expected, "split at \(split)")
        }
        for round in 0..<200 {
            var sizes: [Int] = []
            var total = 0
            while total < stream.readableBytes {
                let size = Int.random(in: 1...200, using: &rng)
                sizes.append(size)
                total += size
            }
            #expect(try decodeAll(stream.chunked(sizes)) == expected, "random chunking round \(round)")
        }
    }

    private func firstError(_ bytes: [UInt8], maxPayload: Int = FrameDecoder.defaultMaxPayloadLength) -> FrameDecodingError? {
        var decoder = FrameDecoder(maxPayloadLength: maxPayload)
        decoder.append(ByteBuffer(bytes: bytes))
        do {
            while try decoder.nextFrame() != nil {}
            try decoder.finish()
            return nil
        } catch {
            return error
        }
    }

    private func validFrame() -> [UInt8] {
        var rng = SplitMix64(seed: 1)
        let m = Message.data(DataMessage(endpoint: "echo", body: ByteBuffer(string: "hello")))
        return Array(Samples.frame(m, header: Samples.header(for: m, using: &rng)).readableBytesView)
    }

    @Test("hostile headers are rejected with the code and the byte offset that is wrong")
    func rejections() {
        var bytes = validFrame()
        bytes[0] = 0x00
        #expect(firstError(bytes)?.code == .badMagic)
        #expect(firstError(bytes)?.message.contains("bytes 0-1") == true)

        bytes = validFrame(); bytes[2] = 9
        #expect(firstError(bytes)?.code == .unsupportedVersion)
        #expect(firstError(bytes)?.message.contains("byte 2") == true)

        bytes = validFrame(); bytes[4] = 0x7F
        #expect(firstError(bytes)?.code == .unknownMessageType)

        bytes = validFrame(); bytes[6] = 9
        #expect(firstError(bytes)?.code == .unknownQoSClass)

        bytes = validFrame(); bytes[39] = 0
        #expect(firstError(bytes)?.code == .badFragmentInfo)

        bytes = validFrame(); bytes[40] = 0x7F
        #expect(firstError(bytes)?.code == .payloadTooLarge)
        #expect(firstError(validFrame(), maxPayload: 4)?.code == .payloadTooLarge)

        bytes = validFrame(); bytes[bytes.count - 1] ^= 0xFF
        #expect(firstError(bytes)?.code == .checksumMismatch)
        #expect(firstError(bytes)?.message.contains("bytes 44-47") == true)

        bytes = validFrame(); bytes.removeLast()
        #expect(firstError(bytes)?.code == .truncated)
    }

    @Test("a decoder that failed stays failed")
    func staysFailed() {
        var decoder = FrameDecoder()
        decoder.append(ByteBuffer(bytes: [0, 0, 0]))
        #expect(throws: FrameDecodingError.self) { try decoder.nextFrame() }
        decoder.append(ByteBuffer(bytes: validFrame()))
        #expect(throws: FrameDecodingError.self) { try decoder.nextFrame() }
    }

    @Test("payloads with missing or extra fields name the field")
    func payloadErrors() {
        var short = ByteBuffer()
        short.writeInteger(UInt16(10))
        short.writeString("abc")
        #expect(throws: PayloadDecodingError(type: .data, field: "endpoint", reason: "is truncated: length says 10 byte(s), 3 left")) {
            try Message.decode(type: .data, payload: short)
        }
        var long = ByteBuffer()
        Message.heartbeat(Heartbeat(nonce: 1)).encodePayload(into: &long)
        long.writeInteger(UInt8(0))
        #expect(throws: PayloadDecodingError.self) { try Message.decode(type: .heartbeat, payload: long) }
        var badUTF8 = ByteBuffer()
        badUTF8.writeInteger(UInt16(2))
        badUTF8.writeBytes([0xC3, 0x28])
        #expect((try? Message.decode(type: .data, payload: badUTF8)) == nil)
    }
}

@Suite("DCL message catalogue")
struct MessageCatalogueTests {
    @Test("isKnown agrees with the published list of message types")
    func knownTypes() {
        for raw in UInt16(0)...UInt16(0x0400) {
            let type = MessageType(rawValue: raw)
            #expect(type.isKnown == MessageType.known.contains(type), "0x\(String(raw, radix: 16))")
        }
        #expect(Set(MessageType.known.map(\.rawValue)).count == MessageType.known.count, "wire values are unique")
    }
}
