import BackplaneModel
import Foundation
import Yams

/// Reads a YAML workload spec so that its values have the types JSON would give them.
///
/// A `Decoder` hands every YAML scalar over as text, so `tenant: false` would become the tenant
/// "false". Here each plain (unquoted, untagged) scalar that YAML's core schema types as a
/// boolean, null, integer or float is reported to the spec's decoding as such (see
/// ``WorkloadSpec/Document/TypedScalars``), and every text field refuses it, naming the field and
/// the kind, exactly as the JSON path refuses `"tenant": false`. The schema is Yams' default
/// resolver: the YAML 1.2 core schema plus YAML 1.1's `yes`/`no`/`on`/`off`, `0b`, `0x`, `0`-octal
/// and sexagesimal forms. Quoted (`'false'`), block (`|`) or tagged `!!str` scalars are text.
/// Quantities (`cpu: 0.5`, `memory: 1048576`) still take numbers, as in JSON.
enum WorkloadSpecYAML {
    /// Throws `YamlError` for a syntax error, `DecodingError` when the root is not a map, and
    /// ``APIError`` when aliases expand the document beyond ``maximumValues(for:)`` values.
    static func decode(_ text: String) throws -> WorkloadSpec.Document {
        let parser = try Parser(yaml: text, resolver: .default)
        // The parser owns the anchors the nodes refer to weakly: keep it while decoding.
        return try withExtendedLifetime(parser) {
            let parsed = try parser.singleRoot() ?? ""
            // First, as it refuses a document whose aliases expand it past its limit: the tree
            // shares aliased subtrees, and rebuilding keys would expand them.
            let scalars = try TypedScalarIndex(parsed, limit: maximumValues(for: text))
            let root = plainKeys(parsed)
            return try YAMLDecoder().decode(WorkloadSpec.Document.self, from: root, userInfo: [
                WorkloadSpec.Document.TypedScalars.key: WorkloadSpec.Document.TypedScalars { scalars.kind(at: $0) },
            ])
        }
    }

    /// Every mapping key as the decoder looks it up. Yams finds a key by building a plain scalar
    /// from its text, which resolves `On`, `true` or `1` to a bool or number, and so never
    /// matches the quoted key `'On'` (tagged text): `env: {'On': x}` read as a missing value
    /// (schemathesis ST202). Keys are names, so each becomes the plain scalar of its text.
    static func plainKeys(_ node: Node) -> Node {
        switch node {
        case .mapping(var mapping):
            let pairs = mapping.map { pair -> (Node, Node) in
                guard case .scalar(let key) = pair.key else { return (pair.key, plainKeys(pair.value)) }
                let plain = Node.Scalar(key.string, mapping.tag.copy(with: .implicit), .any, key.mark)
                return (.scalar(plain), plainKeys(pair.value))
            }
            mapping = Node.Mapping(pairs, mapping.tag, mapping.style, mapping.mark, mapping.anchor)
            return .mapping(mapping)
        case .sequence(var sequence):
            sequence = Node.Sequence(sequence.map(plainKeys), sequence.tag, sequence.style, sequence.mark, sequence.anchor)
            return .sequence(sequence)
        case .scalar, .alias:
            return node
        }
    }

    /// A document without aliases holds fewer values than twice its length; aliases may repeat
    /// a subtree (a "billion laughs" document), so past this the document is refused.
    static func maximumValues(for text: String) -> Int { 2 * text.utf8.count + 64 }

    /// The typed plain scalars of a document, by where they start and what they say. A decoder
    /// exposes only the start (`Decoder.mark`) of the node it stands at; the text tells apart the
    /// empty null scalar from a value starting at the same place.
    struct TypedScalarIndex: Sendable {
        struct Place: Hashable, Sendable {
            var line: Int
            var column: Int
            var text: String
        }

        private var kinds: [Place: WorkloadSpec.Document.TypedScalars.Kind] = [:]

        init(_ root: Node, limit: Int) throws {
            var visited = 0
            try visit(root, visited: &visited, limit: limit)
        }

        func kind(at decoder: any Decoder) -> WorkloadSpec.Document.TypedScalars.Kind? {
            guard let mark = decoder.mark, let text = try? decoder.singleValueContainer().decode(String.self) else { return nil }
            return kinds[Place(line: mark.line, column: mark.column, text: text)]
        }

        /// Values only: keys are names, read as text by design.
        private mutating func visit(_ node: Node, visited: inout Int, limit: Int) throws {
            visited += 1
            guard visited <= limit else {
                let message = "expands through aliases to more than \(limit) values"
                throw APIError(.invalidSpec, "(document): \(message)", details: ["(document)": message])
            }
            switch node {
            case .scalar(let scalar):
                if let kind = Self.kind(of: scalar), let mark = scalar.mark {
                    kinds[Place(line: mark.line, column: mark.column, text: scalar.string)] = kind
                }
            case .mapping(let mapping):
                for (_, value) in mapping { try visit(value, visited: &visited, limit: limit) }
            case .sequence(let sequence):
                for element in sequence { try visit(element, visited: &visited, limit: limit) }
            case .alias:
                break
            }
        }

        /// Quoted and block scalars carry the `str` tag; a plain one is resolved from its text.
        /// A plain scalar counts as typed only when YAML 1.2's core schema (Yams) *and* YAML 1.1
        /// (as PyYAML, and so most YAML writers, resolve it) both read it as non-text: `false`,
        /// `12`, `1.5`, `null`. Forms the two versions disagree on (`1e100`, `08`, `0o17`) are
        /// text, because a YAML 1.1 writer emits such a string unquoted.
        static func kind(of scalar: Node.Scalar) -> WorkloadSpec.Document.TypedScalars.Kind? {
            let kind: WorkloadSpec.Document.TypedScalars.Kind?
            switch Resolver.default.resolveTag(of: .scalar(scalar)) {
            case .bool: kind = .boolean
            case .null: kind = .null
            case .int: kind = .integer
            case .float: kind = .float
            default: kind = nil
            }
            guard kind != nil, scalar.style == .plain || scalar.style == .any else { return kind }
            return yaml11Typed(scalar.string) ? kind : nil
        }

        /// PyYAML's implicit resolvers (YAML 1.1): bool, int, float, null.
        static func yaml11Typed(_ text: String) -> Bool {
            let range = NSRange(text.startIndex..., in: text)
            return yaml11Patterns.contains { $0.firstMatch(in: text, range: range) != nil }
        }

        static let yaml11Patterns: [NSRegularExpression] = [
            #"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"#,
            #"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$"#,
            #"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"#,
            #"^(?:~|null|Null|NULL|)$"#,
        ].map { try! NSRegularExpression(pattern: $0) }
    }
}
