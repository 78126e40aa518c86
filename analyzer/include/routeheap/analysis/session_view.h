// Everything a viewer shows of one session, loaded in stages: a quick timeline preview
// from the block index, then the full timeline with allocation stacks, then the analysis
// the reports print. Also reads a report JSON back, and the selections a viewer makes.
#pragma once

#include <routeheap/analysis/analysis.h>
#include <routeheap/analysis/call_tree.h>
#include <routeheap/analysis/timeline.h>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace routeheap::analysis {

// Blocks decoded per trace for the preview: a few hundred 1 MiB blocks decode in well
// under a second and show the shape of a session of any size.
inline constexpr size_t kPreviewBlocksPerTrace = 256;

// A report JSON that cannot be read: not JSON, another schema, or a missing field.
class ReportFileError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct SessionView {
    std::filesystem::path path;
    // Opened from a report JSON: requests, routes and findings only, with no memory
    // points, no body progress and no allocation stacks.
    bool from_report = false;
    SessionTimeline timeline;
    SessionAnalysis analysis;
    std::unique_ptr<SessionAllocations> allocations;  // null when opened from a report
};

// Receives the stages of load_session_view, on the loading thread.
class SessionLoadObserver {
public:
    virtual ~SessionLoadObserver() = default;
    // The quick timeline, once, before the full read starts (not for a report JSON).
    virtual void on_preview(const SessionTimeline& preview) = 0;
    // `fraction` of the whole load done, 0 to 1, with what is being done. May throw to
    // cancel the load; the exception leaves load_session_view.
    virtual void on_progress(const std::string& stage, double fraction) = 0;
};

// Loads a session folder, a single trace or a report JSON (a file ending in .json).
// Throws SessionError, TraceError or ReportFileError with a message naming the input
// and the fix when it cannot be read.
std::unique_ptr<SessionView> load_session_view(const std::filesystem::path& path, SessionLoadObserver& observer);

// Reads a report written by `routeheap report --format json` back into an analysis.
// Request times stay relative to the report's origin (origin_ns is 0).
SessionAnalysis read_report_json(const std::filesystem::path& path);

// The finding with the highest confidence (the first of equals), or nullptr.
const Finding* worst_finding(const Request& request);
const RouteFinding* worst_finding(const RouteSummary& route);

// Whether a request belongs to the route: same method and route.
bool in_route(const Request& request, const RouteSummary& route);

// The windows of the requests of `route`, and of one request, for call trees.
std::vector<ProcessWindow> route_windows(const SessionAnalysis& analysis, const RouteSummary& route);
ProcessWindow request_window(const Request& request);
// One window per process over [from_ns, to_ns].
std::vector<ProcessWindow> range_windows(const SessionAnalysis& analysis, uint64_t from_ns, uint64_t to_ns);

// The stacks of a selection for its call tree: the peaks of `requests` (indices into
// view.analysis.requests, summed per stack) and the bytes allocated inside `windows`.
// Empty when the view has no allocation stacks.
std::vector<StackWeight> selection_weights(SessionView& view, const std::vector<size_t>& requests,
                                           const std::vector<ProcessWindow>& windows);

// Indices of the requests that overlap [from_ns, to_ns].
std::vector<size_t> requests_in_range(const SessionAnalysis& analysis, uint64_t from_ns, uint64_t to_ns);

// Routes summarised from only the requests that overlap [from_ns, to_ns].
std::vector<RouteSummary> routes_in_range(const SessionAnalysis& analysis, uint64_t from_ns, uint64_t to_ns);

// Memory growth over a request: native + V8 committed minus their value at the
// request's start, at each point of its process inside the request's window.
std::vector<std::pair<uint64_t, int64_t>> request_growth(const SessionTimeline& timeline, const Request& request);

}  // namespace routeheap::analysis
