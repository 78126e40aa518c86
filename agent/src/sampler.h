// The choice of allocations that get a stack: a Poisson sample over allocated bytes,
// plus every allocation at or above a size threshold. The exact counters do not
// depend on it.
#pragma once

#include "thread_state.h"

#include <cstddef>
#include <cstdint>

namespace routeheap::agent {

struct SamplingParameters {
    uint64_t mean_interval_bytes = 262144;  // ROUTEHEAP_SAMPLE_BYTES; 1 samples every allocation
    uint64_t always_threshold_bytes = 1 << 20;  // ROUTEHEAP_ALWAYS_BYTES
};

// Set once at start-up, before any thread samples.
void set_sampling_parameters(const SamplingParameters& parameters);
const SamplingParameters& sampling_parameters();

// The slow path of should_sample(): draws the calling thread's next countdown.
// Returns whether the allocation that ran the countdown out is sampled.
bool sample_after_countdown(ThreadState& thread, size_t size);

// Decides whether an allocation of `size` bytes gets a stack, and sets `flags` to
// trace::kAllocationAlways when the size alone decided it. The countdown of bytes to
// the next sample is drawn from an exponential distribution with the mean interval,
// so an allocation of s bytes is sampled with probability 1 - exp(-s / mean).
// Costs one subtraction and one branch per unsampled allocation.
inline bool should_sample(size_t size, uint16_t& flags) {
    const SamplingParameters& parameters = sampling_parameters();
    if (size >= parameters.always_threshold_bytes) {
        flags = 1;  // trace::kAllocationAlways
        return true;
    }
    flags = 0;
    if (parameters.mean_interval_bytes <= 1) return true;
    ThreadState& thread = t_thread;
    thread.bytes_until_sample -= static_cast<int64_t>(size);
    if (thread.bytes_until_sample > 0) [[likely]] return false;
    return sample_after_countdown(thread, size);
}

// Draws an exponential variate with mean `mean` from `state` (xorshift64*), at least 1.
int64_t draw_exponential(uint64_t& state, uint64_t mean);

}  // namespace routeheap::agent
