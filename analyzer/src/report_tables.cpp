// Table rows and text fragments shared by the text and markdown reports.
#include "report_tables.h"

namespace routeheap::analysis::detail {

std::vector<Row> route_rows(const SessionAnalysis& analysis) {
    std::vector<Row> rows{{"method", "route", "requests", "peak p50", "peak max", "in total", "out total", "findings"}};
    for (const RouteSummary& route : analysis.routes) {
        std::string findings;
        for (const RouteFinding& finding : route.findings) {
            if (!findings.empty()) findings += ", ";
            findings += finding.worst.kind;
        }
        rows.push_back({route.method, route.route, std::to_string(route.requests),
                        "+" + format_bytes(route.peak_growth_p50), "+" + format_bytes(route.peak_growth_max),
                        format_bytes(static_cast<int64_t>(route.request_bytes.total)),
                        format_bytes(static_cast<int64_t>(route.response_bytes.total)),
                        findings.empty() ? "-" : findings});
    }
    return rows;
}

std::string process_state(const ProcessReport& process) {
    switch (process.end) {
        case ProcessEnd::Exec:
            return "replaced by exec of " + process.read.exec_path + " (continues in " +
                   std::to_string(process.pid.value) + "." + std::to_string(process.image + 1) + ")";
        case ProcessEnd::Signal: return "ended by " + process.end_signal;
        case ProcessEnd::Exit: {
            const std::string state = process.complete ? "complete" : "incomplete";
            if (process.exit_status == -1) return state + ", exited, status unknown";
            return state + ", exit status " + std::to_string(process.exit_status);
        }
        case ProcessEnd::Unknown: break;
    }
    return process.complete ? "complete" : "incomplete";
}

std::vector<Row> process_rows(const SessionAnalysis& analysis) {
    std::vector<Row> rows{{"pid", "exe", "requests", "trace"}};
    for (const ProcessReport& process : analysis.processes) {
        std::string pid = std::to_string(process.pid.value);
        if (process.image != 0) pid += "." + std::to_string(process.image);
        rows.push_back({pid, process.exe, std::to_string(process.requests), process_state(process)});
    }
    return rows;
}

std::string route_finding_title(const RouteSummary& route, const RouteFinding& finding) {
    return finding.worst.kind + " on " + route.method + " " + route.route + " (" +
           confidence_name(finding.worst.confidence) + " confidence, " + std::to_string(finding.requests) + " of " +
           std::to_string(route.requests) + " requests)";
}

std::vector<std::string> evidence_lines(const Finding& finding) {
    std::vector<std::string> lines;
    for (const EvidenceItem& item : finding.evidence) {
        lines.push_back(evidence_label(item.name) + ": " + format_evidence_value(item));
    }
    return lines;
}

std::vector<std::string> site_lines(const Finding& finding, size_t depth) {
    std::vector<std::string> lines;
    if (finding.sites.empty()) return lines;
    bool estimate = false;
    for (const AllocationSite& site : finding.sites) estimate = estimate || site.estimate;
    lines.push_back(std::string("allocation sites at the strongest request's peak (share of peak, live bytes") +
                    (estimate ? ", estimated from sampled stacks):" : "):"));
    for (const AllocationSite& site : finding.sites) lines.push_back(format_site_line(site, depth));
    return lines;
}

std::vector<std::string> session_lines(const SessionAnalysis& analysis) {
    std::vector<std::string> lines;
    lines.push_back(count_of(analysis.processes.size(), "process", "processes") + ", " +
                    count_of(analysis.requests.size(), "request", "requests"));
    if (analysis.metadata && analysis.metadata->contains("command") && (*analysis.metadata)["command"].is_array()) {
        std::string command;
        for (const auto& argument : (*analysis.metadata)["command"]) {
            if (!argument.is_string()) continue;
            if (!command.empty()) command += ' ';
            command += argument.get<std::string>();
        }
        lines.push_back("command: " + command);
    }
    if (analysis.metadata && analysis.metadata->contains("start_time") && (*analysis.metadata)["start_time"].is_string()) {
        lines.push_back("started: " + (*analysis.metadata)["start_time"].get<std::string>());
    }
    return lines;
}

}  // namespace routeheap::analysis::detail
