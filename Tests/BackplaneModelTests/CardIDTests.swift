import BackplaneModel
import Foundation
import PropertyBased
import Testing

@Suite("CardID")
struct CardIDTests {
    @Test("the text form round-trips for every 64-bit value")
    func roundTrip() async {
        await propertyCheck(count: 2000, input: Gen<UInt64>.value(in: 0...UInt64.max)) { raw in
            let id = CardID(raw)
            #expect((try? CardID(parsing: id.description)) == id)
        }
    }

    @Test("text form examples", arguments: [
        (UInt64(0x0001_00a3f2), "c-0001-00a3f2"),
        (UInt64(1), "c-0000-000001"),
        (UInt64.max, "c-ffffffffff-ffffff"),
    ])
    func examples(raw: UInt64, text: String) throws {
        #expect(CardID(raw).description == text)
        #expect(try CardID(parsing: text) == CardID(raw))
    }

    @Test("reserved values", arguments: [CardID.unassigned, .bmc, .broadcast])
    func reserved(id: CardID) {
        #expect(id.isReserved)
        #expect(!CardID.firstAssignable.isReserved)
    }

    @Test("bad text names what is wrong", arguments: ["", "c-0001", "x-0001-000000", "c-zz-000000", "c-0001-0000", "c-00000000001-000000"])
    func rejects(text: String) {
        #expect(throws: CardIDParseError.self) { try CardID(parsing: text) }
        #expect(CardID(text) == nil)
    }

    @Test("Codable uses the text form")
    func codable() throws {
        let data = try JSONEncoder().encode([CardID(0x0001_00a3f2)])
        #expect(String(decoding: data, as: UTF8.self) == #"["c-0001-00a3f2"]"#)
        #expect(try JSONDecoder().decode([CardID].self, from: data) == [CardID(0x0001_00a3f2)])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([CardID].self, from: Data(#"["nope"]"#.utf8)) }
    }
}
