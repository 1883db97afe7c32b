/// The hashing pool's bounded queue, shared fairly between tenants.
///
/// At most `workers + waitingLimit` jobs are in flight (running or waiting) in all, as before,
/// and one key (tenant) may hold at most `workers + keyWaitingLimit` of them (by default the
/// whole queue, so a tenant alone may use all of it). The queue is work-conserving: when it is
/// full, a job of a key that holds fewer jobs than the busiest key takes that key's newest
/// waiting slot, and the displaced job is refused instead, so a tenant flooding the pool keeps
/// every worker busy but cannot keep a quieter tenant out. Workers take waiting jobs round-robin
/// by key — one job of each waiting tenant in turn — so an admitted job of a quiet tenant waits
/// for at most one job of each other tenant, however deep the flood's own queue is.
///
/// A plain value with no locking: the pool keeps it behind its lock, the tests drive it directly.
struct FairQueue<Key: Hashable, Job> {
    let workers: Int
    let waitingLimit: Int
    let keyWaitingLimit: Int
    /// Jobs taken by a worker and not finished yet.
    private(set) var running = 0
    /// Jobs admitted and not taken by a worker yet.
    private(set) var waitingCount = 0
    private var waiting: [Key: [Job]] = [:]
    private var inFlightByKey: [Key: Int] = [:]
    /// Keys with waiting jobs, the next one to serve first.
    private var turns: [Key] = []

    init(workers: Int, waitingLimit: Int, keyWaitingLimit: Int) {
        self.workers = max(1, workers)
        self.waitingLimit = max(0, waitingLimit)
        self.keyWaitingLimit = max(1, keyWaitingLimit)
    }

    /// The most jobs one key may have in flight.
    var keyLimit: Int { workers + keyWaitingLimit }
    var inFlight: Int { running + waitingCount }
    func inFlight(for key: Key) -> Int { inFlightByKey[key, default: 0] }

    /// What became of a job offered to the queue.
    enum Admission {
        /// Admitted; `displaced` is a waiting job of a busier key that gave up its slot and must
        /// be refused to its caller now.
        case admitted(displaced: Job?)
        case refused

        var isAdmitted: Bool {
            if case .admitted = self { true } else { false }
        }
    }

    /// Admits `job` for `key`, taking the newest waiting slot of the busiest key when the pool is
    /// full and that key holds more than one job more than `key`; refuses it when the key's own
    /// share is full, or when no key is busier.
    mutating func enqueue(_ job: Job, for key: Key) -> Admission {
        guard inFlight(for: key) < keyLimit else { return .refused }
        var displaced: Job?
        if inFlight >= workers + waitingLimit {
            guard let busiest = waiting.keys.max(by: { inFlight(for: $0) < inFlight(for: $1) }), busiest != key,
                  inFlight(for: busiest) > inFlight(for: key) + 1
            else { return .refused }
            displaced = removeNewestWaiting(of: busiest)
        }
        admit(job, for: key)
        return .admitted(displaced: displaced)
    }

    private mutating func admit(_ job: Job, for key: Key) {
        inFlightByKey[key, default: 0] += 1
        if waiting[key] == nil { turns.append(key) }
        waiting[key, default: []].append(job)
        waitingCount += 1
    }

    private mutating func removeNewestWaiting(of key: Key) -> Job? {
        guard var jobs = waiting[key], let job = jobs.popLast() else { return nil }
        if jobs.isEmpty {
            waiting[key] = nil
            turns.removeAll { $0 == key }
        } else {
            waiting[key] = jobs
        }
        waitingCount -= 1
        let remaining = inFlight(for: key) - 1
        inFlightByKey[key] = remaining > 0 ? remaining : nil
        return job
    }

    /// The next job for a free worker: the oldest job of the key whose turn it is.
    mutating func next() -> (key: Key, job: Job)? {
        guard running < workers, !turns.isEmpty else { return nil }
        let key = turns.removeFirst()
        guard var jobs = waiting.removeValue(forKey: key), !jobs.isEmpty else { return nil }
        let job = jobs.removeFirst()
        if !jobs.isEmpty {
            waiting[key] = jobs
            turns.append(key)
        }
        waitingCount -= 1
        running += 1
        return (key, job)
    }

    /// A worker finished a job of `key`: its slot is free again.
    mutating func finish(_ key: Key) {
        running -= 1
        let remaining = inFlight(for: key) - 1
        inFlightByKey[key] = remaining > 0 ? remaining : nil
    }
}
