// The requested sizes of live malloc blocks: shadow bytes and the large-slack table.
#include "block_sizes.h"

#include "real_functions.h"
#include "thread_state.h"

#include <sys/mman.h>

namespace routeheap::agent {

namespace {

// Marks a directory entry whose page or piece could not be mapped; its blocks use the table.
template <typename T>
T* unmappable() {
    return reinterpret_cast<T*>(uintptr_t{1});
}

void* map_reserved(size_t bytes) {
    // MAP_NORESERVE: pages are committed as entries land in them.
    void* memory =
        real().mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return memory == MAP_FAILED ? nullptr : memory;
}

// Installs a newly mapped `bytes`-long T in an empty directory entry, or unmappable<T>()
// when the mapping fails, and returns the entry's value afterwards. The loser of a race
// unmaps its own mapping.
template <typename T>
T* install(std::atomic<T*>& entry, size_t bytes) {
    ErrnoSaver errno_saver;  // the allocation hooks leave errno to this slow path
    void* memory = map_reserved(bytes);
    T* mapped = memory == nullptr ? unmappable<T>() : static_cast<T*>(memory);
    T* current = nullptr;
    if (entry.compare_exchange_strong(current, mapped, std::memory_order_acq_rel)) return mapped;
    if (memory != nullptr) real().munmap(memory, bytes);
    return current;
}

}  // namespace

bool BlockSizes::init(uint64_t max_live_blocks) {
    size_t slots = 1024;
    unsigned bits = 10;
    while (slots < max_live_blocks * 2) {
        slots <<= 1;
        ++bits;
    }
    void* regions = map_reserved(kRegionCount * sizeof(std::atomic<Region*>));
    if (regions == nullptr) return false;
    void* table = map_reserved(slots * sizeof(uint64_t));
    if (table == nullptr) {
        real().munmap(regions, kRegionCount * sizeof(std::atomic<Region*>));
        return false;
    }
    static std::atomic<uint64_t> next_id{1};
    id_ = next_id.fetch_add(1, std::memory_order_relaxed);
    regions_ = static_cast<std::atomic<Region*>*>(regions);
    slots_ = static_cast<std::atomic<uint64_t>*>(table);
    mask_ = slots - 1;
    shift_ = 64 - bits;
    return true;
}

BlockSizes::Shadow* BlockSizes::shadow_of(uint64_t address, bool& tracked) const {
    const Region* region = regions_[address >> kRegionShift].load(std::memory_order_acquire);
    if (region == nullptr || region == unmappable<Region>()) {
        tracked = region != nullptr;
        return nullptr;
    }
    Shadow* piece = region->pieces[(address >> kPieceShift) & (kPiecesPerRegion - 1)].load(std::memory_order_acquire);
    if (piece == nullptr || piece == unmappable<Shadow>()) {
        tracked = piece != nullptr;
        return nullptr;
    }
    tracked = true;
    remember_piece(address, piece);
    return byte_in_piece(piece, address);
}

void BlockSizes::remember_piece(uint64_t address, Shadow* piece) const {
    ThreadState& thread = t_thread;
    const uint64_t key = address >> kPieceShift;
    if (thread.shadow_store_id != id_) {
        thread.shadow_other_piece = nullptr;  // a piece of another store
    } else if (thread.shadow_piece != nullptr && thread.shadow_piece_key != key) {
        thread.shadow_other_key = thread.shadow_piece_key;
        thread.shadow_other_piece = thread.shadow_piece;
    }
    thread.shadow_store_id = id_;
    thread.shadow_piece_key = key;
    thread.shadow_piece = piece;
}

BlockSizes::Shadow* BlockSizes::shadow_for_insert(uint64_t address) {
    std::atomic<Region*>& region_entry = regions_[address >> kRegionShift];
    Region* region = region_entry.load(std::memory_order_acquire);
    if (region == nullptr) [[unlikely]] region = install(region_entry, sizeof(Region));
    if (region == unmappable<Region>()) return nullptr;

    std::atomic<Shadow*>& piece_entry = region->pieces[(address >> kPieceShift) & (kPiecesPerRegion - 1)];
    Shadow* piece = piece_entry.load(std::memory_order_acquire);
    if (piece == nullptr) [[unlikely]] piece = install(piece_entry, kPieceBytes);
    if (piece == unmappable<Shadow>()) return nullptr;
    remember_piece(address, piece);
    return byte_in_piece(piece, address);
}

bool BlockSizes::insert_slow(const void* block, size_t slack, bool sampled, bool& table_full) {
    const auto address = reinterpret_cast<uint64_t>(block);
    if (!trackable_address(address) || slack >= (size_t{1} << kSlackBits)) return false;
    Shadow* shadow = shadow_for_insert(address);
    if (shadow != nullptr && slack <= kMaxShadowSlack) {
        shadow->store(shadow_code(slack, sampled), std::memory_order_relaxed);
        return true;
    }
    if (!table_insert(address, slack, sampled, table_full)) return false;
    if (shadow != nullptr) shadow->store(kInTable, std::memory_order_relaxed);
    return true;
}

bool BlockSizes::take_slow(const void* block, size_t& slack, bool& sampled) {
    const auto address = reinterpret_cast<uint64_t>(block);
    if (!trackable_address(address)) return false;
    bool tracked = false;
    Shadow* shadow = shadow_of(address, tracked);
    if (!tracked) return false;
    if (shadow != nullptr) {
        // Only the block's owner writes its byte, so a plain load and store suffice.
        const uint8_t code = shadow->load(std::memory_order_relaxed);
        if (code == 0) return false;
        shadow->store(0, std::memory_order_relaxed);
        if (code != kInTable) {
            decode_shadow(code, slack, sampled);
            return true;
        }
    }
    std::atomic<uint64_t>* slot = table_find(address >> 4);
    if (slot == nullptr) return false;
    const uint64_t current = slot->load(std::memory_order_relaxed);
    slot->store(kTombstone, std::memory_order_relaxed);
    slack = static_cast<size_t>(current & ((uint64_t{1} << kSlackBits) - 1));
    sampled = (current & kSampledBit) != 0;
    return true;
}

void BlockSizes::clear_sampled(const void* block) {
    const auto address = reinterpret_cast<uint64_t>(block);
    if (!trackable_address(address)) return;
    bool tracked = false;
    Shadow* shadow = shadow_of(address, tracked);
    if (!tracked) return;
    if (shadow != nullptr) {
        const uint8_t code = shadow->load(std::memory_order_relaxed);
        if (code != kInTable) {
            shadow->store(code & ~kShadowSampled, std::memory_order_relaxed);
            return;
        }
    }
    std::atomic<uint64_t>* slot = table_find(address >> 4);
    if (slot != nullptr) slot->store(slot->load(std::memory_order_relaxed) & ~kSampledBit, std::memory_order_relaxed);
}

size_t BlockSizes::home_slot(uint64_t key) const {
    // Fibonacci hashing: the top bits of key * 2^64/phi spread aligned addresses.
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
}

bool BlockSizes::table_insert(uint64_t address, size_t slack, bool sampled, bool& table_full) {
    const uint64_t key = address >> 4;
    const uint64_t entry = (key << kKeyShift) | (sampled ? kSampledBit : 0) | slack;
    size_t slot = home_slot(key);
    for (size_t probe = 0; probe < kMaxProbe; ++probe, slot = (slot + 1) & mask_) {
        uint64_t current = slots_[slot].load(std::memory_order_relaxed);
        while (current == kEmpty || current == kTombstone) {
            if (slots_[slot].compare_exchange_weak(current, entry, std::memory_order_relaxed)) return true;
        }
    }
    table_full = true;
    return false;
}

std::atomic<uint64_t>* BlockSizes::table_find(uint64_t key) const {
    size_t slot = home_slot(key);
    for (size_t probe = 0; probe < kMaxProbe; ++probe, slot = (slot + 1) & mask_) {
        const uint64_t current = slots_[slot].load(std::memory_order_relaxed);
        if (current == kEmpty) return nullptr;
        if (current != kTombstone && (current >> kKeyShift) == key) return &slots_[slot];
    }
    return nullptr;
}

}  // namespace routeheap::agent
