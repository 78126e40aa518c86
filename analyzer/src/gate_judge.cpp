// The gate's verdict: per-route statistics over the judged requests, checked against the
// budget, the client's status codes, the failing finding kinds and a stored baseline.
#include <routeheap/analysis/gate.h>
#include <routeheap/analysis/report.h>
#include <routeheap/analysis/routes.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace routeheap::analysis {

namespace {

using RouteKey = std::pair<std::string, std::string>;  // method, route

struct RouteGroup {
    std::vector<const GateRequest*> requests;
    std::vector<const ReplayOutcome*> outcomes;  // judged rounds only
};

std::string format_ratio(double ratio) {
    char text[32];
    std::snprintf(text, sizeof(text), ratio < 10 ? "%.2fx" : "%.1fx", ratio);
    return text;
}

int64_t pick(GateStatistic statistic, const std::vector<int64_t>& values) {
    switch (statistic) {
        case GateStatistic::P50: return percentile(values, 50);
        case GateStatistic::P95: return percentile(values, 95);
        case GateStatistic::Max: return percentile(values, 100);
    }
    return 0;
}

double pick_ratio(GateStatistic statistic, std::vector<double> values) {
    std::sort(values.begin(), values.end());
    double percent = 100;
    if (statistic == GateStatistic::P50) percent = 50;
    if (statistic == GateStatistic::P95) percent = 95;
    const auto rank = static_cast<size_t>(std::ceil(percent / 100.0 * static_cast<double>(values.size())));
    return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

uint64_t ratio_base_bytes(RatioBase base, const Request& request) {
    switch (base) {
        case RatioBase::Response: return request.response_bytes;
        case RatioBase::Request: return request.request_bytes;
        case RatioBase::Larger: return std::max(request.request_bytes, request.response_bytes);
    }
    return 0;
}

GateCheck check_responses(const RouteGroup& group) {
    GateCheck check{"responses", "expected status", "", true, ""};
    uint32_t wrong = 0;
    std::string first_problem;
    for (const ReplayOutcome* outcome : group.outcomes) {
        if (outcome->error.empty() && outcome->status == outcome->expect_status) continue;
        ++wrong;
        if (!first_problem.empty()) continue;
        first_problem = outcome->error.empty()
                            ? "got status " + std::to_string(outcome->status) + ", expected " + std::to_string(outcome->expect_status)
                            : outcome->error;
    }
    const size_t sent = group.outcomes.size();
    check.actual = std::to_string(sent - wrong) + "/" + std::to_string(sent) + " as expected";
    if (wrong > 0) {
        check.passed = false;
        check.reason = std::to_string(wrong) + " of " + std::to_string(sent) + " responses failed (" + first_problem + ")";
    }
    return check;
}

void add_growth_checks(const RouteBudget& budget, const RouteGroup& group, RouteVerdict& verdict) {
    std::vector<int64_t> growth;
    std::vector<double> ratios;
    for (const GateRequest* judged : group.requests) {
        const Request& request = judged->request;
        if (!request.growth_measured) continue;
        growth.push_back(request.growth.heap);
        const uint64_t base = ratio_base_bytes(budget.ratio_of, request);
        if (base > 0) ratios.push_back(static_cast<double>(request.growth.heap) / static_cast<double>(base));
    }
    if (!ratios.empty()) {
        verdict.ratio_p50 = pick_ratio(GateStatistic::P50, ratios);
        verdict.ratio_p95 = pick_ratio(GateStatistic::P95, ratios);
    }
    const std::string statistic = gate_statistic_name(budget.statistic);

    if (budget.max_peak_growth_bytes && !growth.empty()) {
        const int64_t actual = pick(budget.statistic, growth);
        GateCheck check{"peak growth " + statistic, "<= " + format_bytes(*budget.max_peak_growth_bytes), format_bytes(actual),
                        actual <= *budget.max_peak_growth_bytes, ""};
        if (!check.passed) {
            check.reason = "peak heap growth " + statistic + " " + format_bytes(actual) + " exceeds the budget of " +
                           format_bytes(*budget.max_peak_growth_bytes) + " per request";
        }
        verdict.checks.push_back(std::move(check));
    }
    if (budget.max_peak_growth_ratio && !ratios.empty()) {
        const double actual = pick_ratio(budget.statistic, ratios);
        const std::string base = ratio_base_name(budget.ratio_of);
        GateCheck check{"peak growth / " + base + " " + statistic, "<= " + format_ratio(*budget.max_peak_growth_ratio),
                        format_ratio(actual), actual <= *budget.max_peak_growth_ratio, ""};
        if (!check.passed) {
            check.reason = "peak heap growth " + statistic + " is " + format_ratio(actual) + " the " + base +
                           " body size, above the budget of " + format_ratio(*budget.max_peak_growth_ratio);
        }
        verdict.checks.push_back(std::move(check));
    }
}

void add_retained_check(const RouteBudget& budget, const RouteGroup& group, RouteVerdict& verdict) {
    std::vector<int64_t> retained;
    for (const GateRequest* judged : group.requests) {
        if (judged->retained_growth) retained.push_back(*judged->retained_growth);
    }
    if (retained.empty()) return;
    verdict.retained_growth_p50 = percentile(retained, 50);
    verdict.retained_growth_p95 = percentile(retained, 95);
    if (!budget.max_retained_growth_bytes) return;

    // The median, because a collection that runs inside one request's window makes that
    // request's value swing either way.
    const int64_t actual = *verdict.retained_growth_p50;
    GateCheck check{"retained growth p50", "<= " + format_bytes(*budget.max_retained_growth_bytes), format_bytes(actual),
                    actual <= *budget.max_retained_growth_bytes, ""};
    if (!check.passed) {
        check.reason = "heap retained after each request (median " + format_bytes(actual) + ") exceeds the budget of " +
                       format_bytes(*budget.max_retained_growth_bytes);
    }
    verdict.checks.push_back(std::move(check));
}

void add_findings_check(const RouteBudget& budget, RouteVerdict& verdict) {
    std::string failing;
    for (const std::string& kind : budget.failing_findings) {
        const auto found = verdict.findings.find(kind);
        if (found == verdict.findings.end()) continue;
        failing += (failing.empty() ? "" : ", ") + kind + " in " + std::to_string(found->second) + " of " +
                   std::to_string(verdict.requests) + " requests";
    }
    std::string limit = "none of ";
    for (const std::string& kind : budget.failing_findings) limit += kind + (kind == budget.failing_findings.back() ? "" : ", ");
    if (budget.failing_findings.empty()) limit = "any";
    std::string actual;
    for (const auto& [kind, count] : verdict.findings) actual += (actual.empty() ? "" : ", ") + kind + " x" + std::to_string(count);
    GateCheck check{"findings", limit, actual.empty() ? "none" : actual, failing.empty(), ""};
    if (!check.passed) check.reason = "findings that fail the gate: " + failing;
    verdict.checks.push_back(std::move(check));
}

void add_baseline_check(const GateOptions& options, RouteVerdict& verdict, std::vector<std::string>& warnings) {
    if (!options.baseline || verdict.requests == 0) return;
    const BaselineRoute* base = options.baseline->find(verdict.method, verdict.route);
    if (base == nullptr) {
        warnings.push_back(verdict.method + " " + verdict.route +
                           " is not in the baseline, so it is not compared; write a new baseline with --write-baseline");
        return;
    }
    // The band: the tolerance (at least the floor) plus the larger spread between p50 and
    // p95 seen in either run, so a route that is noisy by nature does not fail on noise.
    const int64_t noise = std::max<int64_t>({0, base->peak_growth_p95 - base->peak_growth_p50,
                                             verdict.peak_growth_p95 - verdict.peak_growth_p50});
    const auto tolerance = static_cast<int64_t>(std::llround(options.tolerance * static_cast<double>(std::max<int64_t>(base->peak_growth_p95, 0))));
    const int64_t limit = base->peak_growth_p95 + std::max(tolerance, options.tolerance_floor_bytes) + noise;
    GateCheck check{"baseline p95", "<= " + format_bytes(limit) + " (baseline " + format_bytes(base->peak_growth_p95) + ")",
                    format_bytes(verdict.peak_growth_p95), verdict.peak_growth_p95 <= limit, ""};
    if (!check.passed) {
        char percent[32];
        const double change = base->peak_growth_p95 > 0
                                  ? 100.0 * static_cast<double>(verdict.peak_growth_p95 - base->peak_growth_p95) /
                                        static_cast<double>(base->peak_growth_p95)
                                  : 0;
        std::snprintf(percent, sizeof(percent), "%+.0f%%", change);
        check.reason = "peak growth p95 regressed from " + format_bytes(base->peak_growth_p95) + " to " +
                       format_bytes(verdict.peak_growth_p95) + (base->peak_growth_p95 > 0 ? std::string(" (") + percent + ")" : "") +
                       ", beyond the tolerance band of " + format_bytes(limit);
    }
    verdict.checks.push_back(std::move(check));
}

RouteVerdict judge_route(const RouteKey& key, const RouteGroup& group, const Budget& budget, const GateOptions& options,
                         std::vector<std::string>& warnings) {
    RouteVerdict verdict;
    verdict.method = key.first;
    verdict.route = key.second;
    verdict.requests = static_cast<uint32_t>(group.requests.size());
    verdict.replayed = static_cast<uint32_t>(group.outcomes.size());

    std::vector<int64_t> growth;
    for (const GateRequest* judged : group.requests) {
        const Request& request = judged->request;
        if (request.growth_measured) growth.push_back(request.growth.heap);
        verdict.request_bytes_max = std::max(verdict.request_bytes_max, request.request_bytes);
        verdict.response_bytes_max = std::max(verdict.response_bytes_max, request.response_bytes);
        if (request.overlapping) ++verdict.overlapping;
        std::set<std::string> kinds;
        for (const Finding& finding : request.findings) kinds.insert(finding.kind);
        for (const std::string& kind : kinds) ++verdict.findings[kind];
    }
    if (!growth.empty()) {
        verdict.peak_growth_p50 = percentile(growth, 50);
        verdict.peak_growth_p95 = percentile(growth, 95);
        verdict.peak_growth_max = *std::max_element(growth.begin(), growth.end());
        verdict.peak_growth_min = *std::min_element(growth.begin(), growth.end());
    }

    RouteBudget unbudgeted;  // no limits: only the default failing findings apply
    const RouteBudget* entry = budget.find(verdict.method, verdict.route);
    if (entry != nullptr) {
        verdict.budget = entry->pattern;
        verdict.budget_line = entry->line;
    } else {
        warnings.push_back(verdict.method + " " + verdict.route + " matches no entry of " + budget.file_label +
                           ", so only the default failing findings apply; add a route entry or a \"default\"");
        entry = &unbudgeted;
    }

    if (!group.outcomes.empty()) verdict.checks.push_back(check_responses(group));
    if (verdict.requests == 0) {
        verdict.checks.push_back({"recorded", ">= 1 request", "0", false,
                                  "the agent recorded none of the " + std::to_string(verdict.replayed) +
                                      " requests sent; check that the server itself answers them (not a proxy or a child "
                                      "that did not load the agent)"});
    }
    add_growth_checks(*entry, group, verdict);
    add_retained_check(*entry, group, verdict);
    add_findings_check(*entry, verdict);
    add_baseline_check(options, verdict, warnings);
    if (verdict.overlapping > 0) {
        warnings.push_back(verdict.method + " " + verdict.route + ": " + std::to_string(verdict.overlapping) + " of " +
                           std::to_string(verdict.requests) +
                           " requests overlapped others, so their peak growth includes the others' memory");
    }

    verdict.passed = std::all_of(verdict.checks.begin(), verdict.checks.end(), [](const GateCheck& c) { return c.passed; });
    return verdict;
}

}  // namespace

const char* ratio_base_name(RatioBase base) {
    switch (base) {
        case RatioBase::Response: return "response";
        case RatioBase::Request: return "request";
        case RatioBase::Larger: return "larger";
    }
    return "larger";
}

const char* gate_statistic_name(GateStatistic statistic) {
    switch (statistic) {
        case GateStatistic::P50: return "p50";
        case GateStatistic::P95: return "p95";
        case GateStatistic::Max: return "max";
    }
    return "p95";
}

const std::vector<std::string>& default_failing_findings() {
    static const std::vector<std::string> kinds = {"buffered-response", "buffered-upload", "ignored-backpressure",
                                                   "per-request-leak"};
    return kinds;
}

GateReport judge_gate(const std::vector<GateRequest>& requests, const std::vector<ReplayOutcome>& outcomes,
                      const Budget& budget, const GateOptions& options) {
    std::map<RouteKey, RouteGroup> groups;
    for (const GateRequest& judged : requests) {
        groups[{judged.request.method, judged.request.route}].requests.push_back(&judged);
    }
    for (const ReplayOutcome& outcome : outcomes) {
        if (outcome.warmup) continue;
        groups[{outcome.method, normalize_route(outcome.path)}].outcomes.push_back(&outcome);
    }

    GateReport report;
    for (const auto& [key, group] : groups) {
        report.routes.push_back(judge_route(key, group, budget, options, report.warnings));
        if (!report.routes.back().passed) report.passed = false;
    }

    for (const RouteBudget& entry : budget.routes) {
        const bool used = std::any_of(report.routes.begin(), report.routes.end(),
                                      [&](const RouteVerdict& route) { return route.budget == entry.pattern; });
        if (!used) {
            report.warnings.push_back(budget.file_label + ":" + std::to_string(entry.line) + ": the budget for \"" +
                                      entry.pattern + "\" matched no replayed request; add the request to the request list "
                                      "or remove the entry");
        }
    }
    if (options.baseline) {
        for (const BaselineRoute& base : options.baseline->routes) {
            const bool seen = std::any_of(report.routes.begin(), report.routes.end(), [&](const RouteVerdict& route) {
                return route.method == base.method && route.route == base.route;
            });
            if (!seen) report.warnings.push_back("the baseline's " + base.method + " " + base.route + " was not replayed");
        }
    }
    return report;
}

}  // namespace routeheap::analysis
