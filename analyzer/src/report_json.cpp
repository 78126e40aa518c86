// The JSON report, schema "routeheap.report/1" (documented in docs/report-format.md).
#include <routeheap/analysis/report.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace routeheap::analysis {

namespace {

using nlohmann::json;

// Times relative to the session origin; null for an event that did not happen.
json relative_time(uint64_t time_ns, uint64_t origin_ns) {
    if (time_ns == 0) return nullptr;
    return time_ns >= origin_ns ? time_ns - origin_ns : 0;
}

json evidence_json(const std::vector<EvidenceItem>& evidence) {
    json object = json::object();
    for (const EvidenceItem& item : evidence) {
        switch (item.unit) {
            case EvidenceUnit::Bytes:
            case EvidenceUnit::Count: object[item.name] = static_cast<int64_t>(std::llround(item.value)); break;
            default: object[item.name] = std::round(item.value * 1000) / 1000; break;
        }
    }
    return object;
}

std::string hex_address(uint64_t address) {
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "0x%llx", static_cast<unsigned long long>(address));
    return buffer;
}

json frame_json(const Frame& frame) {
    return {
        {"function", frame.function.empty() ? json(nullptr) : json(frame.function)},
        {"location", frame.location.empty() ? json(nullptr) : json(frame.location)},
        {"kind", frame_kind_name(frame.kind)},
        {"module", frame.module.empty() ? json(nullptr) : json(frame.module)},
        {"address", hex_address(frame.address)},
        {"label", frame.label()},
    };
}

json sites_json(const std::vector<AllocationSite>& sites, size_t count, size_t depth) {
    json list = json::array();
    for (size_t i = 0; i < std::min(count, sites.size()); ++i) {
        const AllocationSite& site = sites[i];
        json frames = json::array();
        for (size_t f = 0; f < std::min(depth, site.frames.size()); ++f) frames.push_back(frame_json(site.frames[f]));
        list.push_back({
            {"bytes", site.bytes},
            // Rounded down, so the shares of a request's sites still add up to at most 1.
            {"share", std::floor(site.share * 10000) / 10000},
            {"allocations", site.allocations},
            {"estimate", site.estimate},
            {"frame_count", site.frames.size()},
            {"frames", std::move(frames)},
        });
    }
    return list;
}

json finding_json(const Finding& finding) {
    return {
        {"kind", finding.kind},
        {"confidence", confidence_name(finding.confidence)},
        {"summary", finding.summary},
        {"evidence", evidence_json(finding.evidence)},
        {"fix", finding.fix},
    };
}

json allocation_peak_json(const AllocationProfile& profile, uint64_t origin_ns) {
    if (!profile.recorded) return nullptr;
    return {
        {"bytes", profile.peak_bytes},
        {"time_ns", profile.sites.empty() ? json(nullptr) : relative_time(profile.peak_ns, origin_ns)},
        {"estimate", profile.estimate},
        {"sites", profile.sites.size()},
    };
}

json sampling_json(const ProcessReport& process) {
    if (!process.sampling) return nullptr;
    return {
        {"mean_interval_bytes", process.sampling->mean_interval_bytes},
        {"always_threshold_bytes", process.sampling->always_threshold_bytes},
        {"max_frames", process.sampling->max_frames},
    };
}

const char* process_end_name(ProcessEnd end) {
    switch (end) {
        case ProcessEnd::Exit: return "exit";
        case ProcessEnd::Exec: return "exec";
        case ProcessEnd::Signal: return "signal";
        case ProcessEnd::Unknown: break;
    }
    return "unknown";
}

json process_json(const ProcessReport& process) {
    return {
        {"sampling", sampling_json(process)},
        {"sampled_allocations", process.sampled_allocations},
        {"perf_map", process.perf_map.empty() ? json(nullptr) : json(process.perf_map.string())},
        {"pid", process.pid.value},
        {"image", process.image},
        {"exe", process.exe},
        {"trace", process.trace.string()},
        {"complete", process.complete},
        {"requests", process.requests},
        {"exit_status", process.exited && process.exit_status != -1 ? json(process.exit_status) : json(nullptr)},
        {"ended", process_end_name(process.end)},
        {"exec_path", process.end == ProcessEnd::Exec ? json(process.read.exec_path) : json(nullptr)},
        {"signal", process.end == ProcessEnd::Signal ? json(process.end_signal) : json(nullptr)},
        {"read", {{"blocks", process.read.blocks_read},
                  {"bytes", process.read.bytes_read},
                  {"file_bytes", process.read.file_bytes},
                  {"corrupt_blocks", process.read.corrupt_blocks},
                  {"skipped_bytes", process.read.skipped_bytes},
                  {"stop", process.read.describe_stop()}}},
        {"warnings", process.warnings},
    };
}

json route_json(const RouteSummary& route, const ReportOptions& options) {
    json findings = json::array();
    for (const RouteFinding& found : route.findings) {
        json finding = finding_json(found.worst);
        finding["requests"] = found.requests;
        finding["sites"] = sites_json(found.worst.sites, kTopSites, options.stack_depth);
        findings.push_back(std::move(finding));
    }
    return {
        {"method", route.method},
        {"route", route.route},
        {"requests", route.requests},
        {"peak_growth_bytes", {{"p50", route.peak_growth_p50}, {"max", route.peak_growth_max}}},
        {"request_bytes", {{"total", route.request_bytes.total}, {"max", route.request_bytes.max}}},
        {"response_bytes", {{"total", route.response_bytes.total}, {"max", route.response_bytes.max}}},
        {"findings", std::move(findings)},
    };
}

json request_json(const Request& request, uint64_t origin_ns, const ReportOptions& options) {
    json findings = json::array();
    for (const Finding& finding : request.findings) findings.push_back(finding_json(finding));
    json growth = request.growth_measured
                      ? json{{"native", request.growth.native},
                             {"v8", request.growth.v8},
                             {"rss", request.growth.rss},
                             {"heap", request.growth.heap}}
                      : json(nullptr);
    json attributed = request.growth_measured
                          ? json{{"native", request.apportioned_growth.native},
                                 {"v8", request.apportioned_growth.v8},
                                 {"rss", request.apportioned_growth.rss},
                                 {"heap", request.apportioned_growth.heap}}
                          : json(nullptr);
    return {
        {"id", request.id.to_string()},
        {"pid", request.id.pid.value},
        {"method", request.method},
        {"path", request.path},
        {"route", request.route},
        {"status", request.status},
        {"request_bytes", request.request_bytes},
        {"response_bytes", request.response_bytes},
        {"start_ns", relative_time(request.start_ns, origin_ns)},
        {"body_complete_ns", relative_time(request.body_complete_ns, origin_ns)},
        {"first_response_byte_ns", relative_time(request.first_response_byte_ns, origin_ns)},
        {"end_ns", relative_time(request.end_ns, origin_ns)},
        {"duration_ms", std::round(request.duration_ms() * 1000) / 1000},
        {"write_calls", request.write_calls},
        {"largest_write_bytes", request.largest_write_bytes},
        {"would_block_writes", request.would_block_writes},
        {"partial_writes", request.partial_writes},
        {"peak_growth_bytes", std::move(growth)},
        {"overlapping", request.overlapping},
        {"max_concurrent", request.max_concurrent},
        {"attributed_growth_bytes", std::move(attributed)},
        {"allocated_bytes", request.allocated_bytes},
        {"retained_bytes", {{"native", request.retained_native_bytes}, {"v8", request.retained_v8_bytes}}},
        {"collected_after", request.collected_after},
        {"largest_write_after_refusal_bytes", request.largest_write_after_refusal},
        {"framework", framework_name(request.framework)},
        {"outcome", outcome_name(request.outcome)},
        {"findings", std::move(findings)},
        {"allocation_peak", allocation_peak_json(request.allocations, origin_ns)},
        {"top_sites", sites_json(request.allocations.sites, kTopSites, options.stack_depth)},
    };
}

}  // namespace

json render_json(const SessionAnalysis& analysis, const ReportOptions& options) {
    json processes = json::array();
    for (const ProcessReport& process : analysis.processes) processes.push_back(process_json(process));
    json routes = json::array();
    for (const RouteSummary& route : analysis.routes) routes.push_back(route_json(route, options));
    json requests = json::array();
    for (const Request& request : analysis.requests) requests.push_back(request_json(request, analysis.origin_ns, options));

    json session = {
        {"path", analysis.path.string()},
        {"time_origin", "CLOCK_MONOTONIC when the earliest trace was opened; *_ns fields count from it"},
        {"processes", std::move(processes)},
    };
    if (analysis.metadata) session["metadata"] = *analysis.metadata;

    return {
        {"schema", kReportSchema},
        {"session", std::move(session)},
        {"routes", std::move(routes)},
        {"requests", std::move(requests)},
        {"warnings", analysis.warnings},
    };
}

}  // namespace routeheap::analysis
