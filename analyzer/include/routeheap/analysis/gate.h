// The CI memory gate: the request list and budget files, per-route statistics over the
// replayed requests, the verdict against budgets and a stored baseline, and the renderings
// CI systems read (terminal table, JSON, Markdown summary, JUnit XML).
#pragma once

#include <routeheap/analysis/analysis.h>
#include <routeheap/analysis/model.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace routeheap::analysis {

inline constexpr const char* kGateSchema = "routeheap.gate/1";
inline constexpr const char* kGateBaselineSchema = "routeheap.gate-baseline/1";

// An invalid request list, budget or baseline file. The message names the file, the line
// and the field, and states how to fix the value.
class GateInputError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Maps the JSON pointer of every value in a JSON text ("/routes/1/max_peak_growth") to
// the line where the value starts, so errors found after parsing can name a line.
class JsonLineIndex {
public:
    explicit JsonLineIndex(std::string_view text);

    // The line of the value at `pointer`, or of its nearest enclosing value; 1 for "".
    size_t line_of(const std::string& pointer) const;

private:
    std::map<std::string, size_t> lines_;
};

// Parses a JSON document, throwing GateInputError "FILE:LINE:COLUMN: invalid JSON: ..."
// for a syntax error.
nlohmann::json parse_json_document(const std::string& text, const std::string& file_label);

// "/routes/1/max_peak_growth" -> "routes[1].max_peak_growth".
std::string json_field_name(const std::string& pointer);

// Byte sizes: a non-negative integer, or a string such as "64 MiB", "1.5 GiB", "200 KB",
// "4096" or "4096 B" (KiB/MiB/GiB are powers of 1024, KB/MB/GB powers of 1000). Returns
// nothing for any other text.
std::optional<int64_t> parse_byte_size(std::string_view text);

// A tolerance such as "10%" or "10" (percent) as a fraction (0.1). Nothing when invalid
// or negative.
std::optional<double> parse_tolerance(std::string_view text);

// One request of the replay list.
struct ReplayRequest {
    std::string method = "GET";
    std::string path;  // as sent, query string included
    std::vector<std::pair<std::string, std::string>> headers;
    std::filesystem::path body_file;  // empty: no body; streamed from disk when set
    uint16_t expect_status = 200;
    size_t line = 0;  // in the request list file

    // "POST /stream": the method and the path without its query string.
    std::string label() const;
};

// Reads requests.json: {"requests": [{"method", "path", "headers", "body_file",
// "expect_status"}, ...]} or the bare array. A relative body_file is resolved against the
// file's folder and must exist. Throws GateInputError.
std::vector<ReplayRequest> parse_request_list(const std::string& text, const std::filesystem::path& file);
std::vector<ReplayRequest> load_request_list(const std::filesystem::path& file);

// The body size that peak growth is compared with for max_peak_growth_ratio.
enum class RatioBase { Response, Request, Larger };
const char* ratio_base_name(RatioBase base);

// The statistic over a route's replayed requests that a budget limits.
enum class GateStatistic { P50, P95, Max };
const char* gate_statistic_name(GateStatistic statistic);

// The finding kinds that fail a route unless its budget lists others.
const std::vector<std::string>& default_failing_findings();

// One entry of the budget file: limits for the routes that match `pattern`.
struct RouteBudget {
    std::string pattern;  // "POST /stream*", or "/stream*" for any method; "default" for the default
    std::string method;   // upper case; empty matches any method
    std::string route_glob;  // fnmatch(3) pattern on the route ("/users/:id"), "*" crosses "/"
    std::optional<int64_t> max_peak_growth_bytes;
    std::optional<double> max_peak_growth_ratio;
    RatioBase ratio_of = RatioBase::Larger;
    std::optional<int64_t> max_retained_growth_bytes;
    std::vector<std::string> failing_findings = default_failing_findings();
    GateStatistic statistic = GateStatistic::P95;
    size_t line = 0;  // in the budget file

    bool matches(std::string_view request_method, std::string_view route) const;
};

struct Budget {
    std::string file_label;  // the file name for messages
    std::optional<RouteBudget> fallback;  // the "default" entry: routes no entry matches
    std::vector<RouteBudget> routes;      // the first match applies

    // The entry for a route: the first matching one, else the default, else null.
    const RouteBudget* find(std::string_view method, std::string_view route) const;
};

// Reads memory-budget.json: {"default": {...}, "routes": [{"route": "POST /x*", ...}]}.
// Fields of an entry: max_peak_growth (bytes), max_peak_growth_ratio (number),
// ratio_of ("response", "request" or "larger"), max_retained_growth (bytes),
// fail_on_findings (kinds), statistic ("p50", "p95" or "max"). A route entry takes the
// default entry's fields that it does not set. Throws GateInputError.
Budget parse_budget(const std::string& text, const std::string& file_label);
Budget load_budget(const std::filesystem::path& file);

// The per-route statistics a baseline stores.
struct BaselineRoute {
    std::string method;
    std::string route;
    uint32_t requests = 0;
    int64_t peak_growth_p50 = 0;
    int64_t peak_growth_p95 = 0;
    int64_t peak_growth_max = 0;
};

struct Baseline {
    std::vector<BaselineRoute> routes;
    const BaselineRoute* find(std::string_view method, std::string_view route) const;
};

// Reads a baseline written by --write-baseline (schema routeheap.gate-baseline/1).
Baseline parse_baseline(const std::string& text, const std::string& file_label);
Baseline load_baseline(const std::filesystem::path& file);

// The replay client's result for one request it sent.
struct ReplayOutcome {
    std::string method;
    std::string path;  // as sent
    uint16_t expect_status = 200;
    uint16_t status = 0;  // 0 when no response arrived
    std::string error;    // transport error ("Connection reset by peer"); empty when none
    bool warmup = false;
};

// A recorded request the gate judges, with the growth retained after it.
struct GateRequest {
    Request request;
    // Heap (native live + V8 committed) at the first sample after the request ended,
    // minus the heap at the last sample before it started. Empty when not measured.
    std::optional<int64_t> retained_growth;
};

// The recorded requests of `analysis` that started at or after `judged_from_ns`
// (CLOCK_MONOTONIC, so warm-up requests sent before it are left out), with their retained
// growth measured on each process's memory timeline, read again from its trace.
std::vector<GateRequest> collect_gate_requests(const SessionAnalysis& analysis, uint64_t judged_from_ns);

struct GateOptions {
    std::optional<Baseline> baseline;
    double tolerance = 0.10;  // fraction of the baseline's p95 peak growth
    // Regressions smaller than this never fail the baseline check, in bytes.
    int64_t tolerance_floor_bytes = 1024 * 1024;
};

// One check of a route: a budget limit, the baseline band, the status codes, findings.
struct GateCheck {
    std::string name;    // "peak growth p95", "findings", "baseline p95", "responses"
    std::string limit;   // "<= 16 MiB"
    std::string actual;  // "412 MiB"
    bool passed = true;
    std::string reason;  // one sentence when the check failed
};

struct RouteVerdict {
    std::string method;
    std::string route;
    uint32_t requests = 0;       // recorded and judged
    uint32_t replayed = 0;       // sent by the client in the judged rounds
    int64_t peak_growth_p50 = 0;
    int64_t peak_growth_p95 = 0;
    int64_t peak_growth_max = 0;
    int64_t peak_growth_min = 0;
    std::optional<double> ratio_p50;  // peak growth / body size (the budget's ratio_of)
    std::optional<double> ratio_p95;
    std::optional<int64_t> retained_growth_p50;
    std::optional<int64_t> retained_growth_p95;
    uint64_t request_bytes_max = 0;
    uint64_t response_bytes_max = 0;
    uint32_t overlapping = 0;
    std::map<std::string, uint32_t> findings;  // kind -> requests with it
    std::string budget;  // the matching entry's pattern; empty when none matched
    size_t budget_line = 0;
    std::vector<GateCheck> checks;
    bool passed = true;
};

struct GateReport {
    std::vector<RouteVerdict> routes;  // by method, then route
    std::vector<std::string> warnings;
    std::vector<std::string> errors;  // failures outside a route, such as a server crash
    bool passed = true;

    // Run parameters, shown in the outputs.
    nlohmann::json run;
};

// Judges the recorded requests (warm-up excluded) and the client's outcomes against the
// budget and the options. Requests and outcomes are grouped by method and route.
GateReport judge_gate(const std::vector<GateRequest>& requests, const std::vector<ReplayOutcome>& outcomes,
                      const Budget& budget, const GateOptions& options);

std::string render_gate_table(const GateReport& report);
nlohmann::json render_gate_json(const GateReport& report);
std::string render_gate_markdown(const GateReport& report);
std::string render_gate_junit(const GateReport& report);
nlohmann::json render_gate_baseline(const GateReport& report);

// The text with &, <, >, " and ' replaced by XML entities and control bytes other than
// tab and newline dropped (XML 1.0 cannot carry them).
std::string xml_escape(std::string_view text);

}  // namespace routeheap::analysis
