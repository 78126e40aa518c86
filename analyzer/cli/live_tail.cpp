// Incremental reading of a growing session folder for `routeheap record`.
#include "live_tail.h"

#include <routeheap/analysis/detectors.h>
#include <routeheap/analysis/session.h>

#include <algorithm>

namespace routeheap::cli {

using namespace routeheap::analysis;

LiveTail::LiveTail(std::filesystem::path folder, RequestCallback on_request, WarningCallback on_warning)
    : folder_(std::move(folder)), on_request_(std::move(on_request)), on_warning_(std::move(on_warning)) {}

void LiveTail::poll(bool final) {
    for (const auto& path : find_traces(folder_)) {
        Trace& trace = traces_[path];
        if (!trace.failed) poll_trace(path, trace, final);
    }
}

void LiveTail::poll_trace(const std::filesystem::path& path, Trace& trace, bool final) {
    try {
        if (!trace.reader) trace.reader = std::make_unique<TraceReader>(path);
        if (!trace.model) {
            if (!trace.reader->load_header(final)) return;
            trace.model = std::make_unique<ProcessModel>(*trace.reader->header());
        }
        const size_t warnings_before = trace.reader->summary().warnings.size();
        trace.reader->read_available(*trace.model, final);
        const auto& warnings = trace.reader->summary().warnings;
        for (size_t i = warnings_before; i < warnings.size(); ++i) on_warning_(warnings[i]);
        // The reader reports a truncated last block only through describe_stop().
        if (final && trace.reader->summary().stop == StopReason::Truncated) {
            on_warning_(path.filename().string() + ": " + trace.reader->summary().describe_stop());
        }
    } catch (const TraceError& error) {
        trace.failed = true;
        on_warning_(error.what());
        return;
    }

    for (Request& request : trace.model->take_finished(final || trace.reader->finished())) {
        detect(request);
        ++requests_;
        on_request_(request);
    }
}

bool LiveTail::all_finished() const {
    for (const auto& [path, trace] : traces_) {
        if (!trace.failed && (!trace.reader || !trace.reader->finished())) return false;
    }
    return true;
}

std::map<uint32_t, uint64_t> LiveTail::process_starts() const {
    std::map<uint32_t, uint64_t> starts;
    for (const auto& [path, trace] : traces_) {
        if (!trace.model) continue;
        const TraceHeader& header = trace.model->header();
        auto [it, inserted] = starts.try_emplace(header.pid.value, header.start_realtime_ns);
        if (!inserted) it->second = std::min(it->second, header.start_realtime_ns);
    }
    return starts;
}

}  // namespace routeheap::cli
