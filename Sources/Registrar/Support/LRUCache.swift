/// A fixed-capacity map that, when full, forgets the entry used least recently. Not thread-safe:
/// keep it behind a lock. Every operation is O(1) (a dictionary plus a doubly linked list kept in
/// arrays, so nodes are reused and nothing is allocated once the capacity is reached).
struct LRUCache<Key: Hashable, Value> {
    private struct Node {
        var key: Key
        var value: Value
        var newer: Int?
        var older: Int?
    }

    let capacity: Int
    private var nodes: [Node] = []
    private var index: [Key: Int] = [:]
    private var newest: Int?
    private var oldest: Int?

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { index.count }

    /// The value for `key`, which becomes the most recently used.
    mutating func value(for key: Key) -> Value? {
        guard let slot = index[key] else { return nil }
        moveToNewest(slot)
        return nodes[slot].value
    }

    mutating func set(_ value: Value, for key: Key) {
        if let slot = index[key] {
            nodes[slot].value = value
            moveToNewest(slot)
            return
        }
        let slot: Int
        if nodes.count < capacity {
            slot = nodes.count
            nodes.append(Node(key: key, value: value))
        } else {
            // Full: the oldest node is reused for the new entry.
            slot = oldest!
            unlink(slot)
            index[nodes[slot].key] = nil
            nodes[slot] = Node(key: key, value: value)
        }
        index[key] = slot
        linkAsNewest(slot)
    }

    mutating func removeValue(for key: Key) {
        guard let slot = index[key] else { return }
        // The slot stays allocated but unlinked; reuse it by moving the last node into it.
        unlink(slot)
        index[key] = nil
        let last = nodes.count - 1
        if slot != last {
            let moved = nodes[last]
            nodes[slot] = moved
            index[moved.key] = slot
            if let newer = moved.newer { nodes[newer].older = slot } else { newest = slot }
            if let older = moved.older { nodes[older].newer = slot } else { oldest = slot }
        }
        nodes.removeLast()
    }

    mutating func removeAll() {
        nodes.removeAll(keepingCapacity: true)
        index.removeAll(keepingCapacity: true)
        newest = nil
        oldest = nil
    }

    private mutating func moveToNewest(_ slot: Int) {
        guard newest != slot else { return }
        unlink(slot)
        linkAsNewest(slot)
    }

    private mutating func unlink(_ slot: Int) {
        let (newer, older) = (nodes[slot].newer, nodes[slot].older)
        if let newer { nodes[newer].older = older } else { newest = older }
        if let older { nodes[older].newer = newer } else { oldest = newer }
        nodes[slot].newer = nil
        nodes[slot].older = nil
    }

    private mutating func linkAsNewest(_ slot: Int) {
        nodes[slot].older = newest
        nodes[slot].newer = nil
        if let newest { nodes[newest].newer = slot }
        newest = slot
        if oldest == nil { oldest = slot }
    }
}
