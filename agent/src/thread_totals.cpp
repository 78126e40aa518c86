// Per-thread lines of the summed counters (thread_totals.h).
#include "thread_totals.h"

namespace routeheap::agent {

namespace thread_totals_detail {

// 32 KiB of zeroed static storage.
Line g_lines[kLines];
Line g_shared_line;

namespace {
std::atomic<uint32_t> g_lines_claimed{0};
}  // namespace

int32_t claim_line() {
    const uint32_t claimed = g_lines_claimed.fetch_add(1, std::memory_order_relaxed);
    const int32_t index = claimed < kLines ? static_cast<int32_t>(claimed) + 1 : -1;
    t_thread.totals_line = index;
    t_thread.own_line = index > 0 ? &g_lines[index - 1] : nullptr;
    return index;
}

namespace {
uint32_t lines_in_use() {
    const uint32_t claimed = g_lines_claimed.load(std::memory_order_relaxed);
    return claimed < kLines ? claimed : kLines;
}
}  // namespace

}  // namespace thread_totals_detail

using namespace thread_totals_detail;

namespace {

// Sums every line. Each total has its own accumulator, so the compiler keeps the sums in
// registers. With a loop over the totals it added to memory, one dependent store after another.
// Without kWithRequests the request counts stay zero. A counter sample has no field for them,
// so leaving them out saves a third of the loads of every line.
template <bool kWithRequests>
ThreadTotalSums sum_lines() {
    static_assert(kTotals == 6, "add the new total's accumulator");
    int64_t allocated = 0, calls = 0, usable = 0, unpublished = 0, started = 0, ended = 0;
    auto add_line = [&](const Line& line) {
        auto value = [&](ThreadTotal total) {
            return line.values[static_cast<size_t>(total)].load(std::memory_order_relaxed);
        };
        allocated += value(ThreadTotal::AllocatedBytes);
        calls += value(ThreadTotal::AllocationCalls);
        usable += value(ThreadTotal::UsableBytes);
        unpublished += value(ThreadTotal::UnpublishedLiveBytes);
        if constexpr (kWithRequests) {
            started += value(ThreadTotal::RequestsStarted);
            ended += value(ThreadTotal::RequestsEnded);
        }
    };
    add_line(g_shared_line);
    const uint32_t lines = lines_in_use();
    for (uint32_t i = 0; i < lines; ++i) add_line(g_lines[i]);

    ThreadTotalSums sums;
    sums.values[static_cast<size_t>(ThreadTotal::AllocatedBytes)] = allocated;
    sums.values[static_cast<size_t>(ThreadTotal::AllocationCalls)] = calls;
    sums.values[static_cast<size_t>(ThreadTotal::UsableBytes)] = usable;
    sums.values[static_cast<size_t>(ThreadTotal::RequestsStarted)] = started;
    sums.values[static_cast<size_t>(ThreadTotal::RequestsEnded)] = ended;
    sums.values[static_cast<size_t>(ThreadTotal::UnpublishedLiveBytes)] = unpublished;
    return sums;
}

}  // namespace

ThreadTotalSums sum_all_thread_totals() { return sum_lines<true>(); }

ThreadTotalSums sum_heap_thread_totals() { return sum_lines<false>(); }

int64_t sum_thread_totals(ThreadTotal total) { return sum_all_thread_totals()[total]; }

void reset_thread_totals_after_fork(const ThreadTotal* keep, size_t keep_count) {
    const ThreadTotalSums sums = sum_all_thread_totals();
    int64_t kept[kTotals] = {};
    for (size_t i = 0; i < keep_count; ++i) kept[static_cast<size_t>(keep[i])] = sums[keep[i]];

    const uint32_t lines = lines_in_use();
    for (uint32_t i = 0; i < lines; ++i) {
        for (auto& value : g_lines[i].values) value.store(0, std::memory_order_relaxed);
    }
    for (auto& value : g_shared_line.values) value.store(0, std::memory_order_relaxed);

    // The totals that carry over move to the line of the child's only thread.
    for (size_t field = 0; field < kTotals; ++field) {
        if (kept[field] != 0) add_thread_total(static_cast<ThreadTotal>(field), kept[field]);
    }
}

}  // namespace routeheap::agent
