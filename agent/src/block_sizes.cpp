// The requested-size table of live malloc blocks.
#include "block_sizes.h"

#include "real_functions.h"

#include <sys/mman.h>

namespace routeheap::agent {

namespace {

constexpr uint64_t kMaxAddress = uint64_t{1} << 48;

}  // namespace

bool BlockSizes::init(uint64_t max_live_blocks) {
    size_t slots = 1024;
    unsigned bits = 10;
    while (slots < max_live_blocks * 2) {
        slots <<= 1;
        ++bits;
    }
    // MAP_NORESERVE: pages are committed as entries land in them.
    void* memory = real().mmap(nullptr, slots * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (memory == MAP_FAILED) return false;
    slots_ = static_cast<std::atomic<uint64_t>*>(memory);
    mask_ = slots - 1;
    shift_ = 64 - bits;
    return true;
}

size_t BlockSizes::home_slot(uint64_t key) const {
    // Fibonacci hashing: the top bits of key * 2^64/phi spread aligned addresses.
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
}

bool BlockSizes::insert(const void* block, size_t slack, bool sampled, bool& table_full) {
    const auto address = reinterpret_cast<uint64_t>(block);
    if ((address & 15) != 0 || address >= kMaxAddress || slack >= (size_t{1} << kSlackBits)) {
        return false;
    }
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

std::atomic<uint64_t>* BlockSizes::find(uint64_t key) const {
    size_t slot = home_slot(key);
    for (size_t probe = 0; probe < kMaxProbe; ++probe, slot = (slot + 1) & mask_) {
        const uint64_t current = slots_[slot].load(std::memory_order_relaxed);
        if (current == kEmpty) return nullptr;
        if (current != kTombstone && (current >> kKeyShift) == key) return &slots_[slot];
    }
    return nullptr;
}

bool BlockSizes::take(const void* block, size_t& slack, bool& sampled) {
    const auto address = reinterpret_cast<uint64_t>(block);
    if ((address & 15) != 0 || address >= kMaxAddress) return false;
    std::atomic<uint64_t>* slot = find(address >> 4);
    if (slot == nullptr) return false;
    // Only the block's owner removes or changes its entry, so plain loads and stores suffice.
    const uint64_t current = slot->load(std::memory_order_relaxed);
    slot->store(kTombstone, std::memory_order_relaxed);
    slack = static_cast<size_t>(current & ((uint64_t{1} << kSlackBits) - 1));
    sampled = (current & kSampledBit) != 0;
    return true;
}

void BlockSizes::clear_sampled(const void* block) {
    const auto address = reinterpret_cast<uint64_t>(block);
    if ((address & 15) != 0 || address >= kMaxAddress) return;
    std::atomic<uint64_t>* slot = find(address >> 4);
    if (slot != nullptr) slot->store(slot->load(std::memory_order_relaxed) & ~kSampledBit, std::memory_order_relaxed);
}

}  // namespace routeheap::agent
