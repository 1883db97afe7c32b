import Testing
@testable import Registrar

/// The hashing pool's queue: bounded, with a per-tenant share and round-robin dispatch.
@Suite("FairQueue")
struct FairQueueTests {
    typealias Queue = FairQueue<String, String>

    @Test("Workers take waiting jobs one tenant at a time, each tenant's in order", arguments: [
        ([("A", "a1"), ("A", "a2"), ("A", "a3"), ("B", "b1"), ("C", "c1")], ["a1", "b1", "c1", "a2", "a3"]),
        ([("A", "a1"), ("B", "b1"), ("B", "b2"), ("A", "a2")], ["a1", "b1", "a2", "b2"]),
        ([("A", "a1"), ("A", "a2"), ("A", "a3")], ["a1", "a2", "a3"]),
    ])
    func roundRobin(_ submissions: [(String, String)], expected: [String]) {
        var queue = Queue(workers: 1, waitingLimit: 16, keyWaitingLimit: 16)
        for (tenant, job) in submissions {
            let admitted = queue.enqueue(job, for: tenant).isAdmitted
            #expect(admitted)
        }
        var order: [String] = []
        while let (tenant, job) = queue.next() {
            order.append(job)
            let second = queue.next()
            #expect(second == nil, "one worker runs one job at a time")
            queue.finish(tenant)
        }
        #expect(order == expected)
        #expect(queue.inFlight == 0)
    }

    @Test("A tenant holds at most workers + its share of waiting slots; the others are still admitted")
    func tenantShare() {
        var queue = Queue(workers: 2, waitingLimit: 8, keyWaitingLimit: 2)
        #expect(queue.keyLimit == 4)
        let flood = (0..<10).map { queue.enqueue("a\($0)", for: "A").isAdmitted }
        #expect(flood == [true, true, true, true, false, false, false, false, false, false])
        let others = ["b0": "B", "b1": "B", "b2": "B", "b3": "B", "b4": "B", "c0": "C", "c1": "C", "d0": "D"]
            .sorted { $0.key < $1.key }.map { queue.enqueue($0.key, for: $0.value).isAdmitted }
        #expect(others == [true, true, true, true, false, true, true, true],
                "B gets its own share, C the rest; D, finding the pool full, takes a busiest tenant's slot")
        #expect(queue.inFlight == 10)
        // A finished job frees a slot of its tenant only.
        let (tenant, _) = queue.next()!
        queue.finish(tenant)
        #expect(tenant == "A")
        let again = [queue.enqueue("a-again", for: "A").isAdmitted, queue.enqueue("d1", for: "D").isAdmitted]
        #expect(again == [true, true])
    }

    @Test("A flood on tenant A leaves tenant B's admissions above 90 % and B's waits at one job")
    func floodLeavesOthersTheirShare() {
        var queue = Queue(workers: 2, waitingLimit: 16, keyWaitingLimit: 4)
        var admitted = ["A": 0, "B": 0]
        var refused = ["A": 0, "B": 0]
        var bWaits: [Int] = []
        var bQueued: [Int: Int] = [:]
        var dispatched = 0
        var bSerial = 0
        var running: [String] = []
        for step in 0..<400 {
            for _ in 0..<10 {  // A: ten new requests per step
                if queue.enqueue("a", for: "A").isAdmitted { admitted["A", default: 0] += 1 } else { refused["A", default: 0] += 1 }
            }
            if step % 4 == 0 {  // B: one request every fourth step
                if queue.enqueue("b\(bSerial)", for: "B").isAdmitted {
                    admitted["B", default: 0] += 1
                    bQueued[bSerial] = dispatched
                } else { refused["B", default: 0] += 1 }
                bSerial += 1
            }
            // Free workers take the next jobs, then the oldest running job finishes.
            while let (tenant, job) = queue.next() {
                dispatched += 1
                if tenant == "B", let serial = Int(job.dropFirst()), let queuedAt = bQueued[serial] {
                    bWaits.append(dispatched - queuedAt)
                }
                running.append(tenant)
            }
            queue.finish(running.removeFirst())
        }
        let bRate = Double(admitted["B"]!) / Double(admitted["B"]! + refused["B"]!)
        #expect(refused["A"]! > admitted["A"]!, "A floods: most of its requests are refused")
        #expect(bRate > 0.9, "B admitted \(admitted["B"]!), refused \(refused["B"]!)")
        #expect(bWaits.allSatisfy { $0 <= 2 }, "a job of B waits behind at most one job of A: \(bWaits)")
    }

    @Test("A tenant alone may use the whole queue; a quieter tenant arriving at a full queue takes the busiest tenant's newest waiting slot")
    func fullQueueIsSharedByDisplacement() {
        var queue = Queue(workers: 1, waitingLimit: 4, keyWaitingLimit: 4)
        let alone = (0..<6).map { queue.enqueue("a\($0)", for: "A").isAdmitted }
        #expect(alone == [true, true, true, true, true, false], "A fills all five slots, then finds no busier tenant")
        var displaced: [String] = []
        var outcomes: [Bool] = []
        for job in ["b0", "b1", "b2"] {
            let admission = queue.enqueue(job, for: "B")
            outcomes.append(admission.isAdmitted)
            if case .admitted(let job?) = admission { displaced.append(job) }
        }
        #expect(outcomes == [true, true, false], "B takes slots while A holds more than one job more than B")
        #expect(displaced == ["a4", "a3"], "the newest waiting jobs of A give way")
        #expect(queue.inFlight == 5 && queue.inFlight(for: "A") == 3 && queue.inFlight(for: "B") == 2)
        // Round-robin still serves B after one job of A.
        var order: [String] = []
        while let (tenant, job) = queue.next() {
            order.append(job)
            queue.finish(tenant)
        }
        #expect(order == ["a0", "b0", "a1", "b1", "a2"])
    }

    @Test("Limits below one are raised: at least one worker, one waiting slot per tenant")
    func minimums() {
        var queue = Queue(workers: 0, waitingLimit: -3, keyWaitingLimit: 0)
        #expect(queue.workers == 1 && queue.waitingLimit == 0 && queue.keyWaitingLimit == 1)
        let admitted = [queue.enqueue("a0", for: "A"), queue.enqueue("a1", for: "A"), queue.enqueue("b0", for: "B")].map(\.isAdmitted)
        #expect(admitted == [true, false, false])
    }
}
