// Route grouping: a request's path with id-like segments collapsed to ":id", and the
// per-route aggregation of requests.
#pragma once

#include <routeheap/analysis/finding.h>
#include <routeheap/analysis/model.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace routeheap::analysis {

// Collapses numeric segments ("42"), UUIDs (8-4-4-4-12 hex digits) and hex ids (at
// least 8 hex digits with at least one decimal digit, such as a 24-digit ObjectId) to
// ":id". Drops a query string or fragment if one is present.
std::string normalize_route(std::string_view path);

// Percent-encodes every byte of a method or path that is not printable ASCII ("%E9"),
// as URLs write them, so reports never carry raw control bytes or invalid UTF-8.
std::string printable_request_text(std::string_view text);

struct ByteTotals {
    uint64_t total = 0;
    uint64_t max = 0;
};

// A finding kind seen on a route: the most confident instance stands for the route.
struct RouteFinding {
    Finding worst;          // the instance with the highest confidence, then largest growth
    uint32_t requests = 0;  // requests of the route with this kind of finding
};

struct RouteSummary {
    std::string method;
    std::string route;
    uint32_t requests = 0;
    int64_t peak_growth_p50 = 0;  // heap growth (native + v8), nearest-rank median
    int64_t peak_growth_max = 0;
    ByteTotals request_bytes;
    ByteTotals response_bytes;
    std::vector<RouteFinding> findings;
};

// Groups requests by method and route, sorted by method then route.
std::vector<RouteSummary> summarize_routes(const std::vector<Request>& requests);

// Nearest-rank percentile (0 < percent <= 100) of unsorted values; 0 when empty.
int64_t percentile(std::vector<int64_t> values, double percent);

}  // namespace routeheap::analysis
