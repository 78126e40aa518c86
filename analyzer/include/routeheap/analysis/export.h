// Exports of allocation sites for other tools: collapsed ("folded") stacks as read by
// flamegraph.pl, inferno and speedscope.
#pragma once

#include <routeheap/analysis/analysis.h>

#include <string>
#include <vector>

namespace routeheap::analysis {

// Which requests an export covers: all of them, one route, or one request.
struct RequestSelection {
    std::string route;       // "/buffered" or "POST /buffered"; empty for any route
    std::string request_id;  // RequestId::to_string(); empty for any request
};

// The requests of `analysis` that `selection` names, in start order.
std::vector<const Request*> select_requests(const SessionAnalysis& analysis, const RequestSelection& selection);

// One "outer;...;inner BYTES" line per distinct stack, frames outermost first, weighted
// by the live bytes each stack held at its request's peak and summed over `requests`.
// Lines are sorted by stack so output diffs cleanly.
std::string render_folded(const std::vector<const Request*>& requests);

}  // namespace routeheap::analysis
