// A spin lock for the agent's rare shared updates. A pthread mutex is not used
// because the agent must be able to reset its locks in a forked child and must
// never depend on anything that could allocate.
#pragma once

#include <sched.h>

#include <atomic>
#include <mutex>

namespace routeheap::agent {

// Thread-safety: any thread may lock it; it is never held across a call out of the
// agent (no hooked function, loader or stdio call happens while it is held).
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
