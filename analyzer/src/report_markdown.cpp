// The markdown report: the same content as the text report, as tables and lists.
#include "report_tables.h"

#include <cctype>

namespace routeheap::analysis {

namespace {

std::string escape_cell(const std::string& cell) {
    std::string escaped;
    for (char c : cell) {
        if (c == '|') escaped += '\\';
        escaped += c;
    }
    return escaped;
}

std::string render_table(const std::vector<detail::Row>& rows) {
    std::string text;
    for (size_t r = 0; r < rows.size(); ++r) {
        text += "|";
        for (const std::string& cell : rows[r]) text += " " + escape_cell(cell) + " |";
        text += "\n";
        if (r == 0) {
            text += "|";
            for (size_t i = 0; i < rows[r].size(); ++i) text += " --- |";
            text += "\n";
        }
    }
    return text;
}

std::string render_findings(const SessionAnalysis& analysis, const ReportOptions& options) {
    std::string text;
    for (const RouteSummary& route : analysis.routes) {
        for (const RouteFinding& finding : route.findings) {
            text += "\n### " + detail::route_finding_title(route, finding) + "\n\n";
            text += finding.worst.summary + ".\n\nEvidence from the strongest request:\n\n";
            for (const std::string& line : detail::evidence_lines(finding.worst)) text += "- " + line + "\n";
            const std::vector<std::string> sites = detail::site_lines(finding.worst, options.stack_depth);
            if (!sites.empty()) {
                std::string header = sites[0];
                header[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(header[0])));
                text += "\n" + header + "\n\n";
                for (size_t i = 1; i < sites.size(); ++i) text += "- `" + sites[i] + "`\n";
            }
            text += "\n**Fix:** " + finding.worst.fix + "\n";
        }
    }
    return text.empty() ? "\nNone.\n" : text;
}

}  // namespace

std::string render_markdown(const SessionAnalysis& analysis, const ReportOptions& options) {
    std::string text = "# routeheap report: `" + analysis.path.string() + "`\n\n";
    for (const std::string& line : detail::session_lines(analysis)) text += "- " + line + "\n";

    text += "\n## Routes\n\nPeak is the heap growth during a request (native + V8).\n\n";
    text += analysis.routes.empty() ? "No requests were recorded.\n" : render_table(detail::route_rows(analysis));

    text += "\n## Findings\n" + render_findings(analysis, options);
    text += "\n## Processes\n\n" + render_table(detail::process_rows(analysis));

    if (!analysis.warnings.empty()) {
        text += "\n## Warnings\n\n";
        for (const std::string& warning : analysis.warnings) text += "- " + warning + "\n";
    }
    return text;
}

}  // namespace routeheap::analysis
