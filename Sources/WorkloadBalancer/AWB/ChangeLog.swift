/// An append-only log read by many consumers, each remembering the absolute position it has read
/// up to. It is dropped whole when it grows past a limit, so its memory stays bounded; a consumer
/// whose position is behind the drop gets nil from `entries(since:)` and MUST rebuild from the
/// full state instead.
struct ChangeLog<Element> {
    private(set) var items: [Element] = []
    /// Absolute position of `items[0]`.
    private(set) var base = 0
    /// Absolute position after the last entry.
    var end: Int { base + items.count }

    mutating func append(_ e: Element, limit: Int) {
        items.append(e)
        if items.count > limit {
            base += items.count
            items.removeAll(keepingCapacity: true)
        }
    }

    /// The entries after absolute `position`, or nil when they were dropped.
    func entries(since position: Int) -> ArraySlice<Element>? {
        position >= base ? items[(position - base)...] : nil
    }
}

extension ChangeLog: Sendable where Element: Sendable {}
