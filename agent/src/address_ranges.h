// The anonymous mappings the agent saw, split into reserved (not writable) and
// committed (read-write) runs, so that every release is counted exactly once.
#pragma once

#include <cstddef>
#include <cstdint>

namespace routeheap::agent {

enum class RangeState : uint8_t { None, Reserved, Committed };

// Committed bytes of sampled commits that an update released, as pieces
// [start, start + size). When a release splits into more pieces than fit, the size
// of the last piece also counts all the rest.
struct SampledReleases {
    static constexpr size_t kMaxPieces = 16;
    struct Piece {
        uintptr_t start;
        uint64_t size;
    };
    Piece pieces[kMaxPieces];
    size_t count = 0;

    void add(uintptr_t start, uint64_t size);
};

// A sorted array of disjoint [start, end) runs in mmap'd memory (no malloc).
// Adjacent runs with the same state are merged, so the size follows the number of
// distinct state changes, not the number of calls.
//
// Thread-safety: none; the caller serialises all calls with one lock, and no call
// leaves the agent.
class AddressRanges {
public:
    // Maps room for `capacity` runs with the real mmap; false when that failed.
    bool init(size_t capacity);

    // Sets [start, end) to `state` whatever it was (mmap, munmap). Returns false when
    // the run table is full. `committed_delta` is the change of committed bytes.
    // `sampled` marks the new run as a sampled commit. Committed bytes of earlier
    // sampled commits that the call replaces go to `releases` when it is not null.
    bool assign(uintptr_t start, uintptr_t end, RangeState state, int64_t& committed_delta, bool sampled = false,
                SampledReleases* releases = nullptr);

    // Sets the parts of [start, end) that are already tracked to `state` and leaves
    // untracked parts alone (mprotect and madvise on mappings the agent saw). Runs
    // that become committed are marked `sampled`; runs that stop being committed
    // report their sampled bytes to `releases` when it is not null.
    bool change_tracked(uintptr_t start, uintptr_t end, RangeState state, int64_t& committed_delta,
                        bool sampled = false, SampledReleases* releases = nullptr);

    // Bytes of [start, end) that are tracked and not committed: what change_tracked()
    // to Committed would commit.
    uint64_t uncommitted_tracked_bytes(uintptr_t start, uintptr_t end) const;

    // State of the run containing `address`.
    RangeState state_at(uintptr_t address) const;

    int64_t committed_bytes() const;
    size_t run_count() const { return count_; }

private:
    struct Run {
        uintptr_t start;
        uintptr_t end;
        RangeState state;
        bool sampled;  // committed by a sampled commit (an Allocation of kind V8Commit)
    };

    size_t first_ending_after(uintptr_t address) const;
    bool split_at(uintptr_t address);
    bool insert_at(size_t index, const Run& run);
    void erase(size_t first, size_t last);
    void merge_around(size_t first, size_t last);

    Run* runs_ = nullptr;
    size_t count_ = 0;
    size_t capacity_ = 0;
};

}  // namespace routeheap::agent
