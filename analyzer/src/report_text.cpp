// The plain-text report: routes table, findings with evidence and fix, processes and
// warnings.
#include "report_tables.h"

#include <algorithm>

namespace routeheap::analysis {

namespace {

std::string render_table(const std::vector<detail::Row>& rows, const std::string& indent) {
    std::vector<size_t> widths;
    for (const auto& row : rows) {
        widths.resize(std::max(widths.size(), row.size()));
        for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
    }
    std::string text;
    for (const auto& row : rows) {
        std::string line = indent;
        for (size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
        }
        text += line + "\n";
    }
    return text;
}

// Wraps `text` at spaces to lines of at most `width` characters after `indent`.
std::string wrap(const std::string& text, const std::string& indent, size_t width) {
    std::string result;
    std::string line;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find(' ', start);
        if (end == std::string::npos) end = text.size();
        const std::string word = text.substr(start, end - start);
        if (!line.empty() && line.size() + 1 + word.size() > width) {
            result += indent + line + "\n";
            line.clear();
        }
        line += (line.empty() ? "" : " ") + word;
        start = end + 1;
    }
    if (!line.empty()) result += indent + line + "\n";
    return result;
}

std::string render_findings(const SessionAnalysis& analysis, const ReportOptions& options) {
    std::string text;
    for (const RouteSummary& route : analysis.routes) {
        for (const RouteFinding& finding : route.findings) {
            text += "\n  " + detail::route_finding_title(route, finding) + "\n";
            text += "    " + finding.worst.summary + "\n";
            text += "    evidence from the strongest request:\n";
            for (const std::string& line : detail::evidence_lines(finding.worst)) text += "      " + line + "\n";
            const std::vector<std::string> sites = detail::site_lines(finding.worst, options.stack_depth);
            for (size_t i = 0; i < sites.size(); ++i) text += (i == 0 ? "    " : "      ") + sites[i] + "\n";
            text += "    fix:\n" + wrap(finding.worst.fix, "      ", 88);
        }
    }
    return text.empty() ? "\n  none\n" : text;
}

}  // namespace

std::string render_text(const SessionAnalysis& analysis, const ReportOptions& options) {
    std::string text = "routeheap report: " + analysis.path.string() + "\n";
    for (const std::string& line : detail::session_lines(analysis)) text += "  " + line + "\n";

    text += "\nRoutes (peak = heap growth during a request, native + V8)\n";
    text += analysis.routes.empty() ? "  no requests were recorded\n" : render_table(detail::route_rows(analysis), "  ");

    text += "\nFindings" + render_findings(analysis, options);

    text += "\nProcesses\n" + render_table(detail::process_rows(analysis), "  ");

    if (!analysis.warnings.empty()) {
        text += "\nWarnings\n";
        for (const std::string& warning : analysis.warnings) text += "  - " + warning + "\n";
    }
    return text;
}

}  // namespace routeheap::analysis
