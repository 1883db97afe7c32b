import CArgon2
import Foundation
import Metrics

/// The threads that run argon2: a fixed number of them, outside Swift's cooperative pool and
/// the event loops, taking jobs from a tenant-fair bounded queue (`FairQueue`).
///
/// Each thread lowers its own scheduling priority (Linux keeps a nice value per thread) so that
/// the event loops, which only answer cheap requests, preempt hashing when both want a core.
/// Each thread also keeps the memory region libargon2 hashes in (see `CArgon2/shim.h`) and
/// unmaps it when it exits.
final class HashingPool: @unchecked Sendable {
    /// The nice value of every hashing thread (event loops stay at the process's, normally 0).
    static let niceness: Int32 = 10

    private struct Job: Sendable {
        let admitted: ContinuousClock.Instant
        /// Does the work and returns how to hand its result to the caller.
        let work: @Sendable () -> @Sendable () -> Void
        /// Tells the caller its job gave up its waiting slot to a quieter tenant's.
        let refuse: @Sendable () -> Void
    }

    // Everything below `condition` is guarded by it.
    private let condition = NSCondition()
    private var queue: FairQueue<UUID?, Job>
    private var stopping = false
    private var alive = 0
    private var stopped: [CheckedContinuation<Void, Never>] = []

    private let depth = Gauge(label: "registrar_argon2_queue_depth")
    private let waitTimer = Metrics.Timer(label: "registrar_argon2_wait_seconds", preferredDisplayUnit: .seconds)
    private let hashTimer = Metrics.Timer(label: "registrar_argon2_hash_seconds", preferredDisplayUnit: .seconds)

    init(threads: Int, waitingLimit: Int, tenantWaitingLimit: Int) {
        queue = FairQueue(workers: threads, waitingLimit: waitingLimit, keyWaitingLimit: tenantWaitingLimit)
        alive = queue.workers
        for index in 0..<queue.workers {
            let thread = Thread { [self] in work() }
            thread.name = "argon2-\(index)"
            thread.start()
        }
    }

    /// Jobs running or waiting.
    var inFlight: Int { condition.withLock { queue.inFlight } }

    /// Runs `body` on a hashing thread, or throws `Argon2Hasher.Overloaded` at once when the
    /// pool, or `tenant`'s share of it, is full (or the pool has stopped).
    func run<T: Sendable>(tenant: UUID?, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job = Job(admitted: .now, work: {
                let result = Result { try body() }
                return { continuation.resume(with: result) }
            }, refuse: { continuation.resume(throwing: Argon2Hasher.Overloaded()) })
            let admission = condition.withLock { () -> FairQueue<UUID?, Job>.Admission in
                guard !stopping else { return .refused }
                let admission = queue.enqueue(job, for: tenant)
                if admission.isAdmitted {
                    depth.record(queue.waitingCount)
                    condition.signal()
                }
                return admission
            }
            switch admission {
            case .refused: job.refuse()
            case .admitted(let displaced): displaced?.refuse()
            }
        }
    }

    /// Stops taking jobs; the threads finish the admitted ones, release their memory and exit.
    func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = condition.withLock { () -> Bool in
                stopping = true
                condition.broadcast()
                if alive == 0 { return true }
                stopped.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    private func work() {
        _ = registrar_set_thread_nice(Self.niceness)
        while let (key, job) = nextJob() {
            let started = ContinuousClock.now
            waitTimer.record(duration: started - job.admitted)
            let deliver = job.work()
            hashTimer.record(duration: .now - started)
            // The slot is free before the caller resumes, so its next hash finds room.
            condition.withLock { queue.finish(key) }
            deliver()
        }
        registrar_argon2_release_region()
        let waiters = condition.withLock { () -> [CheckedContinuation<Void, Never>] in
            alive -= 1
            guard alive == 0 else { return [] }
            defer { stopped = [] }
            return stopped
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Blocks until there is a job; nil once the pool is stopping and no job is left.
    private func nextJob() -> (key: UUID?, job: Job)? {
        condition.withLock {
            while true {
                if let next = queue.next() {
                    depth.record(queue.waitingCount)
                    return next
                }
                if stopping { return nil }
                condition.wait()
            }
        }
    }
}
