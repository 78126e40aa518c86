// The agent's options, read once at start from ROUTEHEAP_* environment variables.
// docs/configuration.md documents each variable with its unit and default.
#pragma once

#include <cstddef>
#include <cstdint>

namespace routeheap::agent {

struct Options {
    const char* output_dir = nullptr;        // ROUTEHEAP_OUTPUT_DIR; nullptr records nothing
    uint32_t sample_ms = 10;                 // ROUTEHEAP_SAMPLE_MS: while requests are open or starting
    uint32_t idle_sample_ms = 1000;          // ROUTEHEAP_IDLE_SAMPLE_MS: otherwise
    uint32_t flush_ms = 50;                  // ROUTEHEAP_FLUSH_MS
    uint32_t buffer_kb = 1024;               // ROUTEHEAP_BUFFER_KB: per-thread record buffer
    uint64_t max_live_blocks = 1u << 20;     // ROUTEHEAP_MAX_LIVE_BLOCKS
    uint64_t sample_bytes = 262144;          // ROUTEHEAP_SAMPLE_BYTES: mean bytes between sampled allocations
    uint64_t always_bytes = 1u << 20;        // ROUTEHEAP_ALWAYS_BYTES: allocations this large always get a stack
    uint32_t max_frames = 64;                // ROUTEHEAP_MAX_FRAMES: frames kept per stack
    uint64_t max_stacks = 262144;            // ROUTEHEAP_MAX_STACKS: distinct stacks per trace
    bool disable = false;                    // ROUTEHEAP_DISABLE
    bool quiet = false;                      // ROUTEHEAP_QUIET
};

// Valid after load_options(); defaults before.
const Options& options();

// Reads the environment with getenv (which does not allocate) and logs each invalid
// value once, naming the variable, the value and the default used instead.
void load_options();

}  // namespace routeheap::agent
