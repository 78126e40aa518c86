// Turns a window's peak (live bytes per stack id) into symbolized allocation sites for
// one process, with the allocator frames removed and equal stacks merged.
#pragma once

#include <routeheap/analysis/sites.h>
#include <routeheap/analysis/stacks.h>
#include <routeheap/analysis/symbolizer.h>

#include <unordered_map>
#include <vector>

namespace routeheap::analysis {

// Symbolizes the stacks of one process once each and builds request profiles from them.
// Not thread-safe.
class SiteBuilder {
public:
    // `perf_map` may be null when the process left none.
    SiteBuilder(const StackModel& model, Symbolizer& symbolizer, const PerfMap* perf_map);

    // The profile of [start_ns, end_ns]: every site live at the window's peak.
    AllocationProfile profile(uint64_t start_ns, uint64_t end_ns);

    // The frames of a stack with the allocator frames at its innermost end removed,
    // symbolized against the modules loaded at `time_ns`.
    const std::vector<Frame>& user_frames(StackId stack, uint64_t time_ns);

private:
    const StackModel& model_;
    Symbolizer& symbolizer_;
    const PerfMap* perf_map_;
    std::unordered_map<uint64_t, std::vector<Frame>> stacks_;
};

}  // namespace routeheap::analysis
