// The gate's view of a recorded session: the judged requests and the heap each one left
// behind, measured on the memory timeline of its process.
#include <routeheap/analysis/analysis.h>
#include <routeheap/analysis/gate.h>

#include <algorithm>

namespace routeheap::analysis {

namespace {

int64_t heap_bytes(const MemorySample& sample) {
    return sample.native_live_bytes + sample.v8_committed_bytes;
}

// Returns the heap at the first sample at or after the request's end minus the heap at the
// last sample at or before its start. Returns nothing when either sample is missing.
std::optional<int64_t> retained_growth(const std::vector<MemorySample>& timeline, const Request& request) {
    const auto after_start = std::upper_bound(timeline.begin(), timeline.end(), request.start_ns,
                                              [](uint64_t time, const MemorySample& sample) { return time < sample.time_ns; });
    if (after_start == timeline.begin() || request.end_ns == 0) return std::nullopt;
    const auto at_end = std::lower_bound(timeline.begin(), timeline.end(), request.end_ns,
                                         [](const MemorySample& sample, uint64_t time) { return sample.time_ns < time; });
    if (at_end == timeline.end()) return std::nullopt;
    return heap_bytes(*at_end) - heap_bytes(*std::prev(after_start));
}

std::vector<MemorySample> read_timeline(const std::filesystem::path& trace) {
    TraceReader reader(trace);
    reader.load_header(true);
    ProcessModel model(*reader.header());
    reader.read_available(model, true);
    return model.timeline();
}

}  // namespace

std::vector<GateRequest> collect_gate_requests(const SessionAnalysis& analysis, uint64_t judged_from_ns) {
    std::vector<GateRequest> judged;
    for (const ProcessReport& process : analysis.processes) {
        const auto in_process = [&](const Request& request) {
            return request.id.pid == process.pid && request.id.image == process.image && request.start_ns >= judged_from_ns;
        };
        if (std::none_of(analysis.requests.begin(), analysis.requests.end(), in_process)) continue;

        std::vector<MemorySample> timeline;
        try {
            timeline = read_timeline(process.trace);
        } catch (const TraceError&) {
            // The analysis already read this trace and listed its damage as a warning;
            // its requests are still judged, without retained growth.
        }
        for (const Request& request : analysis.requests) {
            if (in_process(request)) judged.push_back({request, retained_growth(timeline, request)});
        }
    }
    std::sort(judged.begin(), judged.end(),
              [](const GateRequest& a, const GateRequest& b) { return a.request.start_ns < b.request.start_ns; });
    return judged;
}

}  // namespace routeheap::analysis
