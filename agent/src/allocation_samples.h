// The records of sampled allocations: SamplingConfig, Allocation with its stack, the
// StackDefinition of each new stack, and Free for sampled blocks.
//
// Thread-safety: every function may run on any hooked thread concurrently. None of
// them allocates, locks or leaves the agent except for clock_gettime and, on a
// thread's first stack capture, a raw read of /proc/self/maps.
#pragma once

#include <routeheap/trace_format.h>

#include <cstddef>
#include <cstdint>

namespace routeheap::agent {

// The maximum number of frames per stack (the upper bound of ROUTEHEAP_MAX_FRAMES).
inline constexpr uint32_t kMaxFramesLimit = 256;

// Maps the stack table and sets the sampling parameters from the options. Returns
// false when the table cannot be mapped; allocations are then not sampled.
bool init_allocation_samples();

// True once init_allocation_samples() succeeded.
bool allocation_sampling_ready();

// Writes the SamplingConfig record; once at the start of every trace.
void write_sampling_config();

// Captures the calling thread's stack and writes the Allocation (and the stack's
// StackDefinition when the stack is new). Returns false when the Allocation could
// not be written, so the block must not be marked sampled.
bool record_sampled_allocation(trace::AllocationKind kind, uint16_t flags, const void* block, size_t size);

// Writes the Free of a sampled block; `time_ns` is taken before the real release.
void record_sampled_free(const void* block, uint64_t time_ns);

// Writes the Free of `size` bytes at `start` released from a sampled commit (an
// Allocation of kind V8Commit), which may be part of the committed range.
void record_sampled_release(const void* start, uint64_t size, uint64_t time_ns);

// In a forked child: clears the stack table, since the child's trace starts empty.
void allocation_samples_after_fork_child();

}  // namespace routeheap::agent
