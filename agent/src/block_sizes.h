// The size each live malloc block was requested with, so a free can subtract it
// exactly. A shadow map keeps one byte per 16 bytes of address space, and a lock-free
// hash table keeps the few blocks whose byte cannot hold their size.
#pragma once

#include "thread_state.h"

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
// mapped in pieces of 1 MiB, one per 16 MiB of address space the heap uses, when the
// first block lands there. Its pages are committed as blocks land on them, which comes
// to about one sixteenth of the heap's span. A directory of two levels finds a piece: one entry per 4 GiB,
// then one per 16 MiB. Neighbouring blocks share a cache line of the shadow. A hash table
// of every block had a cache miss and a compare-and-swap per call, and replacing it cut
// the agent's share of a small-request server's perf samples from 6.0% to 5.4%.
//
// A shadow byte is 0 where no counted block starts. Otherwise its low seven bits hold
// the slack plus 1 (1 to 126) and its high bit the sampled flag. The value kInTable
// marks a block with 126 or more bytes of slack (aligned allocations, page-rounded
// large blocks), whose entry is in the hash table instead. Where a piece or its
// directory page cannot be mapped, every block of that address range goes to the table.
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
    // Reserves the top of the shadow directory (512 KiB) and a table for
    // `max_live_blocks` blocks of large slack (twice as many slots, rounded up to a
    // power of two) with the real mmap. Returns false when a mapping failed.
    bool init(uint64_t max_live_blocks);

    // Records a live block. Returns false when the block cannot be tracked: the
    // address is not 16-byte aligned or above 2^48, the slack is 512 KiB or more, or
    // the block needs the table and its probe sequence is full (`table_full` is then set).
    bool insert(const void* block, size_t slack, bool sampled, bool& table_full) {
        const auto address = reinterpret_cast<uint64_t>(block);
        Shadow* shadow = cached_shadow(address);
        if (shadow == nullptr || slack > kMaxShadowSlack) [[unlikely]] {
            return insert_slow(block, slack, sampled, table_full);
        }
        shadow->store(shadow_code(slack, sampled), std::memory_order_relaxed);
        return true;
    }

    // Removes the block and returns its slack and sampled flag; false when it is not
    // tracked.
    bool take(const void* block, size_t& slack, bool& sampled) {
        const auto address = reinterpret_cast<uint64_t>(block);
        Shadow* shadow = cached_shadow(address);
        if (shadow == nullptr) [[unlikely]] return take_slow(block, slack, sampled);
        // Only the block's owner writes its byte, so a plain load and store suffice.
        const uint8_t code = shadow->load(std::memory_order_relaxed);
        if (code == 0) return false;
        if (code == kInTable) [[unlikely]] return take_slow(block, slack, sampled);
        shadow->store(0, std::memory_order_relaxed);
        decode_shadow(code, slack, sampled);
        return true;
    }

    // Clears the sampled flag of a live block (its Allocation record was dropped).
    void clear_sampled(const void* block);

    // The hooks' fast paths, for blocks whose byte lies in one of the calling thread's last
    // two pieces. They decline (false, or Declined) without changing anything when the block
    // needs insert() or take(), so the caller can fall back to those.
    bool insert_unsampled_cached(const void* block, size_t slack) {
        Shadow* shadow = cached_shadow(reinterpret_cast<uint64_t>(block));
        if (shadow == nullptr || slack > kMaxShadowSlack) return false;
        shadow->store(shadow_code(slack, false), std::memory_order_relaxed);
        return true;
    }

    enum class CachedTake : uint8_t { Untracked, Taken, Declined };
    // Takes an unsampled block as take() would. Returns Untracked when the block has no entry.
    CachedTake take_unsampled_cached(const void* block, size_t& slack) {
        Shadow* shadow = cached_shadow(reinterpret_cast<uint64_t>(block));
        if (shadow == nullptr) return CachedTake::Declined;
        const uint8_t code = shadow->load(std::memory_order_relaxed);
        if (code == 0) return CachedTake::Untracked;
        if (code == kInTable || (code & kShadowSampled) != 0) return CachedTake::Declined;
        shadow->store(0, std::memory_order_relaxed);
        slack = static_cast<size_t>(code) - 1;
        return CachedTake::Taken;
    }

private:
    using Shadow = std::atomic<uint8_t>;

    static constexpr unsigned kAddressBits = 48;
    static constexpr uint64_t kMaxAddress = uint64_t{1} << kAddressBits;
    static constexpr unsigned kRegionShift = 32;  // one directory page per 4 GiB
    static constexpr unsigned kPieceShift = 24;   // one shadow piece per 16 MiB
    static constexpr size_t kRegionCount = size_t{1} << (kAddressBits - kRegionShift);
    static constexpr size_t kPiecesPerRegion = size_t{1} << (kRegionShift - kPieceShift);
    static constexpr size_t kPieceBytes = size_t{1} << (kPieceShift - 4);

    // The directory page of 4 GiB: one pointer per 16 MiB. It is nullptr until a block
    // lands there, then its shadow piece, or unmappable() when mapping the piece failed.
    struct Region {
        std::atomic<Shadow*> pieces[kPiecesPerRegion];
    };
    static constexpr uint8_t kShadowSampled = 0x80;
    static constexpr uint8_t kInTable = 0x7f;
    static constexpr size_t kMaxShadowSlack = kInTable - 2;

    static constexpr uint64_t kEmpty = 0;
    static constexpr uint64_t kTombstone = 1;  // key 0 with slack 1: no real block has it
    static constexpr unsigned kKeyShift = 20;  // the key sits above the flag and the slack
    static constexpr uint64_t kSampledBit = uint64_t{1} << 19;
    static constexpr unsigned kSlackBits = 19;
    static constexpr size_t kMaxProbe = 128;

    // Return the shadow byte of `address` from the calling thread's last two pieces, or
    // nullptr when the address is elsewhere or not 16-byte aligned.
    Shadow* cached_shadow(uint64_t address) const {
        const ThreadState& thread = t_thread;
        if (thread.shadow_store_id != id_ || (address & 15) != 0) return nullptr;
        const uint64_t key = address >> kPieceShift;
        if (thread.shadow_piece_key == key) [[likely]] {
            return byte_in_piece(static_cast<Shadow*>(thread.shadow_piece), address);
        }
        if (thread.shadow_other_key == key && thread.shadow_other_piece != nullptr) {
            return byte_in_piece(static_cast<Shadow*>(thread.shadow_other_piece), address);
        }
        return nullptr;
    }

    // Return the shadow byte of `address` in `piece`, the piece that covers it.
    static Shadow* byte_in_piece(Shadow* piece, uint64_t address) {
        return piece + ((address & ((uint64_t{1} << kPieceShift) - 1)) >> 4);
    }

    // Return whether a block at `address` can have an entry: 16-byte aligned, below 2^48.
    static bool trackable_address(uint64_t address) { return (address & 15) == 0 && address < kMaxAddress; }

    // Return the shadow byte of a block with `slack` (at most kMaxShadowSlack).
    static uint8_t shadow_code(size_t slack, bool sampled) {
        return static_cast<uint8_t>((slack + 1) | (sampled ? kShadowSampled : 0));
    }

    // Read the slack and sampled flag from a shadow byte other than 0 and kInTable.
    static void decode_shadow(uint8_t code, size_t& slack, bool& sampled) {
        slack = static_cast<size_t>(code & ~kShadowSampled) - 1;
        sampled = (code & kShadowSampled) != 0;
    }
    // Make `piece`, which covers `address`, the calling thread's last piece, and keep the
    // piece before it as the other one.
    void remember_piece(uint64_t address, Shadow* piece) const;

    bool insert_slow(const void* block, size_t slack, bool sampled, bool& table_full);
    bool take_slow(const void* block, size_t& slack, bool& sampled);

    // Return the shadow byte of an aligned address below 2^48, or nullptr when its piece
    // is not mapped. `tracked` is false when no block of the address's 16 MiB was ever
    // inserted, so the table need not be searched either. shadow_for_insert() maps the
    // directory page and the piece on first use.
    Shadow* shadow_of(uint64_t address, bool& tracked) const;
    Shadow* shadow_for_insert(uint64_t address);

    bool table_insert(uint64_t address, size_t slack, bool sampled, bool& table_full);
    std::atomic<uint64_t>* table_find(uint64_t key) const;
    size_t home_slot(uint64_t key) const;

    // One pointer per 4 GiB of address space. It is nullptr until a block lands there,
    // then its directory page, or unmappable() when mapping the page failed.
    std::atomic<Region*>* regions_ = nullptr;
    // Unique per initialised store, so a thread's remembered piece never outlives its
    // store, even when a later store reuses the address (tests make one per case).
    uint64_t id_ = 0;
    std::atomic<uint64_t>* slots_ = nullptr;
    size_t mask_ = 0;
    unsigned shift_ = 0;
};

}  // namespace routeheap::agent
