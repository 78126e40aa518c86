// The agent's table of distinct stacks: each distinct frame array gets one id, and
// its StackDefinition is written once per trace.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace routeheap::agent {

// An open-addressing hash table of frame arrays in mmap'd memory, without locks or
// malloc. The id of a stack is its slot index + 1, so ids are unique within a trace
// and never 0.
//
// Each slot's tag is 0 (empty), kBusy (a thread is filling it), kDead (claimed but
// the frame arena was full) or the stack's hash with the top bit set (ready). A
// thread claims an empty slot with one compare-and-swap, copies the frames into the
// arena and publishes the tag with release order. Lookups skip busy slots, so two
// threads inserting the same stack at once may both insert it: the stack then has
// two ids, which readers treat as two stacks with equal frames.
//
// Thread-safety: intern() and mark_unwritten() may run on any thread concurrently.
// reset_after_fork_child() runs only in a forked child before other threads exist.
class StackTable {
public:
    // The id of the empty StackDefinition that stands for every stack the table had
    // no room for.
    static constexpr uint64_t kOverflowStackId = UINT64_MAX;

    // Maps room for `max_stacks` stacks (twice as many slots) and an arena of
    // `max_stacks * average_frames` frames. Returns false when a mapping failed.
    bool init(uint64_t max_stacks, uint32_t average_frames);

    // Returns the id of the stack `frames[0, count)`, inserting it when new, or
    // kOverflowStackId when there is no room. `write_definition` is set when the
    // caller must write the stack's StackDefinition, because the stack is new or an
    // earlier attempt to write it failed. If that write fails too, the caller calls
    // mark_unwritten(id).
    uint64_t intern(const uint64_t* frames, uint32_t count, bool& write_definition);
    void mark_unwritten(uint64_t id);

    // True when the caller must write the overflow definition (once per trace).
    bool claim_overflow_definition();
    void release_overflow_definition() { overflow_written_.store(false, std::memory_order_relaxed); }

    // In a forked child: every stack is forgotten, because the child's trace has none
    // of the parent's definitions.
    void reset_after_fork_child();

private:
    struct Slot {
        std::atomic<uint64_t> tag;
        uint64_t frame_offset;       // index into the arena
        uint32_t frame_count;
        std::atomic<uint32_t> written;  // 1 once a thread took on writing the definition
    };
    static_assert(sizeof(Slot) == 24);

    static constexpr uint64_t kBusy = 1;
    static constexpr uint64_t kDead = 2;
    static constexpr size_t kMaxProbe = 64;

    bool matches(const Slot& slot, const uint64_t* frames, uint32_t count) const;
    uint64_t claim_written(Slot& slot, uint64_t id, bool& write_definition);

    Slot* slots_ = nullptr;
    size_t slot_count_ = 0;
    uint64_t* arena_ = nullptr;
    size_t arena_frames_ = 0;
    std::atomic<size_t> arena_used_{0};
    std::atomic<bool> overflow_written_{false};
};

}  // namespace routeheap::agent
