// Counters that every thread adds to and that only samples read: allocation totals,
// usable bytes, requests started and ended. Each thread adds to a cache line of its own
// with a plain load and store, so the hot path has no locked instruction. A reader sums
// the lines.
//
// A locked add costs roughly 20 cycles even on a line no other core holds, and more
// inside malloc, where it waits for the store buffer to drain. A small HTTP request
// makes about 13 allocations and as many frees, and under perf the shared atomics this
// replaces were the largest cost of the malloc hooks.
//
// A sum read while another thread adds may miss that thread's latest additions,
// which the next sample includes. Live bytes are a shared atomic (counters.cpp), because
// their peak needs the global value, but small changes wait in a per-thread total first.
#pragma once

#include "thread_state.h"

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace routeheap::agent {

enum class ThreadTotal : size_t {
    AllocatedBytes = 0,  // bytes requested from the malloc family
    AllocationCalls,     // calls that allocated
    UsableBytes,         // malloc_usable_size of counted live blocks (may go negative per thread)
    RequestsStarted,     // requests whose first byte was read
    RequestsEnded,       // requests that ended, on whichever thread ended them
    UnpublishedLiveBytes,  // live-byte changes not yet added to the shared live counter
    Count,
};

namespace thread_totals_detail {

inline constexpr size_t kTotals = static_cast<size_t>(ThreadTotal::Count);

struct alignas(64) Line {
    std::atomic<int64_t> values[kTotals];
};

// Lines are handed out in order and never taken back, because a thread's totals
// outlive it. A process that starts more threads than there are lines shares one
// line among the rest, with locked adds.
inline constexpr uint32_t kLines = 512;
extern Line g_lines[kLines];
extern Line g_shared_line;

// Claims the calling thread's line (thread_totals.cpp).
int32_t claim_line();

}  // namespace thread_totals_detail

// The calling thread's own line, which only this thread writes, or nullptr when the
// thread shares the overflow line.
inline thread_totals_detail::Line* own_thread_line() {
    using namespace thread_totals_detail;
    int32_t index = t_thread.totals_line;
    if (index == 0) [[unlikely]] index = claim_line();
    if (index < 0) [[unlikely]] return nullptr;
    return &g_lines[index - 1];
}

// Adds `delta` to a total of `line`, the calling thread's own line from
// own_thread_line(), or the shared line when that returned nullptr. Hooks that add
// several totals look the line up once.
inline void add_thread_total(thread_totals_detail::Line* line, ThreadTotal total, int64_t delta) {
    if (line == nullptr) [[unlikely]] {
        thread_totals_detail::g_shared_line.values[static_cast<size_t>(total)].fetch_add(delta, std::memory_order_relaxed);
        return;
    }
    // Only this thread writes its line, so a plain load and store cannot lose an add.
    std::atomic<int64_t>& value = line->values[static_cast<size_t>(total)];
    value.store(value.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

// Adds `delta` to the calling thread's total.
inline void add_thread_total(ThreadTotal total, int64_t delta) { add_thread_total(own_thread_line(), total, delta); }

// The sum over every thread that ever added.
int64_t sum_thread_totals(ThreadTotal total);

// Every total's sum, read in one pass over the lines.
struct ThreadTotalSums {
    int64_t values[thread_totals_detail::kTotals];

    int64_t operator[](ThreadTotal total) const { return values[static_cast<size_t>(total)]; }
};
ThreadTotalSums sum_all_thread_totals();
// Sums the heap totals only, for counter samples. RequestsStarted and RequestsEnded read as zero.
ThreadTotalSums sum_heap_thread_totals();

// In a forked child: every total restarts at zero (`keep` lists the ones that carry
// over as their current sums, held on the child's only thread).
void reset_thread_totals_after_fork(const ThreadTotal* keep, size_t keep_count);

}  // namespace routeheap::agent
