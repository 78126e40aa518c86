// Reads a JSON report (schema routeheap.report/1) back into a SessionAnalysis, so a
// viewer can show a report without its traces.
#include <routeheap/analysis/session_view.h>

#include <routeheap/analysis/report.h>

#include <charconv>
#include <fstream>

namespace routeheap::analysis {

namespace {

using nlohmann::json;

// The JSON report stores evidence as plain numbers; the unit follows from the name the
// detectors give it.
EvidenceUnit unit_of(const std::string& name) {
    const auto ends_with = [&](std::string_view suffix) {
        return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends_with("_bytes")) return EvidenceUnit::Bytes;
    if (ends_with("_ms")) return EvidenceUnit::Milliseconds;
    if (ends_with("_ratio")) return EvidenceUnit::Ratio;
    if (ends_with("_fraction") || ends_with("_share")) return EvidenceUnit::Fraction;
    return EvidenceUnit::Count;
}

Confidence confidence_of(const std::string& name) {
    if (name == "high") return Confidence::High;
    if (name == "medium") return Confidence::Medium;
    return Confidence::Low;
}

FrameKind frame_kind_of(const std::string& name) {
    for (FrameKind kind : {FrameKind::Js, FrameKind::Builtin, FrameKind::Native, FrameKind::Jit}) {
        if (name == frame_kind_name(kind)) return kind;
    }
    return FrameKind::Native;
}

std::string text_or_empty(const json& value) { return value.is_string() ? value.get<std::string>() : std::string(); }

uint64_t time_or_zero(const json& object, const char* field) {
    const auto found = object.find(field);
    return found != object.end() && found->is_number() ? found->get<uint64_t>() : 0;
}

Finding finding_from(const json& object) {
    Finding finding;
    finding.kind = object.at("kind").get<std::string>();
    finding.confidence = confidence_of(object.value("confidence", "low"));
    finding.summary = object.value("summary", "");
    finding.fix = object.value("fix", "");
    const json evidence = object.value("evidence", json::object());
    for (const auto& [name, value] : evidence.items()) {
        if (value.is_number()) finding.evidence.push_back({name, value.get<double>(), unit_of(name)});
    }
    return finding;
}

std::vector<AllocationSite> sites_from(const json& list) {
    std::vector<AllocationSite> sites;
    if (!list.is_array()) return sites;
    for (const json& object : list) {
        AllocationSite site;
        site.bytes = object.value("bytes", int64_t{0});
        site.share = object.value("share", 0.0);
        site.allocations = object.value("allocations", uint64_t{0});
        site.estimate = object.value("estimate", false);
        for (const json& frame_json : object.value("frames", json::array())) {
            Frame frame;
            frame.function = text_or_empty(frame_json.value("function", json()));
            frame.location = text_or_empty(frame_json.value("location", json()));
            frame.module = text_or_empty(frame_json.value("module", json()));
            frame.kind = frame_kind_of(frame_json.value("kind", "native"));
            frame.symbolized = !frame.function.empty();
            site.frames.push_back(std::move(frame));
        }
        sites.push_back(std::move(site));
    }
    return sites;
}

// "pid:connection:index" or "pid.image:connection:index".
RequestId request_id_from(const std::string& text) {
    RequestId id;
    const char* cursor = text.data();
    const char* end = text.data() + text.size();
    const auto number = [&](auto& value) {
        const auto result = std::from_chars(cursor, end, value);
        if (result.ec != std::errc()) throw ReportFileError("invalid request id \"" + text + "\"");
        cursor = result.ptr;
    };
    number(id.pid.value);
    if (cursor != end && *cursor == '.') {
        ++cursor;
        number(id.image);
    }
    if (cursor == end || *cursor++ != ':') throw ReportFileError("invalid request id \"" + text + "\"");
    number(id.connection.value);
    if (cursor == end || *cursor++ != ':') throw ReportFileError("invalid request id \"" + text + "\"");
    number(id.index);
    return id;
}

Request request_from(const json& object) {
    Request request;
    request.id = request_id_from(object.at("id").get<std::string>());
    request.method = object.at("method").get<std::string>();
    request.path = object.at("path").get<std::string>();
    request.route = object.at("route").get<std::string>();
    request.status = object.value("status", uint16_t{0});
    request.request_bytes = object.value("request_bytes", uint64_t{0});
    request.response_bytes = object.value("response_bytes", uint64_t{0});
    request.start_ns = time_or_zero(object, "start_ns");
    request.body_complete_ns = time_or_zero(object, "body_complete_ns");
    request.first_response_byte_ns = time_or_zero(object, "first_response_byte_ns");
    request.end_ns = time_or_zero(object, "end_ns");
    request.write_calls = object.value("write_calls", uint32_t{0});
    request.largest_write_bytes = object.value("largest_write_bytes", uint64_t{0});
    request.would_block_writes = object.value("would_block_writes", uint32_t{0});
    request.partial_writes = object.value("partial_writes", uint32_t{0});
    request.overlapping = object.value("overlapping", false);
    const json growth = object.value("peak_growth_bytes", json());
    if (growth.is_object()) {
        request.growth_measured = true;
        request.growth.native = growth.value("native", int64_t{0});
        request.growth.v8 = growth.value("v8", int64_t{0});
        request.growth.rss = growth.value("rss", int64_t{0});
        request.growth.heap = growth.value("heap", int64_t{0});
    }
    for (const json& finding : object.value("findings", json::array())) request.findings.push_back(finding_from(finding));
    request.allocations.sites = sites_from(object.value("top_sites", json::array()));
    request.allocations.recorded = !request.allocations.sites.empty();
    return request;
}

RouteSummary route_from(const json& object) {
    RouteSummary route;
    route.method = object.at("method").get<std::string>();
    route.route = object.at("route").get<std::string>();
    route.requests = object.value("requests", uint32_t{0});
    const json growth = object.value("peak_growth_bytes", json::object());
    route.peak_growth_p50 = growth.value("p50", int64_t{0});
    route.peak_growth_max = growth.value("max", int64_t{0});
    const json in = object.value("request_bytes", json::object());
    route.request_bytes = {in.value("total", uint64_t{0}), in.value("max", uint64_t{0})};
    const json out = object.value("response_bytes", json::object());
    route.response_bytes = {out.value("total", uint64_t{0}), out.value("max", uint64_t{0})};
    for (const json& finding : object.value("findings", json::array())) {
        RouteFinding found;
        found.worst = finding_from(finding);
        found.worst.sites = sites_from(finding.value("sites", json::array()));
        found.requests = finding.value("requests", uint32_t{0});
        route.findings.push_back(std::move(found));
    }
    return route;
}

}  // namespace

SessionAnalysis read_report_json(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ReportFileError(path.string() + ": cannot open the report; check the path and its permissions");
    const json report = json::parse(in, nullptr, false);
    if (report.is_discarded() || !report.is_object()) {
        throw ReportFileError(path.string() + ": not valid JSON; give a report written by "
                                              "`routeheap report SESSION --format json`");
    }
    const std::string schema = report.value("schema", "");
    if (schema != kReportSchema) {
        throw ReportFileError(path.string() + ": schema \"" + schema + "\" is not " + kReportSchema +
                              "; give a report written by `routeheap report SESSION --format json`");
    }

    SessionAnalysis analysis;
    analysis.path = path;
    try {
        const json& session = report.at("session");
        analysis.path = session.value("path", path.string());
        for (const json& process : session.value("processes", json::array())) {
            ProcessReport entry;
            entry.pid = ProcessId{process.at("pid").get<uint32_t>()};
            entry.image = process.value("image", uint32_t{0});
            entry.exe = process.value("exe", "");
            entry.requests = process.value("requests", uint32_t{0});
            analysis.processes.push_back(std::move(entry));
        }
        for (const json& route : report.at("routes")) analysis.routes.push_back(route_from(route));
        for (const json& request : report.at("requests")) analysis.requests.push_back(request_from(request));
        for (const json& warning : report.value("warnings", json::array())) {
            if (warning.is_string()) analysis.warnings.push_back(warning.get<std::string>());
        }
    } catch (const json::exception& error) {
        throw ReportFileError(path.string() + ": the report is incomplete (" + error.what() +
                              "); write it again with `routeheap report SESSION --format json`");
    } catch (const ReportFileError& error) {
        throw ReportFileError(path.string() + ": " + error.what());
    }
    return analysis;
}

}  // namespace routeheap::analysis
