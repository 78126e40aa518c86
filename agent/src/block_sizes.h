// The size each live malloc block was requested with, so a free can subtract it
// exactly. A shadow map keeps one byte per 16 bytes of address space, and a lock-free
// hash table keeps the few blocks whose byte cannot hold their size.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace routeheap::agent {

// What is kept of a block is its slack, the usable size minus the requested size, and
// a flag set when the block was sampled (its Allocation record was written). The
// requested size of a freed block is then its malloc_usable_size minus the slack.
//
// The shadow byte of a block is the byte for its first 16-byte granule. No two blocks
// start in one granule, since malloc returns 16-byte aligned addresses. The shadow is
// mapped in pieces of 64 MiB, one per GiB of address space the heap uses, on the first
// block there, and its pages are committed as blocks land on them: about one sixteenth
// of the heap's span. Neighbouring blocks share a cache line of the shadow. A hash table
// of every block had a cache miss and a compare-and-swap per call, and replacing it cut
// the agent's share of a small-request server's perf samples from 6.0% to 5.4%.
//
// A shadow byte is 0 where no counted block starts. Otherwise its low seven bits hold
// the slack plus 1 (1 to 126) and its high bit the sampled flag. The value kInTable
// marks a block with 126 or more bytes of slack (aligned allocations, page-rounded
// large blocks), whose entry is in the hash table instead. Where no shadow piece can be
// mapped, every block of that GiB goes to the table.
//
// The table is open addressing in mmap'd memory. Each entry packs the block address
// divided by 16, the sampled flag and the slack into one 64-bit word, so insert and
// remove are a single compare-and-swap. Removed entries become tombstones that later
// inserts reuse; empty slots never reappear, which keeps lookups correct without locks.
// Probes stop after kMaxProbe slots, so a full neighbourhood makes insert() fail.
//
// Thread-safety: any thread may insert or take concurrently. Taking a block that
// another thread inserts at the same moment cannot happen, because the allocator
// hands an address to one owner at a time and the agent removes it before the real
// free. Each block owns its shadow byte, so plain byte stores suffice there.
class BlockSizes {
public:
    // Reserves the shadow directory and a table for `max_live_blocks` blocks of large
    // slack (twice as many slots, rounded up to a power of two) with the real mmap.
    // Returns false when a mapping failed.
    bool init(uint64_t max_live_blocks);

    // Records a live block. Returns false when the block cannot be tracked: the
    // address is not 16-byte aligned or above 2^48, the slack is 512 KiB or more, or
    // the block needs the table and its probe sequence is full (`table_full` is then set).
    bool insert(const void* block, size_t slack, bool sampled, bool& table_full);

    // Removes the block and returns its slack and sampled flag; false when it is not
    // tracked.
    bool take(const void* block, size_t& slack, bool& sampled);

    // Clears the sampled flag of a live block (its Allocation record was dropped).
    void clear_sampled(const void* block);

private:
    using Shadow = std::atomic<uint8_t>;

    static constexpr unsigned kPieceShift = 30;  // one shadow piece per GiB
    static constexpr unsigned kAddressBits = 48;
    static constexpr uint8_t kShadowSampled = 0x80;
    static constexpr uint8_t kInTable = 0x7f;
    static constexpr size_t kMaxShadowSlack = kInTable - 2;

    static constexpr uint64_t kEmpty = 0;
    static constexpr uint64_t kTombstone = 1;  // key 0 with slack 1: no real block has it
    static constexpr unsigned kKeyShift = 20;  // the key sits above the flag and the slack
    static constexpr uint64_t kSampledBit = uint64_t{1} << 19;
    static constexpr unsigned kSlackBits = 19;
    static constexpr size_t kMaxProbe = 128;

    // Return the shadow byte of an aligned address below 2^48, or nullptr when its piece
    // is not mapped. shadow_for_insert() maps the piece on first use.
    Shadow* shadow_of(uint64_t address) const;
    Shadow* shadow_for_insert(uint64_t address);

    bool table_insert(uint64_t address, size_t slack, bool sampled, bool& table_full);
    std::atomic<uint64_t>* table_find(uint64_t key) const;
    size_t home_slot(uint64_t key) const;

    // One pointer per GiB of address space. It is nullptr until a block lands there,
    // then its shadow piece, or kUnmappable when mapping the piece failed.
    std::atomic<Shadow*>* pieces_ = nullptr;
    std::atomic<uint64_t>* slots_ = nullptr;
    size_t mask_ = 0;
    unsigned shift_ = 0;
};

}  // namespace routeheap::agent
