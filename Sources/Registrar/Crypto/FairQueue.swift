/// The hashing pool's bounded queue, shared fairly between tenants.
///
/// At most `workers + waitingLimit` jobs are in flight (running or waiting) in all, as before;
/// on top of that one key (tenant) may hold at most `workers + keyWaitingLimit` of them, so a
/// tenant flooding the pool keeps every worker busy but leaves waiting slots for the others,
/// whose jobs are then admitted instead of refused. Workers take waiting jobs round-robin by
/// key — one job of each waiting tenant in turn — so an admitted job of a quiet tenant waits
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

    /// Admits `job` for `key`, or refuses it (false) when the pool or the key's share is full.
    mutating func enqueue(_ job: Job, for key: Key) -> Bool {
        guard inFlight < workers + waitingLimit, inFlight(for: key) < keyLimit else { return false }
        inFlightByKey[key, default: 0] += 1
        if waiting[key] == nil { turns.append(key) }
        waiting[key, default: []].append(job)
        waitingCount += 1
        return true
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
