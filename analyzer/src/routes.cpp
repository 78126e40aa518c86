// Route normalisation and per-route aggregation.
#include <routeheap/analysis/routes.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

namespace routeheap::analysis {

namespace {

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

bool is_numeric(std::string_view segment) {
    return !segment.empty() && std::all_of(segment.begin(), segment.end(), is_digit);
}

bool is_uuid(std::string_view segment) {
    if (segment.size() != 36) return false;
    for (size_t i = 0; i < segment.size(); ++i) {
        const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash_position ? segment[i] != '-' : !is_hex(segment[i])) return false;
    }
    return true;
}

// Eight hex digits with at least one decimal digit: commit hashes, ObjectIds, hex
// tokens. The digit rule keeps words made of a-f letters ("deadbeef", "facade") as is.
bool is_hex_id(std::string_view segment) {
    constexpr size_t kMinHexIdLength = 8;
    return segment.size() >= kMinHexIdLength && std::all_of(segment.begin(), segment.end(), is_hex) &&
           std::any_of(segment.begin(), segment.end(), is_digit);
}

bool is_id_segment(std::string_view segment) {
    return is_numeric(segment) || is_uuid(segment) || is_hex_id(segment);
}

}  // namespace

std::string printable_request_text(std::string_view text) {
    static constexpr char kHexDigits[] = "0123456789ABCDEF";
    std::string printable;
    printable.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte > 0x20 && byte < 0x7f) {
            printable.push_back(c);
            continue;
        }
        printable.push_back('%');
        printable.push_back(kHexDigits[byte >> 4]);
        printable.push_back(kHexDigits[byte & 0x0f]);
    }
    return printable;
}

std::string normalize_route(std::string_view path) {
    path = path.substr(0, path.find_first_of("?#"));
    std::string route;
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        const std::string_view segment = path.substr(start, end - start);
        route += is_id_segment(segment) ? std::string_view(":id") : segment;
        if (end < path.size()) route += '/';
        start = end + 1;
    }
    return route.empty() ? "/" : route;
}

int64_t percentile(std::vector<int64_t> values, double percent) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const auto rank = static_cast<size_t>(std::ceil(percent / 100.0 * static_cast<double>(values.size())));
    return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

namespace {

bool worse_than(const Finding& candidate, const Finding& current) {
    if (candidate.confidence != current.confidence) return candidate.confidence > current.confidence;
    const EvidenceItem* a = candidate.find("peak_growth_heap_bytes");
    const EvidenceItem* b = current.find("peak_growth_heap_bytes");
    return a != nullptr && b != nullptr && a->value > b->value;
}

void add_findings(RouteSummary& route, const Request& request) {
    for (const Finding& finding : request.findings) {
        auto it = std::find_if(route.findings.begin(), route.findings.end(),
                               [&](const RouteFinding& seen) { return seen.worst.kind == finding.kind; });
        if (it == route.findings.end()) {
            route.findings.push_back(RouteFinding{finding, 1});
            continue;
        }
        ++it->requests;
        if (worse_than(finding, it->worst)) it->worst = finding;
    }
}

void add_bytes(ByteTotals& totals, uint64_t bytes) {
    totals.total += bytes;
    totals.max = std::max(totals.max, bytes);
}

}  // namespace

std::vector<RouteSummary> summarize_routes(const std::vector<Request>& requests) {
    std::map<std::pair<std::string, std::string>, RouteSummary> routes;
    std::map<std::pair<std::string, std::string>, std::vector<int64_t>> growths;
    for (const Request& request : requests) {
        const auto key = std::make_pair(request.method, request.route);
        RouteSummary& route = routes[key];
        route.method = request.method;
        route.route = request.route;
        ++route.requests;
        add_bytes(route.request_bytes, request.request_bytes);
        add_bytes(route.response_bytes, request.response_bytes);
        add_findings(route, request);
        growths[key].push_back(request.growth.heap);
    }

    std::vector<RouteSummary> result;
    for (auto& [key, route] : routes) {
        route.peak_growth_p50 = percentile(growths[key], 50);
        route.peak_growth_max = percentile(growths[key], 100);
        result.push_back(std::move(route));
    }
    return result;
}

}  // namespace routeheap::analysis
