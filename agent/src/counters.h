// The agent's exact memory counters: native heap (malloc family and C++ operators),
// committed anonymous mappings (the V8 heap) and RSS.
#pragma once

#include "thread_state.h"

#include <routeheap/trace_format.h>

#include <cstddef>
#include <cstdint>

namespace routeheap::agent {

// Maps the block-size store and the mapping runs, and sets how much live-byte change a
// thread keeps before it updates the shared counter: a sixteenth of the sampling interval
// `sample_bytes`, at most 16 KiB. Counting starts only after it returned true; until then
// every hook passes through uncounted.
bool init_counters(uint64_t max_live_blocks, uint64_t sample_bytes);
bool counting();

// Turns counting on (after the trace file was opened) or off.
void set_counting(bool enabled);

// The process-wide reasons for the malloc hooks to skip their fast path (heap_fast_path.h).
enum HeapSlowReason : uint8_t {
    kHeapNotCounting = 1,
    kHeapNoChunkHeaders = 2,  // the allocator behind the agent is not glibc's, or its size words disagree
    kHeapForkPending = 4,     // a forked child has not started its trace yet
    kHeapNoByteSampling = 8,  // sampling is not ready, or every allocation gets a stack
};

// Sets or clears one reason. The fast path runs only while none is set.
void set_heap_slow_reason(HeapSlowReason reason, bool present);

// Native heap. A block is counted when a hook allocated it while counting was on
// and its requested size could be kept. Its free then subtracts exactly what its
// allocation added. Blocks from before start-up or from agent work are not counted
// at either end. A counted block may also be sampled (sampler.h): it then gets an
// Allocation record with its stack, and its release a Free record.
void count_allocation(const HookScope& scope, trace::AllocationKind kind, void* block, size_t requested);
void count_free(const HookScope& scope, void* block);  // before the real free

// The old block's figures, taken by a realloc and held until the real call returned.
struct ReallocTicket {
    void* block = nullptr;
    size_t requested = 0;
    size_t usable = 0;
    size_t slack = 0;
    uint64_t time_ns = 0;  // taken before the real call, for the Free of a sampled block
    bool counted = false;
    bool sampled = false;
};
ReallocTicket begin_realloc(const HookScope& scope, void* block);
// `result` is what the real realloc returned for `requested` bytes.
void finish_realloc(const HookScope& scope, const ReallocTicket& ticket, void* result, size_t requested);

// Mappings. Lengths are rounded up to whole pages here.
void count_mmap(const HookScope& scope, void* result, size_t length, int prot, int flags);
void count_munmap(const HookScope& scope, void* address, size_t length);  // before the real call
void count_mprotect(const HookScope& scope, void* address, size_t length, int prot);
void count_madvise(const HookScope& scope, void* address, size_t length, int advice);

// mremap moves a run: begin_mremap takes the old range before the real call and
// finish_mremap places it at the result, or back where it was when the call failed.
struct MremapTicket {
    uintptr_t old_start = 0;
    size_t old_length = 0;
    uint8_t state = 0;  // RangeState of the old range's first page
    bool taken = false;
};
MremapTicket begin_mremap(const HookScope& scope, void* old_address, size_t old_length);
void finish_mremap(const HookScope& scope, const MremapTicket& ticket, void* result, size_t new_length);

// Reads every counter at `time_ns`, the caller's CLOCK_MONOTONIC time (now_ns()) taken
// within the same hooked call, reusing an RSS reading younger than `rss_max_age_ns`.
// With `reset_peaks`, the peaks are exchanged for the current values, so the next
// sample's peaks cover only the time after this one.
void read_counters(trace::Counters& current, int64_t& native_live_peak, int64_t& v8_committed_peak,
                   bool reset_peaks, uint64_t time_ns, uint64_t rss_max_age_ns);

// Resident set size from /proc/self/statm, -1 when it cannot be read. A reading taken
// less than `max_age_ns` before `time_ns` (or after it, by another thread) is reused.
int64_t read_rss_bytes(uint64_t time_ns, uint64_t max_age_ns);

// In a forked child: the live and committed figures carry over (the child inherits
// the parent's heap and mappings), the totals restart at zero and the cached statm
// descriptor, which names the parent, is dropped.
void counters_after_fork_child();

// Serialises fork against mapping updates so the child never inherits a half-done one.
void lock_mappings_for_fork();
void unlock_mappings_after_fork(bool in_child);

}  // namespace routeheap::agent
