// Frame-pointer unwinding inside the allocation hooks: no allocation, no locks, no
// loader calls, bounded depth, and every frame pointer checked before it is read.
#pragma once

#include <cstddef>
#include <cstdint>

namespace routeheap::agent {

// The limits a frame-pointer walk obeys. Frame records are read only at addresses in
// [low, high - 16], 8-byte aligned, strictly increasing and at most
// `max_frame_bytes` apart, so junk in a frame pointer ends the walk instead of
// faulting.
struct WalkLimits {
    uintptr_t low;               // the walk's own frame: no caller frame lies below it
    uintptr_t high;              // end of the thread's stack mapping
    uintptr_t skip_begin;        // return addresses in [skip_begin, skip_end) are the
    uintptr_t skip_end;          // agent's own frames and are left out while leading
    size_t max_frame_bytes;
};

// Follows the frame-record chain from `frame_pointer` (x86_64 rbp, aarch64 x29: the
// record holds the caller's frame pointer, then the return address) and stores up to
// `max_frames` return addresses, innermost first. Returns how many were stored.
size_t walk_frame_pointers(uintptr_t frame_pointer, const WalkLimits& limits, uint64_t* frames,
                           size_t max_frames);

// Finds the agent's own code range, so walks can skip the agent's frames. Call once
// at start-up, outside any hook.
void init_stack_walk();

// Captures the calling thread's stack, starting at the code that called the hooked
// allocation function. Reads the thread's stack bounds from /proc/self/maps with raw
// syscalls on its first call in each thread. Returns the number of frames stored
// (0 when the thread runs on a stack the agent cannot bound, such as a signal stack).
// NOTE: there is no libunwind fallback yet. A caller without a frame pointer (parts
// of glibc and libstdc++) loses its own caller's frame, or ends the stack early when
// it uses rbp as a general register.
size_t capture_stack(uint64_t* frames, size_t max_frames);

// Finds the mapping of /proc/self/maps that contains `address`, with raw syscalls and
// a stack buffer. `is_main_stack` is set for the line named [stack]. Returns false when
// the file cannot be read or no mapping contains the address.
bool find_mapping(uintptr_t address, uintptr_t& start, uintptr_t& end, bool& is_main_stack);

}  // namespace routeheap::agent
