/// A binary min-heap (the replay's departures, the engine's largest-free tracking).
struct MinHeap<Element: Comparable> {
    var items: [Element] = []
    var isEmpty: Bool { items.isEmpty }
    var min: Element? { items.first }

    init() {}

    /// A heap of `elements` (bottom-up, O(n)).
    init(_ elements: [Element]) {
        items = elements
        var k = items.count / 2
        while k > 0 {
            k -= 1
            siftDown(k)
        }
    }

    mutating func push(_ e: Element) {
        items.append(e)
        var k = items.count - 1
        while k > 0 {
            let parent = (k - 1) / 2
            guard items[k] < items[parent] else { break }
            items.swapAt(k, parent)
            k = parent
        }
    }

    mutating func pop() -> Element? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            siftDown(0)
        }
        return top
    }

    private mutating func siftDown(_ start: Int) {
        var k = start
        while true {
            let l = 2 * k + 1, r = l + 1
            var m = k
            if l < items.count && items[l] < items[m] { m = l }
            if r < items.count && items[r] < items[m] { m = r }
            if m == k { break }
            items.swapAt(k, m)
            k = m
        }
    }
}

extension MinHeap: Sendable where Element: Sendable {}
