// Session analysis: reads each trace into a ProcessModel, collects requests, runs the
// detectors and groups routes.
#include <routeheap/analysis/analysis.h>
#include <routeheap/analysis/detectors.h>
#include <routeheap/analysis/report.h>
#include <routeheap/analysis/site_builder.h>

#include <algorithm>
#include <limits>
#include <map>
#include <tuple>

namespace routeheap::analysis {

namespace {

std::string process_label(const TraceHeader& header) {
    std::string label = "pid " + std::to_string(header.pid.value);
    if (header.image != 0) label += " (image " + std::to_string(header.image) + ")";
    return label;
}

// Passes each record to the request model and the allocation model.
class BothModels : public TraceSink {
public:
    BothModels(ProcessModel& requests, StackModel& stacks) : requests_(requests), stacks_(stacks) {}
    void on_event(const TraceEvent& event) override {
        requests_.on_event(event);
        stacks_.on_event(event);
    }

private:
    ProcessModel& requests_;
    StackModel& stacks_;
};

// The perf map `record` copied beside the trace for this pid, if any.
std::filesystem::path find_perf_map(const std::filesystem::path& trace, ProcessId pid) {
    const auto candidate = trace.parent_path() / ("perf-" + std::to_string(pid.value) + ".map");
    std::error_code error;
    return std::filesystem::is_regular_file(candidate, error) ? candidate : std::filesystem::path();
}

// The maximum number of allocation and free records the indexed blocks can contain:
// their decompressed bytes over the size of the smaller record, a Free.
size_t max_heap_records(const BlockIndex& index) {
    uint64_t raw_bytes = 0;
    for (const BlockLocation& block : index.blocks) raw_bytes += block.header.raw_size;
    static_assert(sizeof(trace::Free) <= sizeof(trace::Allocation));
    return static_cast<size_t>(raw_bytes / sizeof(trace::Free));
}

// Looks for the one allocation of the body's size (within 5%) that collecting a body and
// then joining it makes between the body's last byte and the first response byte.
void mark_body_copy(const StackModel& stacks, Request& request) {
    const uint64_t body = request.request_bytes;
    const uint64_t min_size = body - body / 20;
    if (request.body_complete_ns == 0 || body == 0 || !stacks.records_every_allocation_of(min_size)) return;

    uint64_t until = request.first_response_byte_ns != 0 ? request.first_response_byte_ns : request.end_ns;
    if (until == 0) until = std::numeric_limits<uint64_t>::max();
    request.body_copy_allocated = stacks.allocated_between(min_size, body + body / 20, request.body_complete_ns, until);
}

// Fills each request's allocation profile from the sampled stacks of its process.
void add_allocation_sites(const StackModel& stacks, Symbolizer& symbolizer, ProcessReport& report,
                          std::vector<Request>& requests) {
    report.sampled_allocations = stacks.allocation_count();
    if (stacks.has_sampling_config()) report.sampling = stacks.sampling();
    if (stacks.allocation_count() == 0) return;
    for (const std::string& warning : stacks.warnings()) {
        report.warnings.push_back(report.trace.filename().string() + ": " + warning);
    }

    std::optional<PerfMap> perf_map;
    report.perf_map = find_perf_map(report.trace, report.pid);
    // Only V8 writes perf maps: a missing one matters for node, not for its helpers.
    const bool runs_v8 = std::filesystem::path(report.exe).filename().string().find("node") != std::string::npos;
    if (report.perf_map.empty()) {
        if (runs_v8) {
            report.warnings.push_back("pid " + std::to_string(report.pid.value) + ": no perf-" +
                                      std::to_string(report.pid.value) +
                                      ".map in the session folder, so JS frames show as [jit 0x...]");
        }
    } else {
        try {
            perf_map = PerfMap::read(report.perf_map);
            if (perf_map->malformed_lines() > 0) {
                const uint64_t skipped = perf_map->malformed_lines();
                report.warnings.push_back(report.perf_map.filename().string() + ": skipped " +
                                          count_of(skipped, "line", "lines") + (skipped == 1 ? " that is" : " that are") +
                                          " not START SIZE NAME (a truncated map?)");
            }
        } catch (const std::runtime_error& error) {
            report.warnings.push_back(std::string(error.what()) + ", so JS frames show as [jit 0x...]");
        }
    }

    SiteBuilder sites(stacks, symbolizer, perf_map ? &*perf_map : nullptr);
    for (Request& request : requests) request.allocations = sites.profile(request.start_ns, request.end_ns);
}

// The recorded command's pid and the signal that ended it, from session.json. The
// signal is empty when the command exited normally or session.json lacks the fields.
struct CommandEnd {
    uint32_t pid = 0;
    std::string signal;
};

CommandEnd command_end(const std::optional<nlohmann::json>& metadata) {
    CommandEnd end;
    if (!metadata) return end;
    const auto pid = metadata->find("pid");
    const auto signal = metadata->find("exit_signal");
    if (pid == metadata->end() || !pid->is_number_unsigned() || signal == metadata->end() || !signal->is_string()) {
        return end;
    }
    end.pid = pid->get<uint32_t>();
    end.signal = signal->get<std::string>();
    return end;
}

// Exit, exec, the command's known signal, or unknown.
void classify_end(const ReadSummary& read, const ProcessModel& model, const CommandEnd& command,
                  ProcessReport& report) {
    if (model.exited()) {
        report.end = ProcessEnd::Exit;
    } else if (read.stop == StopReason::Exec) {
        report.end = ProcessEnd::Exec;
    } else if (read.stop == StopReason::EndOfFile && !command.signal.empty() &&
               command.pid == model.header().pid.value) {
        report.end = ProcessEnd::Signal;
        report.end_signal = command.signal;
    }
}

ProcessReport analyze_trace(const std::filesystem::path& path, Symbolizer& symbolizer, const CommandEnd& command,
                            std::vector<Request>& requests) {
    TraceReader reader(path);
    reader.load_header(true);
    ProcessModel model(*reader.header());
    StackModel stacks;
    stacks.reserve(max_heap_records(reader.index_blocks()));
    BothModels both(model, stacks);
    reader.read_available(both, true);

    std::vector<Request> taken = model.take_finished(true);
    stacks.finish();
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

    classify_end(read, model, command, report);

    report.warnings = read.warnings;
    // A trace that ends at a block boundary after the command died from a known signal
    // is whole: the signal explains the missing TraceEnd.
    if (!read.complete() && report.end != ProcessEnd::Signal) {
        report.warnings.push_back(path.filename().string() + ": " + read.describe_stop());
    }
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

    for (Request& request : taken) mark_body_copy(stacks, request);
    add_allocation_sites(stacks, symbolizer, report, taken);
    for (Request& request : taken) requests.push_back(std::move(request));
    return report;
}

// Session-wide symbolization warnings: modules that could not be read, and how many
// frames show as addresses.
void add_symbolizer_warnings(const Symbolizer& symbolizer, std::vector<std::string>& warnings) {
    const SymbolizerCounts& counts = symbolizer.counts();
    for (const std::string& module : counts.unreadable_modules) {
        warnings.push_back("cannot read " + module + "; its frames show as [module+0xoffset]");
    }
    if (counts.unknown_frames > 0) {
        warnings.push_back(std::to_string(counts.unknown_frames) + " of " + count_of(counts.frames, "frame", "frames") +
                           " could not be symbolized and show as [jit 0x...] or [module+0xoffset]");
    }
}

std::filesystem::path working_folder(const std::optional<nlohmann::json>& metadata) {
    if (!metadata || !metadata->contains("working_folder") || !(*metadata)["working_folder"].is_string()) return {};
    return (*metadata)["working_folder"].get<std::string>();
}

}  // namespace

void finish_analysis(SessionAnalysis& analysis) {
    std::stable_sort(analysis.requests.begin(), analysis.requests.end(),
                     [](const Request& a, const Request& b) { return a.start_ns < b.start_ns; });
    std::map<std::tuple<uint32_t, uint32_t, std::string, std::string>, std::vector<Request*>> by_route;
    for (Request& request : analysis.requests) {
        request.framework = detect_framework(request);
        detect(request);
        by_route[{request.id.pid.value, request.id.image, request.method, request.route}].push_back(&request);
    }
    for (const auto& [key, route_requests] : by_route) detect_leak(route_requests);

    for (Request& request : analysis.requests) {
        const auto& sites = request.allocations.sites;
        for (Finding& finding : request.findings) {
            finding.sites.assign(sites.begin(), sites.begin() + static_cast<std::ptrdiff_t>(std::min(kTopSites, sites.size())));
        }
    }
    std::stable_sort(analysis.requests.begin(), analysis.requests.end(),
                     [](const Request& a, const Request& b) { return a.start_ns < b.start_ns; });
    analysis.routes = summarize_routes(analysis.requests);
}

SessionAnalysis analyze_session(const Session& session) {
    SessionAnalysis analysis;
    analysis.path = session.path;
    analysis.metadata = session.metadata;
    analysis.warnings = session.warnings;

    Symbolizer symbolizer(working_folder(session.metadata));
    const CommandEnd command = command_end(session.metadata);
    std::vector<std::string> unreadable;
    for (const auto& trace : session.traces) {
        try {
            analysis.processes.push_back(analyze_trace(trace, symbolizer, command, analysis.requests));
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
    add_symbolizer_warnings(symbolizer, analysis.warnings);

    finish_analysis(analysis);
    return analysis;
}

}  // namespace routeheap::analysis
