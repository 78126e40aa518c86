// Per-thread exponential countdowns for the Poisson sample of allocations by bytes.
#include "sampler.h"

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmath>

namespace routeheap::agent {

namespace {

SamplingParameters g_parameters;

uint64_t splitmix64(uint64_t value) {
    value += 0x9E3779B97F4A7C15ull;
    value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9ull;
    value = (value ^ (value >> 27)) * 0x94D049BB133111EBull;
    return value ^ (value >> 31);
}

// Seeds from the thread id, the clock and the TLS address, so threads and processes
// draw different sequences. Never returns 0, the generator's fixed point.
uint64_t seed_for_thread(const ThreadState& thread) {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t seed = static_cast<uint64_t>(syscall(SYS_gettid));
    seed ^= static_cast<uint64_t>(now.tv_nsec) << 20 ^ static_cast<uint64_t>(now.tv_sec);
    seed ^= reinterpret_cast<uintptr_t>(&thread);
    seed = splitmix64(seed);
    return seed == 0 ? 1 : seed;
}

}  // namespace

void set_sampling_parameters(const SamplingParameters& parameters) { g_parameters = parameters; }

const SamplingParameters& sampling_parameters() { return g_parameters; }

int64_t draw_exponential(uint64_t& state, uint64_t mean) {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    const uint64_t bits = state * 0x2545F4914F6CDD1Dull;
    // A uniform value in (0, 1] from the top 53 bits.
    const double uniform = static_cast<double>((bits >> 11) + 1) * 0x1.0p-53;
    const double value = -std::log(uniform) * static_cast<double>(mean);
    if (value < 1.0) return 1;
    if (value > 9.0e18) return INT64_MAX;
    return static_cast<int64_t>(value);
}

bool sample_after_countdown(ThreadState& thread, size_t size) {
    ErrnoSaver errno_saver;  // the allocation hooks leave errno to this slow path
    const uint64_t mean = g_parameters.mean_interval_bytes;
    if (thread.random_state == 0) {
        // First allocation of this thread: the countdown was never drawn.
        thread.random_state = seed_for_thread(thread);
        thread.bytes_until_sample = draw_exponential(thread.random_state, mean) - static_cast<int64_t>(size);
        if (thread.bytes_until_sample > 0) return false;
    }
    // The countdown ran out inside this allocation. Exponential gaps are memoryless, so
    // a fresh draw keeps every later allocation's probability at 1 - exp(-s / mean).
    thread.bytes_until_sample = draw_exponential(thread.random_state, mean);
    return true;
}

}  // namespace routeheap::agent
