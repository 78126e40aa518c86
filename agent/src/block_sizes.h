// The size each live malloc block was requested with, so a free can subtract it
// exactly. A lock-free open-addressing hash table in mmap'd memory, keyed by address.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace routeheap::agent {

// Each entry packs three fields into one 64-bit word, so insert and remove are a
// single compare-and-swap: the block address divided by 16, a flag set when the block
// was sampled (its Allocation record was written), and the block's slack, the usable
// size minus the requested size. The requested size of a freed block is then its
// malloc_usable_size minus the slack.
//
// Removed entries become tombstones that later inserts reuse. Empty slots therefore
// never reappear, which keeps lookups correct without locks: a block is always found
// before the first empty slot of its probe sequence. Probes stop after kMaxProbe
// slots, so a full neighbourhood makes insert() fail instead of searching further.
//
// Thread-safety: any thread may insert or take concurrently. Taking a block that
// another thread inserts at the same moment cannot happen, because the allocator
// hands an address to one owner at a time and the agent removes it before the real
// free.
class BlockSizes {
public:
    // Maps a table for `max_live_blocks` blocks (twice as many slots, rounded up to
    // a power of two) with the real mmap. Returns false when the mapping failed.
    bool init(uint64_t max_live_blocks);

    // Records a live block. Returns false when the block cannot be tracked: the
    // address is not 16-byte aligned or above 2^48, the slack is 512 KiB or more, or
    // the probe sequence is full (`table_full` is then set).
    bool insert(const void* block, size_t slack, bool sampled, bool& table_full);

    // Removes the block and returns its slack and sampled flag; false when it is not
    // in the table.
    bool take(const void* block, size_t& slack, bool& sampled);

    // Clears the sampled flag of a live block (its Allocation record was dropped).
    void clear_sampled(const void* block);

    size_t slot_count() const { return mask_ + 1; }

private:
    static constexpr uint64_t kEmpty = 0;
    static constexpr uint64_t kTombstone = 1;  // key 0 with slack 1: no real block has it
    static constexpr unsigned kKeyShift = 20;  // the key sits above the flag and the slack
    static constexpr uint64_t kSampledBit = uint64_t{1} << 19;
    static constexpr unsigned kSlackBits = 19;
    static constexpr size_t kMaxProbe = 128;

    size_t home_slot(uint64_t key) const;
    std::atomic<uint64_t>* find(uint64_t key) const;

    std::atomic<uint64_t>* slots_ = nullptr;
    size_t mask_ = 0;
    unsigned shift_ = 0;
};

}  // namespace routeheap::agent
