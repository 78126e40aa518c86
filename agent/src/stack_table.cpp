// Deduplication of captured stacks.
#include "stack_table.h"

#include "real_functions.h"

#include <sys/mman.h>

#include <cstring>

namespace routeheap::agent {

namespace {

constexpr uint64_t kReadyBit = uint64_t{1} << 63;

uint64_t hash_frames(const uint64_t* frames, uint32_t count) {
    uint64_t hash = 0x84222325CBF29CE4ull ^ count;
    for (uint32_t i = 0; i < count; ++i) {
        hash ^= frames[i];
        hash *= 0x9E3779B97F4A7C15ull;
        hash ^= hash >> 29;
    }
    return hash | kReadyBit;
}

void* map_table(size_t bytes) {
    // MAP_NORESERVE: pages are committed only as stacks land in them.
    void* memory = real().mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                               -1, 0);
    return memory == MAP_FAILED ? nullptr : memory;
}

}  // namespace

bool StackTable::init(uint64_t max_stacks, uint32_t average_frames) {
    size_t slots = 1024;
    while (slots < max_stacks * 2) slots <<= 1;
    slots_ = static_cast<Slot*>(map_table(slots * sizeof(Slot)));
    arena_frames_ = static_cast<size_t>(max_stacks) * average_frames;
    arena_ = static_cast<uint64_t*>(map_table(arena_frames_ * sizeof(uint64_t)));
    if (slots_ == nullptr || arena_ == nullptr) return false;
    slot_count_ = slots;
    return true;
}

bool StackTable::matches(const Slot& slot, const uint64_t* frames, uint32_t count) const {
    return slot.frame_count == count && std::memcmp(arena_ + slot.frame_offset, frames, count * sizeof(uint64_t)) == 0;
}

uint64_t StackTable::claim_written(Slot& slot, uint64_t id, bool& write_definition) {
    uint32_t expected = 0;
    write_definition = slot.written.load(std::memory_order_relaxed) == 0 &&
                       slot.written.compare_exchange_strong(expected, 1, std::memory_order_relaxed);
    return id;
}

uint64_t StackTable::intern(const uint64_t* frames, uint32_t count, bool& write_definition) {
    write_definition = false;
    if (slots_ == nullptr) return kOverflowStackId;
    const uint64_t hash = hash_frames(frames, count);
    const size_t mask = slot_count_ - 1;

    size_t index = static_cast<size_t>(hash * 0x9E3779B97F4A7C15ull >> 20) & mask;
    for (size_t probe = 0; probe < kMaxProbe; ++probe, index = (index + 1) & mask) {
        Slot& slot = slots_[index];
        uint64_t tag = slot.tag.load(std::memory_order_acquire);
        if (tag == 0 && slot.tag.compare_exchange_strong(tag, kBusy, std::memory_order_acquire)) {
            const size_t offset = arena_used_.fetch_add(count, std::memory_order_relaxed);
            if (offset + count > arena_frames_) {
                slot.tag.store(kDead, std::memory_order_release);
                return kOverflowStackId;
            }
            std::memcpy(arena_ + offset, frames, count * sizeof(uint64_t));
            slot.frame_offset = offset;
            slot.frame_count = count;
            slot.written.store(1, std::memory_order_relaxed);
            slot.tag.store(hash, std::memory_order_release);
            write_definition = true;
            return index + 1;
        }
        // A failed claim left the slot's current tag in `tag`.
        if (tag == hash && matches(slot, frames, count)) return claim_written(slot, index + 1, write_definition);
    }
    return kOverflowStackId;
}

void StackTable::mark_unwritten(uint64_t id) {
    if (id == 0 || id > slot_count_) return;
    slots_[id - 1].written.store(0, std::memory_order_relaxed);
}

bool StackTable::claim_overflow_definition() {
    if (overflow_written_.load(std::memory_order_relaxed)) return false;
    return !overflow_written_.exchange(true, std::memory_order_relaxed);
}

void StackTable::reset_after_fork_child() {
    if (slots_ == nullptr) return;
    // MADV_DONTNEED gives private anonymous pages back as zeros: every slot empty.
    real().madvise(slots_, slot_count_ * sizeof(Slot), MADV_DONTNEED);
    arena_used_.store(0, std::memory_order_relaxed);
    overflow_written_.store(false, std::memory_order_relaxed);
}

}  // namespace routeheap::agent
