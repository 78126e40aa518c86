// The common case of the malloc and free hooks, inlined into each of them: an unsampled
// small block of glibc's heap whose shadow byte lies in one of the calling thread's last two
// shadow pieces (block_sizes.h). A small HTTP request makes about eleven allocations and as many
// frees, so these few dozen instructions run about twenty times per request.
//
// The process-wide conditions of the fast path are kept as one byte of reasons against it
// (HeapSlowReason), so a hook checks them all with one load. Each function below checks
// the conditions of its one block before it changes anything, and returns false when the
// block needs the general path in counters.cpp.
#pragma once

#include "block_sizes.h"
#include "counters.h"
#include "sampler.h"
#include "thread_state.h"
#include "thread_totals.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace routeheap::agent {

namespace heap_detail {

// Every reason but kHeapForkPending is set until the agent clears it.
extern std::atomic<uint8_t> g_slow_reasons;
extern BlockSizes g_blocks;
// The live-byte change a thread keeps to itself before it updates the shared counter.
extern int64_t g_live_batch_bytes;

// Adds a live-byte change that no longer fits the thread's batch to the shared counter
// and its peak, and clears `unpublished` (nullptr for the shared line).
void publish_live(std::atomic<int64_t>* unpublished, int64_t delta);

// glibc keeps a size word before each block, whose low three bits are flags; 0x2 marks a
// chunk with a mapping of its own. For a live chunk of the heap, the word minus its own
// 8 bytes is what malloc_usable_size returns, read without the function's look at the
// next chunk's header. That look costs a cache miss when the thread cache hands out or
// takes back a chunk without touching its neighbour. glibc does not export this layout,
// so the agent reads it only when a start-up check (counters.cpp) finds glibc's
// allocator behind it and the word agreeing with malloc_usable_size. Chunks with their
// own mapping, which are large and rare, still go to malloc_usable_size.
inline constexpr size_t kChunkFlags = 7;
inline constexpr size_t kChunkMapped = 2;

// Reads the usable size of `block` from its chunk's size word into `usable`. Returns
// false for a chunk with its own mapping, whose size the word does not give this way.
inline bool usable_from_size_word(const void* block, size_t& usable) {
    size_t word = 0;
    std::memcpy(&word, static_cast<const char*>(block) - sizeof(word), sizeof(word));
    if ((word & kChunkMapped) != 0) return false;
    usable = (word & ~kChunkFlags) - sizeof(size_t);
    return true;
}

// Adds a block's bytes to the native counters of `line`, the calling thread's from
// own_thread_line() (nullptr for the shared line). Live-byte changes wait in the thread's
// UnpublishedLiveBytes until they add up to g_live_batch_bytes either way.
[[gnu::always_inline]] inline void add_native(thread_totals_detail::Line* line, int64_t requested, int64_t usable) {
    add_thread_total(line, ThreadTotal::UsableBytes, usable);
    if (line == nullptr) [[unlikely]] {
        publish_live(nullptr, requested);
        return;
    }
    std::atomic<int64_t>& unpublished = line->values[static_cast<size_t>(ThreadTotal::UnpublishedLiveBytes)];
    const int64_t delta = unpublished.load(std::memory_order_relaxed) + requested;
    if (delta < g_live_batch_bytes && delta > -g_live_batch_bytes) [[likely]] {
        unpublished.store(delta, std::memory_order_relaxed);
        return;
    }
    publish_live(&unpublished, delta);
}

}  // namespace heap_detail

// Returns true when `thread`, the calling thread, is idle and no process-wide reason is set.
// Counting is then on, which implies that the real functions are known.
[[gnu::always_inline]] inline bool heap_fast_path_open(const ThreadState& thread) {
    return thread_idle(thread) && heap_detail::g_slow_reasons.load(std::memory_order_relaxed) == 0;
}

// Counts `block`, which the real malloc returned for `requested` bytes, when it is the
// common case. The block is then not null and in the heap, neither its size nor the thread's
// countdown samples it, and its shadow byte lies in one of the thread's last two pieces.
// Call only after heap_fast_path_open().
[[gnu::always_inline]] inline bool count_allocation_fast(ThreadState& thread, void* block, size_t requested) {
    using namespace heap_detail;
    thread_totals_detail::Line* line = thread.own_line;
    size_t usable = 0;
    const auto bytes = static_cast<int64_t>(requested);
    // With byte sampling on, a countdown above the size means that should_sample() would
    // only take the bytes off it.
    if (block == nullptr || line == nullptr || !usable_from_size_word(block, usable) || usable < requested ||
        requested >= sampling_parameters().always_threshold_bytes || thread.bytes_until_sample <= bytes ||
        !g_blocks.insert_unsampled_cached(block, usable - requested)) [[unlikely]] {
        return false;
    }
    thread.bytes_until_sample -= bytes;
    add_thread_total(line, ThreadTotal::AllocatedBytes, bytes);
    add_thread_total(line, ThreadTotal::AllocationCalls, 1);
    add_native(line, bytes, static_cast<int64_t>(usable));
    return true;
}

// Counts the free of `block` before the real free when it is the common case: a heap block
// that was counted unsampled, or never counted, with its shadow byte in one of the thread's
// last two pieces. Call only after heap_fast_path_open().
[[gnu::always_inline]] inline bool count_free_fast(const ThreadState& thread, void* block) {
    using namespace heap_detail;
    thread_totals_detail::Line* line = thread.own_line;
    size_t usable = 0;
    if (line == nullptr || !usable_from_size_word(block, usable)) [[unlikely]] return false;
    size_t slack = 0;
    switch (g_blocks.take_unsampled_cached(block, slack)) {
    case BlockSizes::CachedTake::Untracked: return true;
    case BlockSizes::CachedTake::Taken:
        add_native(line, -static_cast<int64_t>(usable - slack), -static_cast<int64_t>(usable));
        return true;
    case BlockSizes::CachedTake::Declined: break;
    }
    return false;
}

}  // namespace routeheap::agent
