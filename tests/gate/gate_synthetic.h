// Synthetic recorded requests and client outcomes for the gate's unit tests.
#pragma once

#include <routeheap/analysis/gate.h>

#include <string>
#include <vector>

namespace routeheap::analysis::testing {

inline constexpr int64_t kMiB = 1024 * 1024;

inline GateRequest synthetic_request(const std::string& method, const std::string& route, int64_t peak_growth,
                                     uint64_t request_bytes, uint64_t response_bytes,
                                     std::vector<std::string> finding_kinds = {}, std::optional<int64_t> retained = {}) {
    GateRequest judged;
    Request& request = judged.request;
    request.method = method;
    request.path = route;
    request.route = route;
    request.status = 200;
    request.request_bytes = request_bytes;
    request.response_bytes = response_bytes;
    request.growth_measured = true;
    request.growth.heap = peak_growth;
    for (const std::string& kind : finding_kinds) request.findings.push_back(Finding{kind, Confidence::High, "", {}, "", {}});
    judged.retained_growth = retained;
    return judged;
}

inline ReplayOutcome synthetic_outcome(const std::string& method, const std::string& path, uint16_t status = 200,
                                       const std::string& error = "") {
    ReplayOutcome outcome;
    outcome.method = method;
    outcome.path = path;
    outcome.status = status;
    outcome.error = error;
    return outcome;
}

// Five requests of `route` whose peak growth is `growth` each, plus their outcomes.
inline void add_rounds(std::vector<GateRequest>& requests, std::vector<ReplayOutcome>& outcomes, const std::string& method,
                       const std::string& route, const std::vector<int64_t>& growth, uint64_t body_bytes,
                       std::vector<std::string> finding_kinds = {}) {
    for (int64_t value : growth) {
        requests.push_back(synthetic_request(method, route, value, body_bytes, body_bytes, finding_kinds, value / 100));
        outcomes.push_back(synthetic_outcome(method, route));
    }
}

}  // namespace routeheap::analysis::testing
