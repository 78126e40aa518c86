// Renderings of the gate's verdict: a terminal table, JSON (schema routeheap.gate/1), a
// Markdown summary for CI step summaries, JUnit XML with one test case per route, and the
// baseline that --write-baseline stores.
#include <routeheap/analysis/gate.h>
#include <routeheap/analysis/report.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace routeheap::analysis {

namespace {

using nlohmann::json;

std::string signed_bytes(int64_t bytes) {
    return (bytes > 0 ? "+" : "") + format_bytes(bytes);
}

std::string ratio_text(const std::optional<double>& ratio) {
    if (!ratio) return "-";
    char text[32];
    std::snprintf(text, sizeof(text), *ratio < 10 ? "%.2fx" : "%.1fx", *ratio);
    return text;
}

std::string findings_text(const RouteVerdict& route) {
    std::string text;
    for (const auto& [kind, count] : route.findings) {
        text += (text.empty() ? "" : ", ") + kind + " " + std::to_string(count) + "/" + std::to_string(route.requests);
    }
    return text.empty() ? "-" : text;
}

std::string verdict_word(const RouteVerdict& route) {
    return route.passed ? "pass" : "FAIL";
}

size_t failed_routes(const GateReport& report) {
    return static_cast<size_t>(std::count_if(report.routes.begin(), report.routes.end(),
                                             [](const RouteVerdict& route) { return !route.passed; }));
}

std::string summary_line(const GateReport& report) {
    if (report.passed) {
        return "PASS: " + count_of(report.routes.size(), "route", "routes") + " within budget";
    }
    std::string line = "FAIL: " + std::to_string(failed_routes(report)) + " of " +
                       count_of(report.routes.size(), "route", "routes") + " broke the budget";
    if (!report.errors.empty()) line += ", " + count_of(report.errors.size(), "run error", "run errors");
    return line;
}

std::vector<std::string> failure_reasons(const RouteVerdict& route) {
    std::vector<std::string> reasons;
    for (const GateCheck& check : route.checks) {
        if (!check.passed) reasons.push_back(check.reason);
    }
    return reasons;
}

std::vector<std::string> table_row(const RouteVerdict& route) {
    return {route.method + " " + route.route,
            std::to_string(route.requests) + "/" + std::to_string(route.replayed),
            signed_bytes(route.peak_growth_p50),
            signed_bytes(route.peak_growth_p95),
            ratio_text(route.ratio_p95),
            route.retained_growth_p50 ? signed_bytes(*route.retained_growth_p50) : "-",
            findings_text(route),
            verdict_word(route)};
}

const std::vector<std::string> kColumns = {"route", "requests", "peak p50", "peak p95", "ratio p95",
                                           "retained p50", "findings", "verdict"};

std::string markdown_cell(const std::string& text) {
    std::string cell;
    for (char c : text) {
        if (c == '|') cell += "\\|";
        else if (c == '\n') cell += ' ';
        else cell += c;
    }
    return cell;
}

json check_json(const GateCheck& check) {
    return {{"name", check.name}, {"limit", check.limit}, {"actual", check.actual}, {"passed", check.passed},
            {"reason", check.passed ? json(nullptr) : json(check.reason)}};
}

json optional_json(const std::optional<int64_t>& value) {
    return value ? json(*value) : json(nullptr);
}

json optional_ratio_json(const std::optional<double>& value) {
    return value ? json(std::round(*value * 1000) / 1000) : json(nullptr);
}

json route_json(const RouteVerdict& route) {
    json checks = json::array();
    for (const GateCheck& check : route.checks) checks.push_back(check_json(check));
    return {
        {"method", route.method},
        {"route", route.route},
        {"passed", route.passed},
        {"requests", route.requests},
        {"replayed", route.replayed},
        {"peak_growth_bytes",
         {{"p50", route.peak_growth_p50}, {"p95", route.peak_growth_p95}, {"min", route.peak_growth_min}, {"max", route.peak_growth_max}}},
        {"peak_growth_ratio", {{"p50", optional_ratio_json(route.ratio_p50)}, {"p95", optional_ratio_json(route.ratio_p95)}}},
        {"retained_growth_bytes", {{"p50", optional_json(route.retained_growth_p50)}, {"p95", optional_json(route.retained_growth_p95)}}},
        {"request_bytes_max", route.request_bytes_max},
        {"response_bytes_max", route.response_bytes_max},
        {"overlapping", route.overlapping},
        {"findings", route.findings},
        {"budget", route.budget.empty() ? json(nullptr) : json{{"route", route.budget}, {"line", route.budget_line}}},
        {"checks", std::move(checks)},
    };
}

}  // namespace

std::string xml_escape(std::string_view text) {
    std::string escaped;
    for (char c : text) {
        switch (c) {
            case '&': escaped += "&amp;"; break;
            case '<': escaped += "&lt;"; break;
            case '>': escaped += "&gt;"; break;
            case '"': escaped += "&quot;"; break;
            case '\'': escaped += "&apos;"; break;
            default:
                if (static_cast<unsigned char>(c) >= 0x20 || c == '\n' || c == '\t') escaped += c;
        }
    }
    return escaped;
}

std::string render_gate_table(const GateReport& report) {
    std::vector<std::vector<std::string>> rows;
    for (const RouteVerdict& route : report.routes) rows.push_back(table_row(route));
    std::vector<size_t> widths;
    for (const std::string& column : kColumns) widths.push_back(column.size());
    for (const auto& row : rows) {
        for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
    }

    std::ostringstream out;
    const auto print_row = [&](const std::vector<std::string>& row) {
        std::string line;
        for (size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
        }
        out << line << "\n";
    };
    out << "routeheap gate: " << summary_line(report) << "\n\n";
    print_row(kColumns);
    for (const auto& row : rows) print_row(row);

    for (const RouteVerdict& route : report.routes) {
        if (route.passed) continue;
        out << "\n" << route.method << " " << route.route << " failed";
        if (!route.budget.empty()) out << " (budget \"" << route.budget << "\", line " << route.budget_line << ")";
        out << ":\n";
        for (const std::string& reason : failure_reasons(route)) out << "  - " << reason << "\n";
    }
    if (!report.errors.empty()) {
        out << "\nerrors:\n";
        for (const std::string& error : report.errors) out << "  - " << error << "\n";
    }
    if (!report.warnings.empty()) {
        out << "\nwarnings:\n";
        for (const std::string& warning : report.warnings) out << "  - " << warning << "\n";
    }
    return out.str();
}

json render_gate_json(const GateReport& report) {
    json routes = json::array();
    for (const RouteVerdict& route : report.routes) routes.push_back(route_json(route));
    return {{"schema", kGateSchema}, {"passed", report.passed}, {"run", report.run}, {"routes", std::move(routes)},
            {"errors", report.errors}, {"warnings", report.warnings}};
}

std::string render_gate_markdown(const GateReport& report) {
    std::ostringstream out;
    out << "## routeheap gate: " << summary_line(report) << "\n\n";
    out << "|";
    for (const std::string& column : kColumns) out << " " << column << " |";
    out << "\n|";
    for (size_t i = 0; i < kColumns.size(); ++i) out << (i == 0 || i + 1 == kColumns.size() || i == 6 ? "---|" : "---:|");
    out << "\n";
    for (const RouteVerdict& route : report.routes) {
        std::vector<std::string> row = table_row(route);
        row.back() = route.passed ? "pass" : "**FAIL**";
        out << "|";
        for (const std::string& cell : row) out << " " << markdown_cell(cell) << " |";
        out << "\n";
    }

    const bool any_failure = failed_routes(report) > 0 || !report.errors.empty();
    if (any_failure) out << "\n### Failures\n\n";
    for (const RouteVerdict& route : report.routes) {
        for (const std::string& reason : failure_reasons(route)) {
            out << "- **" << markdown_cell(route.method + " " + route.route) << "**: " << markdown_cell(reason) << "\n";
        }
    }
    for (const std::string& error : report.errors) out << "- " << markdown_cell(error) << "\n";
    if (!report.warnings.empty()) {
        out << "\n### Warnings\n\n";
        for (const std::string& warning : report.warnings) out << "- " << markdown_cell(warning) << "\n";
    }
    return out.str();
}

std::string render_gate_junit(const GateReport& report) {
    const size_t failures = failed_routes(report);
    const size_t tests = report.routes.size() + report.errors.size();
    std::ostringstream counts;
    counts << "tests=\"" << tests << "\" failures=\"" << failures << "\" errors=\"" << report.errors.size() << "\"";

    std::ostringstream out;
    out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out << "<testsuites name=\"routeheap gate\" " << counts.str() << ">\n";
    out << "  <testsuite name=\"routeheap gate\" " << counts.str() << ">\n";
    for (const RouteVerdict& route : report.routes) {
        const std::string name = xml_escape(route.method + " " + route.route);
        if (route.passed) {
            out << "    <testcase classname=\"routeheap.gate\" name=\"" << name << "\"/>\n";
            continue;
        }
        const std::vector<std::string> reasons = failure_reasons(route);
        out << "    <testcase classname=\"routeheap.gate\" name=\"" << name << "\">\n";
        out << "      <failure type=\"memory budget\" message=\"" << xml_escape(reasons.front()) << "\">";
        for (const GateCheck& check : route.checks) {
            out << xml_escape(check.name + ": " + check.actual + " (limit " + check.limit + ")" +
                              (check.passed ? "" : " FAILED: " + check.reason))
                << "\n";
        }
        out << "</failure>\n    </testcase>\n";
    }
    for (size_t i = 0; i < report.errors.size(); ++i) {
        out << "    <testcase classname=\"routeheap.gate\" name=\"run error " << i + 1 << "\">\n";
        out << "      <error type=\"run\" message=\"" << xml_escape(report.errors[i]) << "\"/>\n    </testcase>\n";
    }
    if (!report.warnings.empty()) {
        out << "    <system-out>";
        for (const std::string& warning : report.warnings) out << xml_escape("warning: " + warning) << "\n";
        out << "</system-out>\n";
    }
    out << "  </testsuite>\n</testsuites>\n";
    return out.str();
}

json render_gate_baseline(const GateReport& report) {
    json routes = json::array();
    for (const RouteVerdict& route : report.routes) {
        if (route.requests == 0) continue;
        routes.push_back({{"method", route.method},
                          {"route", route.route},
                          {"requests", route.requests},
                          {"peak_growth_p50", route.peak_growth_p50},
                          {"peak_growth_p95", route.peak_growth_p95},
                          {"peak_growth_max", route.peak_growth_max}});
    }
    return {{"schema", kGateBaselineSchema}, {"routes", std::move(routes)}};
}

}  // namespace routeheap::analysis
