// Session analysis: reads each trace into a ProcessModel, collects requests, runs the
// detectors and groups routes.
#include <routeheap/analysis/analysis.h>
#include <routeheap/analysis/detectors.h>
#include <routeheap/analysis/report.h>

#include <algorithm>
#include <limits>

namespace routeheap::analysis {

namespace {

std::string process_label(const TraceHeader& header) {
    std::string label = "pid " + std::to_string(header.pid.value);
    if (header.image != 0) label += " (image " + std::to_string(header.image) + ")";
    return label;
}

ProcessReport analyze_trace(const std::filesystem::path& path, std::vector<Request>& requests) {
    TraceReader reader(path);
    reader.load_header(true);
    ProcessModel model(*reader.header());
    reader.read_available(model, true);

    std::vector<Request> taken = model.take_finished(true);
    const ReadSummary& read = reader.summary();

    ProcessReport report;
    report.pid = model.header().pid;
    report.image = model.header().image;
    report.exe = model.header().exe;
    report.trace = path;
    report.start_monotonic_ns = model.header().start_monotonic_ns;
    report.complete = read.complete();
    report.exited = model.exited();
    report.exit_status = model.exit_status();
    report.requests = static_cast<uint32_t>(taken.size());
    report.read = read;

    report.warnings = read.warnings;
    if (!read.complete()) report.warnings.push_back(path.filename().string() + ": " + read.describe_stop());
    if (read.unknown_records > 0) {
        report.warnings.push_back(path.filename().string() + ": skipped " + std::to_string(read.unknown_records) +
                                  " records of types this version does not know");
    }
    if (read.malformed_records > 0) {
        report.warnings.push_back(path.filename().string() + ": skipped " + std::to_string(read.malformed_records) +
                                  " records too short for their type");
    }
    if (read.dropped_records > 0) {
        report.warnings.push_back(path.filename().string() + ": the agent dropped " +
                                  std::to_string(read.dropped_records) + " records because a buffer was full");
    }
    for (const std::string& note : model.notes()) report.warnings.push_back(process_label(model.header()) + ": " + note);
    const auto open = std::count_if(taken.begin(), taken.end(), [](const Request& r) { return r.outcome == Outcome::Open; });
    if (open > 0) {
        report.warnings.push_back(process_label(model.header()) + ": " +
                                  count_of(static_cast<uint64_t>(open), "request", "requests") +
                                  " had not ended when the trace stopped");
    }

    for (Request& request : taken) requests.push_back(std::move(request));
    return report;
}

}  // namespace

void finish_analysis(SessionAnalysis& analysis) {
    for (Request& request : analysis.requests) detect(request);
    std::stable_sort(analysis.requests.begin(), analysis.requests.end(),
                     [](const Request& a, const Request& b) { return a.start_ns < b.start_ns; });
    analysis.routes = summarize_routes(analysis.requests);
}

SessionAnalysis analyze_session(const Session& session) {
    SessionAnalysis analysis;
    analysis.path = session.path;
    analysis.metadata = session.metadata;
    analysis.warnings = session.warnings;

    std::vector<std::string> unreadable;
    for (const auto& trace : session.traces) {
        try {
            analysis.processes.push_back(analyze_trace(trace, analysis.requests));
        } catch (const TraceError& error) {
            unreadable.push_back(error.what());
        }
    }
    if (analysis.processes.empty()) throw TraceError(unreadable.front());
    for (const std::string& message : unreadable) analysis.warnings.push_back(message + " (trace skipped)");

    analysis.origin_ns = std::numeric_limits<uint64_t>::max();
    for (const ProcessReport& process : analysis.processes) {
        analysis.origin_ns = std::min(analysis.origin_ns, process.start_monotonic_ns);
        analysis.warnings.insert(analysis.warnings.end(), process.warnings.begin(), process.warnings.end());
    }

    finish_analysis(analysis);
    return analysis;
}

}  // namespace routeheap::analysis
