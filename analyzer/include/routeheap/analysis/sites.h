// Allocation sites: symbolized stack frames, and the sites that held a request's memory
// at its peak with their bytes and share of the peak.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace routeheap::analysis {

// Sites listed per request (requests[].top_sites) and per finding.
inline constexpr size_t kTopSites = 5;

enum class FrameKind { Js, Builtin, Native, Jit };
const char* frame_kind_name(FrameKind kind);

struct Frame {
    uint64_t address = 0;  // the return address as recorded
    FrameKind kind = FrameKind::Native;
    std::string function;  // demangled, without parameters; empty when unknown
    std::string location;  // "file:line", "module+0xoffset", or empty
    std::string module;    // path of the ELF object; empty for JIT code
    bool symbolized = false;  // false when only an address or module offset is known

    // "handler samples/node-routes/server.js:41", "JSON.stringify", "[libfoo.so+0x1a2b]"
    // (a module without a symbol there), "[jit 0x7f...]" (no module or perf map entry).
    std::string label() const;
};

// Whether a frame belongs to the allocator rather than to the code that wanted memory:
// the agent itself, the malloc family, operator new, and the thin wrappers of the C++
// library, Node and V8 around them.
bool is_allocator_frame(const Frame& frame);

// The allocations of one stack (allocator frames removed) live at a request's peak.
struct AllocationSite {
    int64_t bytes = 0;         // live bytes, weighted by the inverse sampling probability
    double share = 0;          // bytes / the peak's live bytes, 0..1
    uint64_t allocations = 0;  // weighted count of the live allocations
    bool estimate = false;     // some allocation was sampled with probability below 1
    std::vector<Frame> frames; // innermost first
};

// Where a request's memory came from, from the sampled allocation stacks.
struct AllocationProfile {
    bool recorded = false;  // the process recorded allocation stacks at all
    bool sampled = false;   // the request's window holds at least one sampled allocation
    uint64_t peak_ns = 0;   // CLOCK_MONOTONIC time of the peak
    int64_t peak_bytes = 0; // live bytes allocated during the request, at the peak
    bool estimate = false;
    std::vector<AllocationSite> sites;  // every site live at the peak, largest first
};

}  // namespace routeheap::analysis
