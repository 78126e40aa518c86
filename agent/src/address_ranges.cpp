// Interval bookkeeping of reserved and committed anonymous memory.
#include "address_ranges.h"

#include "real_functions.h"

#include <sys/mman.h>

#include <cstring>

namespace routeheap::agent {

namespace {

int64_t committed_length(uintptr_t start, uintptr_t end, RangeState state) {
    return state == RangeState::Committed ? static_cast<int64_t>(end - start) : 0;
}

void report_release(SampledReleases* releases, uintptr_t start, uintptr_t end, RangeState state, bool sampled) {
    if (releases != nullptr && sampled && state == RangeState::Committed) releases->add(start, end - start);
}

}  // namespace

void SampledReleases::add(uintptr_t start, uint64_t size) {
    if (count < kMaxPieces) {
        pieces[count++] = {start, size};
        return;
    }
    pieces[kMaxPieces - 1].size += size;
}

bool AddressRanges::init(size_t capacity) {
    void* memory = real().mmap(nullptr, capacity * sizeof(Run), PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (memory == MAP_FAILED) return false;
    runs_ = static_cast<Run*>(memory);
    capacity_ = capacity;
    return true;
}

size_t AddressRanges::first_ending_after(uintptr_t address) const {
    size_t low = 0;
    size_t high = count_;
    while (low < high) {
        const size_t middle = low + (high - low) / 2;
        if (runs_[middle].end <= address) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return low;
}

bool AddressRanges::insert_at(size_t index, const Run& run) {
    if (count_ == capacity_) return false;
    std::memmove(runs_ + index + 1, runs_ + index, (count_ - index) * sizeof(Run));
    runs_[index] = run;
    ++count_;
    return true;
}

void AddressRanges::erase(size_t first, size_t last) {
    std::memmove(runs_ + first, runs_ + last, (count_ - last) * sizeof(Run));
    count_ -= last - first;
}

// Splits the run that strictly contains `address`, so no run straddles it.
bool AddressRanges::split_at(uintptr_t address) {
    const size_t index = first_ending_after(address);
    if (index == count_) return true;
    Run& run = runs_[index];
    if (run.start >= address) return true;
    const Run tail{address, run.end, run.state, run.sampled};
    run.end = address;
    return insert_at(index + 1, tail);
}

void AddressRanges::merge_around(size_t first, size_t last) {
    size_t index = first > 0 ? first - 1 : 0;
    // Pairs up to (last, last + 1) may merge.
    size_t stop = last + 2 < count_ ? last + 2 : count_;
    while (index + 1 < stop && index + 1 < count_) {
        Run& run = runs_[index];
        const Run& next = runs_[index + 1];
        if (run.end == next.start && run.state == next.state && run.sampled == next.sampled) {
            run.end = next.end;
            erase(index + 1, index + 2);
            --stop;
        } else {
            ++index;
        }
    }
}

bool AddressRanges::assign(uintptr_t start, uintptr_t end, RangeState state, int64_t& committed_delta, bool sampled,
                           SampledReleases* releases) {
    committed_delta = 0;
    if (start >= end) return true;
    if (!split_at(start) || !split_at(end)) return false;

    // Runs inside [start, end) are now runs_[first, last).
    const size_t first = first_ending_after(start);
    size_t last = first;
    while (last < count_ && runs_[last].start < end) {
        const Run& run = runs_[last];
        committed_delta -= committed_length(run.start, run.end, run.state);
        report_release(releases, run.start, run.end, run.state, run.sampled);
        ++last;
    }
    erase(first, last);

    if (state != RangeState::None) {
        if (!insert_at(first, Run{start, end, state, sampled && state == RangeState::Committed})) return false;
        committed_delta += committed_length(start, end, state);
        merge_around(first, first);
    }
    return true;
}

bool AddressRanges::change_tracked(uintptr_t start, uintptr_t end, RangeState state, int64_t& committed_delta,
                                   bool sampled, SampledReleases* releases) {
    committed_delta = 0;
    if (start >= end) return true;
    if (!split_at(start) || !split_at(end)) return false;

    const size_t first = first_ending_after(start);
    size_t last = first;
    for (; last < count_ && runs_[last].start < end; ++last) {
        Run& run = runs_[last];
        if (run.state == state) continue;
        committed_delta -= committed_length(run.start, run.end, run.state);
        if (state != RangeState::Committed) report_release(releases, run.start, run.end, run.state, run.sampled);
        run.sampled = state == RangeState::Committed && sampled;
        run.state = state;
        committed_delta += committed_length(run.start, run.end, run.state);
    }
    if (last > first) merge_around(first, last - 1);
    return true;
}

uint64_t AddressRanges::uncommitted_tracked_bytes(uintptr_t start, uintptr_t end) const {
    uint64_t bytes = 0;
    for (size_t index = first_ending_after(start); index < count_ && runs_[index].start < end; ++index) {
        const Run& run = runs_[index];
        if (run.state == RangeState::Committed) continue;
        const uintptr_t from = run.start > start ? run.start : start;
        const uintptr_t to = run.end < end ? run.end : end;
        bytes += to - from;
    }
    return bytes;
}

RangeState AddressRanges::state_at(uintptr_t address) const {
    const size_t index = first_ending_after(address);
    if (index == count_ || runs_[index].start > address) return RangeState::None;
    return runs_[index].state;
}

int64_t AddressRanges::committed_bytes() const {
    int64_t total = 0;
    for (size_t i = 0; i < count_; ++i) total += committed_length(runs_[i].start, runs_[i].end, runs_[i].state);
    return total;
}

}  // namespace routeheap::agent
