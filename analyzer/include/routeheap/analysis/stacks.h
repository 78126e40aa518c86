// The sampled allocations of one process image: sampling weights, allocations and frees
// matched by address, the stack table and the module map, and the replay of a time
// window that finds the moment its weighted live bytes peak and what held them.
#pragma once

#include <routeheap/analysis/reader.h>

#include <compare>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace routeheap::analysis {

// Refers to a StackDefinition of the same trace; 0 is never defined.
struct StackId {
    uint64_t value = 0;
    auto operator<=>(const StackId&) const = default;
};

// How the agent chose the allocations it recorded with a stack.
struct SamplingParameters {
    uint64_t mean_interval_bytes = 1;  // 1: every allocation
    uint64_t always_threshold_bytes = 0;
    uint32_t max_frames = 0;

    // Returns 1/p for an allocation of `size` bytes, where p = 1 - exp(-size / mean) is
    // the probability that the Poisson sampler picked it; 1 for a mean of 1 or less and
    // for allocations flagged kAllocationAlways. Bytes times this is an unbiased estimate.
    double scale(uint64_t size, uint16_t flags) const;
};

// An ELF object mapped into the process, alive from `load_ns` until `unload_ns`.
struct LoadedModule {
    std::string path;
    std::string build_id;  // raw bytes; empty when unknown
    uint64_t load_bias = 0;
    uint64_t start = 0;  // [start, end) in the process's address space
    uint64_t end = 0;
    uint64_t load_ns = 0;
    uint64_t unload_ns = std::numeric_limits<uint64_t>::max();
};

class ModuleMap {
public:
    void load(LoadedModule module);
    // Ends the most recent module loaded at `load_bias` that is still alive.
    void unload(uint64_t load_bias, uint64_t time_ns);

    // The module covering `address` at `time_ns`. When none was alive then, the latest
    // loaded module that ever covered the address (its load or unload record may have
    // been lost with a damaged block); nullptr when no module covered it.
    const LoadedModule* find(uint64_t address, uint64_t time_ns) const;

    const std::vector<LoadedModule>& modules() const { return modules_; }

private:
    std::vector<LoadedModule> modules_;  // in load order
};

// Live bytes held by one stack at the peak of a window.
struct StackBytes {
    StackId stack;
    double bytes = 0;        // weighted estimate
    double allocations = 0;  // weighted estimate of the allocation count
    bool estimate = false;   // some allocation weighed more than 1
    uint64_t time_ns = 0;    // when the first of these allocations was made
};

// What a window held when the weighted live bytes allocated inside it peaked.
struct WindowPeak {
    bool sampled = false;  // the window contains at least one sampled allocation
    uint64_t time_ns = 0;
    double bytes = 0;
    bool estimate = false;
    std::vector<StackBytes> stacks;  // by bytes, largest first
};

// Heap totals over a whole trace: the malloc family and operator new, without committed
// V8 ranges. Weighted like the sites, so they are exact only when every allocation was
// recorded (a sampling mean of 1 byte).
struct HeapTotals {
    double allocations = 0;
    double allocated_bytes = 0;
    double peak_live_bytes = 0;  // highest live bytes of recorded blocks, replayed in time order
    uint64_t peak_ns = 0;
    bool estimate = false;       // some allocation weighed more than 1
};

// Collects the allocation records of one trace. Not thread-safe.
class StackModel : public TraceSink {
public:
    void on_event(const TraceEvent& event) override;

    // Makes room for up to `records` allocation and free records before reading, so a
    // large trace does not copy its events each time the vector grows. Room never filled
    // costs address space only. When the system rejects that much address space, the
    // vector grows as records arrive instead.
    void reserve(size_t records);

    // Sorts the allocations and frees by time. Call once, after the whole trace was read
    // and before peak_in.
    void finish();

    // Replays the allocations and frees inside [start_ns, end_ns] in time order and
    // returns the live set at the moment the weighted bytes allocated inside the window
    // peaked. Blocks allocated before the window do not count, freed or not.
    WindowPeak peak_in(uint64_t start_ns, uint64_t end_ns) const;

    // Totals of every recorded heap allocation and free in the trace. Blocks the agent
    // saw allocated before its recording started are missing, and so are their frees.
    HeapTotals heap_totals() const;

    // The return addresses of a stack, innermost first; nullptr when it was never defined.
    const std::vector<uint64_t>* frames(StackId stack) const;

    const ModuleMap& modules() const { return modules_; }
    const SamplingParameters& sampling() const { return sampling_; }
    bool has_sampling_config() const { return has_sampling_config_; }
    // True when the agent recorded every allocation of at least `size` bytes, so the
    // absence of one in the trace means it did not happen.
    bool records_every_allocation_of(uint64_t size) const;
    // True when a heap allocation of [min_size, max_size] bytes was made in [start_ns, end_ns].
    bool allocated_between(uint64_t min_size, uint64_t max_size, uint64_t start_ns, uint64_t end_ns) const;
    uint64_t allocation_count() const { return allocation_count_; }
    // Stacks that allocations refer to but no StackDefinition defines.
    uint64_t undefined_stacks() const { return undefined_stacks_; }
    // Lines for the report: missing sampling configuration, undefined stacks.
    std::vector<std::string> warnings() const;

private:
    // An allocation (is_free false) or a free, in the order the trace holds them until
    // finish() sorts them by time.
    struct HeapEvent {
        uint64_t time_ns = 0;
        uint64_t address = 0;
        uint64_t size = 0;  // bytes allocated; for a free, bytes of a mapped range released or 0
        StackId stack;
        uint16_t flags = 0;
        uint16_t kind = 0;
        bool is_free = false;
    };
    struct LiveBlock {
        uint64_t size = 0;
        double scale = 1;
        StackId stack;
        uint64_t time_ns = 0;
    };
    // Heap blocks are freed whole by address; committed V8 ranges may be released in
    // parts, so they are kept ordered for overlap queries.
    struct LiveSet {
        std::unordered_map<uint64_t, LiveBlock> blocks;
        std::map<uint64_t, LiveBlock> ranges;
        double bytes = 0;
    };

    // The weight of an allocation, computed when needed rather than stored, because
    // exact-mode traces contain millions of events.
    double scale_of(const HeapEvent& event) const { return sampling_.scale(event.size, event.flags); }
    static void apply(const HeapEvent& event, double scale, LiveSet& live);
    static void sort_by_time(std::vector<HeapEvent>& events);
    static void release_range(uint64_t address, uint64_t size, LiveSet& live);

    std::vector<HeapEvent> events_;
    std::unordered_map<uint64_t, std::vector<uint64_t>> stacks_;
    ModuleMap modules_;
    SamplingParameters sampling_;
    bool has_sampling_config_ = false;
    uint64_t allocation_count_ = 0;
    uint64_t undefined_stacks_ = 0;
    bool finished_ = false;
};

}  // namespace routeheap::analysis
