// Staged loading of a session for viewers, and the selections they make: routes,
// requests and time ranges turned into request lists, windows and growth series.
#include <routeheap/analysis/session_view.h>

#include <routeheap/analysis/report.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <limits>

namespace routeheap::analysis {

namespace {

// Passes each record to the timeline and to the allocation store.
class ViewSinks : public TraceSink {
public:
    ViewSinks(TimelineCollector& timeline, TraceSink& allocations) : timeline_(timeline), allocations_(allocations) {}
    void on_event(const TraceEvent& event) override {
        timeline_.on_event(event);
        allocations_.on_event(event);
    }

private:
    TimelineCollector& timeline_;
    TraceSink& allocations_;
};

// Turns per-trace byte offsets into a fraction of the whole load: the full read covers
// [0, 0.5) and the analysis [0.5, 1), because both read every byte once.
class StageProgress : public ReadProgress {
public:
    StageProgress(SessionLoadObserver& observer, std::string stage, double base, uint64_t total_bytes)
        : observer_(observer), stage_(std::move(stage)), base_(base), total_bytes_(std::max<uint64_t>(1, total_bytes)) {}

    void on_progress(const std::filesystem::path& trace, uint64_t bytes_read, uint64_t) override {
        if (trace != current_) {
            done_bytes_ += current_bytes_;
            current_ = trace;
        }
        current_bytes_ = bytes_read;
        const double fraction = static_cast<double>(done_bytes_ + current_bytes_) / static_cast<double>(total_bytes_);
        observer_.on_progress(stage_, base_ + 0.5 * std::min(1.0, fraction));
    }

private:
    SessionLoadObserver& observer_;
    std::string stage_;
    double base_;
    uint64_t total_bytes_;
    std::filesystem::path current_;
    uint64_t current_bytes_ = 0;
    uint64_t done_bytes_ = 0;
};

uint64_t total_trace_bytes(const Session& session) {
    uint64_t total = 0;
    for (const auto& trace : session.traces) {
        std::error_code error;
        const auto size = std::filesystem::file_size(trace, error);
        if (!error) total += size;
    }
    return total;
}

std::filesystem::path working_folder(const Session& session) {
    if (!session.metadata) return {};
    const auto found = session.metadata->find("working_folder");
    if (found == session.metadata->end() || !found->is_string()) return {};
    return found->get<std::string>();
}

// Reads every trace once into the full timeline and the allocation store. Unreadable
// traces are left to analyze_session, which reports them.
void read_full(const Session& session, SessionView& view, SessionLoadObserver& observer) {
    StageProgress progress(observer, "Reading traces", 0.0, total_trace_bytes(session));
    ScopedReadProgress scope(progress);
    view.allocations->set_working_folder(working_folder(session));
    for (const auto& path : session.traces) {
        try {
            TraceReader reader(path);
            reader.load_header(true);
            const TraceHeader& header = *reader.header();
            ProcessTimeline process;
            process.pid = header.pid;
            process.image = header.image;
            process.trace = path;
            TimelineCollector timeline(process, true);
            auto& allocations = view.allocations->begin_process(header.pid, header.image, path);
            ViewSinks sinks(timeline, allocations);
            reader.read_available(sinks, true);
            timeline.finish();
            view.allocations->finish_process(allocations);
            process.blocks = reader.summary().blocks_read;
            process.blocks_read = process.blocks;
            view.timeline.processes.push_back(std::move(process));
        } catch (const TraceError&) {
            continue;
        }
    }
    update_time_bounds(view.timeline);
}

bool is_report_file(const std::filesystem::path& path) {
    std::error_code error;
    return path.extension() == ".json" && std::filesystem::is_regular_file(path, error);
}

// The timeline of a report: request spans only, one process per pid and image.
SessionTimeline report_timeline(const SessionAnalysis& analysis) {
    SessionTimeline timeline;
    for (const Request& request : analysis.requests) {
        auto process = std::find_if(timeline.processes.begin(), timeline.processes.end(), [&](const ProcessTimeline& p) {
            return p.pid == request.id.pid && p.image == request.id.image;
        });
        if (process == timeline.processes.end()) {
            timeline.processes.emplace_back();
            process = std::prev(timeline.processes.end());
            process->pid = request.id.pid;
            process->image = request.id.image;
        }
        process->spans.push_back(RequestSpan{request.id, request.method, request.path, request.start_ns, request.end_ns});
    }
    update_time_bounds(timeline);
    return timeline;
}

}  // namespace

std::unique_ptr<SessionView> load_session_view(const std::filesystem::path& path, SessionLoadObserver& observer) {
    auto view = std::make_unique<SessionView>();
    view->path = path;
    if (is_report_file(path)) {
        observer.on_progress("Reading report", 0.0);
        view->from_report = true;
        view->analysis = read_report_json(path);
        view->timeline = report_timeline(view->analysis);
        observer.on_progress("Reading report", 1.0);
        return view;
    }

    const Session session = open_session(path);
    observer.on_progress("Reading block index", 0.0);
    observer.on_preview(load_timeline_preview(session, kPreviewBlocksPerTrace));

    view->allocations = std::make_unique<SessionAllocations>();
    read_full(session, *view, observer);

    StageProgress progress(observer, "Analysing requests", 0.5, total_trace_bytes(session));
    ScopedReadProgress scope(progress);
    view->analysis = analyze_session(session);
    observer.on_progress("Done", 1.0);
    return view;
}

const Finding* worst_finding(const Request& request) {
    const Finding* worst = nullptr;
    for (const Finding& finding : request.findings) {
        if (worst == nullptr || finding.confidence > worst->confidence) worst = &finding;
    }
    return worst;
}

const RouteFinding* worst_finding(const RouteSummary& route) {
    const RouteFinding* worst = nullptr;
    for (const RouteFinding& finding : route.findings) {
        if (worst == nullptr || finding.worst.confidence > worst->worst.confidence) worst = &finding;
    }
    return worst;
}

bool in_route(const Request& request, const RouteSummary& route) {
    return request.method == route.method && request.route == route.route;
}

ProcessWindow request_window(const Request& request) {
    const uint64_t end = request.end_ns > request.start_ns ? request.end_ns : std::numeric_limits<uint64_t>::max();
    return ProcessWindow{request.id.pid, request.id.image, request.start_ns, end};
}

std::vector<ProcessWindow> route_windows(const SessionAnalysis& analysis, const RouteSummary& route) {
    std::vector<ProcessWindow> windows;
    for (const Request& request : analysis.requests) {
        if (in_route(request, route)) windows.push_back(request_window(request));
    }
    return windows;
}

std::vector<ProcessWindow> range_windows(const SessionAnalysis& analysis, uint64_t from_ns, uint64_t to_ns) {
    std::vector<ProcessWindow> windows;
    for (const ProcessReport& process : analysis.processes) {
        windows.push_back(ProcessWindow{process.pid, process.image, from_ns, to_ns});
    }
    return windows;
}

std::vector<size_t> requests_in_range(const SessionAnalysis& analysis, uint64_t from_ns, uint64_t to_ns) {
    std::vector<size_t> indices;
    for (size_t i = 0; i < analysis.requests.size(); ++i) {
        const Request& request = analysis.requests[i];
        const uint64_t end = request.end_ns != 0 ? request.end_ns : request.start_ns;
        if (request.start_ns <= to_ns && end >= from_ns) indices.push_back(i);
    }
    return indices;
}

std::vector<StackWeight> selection_weights(SessionView& view, const std::vector<size_t>& requests,
                                           const std::vector<ProcessWindow>& windows) {
    std::vector<StackWeight> weights;
    if (!view.allocations || !view.allocations->recorded()) return weights;
    for (size_t index : requests) {
        std::vector<StackWeight> peaks = peak_weights(view.analysis.requests.at(index).allocations.sites);
        std::move(peaks.begin(), peaks.end(), std::back_inserter(weights));
    }
    std::vector<StackWeight> allocated = view.allocations->allocated_in(windows);
    std::move(allocated.begin(), allocated.end(), std::back_inserter(weights));
    return weights;
}

std::vector<RouteSummary> routes_in_range(const SessionAnalysis& analysis, uint64_t from_ns, uint64_t to_ns) {
    std::vector<Request> selected;
    for (size_t index : requests_in_range(analysis, from_ns, to_ns)) selected.push_back(analysis.requests[index]);
    return summarize_routes(selected);
}

std::vector<std::pair<uint64_t, int64_t>> request_growth(const SessionTimeline& timeline, const Request& request) {
    std::vector<std::pair<uint64_t, int64_t>> growth;
    for (const ProcessTimeline& process : timeline.processes) {
        if (process.pid != request.id.pid || process.image != request.id.image) continue;
        const auto& points = process.points;
        // The value at the start is the last point at or before the first request byte.
        auto it = std::upper_bound(points.begin(), points.end(), request.start_ns,
                                   [](uint64_t time, const MemoryPoint& point) { return time < point.time_ns; });
        if (it == points.begin()) return growth;
        const MemoryPoint& start = *std::prev(it);
        const int64_t base = start.native_live_bytes + start.v8_committed_bytes;
        growth.emplace_back(request.start_ns, 0);
        const uint64_t end = request.end_ns != 0 ? request.end_ns : std::numeric_limits<uint64_t>::max();
        for (; it != points.end() && it->time_ns <= end; ++it) {
            growth.emplace_back(it->time_ns, it->native_live_bytes + it->v8_committed_bytes - base);
        }
        return growth;
    }
    return growth;
}

}  // namespace routeheap::analysis
