// Shared formatting for the reports: byte units, evidence values and the live line.
#include <routeheap/analysis/detectors.h>
#include <routeheap/analysis/report.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace routeheap::analysis {

namespace {

std::string format_number(double value, int decimals) {
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
    return buffer;
}

std::string verdict(const Request& request) {
    // An exchange that did not finish was not judged on its whole, so it is not "ok".
    if (request.findings.empty()) return request.outcome == Outcome::Complete ? "ok" : "no verdict";
    std::string text;
    for (const Finding& finding : request.findings) {
        if (!text.empty()) text += " + ";
        for (char c : finding.kind) text += c == '-' ? ' ' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        // The live line is judged without allocation stacks, so some findings are still
        // tentative there; the report may drop them once the stacks are read.
        if (finding.confidence != Confidence::High) text += std::string(" (") + confidence_name(finding.confidence) + ")";
    }
    return text;
}

}  // namespace

std::string format_bytes(int64_t bytes) {
    static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
    const double magnitude = std::fabs(static_cast<double>(bytes));
    const char* sign = bytes < 0 ? "-" : "";
    if (magnitude < 1024) return sign + std::to_string(std::llabs(bytes)) + " B";
    double value = magnitude / 1024;
    size_t unit = 0;
    while (value >= 1024 && unit + 1 < std::size(kUnits)) {
        value /= 1024;
        ++unit;
    }
    // Rounding 99.96 to one decimal prints "100.0"; print whole units from there on.
    const int decimals = value < 99.95 ? 1 : 0;
    return sign + format_number(value, decimals) + " " + kUnits[unit];
}

std::string count_of(uint64_t count, std::string_view singular, std::string_view plural) {
    return std::to_string(count) + " " + std::string(count == 1 ? singular : plural);
}

std::string format_evidence_value(const EvidenceItem& item) {
    switch (item.unit) {
        case EvidenceUnit::Bytes: return format_bytes(static_cast<int64_t>(item.value));
        case EvidenceUnit::Ratio: return format_number(item.value, 1) + "x";
        case EvidenceUnit::Fraction: return format_number(item.value * 100, 0) + "%";
        case EvidenceUnit::Count: return format_number(item.value, 0);
        case EvidenceUnit::Milliseconds: return format_number(item.value, 1) + " ms";
    }
    return format_number(item.value, 3);
}

std::string evidence_label(const std::string& name) {
    std::string label = name;
    for (const char* suffix : {"_bytes", "_ms"}) {
        if (label.ends_with(suffix)) label.resize(label.size() - std::string_view(suffix).size());
    }
    for (char& c : label) {
        if (c == '_') c = ' ';
    }
    return label;
}

std::string format_request_line(const Request& request) {
    std::string line = request.method + " " + request.path + " " +
                       (request.status != 0 ? std::to_string(request.status) : std::string("---"));
    line += "  in " + format_bytes(static_cast<int64_t>(request.request_bytes));
    line += "  out " + format_bytes(static_cast<int64_t>(request.response_bytes));
    if (!request.growth_measured) {
        line += "  peak n/a";
    } else {
        line += "  peak +" + format_bytes(request.growth.heap);
        // Below the smallest response a detector judges, the ratio carries no meaning, so it is left out.
        if (request.response_bytes >= static_cast<uint64_t>(BufferedResponseThresholds::kMinResponseBytes)) {
            const double ratio = static_cast<double>(request.growth.heap) / static_cast<double>(request.response_bytes);
            line += " (" + format_number(ratio, 1) + "x response)";
        }
    }
    if (request.overlapping) line += "  overlapping";
    if (request.outcome != Outcome::Complete) line += std::string("  [") + outcome_name(request.outcome) + "]";
    return line + "  " + verdict(request);
}

std::optional<ReportFormat> parse_report_format(std::string_view name) {
    if (name == "text") return ReportFormat::Text;
    if (name == "json") return ReportFormat::Json;
    if (name == "markdown") return ReportFormat::Markdown;
    return std::nullopt;
}

std::string render_report(const SessionAnalysis& analysis, ReportFormat format, const ReportOptions& options) {
    switch (format) {
        case ReportFormat::Text: return render_text(analysis, options);
        case ReportFormat::Json: return render_json(analysis, options).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
        case ReportFormat::Markdown: return render_markdown(analysis, options);
    }
    return {};
}

namespace {

// The innermost JS frame of the application itself: not Node's own modules (node:...)
// and not a dependency under node_modules. It names the user's code that held the
// memory, however deep below Node and V8 frames it sits.
const Frame* first_application_frame(const AllocationSite& site) {
    for (const Frame& frame : site.frames) {
        if (frame.kind != FrameKind::Js || frame.location.empty()) continue;
        if (frame.location.starts_with("node:") || frame.location.find("node_modules/") != std::string::npos) continue;
        return &frame;
    }
    return nullptr;
}

}  // namespace

std::string format_site_line(const AllocationSite& site, size_t depth) {
    std::string line = format_number(site.share * 100, 0) + "% " + format_bytes(site.bytes);
    if (site.estimate) line += " (estimate)";
    const size_t shown = std::min(depth, site.frames.size());
    const Frame* application = first_application_frame(site);
    if (application != nullptr && application >= site.frames.data() + shown) {
        line += "  at " + application->label() + "  via ";
    } else {
        line += "  ";
    }
    for (size_t i = 0; i < shown; ++i) line += (i == 0 ? "" : " < ") + site.frames[i].label();
    if (shown < site.frames.size()) line += " < ...";
    return line;
}

}  // namespace routeheap::analysis
