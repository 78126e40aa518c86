// Route-by-route comparison of two runs (`routeheap diff A B`): each side is a session
// folder or trace, a report JSON, a gate JSON or a gate baseline.
#pragma once

#include <routeheap/analysis/analysis.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace routeheap::analysis {

// A side that cannot be read; the message names the path and what it should be.
class DiffInputError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// One route of one side.
struct DiffRoute {
    std::string method;
    std::string route;
    uint32_t requests = 0;
    int64_t peak_growth_p50 = 0;
    int64_t peak_growth_max = 0;
    uint64_t response_bytes_max = 0;  // 0 when the side does not store it (a baseline)
    std::set<std::string> findings;   // finding kinds seen on the route
};

struct DiffSide {
    std::string label;  // the path as given
    std::string kind;   // "session", "report", "gate" or "baseline"
    std::vector<DiffRoute> routes;
    bool has_findings = true;  // false for a baseline, which stores no findings
};

// Reads a session folder or .rhtrace file (analysed), or a JSON file with schema
// routeheap.report/1, routeheap.gate/1 or routeheap.gate-baseline/1. Throws DiffInputError.
DiffSide load_diff_side(const std::filesystem::path& path);
DiffSide diff_side_from_analysis(const SessionAnalysis& analysis, const std::string& label);
DiffSide diff_side_from_json(const nlohmann::json& document, const std::string& label);

struct RouteDiff {
    std::string method;
    std::string route;
    std::optional<DiffRoute> a;  // empty when the route is only in B
    std::optional<DiffRoute> b;  // empty when the route is only in A
    std::vector<std::string> appeared;  // finding kinds in B and not in A
    std::vector<std::string> gone;      // finding kinds in A and not in B

    // B's p50 peak growth minus A's; 0 unless both sides have the route.
    int64_t change() const;
    // B's p50 peak growth / A's; empty unless both sides have it and A's is positive.
    std::optional<double> change_ratio() const;
};

// Every route of either side, by method then route. Findings are compared only when both
// sides store them.
std::vector<RouteDiff> diff_routes(const DiffSide& a, const DiffSide& b);

// p50 peak growth / largest response body of a side's route; empty without a response.
std::optional<double> response_ratio(const DiffRoute& route);

std::string render_diff_text(const DiffSide& a, const DiffSide& b, const std::vector<RouteDiff>& routes);
std::string render_diff_markdown(const DiffSide& a, const DiffSide& b, const std::vector<RouteDiff>& routes);
nlohmann::json render_diff_json(const DiffSide& a, const DiffSide& b, const std::vector<RouteDiff>& routes);

}  // namespace routeheap::analysis
