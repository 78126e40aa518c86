// Call trees of sampled allocations, top-down from the outermost caller or bottom-up from
// the allocating frame, with peak and allocated bytes per node. Also the store of a
// session's allocation stacks that supplies the allocated bytes of any time window.
#pragma once

#include <routeheap/analysis/ids.h>
#include <routeheap/analysis/site_builder.h>
#include <routeheap/analysis/sites.h>
#include <routeheap/analysis/stacks.h>
#include <routeheap/analysis/symbolizer.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace routeheap::analysis {

// The bytes attributed to one stack (allocator frames removed, innermost first).
struct StackWeight {
    std::vector<Frame> frames;
    double peak_bytes = 0;       // live at a request's peak (summed over requests)
    double allocated_bytes = 0;  // allocated inside the windows, weighted by sampling
    double allocations = 0;      // weighted count of those allocations
};

// Peak weights from allocation sites: each site's live bytes at a request's peak.
std::vector<StackWeight> peak_weights(const std::vector<AllocationSite>& sites);

enum class CallTreeOrder {
    TopDown,   // roots are the outermost callers, leaves the allocating frames
    BottomUp,  // roots are the allocating frames, children their callers
};

struct CallTreeNode {
    std::string label;  // Frame::label(); "(all allocations)" for the root
    double peak_bytes = 0;
    double allocated_bytes = 0;
    double allocations = 0;
    size_t parent = 0;              // the root is its own parent
    std::vector<size_t> children;   // largest peak first, then largest allocated
};

// A tree of frame labels; node 0 is the root and sums every stack.
class CallTree {
public:
    static CallTree build(const std::vector<StackWeight>& stacks, CallTreeOrder order);

    const std::vector<CallTreeNode>& nodes() const { return nodes_; }
    const CallTreeNode& root() const { return nodes_.front(); }

private:
    std::vector<CallTreeNode> nodes_;
};

// A time window [start_ns, end_ns] of one process image.
struct ProcessWindow {
    ProcessId pid;
    uint32_t image = 0;
    uint64_t start_ns = 0;
    uint64_t end_ns = 0;
};

// The sampled allocations of every process of a session, kept after reading so the bytes
// allocated in any request, route or time range can be added to a call tree. Only the
// stack table, module map and (time, stack, size) of each allocation are kept; frees
// are not, because the analysis already measured each request's peak. Not thread-safe.
class SessionAllocations {
public:
    SessionAllocations();
    ~SessionAllocations();
    SessionAllocations(const SessionAllocations&) = delete;
    SessionAllocations& operator=(const SessionAllocations&) = delete;

    // A sink that collects one trace's allocations; pass it every record of the trace,
    // then call finish_process. `working_folder` makes JS paths relative (see Symbolizer).
    class ProcessCollector;
    ProcessCollector& begin_process(ProcessId pid, uint32_t image, const std::filesystem::path& trace);
    void finish_process(ProcessCollector& collector);
    void set_working_folder(const std::filesystem::path& folder);

    // Whether any process recorded allocation stacks.
    bool recorded() const;

    // The bytes allocated inside the windows per stack (peak_bytes stays 0). Windows of
    // processes without stacks add nothing.
    std::vector<StackWeight> allocated_in(const std::vector<ProcessWindow>& windows);

private:
    struct Process;
    Process* find(ProcessId pid, uint32_t image);

    std::unique_ptr<Symbolizer> symbolizer_;
    std::vector<std::unique_ptr<Process>> processes_;
    std::vector<std::unique_ptr<ProcessCollector>> collectors_;
};

// Collects one trace's allocation records: stack definitions, modules and the sampling
// configuration into a StackModel, and every sampled allocation with its time.
class SessionAllocations::ProcessCollector : public TraceSink {
public:
    void on_event(const TraceEvent& event) override;

private:
    friend class SessionAllocations;
    struct Allocated {
        uint64_t time_ns = 0;
        uint64_t stack = 0;
        uint64_t size = 0;
        uint16_t flags = 0;
    };
    ProcessId pid_;
    uint32_t image_ = 0;
    std::filesystem::path trace_;
    std::unique_ptr<StackModel> model_ = std::make_unique<StackModel>();
    std::vector<Allocated> allocated_;
};

}  // namespace routeheap::analysis
