// Exact native-heap and mapping counters, their peaks, and the RSS reader.
#include "counters.h"

#include "address_ranges.h"
#include "allocation_samples.h"
#include "agent_log.h"
#include "block_sizes.h"
#include "heap_fast_path.h"
#include "options.h"
#include "real_functions.h"
#include "recorder.h"
#include "sampler.h"
#include "spin_lock.h"
#include "thread_totals.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace routeheap::agent {

namespace heap_detail {

std::atomic<uint8_t> g_slow_reasons{kHeapNotCounting | kHeapNoChunkHeaders | kHeapNoByteSampling};
BlockSizes g_blocks;
int64_t g_live_batch_bytes = 0;

}  // namespace heap_detail

using namespace heap_detail;

void set_heap_slow_reason(HeapSlowReason reason, bool present) {
    if (present) {
        g_slow_reasons.fetch_or(reason, std::memory_order_relaxed);
    } else {
        g_slow_reasons.fetch_and(static_cast<uint8_t>(~reason), std::memory_order_relaxed);
    }
}

namespace {

// Room for 64 Ki runs of distinct state: V8 keeps far fewer, because adjacent
// pages with the same state merge into one run.
constexpr size_t kMaxRuns = 64 * 1024;

// The maximum live-byte change a thread keeps to itself (see add_native).
constexpr uint64_t kMaxLiveBatchBytes = 16 * 1024;

// Allocated bytes, calls and usable bytes are per-thread totals (thread_totals.h).
// `live` lacks the changes still waiting in each thread's UnpublishedLiveBytes.
struct alignas(64) NativeCounters {
    std::atomic<int64_t> live{0};
    std::atomic<int64_t> live_peak{0};
};

struct alignas(64) MappingCounters {
    std::atomic<int64_t> committed{0};
    std::atomic<int64_t> committed_peak{0};
};

std::atomic<bool> g_counting{false};
NativeCounters g_native;
MappingCounters g_mapping;
AddressRanges g_ranges;
SpinLock g_ranges_lock;  // guards g_ranges; never held across a call out of the agent
uintptr_t g_page_size = 4096;

std::atomic<int> g_statm_fd{-1};

// Reading statm costs a few microseconds of kernel time, which at two samples per
// request was still 0.3% of a small-request server's CPU samples when a reading was
// reused for 1 ms. Request samples reuse a reading up to ROUTEHEAP_SAMPLE_MS old, so under
// steady requests one sample in that interval reads statm.
std::atomic<int64_t> g_cached_rss{-1};
std::atomic<uint64_t> g_cached_rss_time_ns{0};

// Returns the peak and restarts it from `baseline`. A peak that no update raised since the
// last restart already equals the baseline and is left alone. That saves a locked exchange
// on most samples of small requests, and a raise that races with the load counts in the
// next sample's peak.
int64_t take_peak(std::atomic<int64_t>& peak, int64_t baseline) {
    const int64_t seen = peak.load(std::memory_order_relaxed);
    if (seen == baseline) return seen;
    return peak.exchange(baseline, std::memory_order_relaxed);
}

void raise_peak(std::atomic<int64_t>& peak, int64_t value) {
    int64_t current = peak.load(std::memory_order_relaxed);
    while (value > current &&
           !peak.compare_exchange_weak(current, value, std::memory_order_relaxed)) {
    }
}

void add_committed(int64_t delta) {
    if (delta == 0) return;
    const int64_t committed = g_mapping.committed.fetch_add(delta, std::memory_order_relaxed) + delta;
    if (delta > 0) raise_peak(g_mapping.committed_peak, committed);
}

// Logs, once per cause, a block the size store could not keep: its table was full, or
// the block's address or slack cannot be packed into an entry.
void report_untrackable_block(bool table_full, size_t slack) {
    LogLine line;
    if (table_full) {
        static LogSite full_site;
        line.add("more live malloc blocks need the block-size table than ROUTEHEAP_MAX_LIVE_BLOCKS=");
        line.add_unsigned(options().max_live_blocks);
        line.add(" allows (blocks with over 125 bytes of slack, and every block where the shadow map could not be"
                 " mapped); later such blocks are left out of the native counters (raise the limit)");
        log_once(full_site, line);
        return;
    }
    static LogSite block_site;
    line.add("a malloc block with ").add_unsigned(slack);
    line.add(" bytes of slack cannot be tracked (the limits are 16-byte alignment, addresses below 2^48 and"
             " slack below 512 KiB); such blocks are left out of the native counters");
    log_once(block_site, line);
}

void report_ranges_full() {
    static LogSite site;
    LogLine line;
    line.add("more than ").add_unsigned(kMaxRuns);
    line.add(" distinct mapping runs; the committed-memory counter cannot stay exact");
    fail(site, line);
}

uintptr_t page_floor(const void* address) { return reinterpret_cast<uintptr_t>(address) & ~(g_page_size - 1); }

uintptr_t page_ceil(uintptr_t address) { return (address + g_page_size - 1) & ~(g_page_size - 1); }

// Applies one update of the mapping runs under the lock, then, outside it, the
// counter and the Free records of the sampled commits the update released.
template <typename Update>
void update_ranges(Update update) {
    int64_t delta = 0;
    SampledReleases releases;
    bool ok;
    {
        SpinLockGuard guard(g_ranges_lock);
        ok = update(delta, releases);
    }
    if (!ok) {
        report_ranges_full();
        return;
    }
    add_committed(delta);
    if (releases.count == 0) return;
    const uint64_t time_ns = now_ns();
    for (size_t i = 0; i < releases.count; ++i) {
        record_sampled_release(reinterpret_cast<const void*>(releases.pieces[i].start), releases.pieces[i].size,
                               time_ns);
    }
}

// The sampling decision for a commit of `bytes` new read-write bytes: the same
// Poisson sample by bytes as heap allocations, on the same per-thread countdown.
struct CommitSample {
    bool sampled = false;
    uint16_t flags = 0;
    uint64_t bytes = 0;
};

CommitSample decide_commit_sample(uint64_t bytes) {
    CommitSample commit;
    commit.bytes = bytes;
    commit.sampled = bytes > 0 && allocation_sampling_ready() && should_sample(bytes, commit.flags);
    return commit;
}

// Writes the Allocation of a sampled commit. A failed write leaves the range marked,
// so its release may write a Free without an Allocation, which readers ignore.
void record_commit(const CommitSample& commit, uintptr_t start) {
    if (commit.sampled) {
        record_sampled_allocation(trace::AllocationKind::V8Commit, commit.flags, reinterpret_cast<const void*>(start),
                                  commit.bytes);
    }
}

// Parses statm ("size resident shared text lib data dt\n", in pages) strictly: seven
// numbers and a newline. The strictness also rejects what a reused descriptor number
// may read, so no fstat is needed before each read.
bool parse_resident_pages(const char* text, size_t length, uint64_t& pages) {
    size_t i = 0;
    for (int field = 0; field < 7; ++field) {
        const size_t digits_start = i;
        uint64_t value = 0;
        while (i < length && text[i] >= '0' && text[i] <= '9') {
            value = value * 10 + static_cast<uint64_t>(text[i] - '0');
            ++i;
        }
        if (i == digits_start || i == length) return false;
        if (field == 1) pages = value;
        const char separator = field == 6 ? '\n' : ' ';
        if (text[i] != separator) return false;
        ++i;
    }
    return i == length;
}

int open_statm() {
    const int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int expected = -1;
    if (!g_statm_fd.compare_exchange_strong(expected, fd)) {
        real().close(fd);  // another thread opened one first
        return expected;
    }
    return fd;
}

int64_t read_statm() {
    for (int attempt = 0; attempt < 2; ++attempt) {
        int fd = g_statm_fd.load();
        if (fd < 0) fd = open_statm();
        if (fd < 0) return -1;

        char text[128];
        const ssize_t length = pread(fd, text, sizeof(text), 0);
        uint64_t pages = 0;
        if (length > 0 && parse_resident_pages(text, static_cast<size_t>(length), pages)) {
            return static_cast<int64_t>(pages * g_page_size);
        }
        // The host may have closed the descriptor (close_range) and reused its number:
        // forget it without closing it, because the number may belong to the host now.
        g_statm_fd.compare_exchange_strong(fd, -1);
    }
    return -1;
}

// Set by init_counters() when the start-up check below passed (heap_fast_path.h).
bool g_read_chunk_headers = false;

[[gnu::always_inline]] inline size_t usable_size(void* block) {
    size_t usable = 0;
    if (g_read_chunk_headers && usable_from_size_word(block, usable)) [[likely]] return usable;
    return real().malloc_usable_size(block);
}

// Checks that the real allocator is glibc's and that the size word agrees with
// malloc_usable_size on small plain and aligned blocks. The blocks stay far below the
// mmap threshold: freeing a chunk with its own mapping would raise glibc's threshold,
// which changes how the host's later large blocks are placed.
bool chunk_headers_readable() {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(real().malloc), &info) == 0 || info.dli_fname == nullptr) return false;
    const char* name = std::strrchr(info.dli_fname, '/');
    name = name == nullptr ? info.dli_fname : name + 1;
    if (std::strncmp(name, "libc.so", 7) != 0) return false;

    constexpr size_t kSizes[] = {1, 24, 25, 100, 1000};
    constexpr size_t kAlignments[] = {0, 64};
    for (size_t alignment : kAlignments) {
        for (size_t size : kSizes) {
            void* block = nullptr;
            if (alignment == 0) {
                block = real().malloc(size);
            } else if (real().posix_memalign(&block, alignment, size) != 0) {
                block = nullptr;
            }
            if (block == nullptr) return false;
            size_t usable = 0;
            const bool same = usable_from_size_word(block, usable) && usable == real().malloc_usable_size(block);
            real().free(block);
            if (!same) return false;
        }
    }
    return true;
}

}  // namespace

// Under perf, the locked add on the shared live counter was the largest single cost of the
// malloc hooks on small requests, and the per-thread batches (heap_fast_path.h) avoid it.
// Samples add the waiting changes, so current values stay exact. A peak between two samples
// misses at most g_live_batch_bytes per thread.
[[gnu::noinline]] void heap_detail::publish_live(std::atomic<int64_t>* unpublished, int64_t delta) {
    // Published before the per-thread total is cleared, so a concurrent sample may count
    // the delta twice but never miss it.
    const int64_t live = g_native.live.fetch_add(delta, std::memory_order_relaxed) + delta;
    if (unpublished != nullptr) unpublished->store(0, std::memory_order_relaxed);
    if (delta > 0) raise_peak(g_native.live_peak, live);
}

bool init_counters(uint64_t max_live_blocks, uint64_t sample_bytes) {
    // Exact mode (a sampling interval of 1 byte) keeps peaks exact too.
    const uint64_t batch = sample_bytes / 16;
    g_live_batch_bytes = static_cast<int64_t>(batch < kMaxLiveBatchBytes ? batch : kMaxLiveBatchBytes);
    const long page = sysconf(_SC_PAGESIZE);
    if (page > 0) g_page_size = static_cast<uintptr_t>(page);
    if (!g_blocks.init(max_live_blocks) || !g_ranges.init(kMaxRuns)) return false;
    g_read_chunk_headers = chunk_headers_readable();
    set_heap_slow_reason(kHeapNoChunkHeaders, !g_read_chunk_headers);
    return true;
}

// The fast path's reason changes first when counting stops and last when it starts, so no
// hook enters the fast path after counting stopped. A hook already past the check may still
// count its one block, as the general path may.
void set_counting(bool enabled) {
    if (!enabled) set_heap_slow_reason(kHeapNotCounting, true);
    g_counting.store(enabled, std::memory_order_release);
    if (enabled) set_heap_slow_reason(kHeapNotCounting, false);
}

bool counting() { return g_counting.load(std::memory_order_relaxed); }

namespace {

// Counts an allocated block of any kind, including the cases count_allocation() hands over:
// forked children, sampled blocks, and blocks of large slack or outside the thread's last two
// shadow pieces.
[[gnu::noinline]] void count_allocation_general(trace::AllocationKind kind, void* block, size_t requested) {
    // Nothing below changes errno on the common path: the rare paths that make system
    // calls (starting a forked child's trace, drawing a sample, mapping a shadow piece,
    // writing a record or a log line) save it themselves.
    start_recording_if_forked();

    thread_totals_detail::Line* line = own_thread_line();
    add_thread_total(line, ThreadTotal::AllocatedBytes, static_cast<int64_t>(requested));
    add_thread_total(line, ThreadTotal::AllocationCalls, 1);

    const size_t usable = usable_size(block);
    if (usable < requested) return;
    uint16_t sample_flags = 0;
    const bool sampled = allocation_sampling_ready() && should_sample(requested, sample_flags);
    bool table_full = false;
    if (!g_blocks.insert(block, usable - requested, sampled, table_full)) {
        report_untrackable_block(table_full, usable - requested);
        return;
    }
    add_native(line, static_cast<int64_t>(requested), static_cast<int64_t>(usable));
    if (sampled && !record_sampled_allocation(kind, sample_flags, block, requested)) g_blocks.clear_sampled(block);
}

// Counts the free of a block of any kind, including the cases count_free() hands over:
// sampled blocks, and blocks in the table or outside the thread's last two shadow pieces.
[[gnu::noinline]] void count_free_general(void* block) {
    size_t slack = 0;
    bool sampled = false;
    if (!g_blocks.take(block, slack, sampled)) return;
    if (sampled) record_sampled_free(block, now_ns());
    const size_t usable = usable_size(block);
    add_native(own_thread_line(), -static_cast<int64_t>(usable - slack), -static_cast<int64_t>(usable));
}

}  // namespace

// The hooks that have no fast path of their own (calloc, realloc, the aligned allocators)
// and the fast paths' fallbacks count here.
void count_allocation(const HookScope& scope, trace::AllocationKind kind, void* block, size_t requested) {
    if (!scope.active() || block == nullptr || !counting()) return;
    if (g_slow_reasons.load(std::memory_order_relaxed) == 0 && count_allocation_fast(t_thread, block, requested)) {
        return;
    }
    count_allocation_general(kind, block, requested);
}

void count_free(const HookScope& scope, void* block) {
    if (!scope.active() || block == nullptr || !counting()) return;
    if (g_slow_reasons.load(std::memory_order_relaxed) == 0 && count_free_fast(t_thread, block)) return;
    count_free_general(block);
}

ReallocTicket begin_realloc(const HookScope& scope, void* block) {
    ReallocTicket ticket;
    ticket.block = block;
    if (!scope.active() || block == nullptr || !counting()) return ticket;
    if (!g_blocks.take(block, ticket.slack, ticket.sampled)) return ticket;
    ticket.usable = usable_size(block);
    ticket.requested = ticket.usable - ticket.slack;
    ticket.counted = true;
    // Another thread may get the old address as soon as the real realloc released it,
    // so the Free carries a time from before the call.
    if (ticket.sampled) ticket.time_ns = now_ns();
    return ticket;
}

void finish_realloc(const HookScope& scope, const ReallocTicket& ticket, void* result, size_t requested) {
    if (!scope.active() || !counting()) return;
    // glibc's realloc(p, 0) frees p and returns NULL; any other NULL is a failure
    // that left the old block in place.
    const bool old_block_freed = result != nullptr || (requested == 0 && ticket.block != nullptr);
    if (ticket.counted) {
        if (old_block_freed) {
            if (ticket.sampled) record_sampled_free(ticket.block, ticket.time_ns);
            add_native(own_thread_line(), -static_cast<int64_t>(ticket.requested), -static_cast<int64_t>(ticket.usable));
        } else {
            bool table_full = false;
            g_blocks.insert(ticket.block, ticket.slack, ticket.sampled, table_full);
        }
    }
    if (result != nullptr) count_allocation(scope, trace::AllocationKind::Realloc, result, requested);
}

void count_mmap(const HookScope& scope, void* result, size_t length, int prot, int flags) {
    if (!scope.active() || result == MAP_FAILED || !counting()) return;
    const uintptr_t start = page_floor(result);
    const uintptr_t end = page_ceil(reinterpret_cast<uintptr_t>(result) + length);
    RangeState state = RangeState::None;
    if ((flags & MAP_ANONYMOUS) != 0) {
        state = (prot & PROT_WRITE) != 0 ? RangeState::Committed : RangeState::Reserved;
    }
    const CommitSample commit = decide_commit_sample(state == RangeState::Committed ? end - start : 0);
    // A file mapping, or any MAP_FIXED mapping, replaces whatever was there.
    update_ranges([&](int64_t& delta, SampledReleases& releases) {
        return g_ranges.assign(start, end, state, delta, commit.sampled, &releases);
    });
    record_commit(commit, start);
}

void count_munmap(const HookScope& scope, void* address, size_t length) {
    if (!scope.active() || !counting()) return;
    const uintptr_t start = page_floor(address);
    const uintptr_t end = page_ceil(reinterpret_cast<uintptr_t>(address) + length);
    update_ranges([&](int64_t& delta, SampledReleases& releases) {
        return g_ranges.assign(start, end, RangeState::None, delta, false, &releases);
    });
}

void count_mprotect(const HookScope& scope, void* address, size_t length, int prot) {
    if (!scope.active() || !counting()) return;
    // Read-only and executable protections leave the pages committed (V8 flips code
    // pages between read-write and read-execute); only PROT_NONE releases them.
    RangeState state;
    if (prot == PROT_NONE) {
        state = RangeState::Reserved;
    } else if ((prot & PROT_WRITE) != 0) {
        state = RangeState::Committed;
    } else {
        return;
    }
    const uintptr_t start = page_floor(address);
    const uintptr_t end = page_ceil(reinterpret_cast<uintptr_t>(address) + length);

    // Only bytes that become committed count toward the sample: V8 flips its code
    // pages between read-write and read-execute without committing anything.
    uint64_t new_bytes = 0;
    if (state == RangeState::Committed) {
        SpinLockGuard guard(g_ranges_lock);
        new_bytes = g_ranges.uncommitted_tracked_bytes(start, end);
    }
    const CommitSample commit = decide_commit_sample(new_bytes);
    update_ranges([&](int64_t& delta, SampledReleases& releases) {
        return g_ranges.change_tracked(start, end, state, delta, commit.sampled, &releases);
    });
    record_commit(commit, start);
}

void count_madvise(const HookScope& scope, void* address, size_t length, int advice) {
    if (!scope.active() || !counting()) return;
    // NOTE: the pages stay writable after MADV_DONTNEED, so memory the host touches
    // again without a new mprotect is not counted back.
    if (advice != MADV_DONTNEED && advice != MADV_REMOVE) return;
    const uintptr_t start = page_floor(address);
    const uintptr_t end = page_ceil(reinterpret_cast<uintptr_t>(address) + length);
    update_ranges([&](int64_t& delta, SampledReleases& releases) {
        return g_ranges.change_tracked(start, end, RangeState::Reserved, delta, false, &releases);
    });
}

MremapTicket begin_mremap(const HookScope& scope, void* old_address, size_t old_length) {
    MremapTicket ticket;
    if (!scope.active() || !counting()) return ticket;
    ticket.old_start = page_floor(old_address);
    ticket.old_length = old_length;
    const uintptr_t end = page_ceil(ticket.old_start + old_length);
    RangeState state = RangeState::None;
    // NOTE: a moved range loses its sampled commit: the old part is released and the
    // new one is not sampled.
    update_ranges([&](int64_t& delta, SampledReleases& releases) {
        state = g_ranges.state_at(ticket.old_start);
        return g_ranges.assign(ticket.old_start, end, RangeState::None, delta, false, &releases);
    });
    ticket.state = static_cast<uint8_t>(state);
    ticket.taken = true;
    return ticket;
}

void finish_mremap(const HookScope& scope, const MremapTicket& ticket, void* result, size_t new_length) {
    if (!scope.active() || !ticket.taken || !counting()) return;
    const auto state = static_cast<RangeState>(ticket.state);
    if (state == RangeState::None) return;
    uintptr_t start = ticket.old_start;
    uintptr_t end = page_ceil(ticket.old_start + ticket.old_length);
    if (result != MAP_FAILED) {
        start = reinterpret_cast<uintptr_t>(result);
        end = page_ceil(start + new_length);
    }
    update_ranges([&](int64_t& delta, SampledReleases&) { return g_ranges.assign(start, end, state, delta); });
}

void read_counters(trace::Counters& current, int64_t& native_live_peak, int64_t& v8_committed_peak,
                   bool reset_peaks, uint64_t time_ns, uint64_t rss_max_age_ns) {
    const int64_t published_live = g_native.live.load(std::memory_order_relaxed);
    current.native_live_bytes = published_live;
    const ThreadTotalSums totals = sum_heap_thread_totals();
    current.native_live_bytes += totals[ThreadTotal::UnpublishedLiveBytes];
    current.native_usable_bytes = totals[ThreadTotal::UsableBytes];
    current.v8_committed_bytes = g_mapping.committed.load(std::memory_order_relaxed);
    current.native_allocated_total = static_cast<uint64_t>(totals[ThreadTotal::AllocatedBytes]);
    current.native_allocation_calls = static_cast<uint64_t>(totals[ThreadTotal::AllocationCalls]);
    current.rss_bytes = read_rss_bytes(time_ns, rss_max_age_ns);

    if (reset_peaks) {
        // The live peak restarts from the shared counter, because allocating threads raise it
        // with that counter. Changes still waiting per thread stay within add_native's bound.
        native_live_peak = take_peak(g_native.live_peak, published_live);
        v8_committed_peak = take_peak(g_mapping.committed_peak, current.v8_committed_bytes);
    } else {
        native_live_peak = g_native.live_peak.load(std::memory_order_relaxed);
        v8_committed_peak = g_mapping.committed_peak.load(std::memory_order_relaxed);
    }
    // A concurrent update may have moved a counter above its peak between the reads.
    if (native_live_peak < current.native_live_bytes) native_live_peak = current.native_live_bytes;
    if (v8_committed_peak < current.v8_committed_bytes) v8_committed_peak = current.v8_committed_bytes;
}

int64_t read_rss_bytes(uint64_t time_ns, uint64_t max_age_ns) {
    ErrnoSaver errno_saver;
    const uint64_t cached_time = g_cached_rss_time_ns.load(std::memory_order_relaxed);
    // Another thread's reading may be newer than `time_ns`, and is reused too.
    if (cached_time != 0 && (time_ns < cached_time || time_ns - cached_time < max_age_ns)) {
        return g_cached_rss.load(std::memory_order_relaxed);
    }

    const int64_t rss = read_statm();
    g_cached_rss.store(rss, std::memory_order_relaxed);
    g_cached_rss_time_ns.store(rss >= 0 ? time_ns : 0, std::memory_order_relaxed);
    return rss;
}

void counters_after_fork_child() {
    // Usable bytes belong to the inherited heap and carry over. The other totals restart,
    // the request counts among them.
    const ThreadTotal keep[] = {ThreadTotal::UsableBytes, ThreadTotal::UnpublishedLiveBytes};
    reset_thread_totals_after_fork(keep, 2);
    g_native.live_peak.store(g_native.live.load(std::memory_order_relaxed), std::memory_order_relaxed);
    g_mapping.committed_peak.store(g_mapping.committed.load(std::memory_order_relaxed), std::memory_order_relaxed);

    // The inherited descriptor still reads the parent's /proc/PID/statm.
    const int fd = g_statm_fd.exchange(-1);
    if (fd >= 0) real().close(fd);
    g_cached_rss_time_ns.store(0, std::memory_order_relaxed);
}

void lock_mappings_for_fork() { g_ranges_lock.lock(); }

void unlock_mappings_after_fork(bool in_child) {
    if (in_child) {
        g_ranges_lock.reset_after_fork();
    } else {
        g_ranges_lock.unlock();
    }
}

}  // namespace routeheap::agent
