// `routeheap diff`: reading both sides, pairing their routes, and the renderings.
#include <routeheap/analysis/diff.h>
#include <routeheap/analysis/gate.h>
#include <routeheap/analysis/report.h>
#include <routeheap/analysis/session.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

namespace routeheap::analysis {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

int64_t integer_at(const json& object, const char* key) {
    const auto found = object.find(key);
    return found != object.end() && found->is_number() ? found->get<int64_t>() : 0;
}

// The routes of a report JSON (routeheap.report/1).
std::vector<DiffRoute> report_routes(const json& document) {
    std::vector<DiffRoute> routes;
    for (const json& entry : document.at("routes")) {
        DiffRoute route;
        route.method = entry.at("method").get<std::string>();
        route.route = entry.at("route").get<std::string>();
        route.requests = static_cast<uint32_t>(integer_at(entry, "requests"));
        route.peak_growth_p50 = integer_at(entry.at("peak_growth_bytes"), "p50");
        route.peak_growth_max = integer_at(entry.at("peak_growth_bytes"), "max");
        route.response_bytes_max = static_cast<uint64_t>(integer_at(entry.at("response_bytes"), "max"));
        for (const json& finding : entry.at("findings")) route.findings.insert(finding.at("kind").get<std::string>());
        routes.push_back(std::move(route));
    }
    return routes;
}

// The routes of a gate verdict (routeheap.gate/1).
std::vector<DiffRoute> gate_routes(const json& document) {
    std::vector<DiffRoute> routes;
    for (const json& entry : document.at("routes")) {
        DiffRoute route;
        route.method = entry.at("method").get<std::string>();
        route.route = entry.at("route").get<std::string>();
        route.requests = static_cast<uint32_t>(integer_at(entry, "requests"));
        route.peak_growth_p50 = integer_at(entry.at("peak_growth_bytes"), "p50");
        route.peak_growth_max = integer_at(entry.at("peak_growth_bytes"), "max");
        route.response_bytes_max = static_cast<uint64_t>(integer_at(entry, "response_bytes_max"));
        for (const auto& [kind, count] : entry.at("findings").items()) route.findings.insert(kind);
        routes.push_back(std::move(route));
    }
    return routes;
}

std::vector<DiffRoute> baseline_routes(const json& document) {
    std::vector<DiffRoute> routes;
    for (const json& entry : document.at("routes")) {
        DiffRoute route;
        route.method = entry.at("method").get<std::string>();
        route.route = entry.at("route").get<std::string>();
        route.requests = static_cast<uint32_t>(integer_at(entry, "requests"));
        route.peak_growth_p50 = integer_at(entry, "peak_growth_p50");
        route.peak_growth_max = integer_at(entry, "peak_growth_max");
        routes.push_back(std::move(route));
    }
    return routes;
}

std::string ratio_text(const std::optional<double>& ratio) {
    if (!ratio) return "-";
    char text[32];
    std::snprintf(text, sizeof(text), *ratio < 10 ? "%.2fx" : "%.1fx", *ratio);
    return text;
}

std::string growth_text(const std::optional<DiffRoute>& route) {
    return route ? format_bytes(route->peak_growth_p50) : "-";
}

std::string change_text(const RouteDiff& diff) {
    if (!diff.a) return "new";
    if (!diff.b) return "gone";
    const int64_t change = diff.change();
    std::string text = (change > 0 ? "+" : "") + format_bytes(change);
    if (const auto ratio = diff.change_ratio()) text += " (" + ratio_text(ratio) + ")";
    return text;
}

std::string kinds_text(const std::vector<std::string>& kinds) {
    std::string text;
    for (const std::string& kind : kinds) text += (text.empty() ? "" : ", ") + kind;
    return text.empty() ? "-" : text;
}

std::vector<std::vector<std::string>> table_rows(const std::vector<RouteDiff>& routes) {
    std::vector<std::vector<std::string>> rows;
    for (const RouteDiff& diff : routes) {
        rows.push_back({diff.method + " " + diff.route, growth_text(diff.a), growth_text(diff.b), change_text(diff),
                        diff.a ? ratio_text(response_ratio(*diff.a)) : "-", diff.b ? ratio_text(response_ratio(*diff.b)) : "-",
                        kinds_text(diff.appeared), kinds_text(diff.gone)});
    }
    return rows;
}

const std::vector<std::string> kColumns = {"route", "A peak p50", "B peak p50", "change", "A /response",
                                           "B /response", "findings appeared", "findings gone"};

json side_route_json(const std::optional<DiffRoute>& route) {
    if (!route) return nullptr;
    const auto ratio = response_ratio(*route);
    return {{"requests", route->requests},
            {"peak_growth_bytes", {{"p50", route->peak_growth_p50}, {"max", route->peak_growth_max}}},
            {"response_bytes_max", route->response_bytes_max},
            {"peak_growth_response_ratio", ratio ? json(std::round(*ratio * 1000) / 1000) : json(nullptr)},
            {"findings", route->findings}};
}

}  // namespace

DiffSide diff_side_from_analysis(const SessionAnalysis& analysis, const std::string& label) {
    DiffSide side{label, "session", {}};
    for (const RouteSummary& summary : analysis.routes) {
        DiffRoute route;
        route.method = summary.method;
        route.route = summary.route;
        route.requests = summary.requests;
        route.peak_growth_p50 = summary.peak_growth_p50;
        route.peak_growth_max = summary.peak_growth_max;
        route.response_bytes_max = summary.response_bytes.max;
        for (const RouteFinding& finding : summary.findings) route.findings.insert(finding.worst.kind);
        side.routes.push_back(std::move(route));
    }
    return side;
}

DiffSide diff_side_from_json(const json& document, const std::string& label) {
    const std::string schema = document.is_object() ? document.value("schema", "") : "";
    try {
        if (schema == kReportSchema) return {label, "report", report_routes(document)};
        if (schema == kGateSchema) return {label, "gate", gate_routes(document)};
        if (schema == kGateBaselineSchema) return {label, "baseline", baseline_routes(document), false};
    } catch (const json::exception& error) {
        throw DiffInputError(label + ": a " + schema + " document with a missing or invalid field (" + error.what() +
                             "); write it again with this routeheap version");
    }
    throw DiffInputError(label + ": unknown schema \"" + schema + "\"; give a session folder, a .rhtrace file, or JSON from " +
                         "routeheap report --format json, routeheap gate --json or --write-baseline");
}

DiffSide load_diff_side(const fs::path& path) {
    std::error_code error;
    if (!fs::exists(path, error)) throw DiffInputError(path.string() + " not found; give a session folder, a trace or a JSON file");
    if (fs::is_directory(path, error) || path.extension() == kTraceExtension) {
        try {
            return diff_side_from_analysis(analyze_session(open_session(path)), path.string());
        } catch (const SessionError& failure) {
            throw DiffInputError(failure.what());
        } catch (const TraceError& failure) {
            throw DiffInputError(failure.what());
        }
    }
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) throw DiffInputError("cannot read " + path.string());
    try {
        return diff_side_from_json(parse_json_document(text.str(), path.string()), path.string());
    } catch (const GateInputError& failure) {
        throw DiffInputError(failure.what());
    }
}

int64_t RouteDiff::change() const {
    return a && b ? b->peak_growth_p50 - a->peak_growth_p50 : 0;
}

std::optional<double> RouteDiff::change_ratio() const {
    if (!a || !b || a->peak_growth_p50 <= 0) return std::nullopt;
    return static_cast<double>(b->peak_growth_p50) / static_cast<double>(a->peak_growth_p50);
}

std::optional<double> response_ratio(const DiffRoute& route) {
    if (route.response_bytes_max == 0) return std::nullopt;
    return static_cast<double>(route.peak_growth_p50) / static_cast<double>(route.response_bytes_max);
}

std::vector<RouteDiff> diff_routes(const DiffSide& a, const DiffSide& b) {
    std::map<std::pair<std::string, std::string>, RouteDiff> paired;
    for (const DiffRoute& route : a.routes) {
        RouteDiff& diff = paired[{route.method, route.route}];
        diff.method = route.method;
        diff.route = route.route;
        diff.a = route;
    }
    for (const DiffRoute& route : b.routes) {
        RouteDiff& diff = paired[{route.method, route.route}];
        diff.method = route.method;
        diff.route = route.route;
        diff.b = route;
    }
    std::vector<RouteDiff> routes;
    for (auto& [key, diff] : paired) {
        if (!a.has_findings || !b.has_findings) {
            routes.push_back(std::move(diff));
            continue;
        }
        const std::set<std::string> none;
        const std::set<std::string>& before = diff.a ? diff.a->findings : none;
        const std::set<std::string>& after = diff.b ? diff.b->findings : none;
        std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(diff.appeared));
        std::set_difference(before.begin(), before.end(), after.begin(), after.end(), std::back_inserter(diff.gone));
        routes.push_back(std::move(diff));
    }
    return routes;
}

std::string render_diff_text(const DiffSide& a, const DiffSide& b, const std::vector<RouteDiff>& routes) {
    const auto rows = table_rows(routes);
    std::vector<size_t> widths;
    for (const std::string& column : kColumns) widths.push_back(column.size());
    for (const auto& row : rows) {
        for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
    }
    std::ostringstream out;
    out << "A: " << a.label << " (" << a.kind << ", " << count_of(a.routes.size(), "route", "routes") << ")\n";
    out << "B: " << b.label << " (" << b.kind << ", " << count_of(b.routes.size(), "route", "routes") << ")\n";
    if (!a.has_findings || !b.has_findings) out << "findings are not compared: a baseline stores none\n";
    out << "\n";
    const auto print_row = [&](const std::vector<std::string>& row) {
        std::string line;
        for (size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
        }
        out << line << "\n";
    };
    print_row(kColumns);
    for (const auto& row : rows) print_row(row);
    return out.str();
}

std::string render_diff_markdown(const DiffSide& a, const DiffSide& b, const std::vector<RouteDiff>& routes) {
    std::ostringstream out;
    out << "## routeheap diff\n\n- A: `" << a.label << "` (" << a.kind << ")\n- B: `" << b.label << "` (" << b.kind << ")\n\n|";
    for (const std::string& column : kColumns) out << " " << column << " |";
    out << "\n|---|---:|---:|---:|---:|---:|---|---|\n";
    for (const auto& row : table_rows(routes)) {
        out << "|";
        for (const std::string& cell : row) out << " " << cell << " |";
        out << "\n";
    }
    return out.str();
}

json render_diff_json(const DiffSide& a, const DiffSide& b, const std::vector<RouteDiff>& routes) {
    json entries = json::array();
    for (const RouteDiff& diff : routes) {
        const auto ratio = diff.change_ratio();
        entries.push_back({{"method", diff.method},
                           {"route", diff.route},
                           {"a", side_route_json(diff.a)},
                           {"b", side_route_json(diff.b)},
                           {"peak_growth_p50_change_bytes", diff.a && diff.b ? json(diff.change()) : json(nullptr)},
                           {"peak_growth_p50_ratio", ratio ? json(std::round(*ratio * 1000) / 1000) : json(nullptr)},
                           {"findings_appeared", diff.appeared},
                           {"findings_gone", diff.gone}});
    }
    return {{"schema", "routeheap.diff/1"},
            {"a", {{"path", a.label}, {"kind", a.kind}}},
            {"b", {{"path", b.label}, {"kind", b.kind}}},
            {"routes", std::move(entries)}};
}

}  // namespace routeheap::analysis
