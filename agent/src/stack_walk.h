// Stack capture inside the allocation hooks: call frame information where the code
// has it, frame pointers where it does not (JIT code), libunwind for signal frames.
// No allocation, no agent locks, bounded depth, and every register checked before
// anything is read through it.
#pragma once

#include "frame_rules.h"

#include <cstddef>
#include <cstdint>

namespace routeheap::agent {

// The limits a stack walk obeys. Frame records and saved registers are read only at
// addresses in [low, high - 8], 8-byte aligned, above the current stack pointer and
// at most `max_frame_bytes` above it, so junk in a frame pointer ends the walk
// instead of faulting.
struct WalkLimits {
    uintptr_t low;               // the walk's own frame: no caller frame lies below it
    uintptr_t high;              // end of the thread's stack mapping
    uintptr_t skip_begin;        // return addresses in [skip_begin, skip_end) are the
    uintptr_t skip_end;          // agent's own frames and are left out while leading
    size_t max_frame_bytes;
};

// How the walk steps from a frame to its caller, by the code the frame runs.
enum class StepMethod : uint8_t {
    FrameRecord = 1,  // no call frame information (JIT code, V8 builtins): follow rbp's frame record
    Rule = 2,         // a rule read from the call frame information (frame_rules.h)
    Libunwind = 3,    // call frame information the rule reader does not follow
    SignalFrame = 4,  // a signal return trampoline, stepped by libunwind
    Outermost = 5,    // the first frame of a thread: the walk ends
};

// Finds the step method for the code at `address` (a return address minus 1), and
// its rule when the method is Rule. The FDE lookup is libgcc's, which takes no lock
// and does not allocate on glibc 2.35 or later. x86_64 only.
StepMethod step_method(uintptr_t address, FrameRule& rule);

// Empties the cache of step methods per return address. Call after a module was
// unloaded, since another may be loaded at its addresses.
void forget_step_methods();

// Walks the stack from the frame record at `frame_pointer`: by call frame
// information where the code has it, by frame records where it does not (JIT code),
// and by libunwind for the rest (signal frames). Every step must
// move up the stack within [limits.low, limits.high) and by at most
// limits.max_frame_bytes. Leading return addresses in the skip range are left out.
// Returns the number of return addresses stored, innermost first.
size_t walk_stack(uintptr_t frame_pointer, const WalkLimits& limits, uint64_t* frames, size_t max_frames);

// Finds the agent's own code range, so walks can skip the agent's frames, and runs
// libunwind's and libgcc's one-time set-up. Call once at start-up, outside any hook.
void init_stack_walk();

// Captures the calling thread's stack, starting at the code that called the hooked
// allocation function. Reads the thread's stack bounds from /proc/self/maps with raw
// syscalls on its first call in each thread. Returns the number of frames stored
// (0 when the thread runs on a stack the agent cannot bound, such as a signal stack).
size_t capture_stack(uint64_t* frames, size_t max_frames);

// Finds the mapping of /proc/self/maps that contains `address`, with raw syscalls and
// a stack buffer. `is_main_stack` is set for the line named [stack]. Returns false when
// the file cannot be read or no mapping contains the address.
bool find_mapping(uintptr_t address, uintptr_t& start, uintptr_t& end, bool& is_main_stack);

}  // namespace routeheap::agent
