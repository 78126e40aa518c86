// Per-thread record buffers: each recording thread owns one single-producer ring;
// the writer thread drains them all.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace routeheap::agent {

// The time of a record (CLOCK_MONOTONIC ns), which every record type keeps at offset
// 8, except SamplingConfig and StackDefinition, which have none: 0 for those.
uint64_t record_time(const void* record, size_t size);

// Thread-safety: push() is called by any thread and touches only the calling
// thread's own ring (claiming one on first use). drain_into(), reclaim_exited()
// and reset_after_fork_child() are called by one thread at a time (the holder of
// the writer lock, or the only thread of a forked child).
class ThreadBuffers {
public:
    static constexpr size_t kSlotCount = 256;

    // `ring_bytes` is rounded up to a power of two; rings are mapped when claimed.
    void init(size_t ring_bytes);

    // The outcome of a push. OverHalf means that the record was copied and the ring is now
    // more than half full, so the writer thread should drain it before the next flush.
    enum class Push : uint8_t { Rejected, Done, OverHalf };

    // Copies one whole record into the calling thread's ring. Returns Rejected, and
    // counts a dropped record, when the ring is full or no slot is free.
    Push push(const void* record, size_t size);

    // push() without counting a drop, for callers that retry.
    Push try_push(const void* record, size_t size);
    void count_dropped() { dropped_.fetch_add(1, std::memory_order_relaxed); }

    // True when the calling thread's ring is more than half full, as try_push() reports
    // after its copy.
    bool own_ring_half_full();

    // Moves whole records from every ring into `out` until the rings are empty or
    // `capacity` is reached. Returns the bytes written; `records` counts them and
    // `first_time_ns`/`last_time_ns` are widened to their times.
    size_t drain_into(uint8_t* out, size_t capacity, uint32_t& records, uint64_t& first_time_ns,
                      uint64_t& last_time_ns);

    // Frees the slots of threads that have exited and whose rings are empty.
    void reclaim_exited();

    // In a forked child only the forking thread exists: its ring is emptied and kept,
    // every other slot is freed.
    void reset_after_fork_child();

    uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

private:
    enum SlotState : int { kFree = 0, kClaiming = 1, kOwned = 2 };

    struct alignas(64) Slot {
        std::atomic<int> state{kFree};
        pid_t tid = 0;
        uint8_t* data = nullptr;
        alignas(64) std::atomic<uint64_t> tail{0};  // written by the owner
        // The owner's last reading of `head`. Free space computed from it is never more
        // than the real free space, so the owner reads `head`, a line the drainer writes,
        // only when that free space is too small for a record or the ring looks half full.
        uint64_t cached_head = 0;
        alignas(64) std::atomic<uint64_t> head{0};  // written by the drainer
    };

    Slot* claim_slot();
    // True when `slot`, the calling thread's, contains more than half a ring of bytes up to
    // `tail`. Reads the drainer's head only when the owner's last reading of it shows more than
    // half.
    bool half_full(Slot& slot, uint64_t tail) const;
    size_t drain_slot(Slot& slot, uint8_t* out, size_t capacity, uint32_t& records, uint64_t& first_time_ns,
                      uint64_t& last_time_ns);
    void copy_out(const Slot& slot, uint64_t position, void* out, size_t size) const;

    Slot slots_[kSlotCount];
    size_t ring_bytes_ = 0;
    std::atomic<uint64_t> dropped_{0};
};

}  // namespace routeheap::agent
