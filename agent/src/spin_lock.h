// A spin lock for the agent's rare shared updates. A pthread mutex is not used
// because the agent must be able to reset its locks in a forked child and must
// never depend on anything that could allocate.
#pragma once

#include <sched.h>

#include <atomic>
#include <mutex>

namespace routeheap::agent {

// Thread-safety: any thread may lock it. Holders never call a hooked function, the
// loader or stdio. The mapping-run lock is held only for table updates. The writer
// lock also covers the trace writes, and only the fork, exec and exit paths wait
// for it outside the writer thread.
class SpinLock {
public:
    void lock() {
        while (locked_.exchange(true, std::memory_order_acquire)) {
            while (locked_.load(std::memory_order_relaxed)) sched_yield();
        }
    }
    bool try_lock() { return !locked_.exchange(true, std::memory_order_acquire); }
    void unlock() { locked_.store(false, std::memory_order_release); }

    // Only for a forked child, where the thread that held the lock no longer exists.
    void reset_after_fork() { locked_.store(false, std::memory_order_relaxed); }

private:
    std::atomic<bool> locked_{false};
};

class SpinLockGuard {
public:
    explicit SpinLockGuard(SpinLock& lock) : lock_(lock) { lock_.lock(); }
    // Takes over a lock the caller already holds.
    SpinLockGuard(SpinLock& lock, std::adopt_lock_t) : lock_(lock) {}
    ~SpinLockGuard() { lock_.unlock(); }
    SpinLockGuard(const SpinLockGuard&) = delete;
    SpinLockGuard& operator=(const SpinLockGuard&) = delete;

private:
    SpinLock& lock_;
};

}  // namespace routeheap::agent
