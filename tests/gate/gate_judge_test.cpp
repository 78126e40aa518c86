// Tests of the gate's verdict: budget limits on p50/p95, ratios, retained growth,
// findings, status codes, unmatched budget entries and the baseline's tolerance band.
#include "gate_synthetic.h"

#include <gtest/gtest.h>

namespace routeheap::analysis {
namespace {

using namespace routeheap::analysis::testing;

const RouteVerdict& route_of(const GateReport& report, const std::string& route) {
    for (const RouteVerdict& verdict : report.routes) {
        if (verdict.route == route) return verdict;
    }
    throw std::runtime_error("no route " + route);
}

const GateCheck* check_of(const RouteVerdict& verdict, const std::string& prefix) {
    for (const GateCheck& check : verdict.checks) {
        if (check.name.starts_with(prefix)) return &check;
    }
    return nullptr;
}

TEST(GateJudge, PassesWithinBudget) {
    std::vector<GateRequest> requests;
    std::vector<ReplayOutcome> outcomes;
    add_rounds(requests, outcomes, "POST", "/stream", {2 * kMiB, 3 * kMiB, 2 * kMiB, 4 * kMiB, 3 * kMiB}, 20 * kMiB);
    const Budget budget = parse_budget(R"({"default": {"max_peak_growth": "8 MiB", "max_peak_growth_ratio": 0.5}})", "b.json");

    const GateReport report = judge_gate(requests, outcomes, budget, {});
    EXPECT_TRUE(report.passed);
    const RouteVerdict& stream = route_of(report, "/stream");
    EXPECT_EQ(stream.requests, 5u);
    EXPECT_EQ(stream.replayed, 5u);
    EXPECT_EQ(stream.peak_growth_p50, 3 * kMiB);
    EXPECT_EQ(stream.peak_growth_p95, 4 * kMiB);
    EXPECT_EQ(stream.budget, "default");
    ASSERT_TRUE(stream.ratio_p95);
    EXPECT_DOUBLE_EQ(*stream.ratio_p95, 0.2);
}

TEST(GateJudge, JudgesTheConfiguredStatistic) {
    std::vector<GateRequest> requests;
    std::vector<ReplayOutcome> outcomes;
    // One outlier in five: p95 includes it, p50 does not.
    add_rounds(requests, outcomes, "POST", "/a", {kMiB, kMiB, kMiB, kMiB, 50 * kMiB}, kMiB);
    const GateReport p95 = judge_gate(requests, outcomes, parse_budget(R"({"default": {"max_peak_growth": "8 MiB"}})", "b"), {});
    const GateReport p50 =
        judge_gate(requests, outcomes, parse_budget(R"({"default": {"max_peak_growth": "8 MiB", "statistic": "p50"}})", "b"), {});
    EXPECT_FALSE(p95.passed);
    EXPECT_TRUE(p50.passed);
    const GateCheck* check = check_of(route_of(p95, "/a"), "peak growth p95");
    ASSERT_NE(check, nullptr);
    EXPECT_NE(check->reason.find("50.0 MiB exceeds the budget of 8.0 MiB"), std::string::npos) << check->reason;
}

TEST(GateJudge, RatioUsesTheChosenBody) {
    std::vector<GateRequest> requests = {synthetic_request("POST", "/upload", 40 * kMiB, 20 * kMiB, kMiB)};
    std::vector<ReplayOutcome> outcomes = {synthetic_outcome("POST", "/upload")};
    const auto judge = [&](const char* base) {
        return judge_gate(requests, outcomes,
                          parse_budget(std::string(R"({"default": {"max_peak_growth_ratio": 3, "ratio_of": ")") + base + "\"}}", "b"), {});
    };
    EXPECT_FALSE(judge("response").passed);  // 40x the 1 MiB response
    EXPECT_TRUE(judge("request").passed);    // 2x the 20 MiB upload
    EXPECT_TRUE(judge("larger").passed);
}

TEST(GateJudge, FailingFindingsNameTheirCount) {
    std::vector<GateRequest> requests;
    std::vector<ReplayOutcome> outcomes;
    add_rounds(requests, outcomes, "POST", "/buffered", {kMiB, kMiB}, kMiB, {"buffered-response"});
    add_rounds(requests, outcomes, "POST", "/churn", {kMiB}, kMiB, {"allocation-churn"});
    const GateReport report = judge_gate(requests, outcomes, parse_budget(R"({"default": {}})", "b"), {});

    EXPECT_FALSE(report.passed);
    const GateCheck* buffered = check_of(route_of(report, "/buffered"), "findings");
    ASSERT_NE(buffered, nullptr);
    EXPECT_FALSE(buffered->passed);
    EXPECT_NE(buffered->reason.find("buffered-response in 2 of 2 requests"), std::string::npos) << buffered->reason;
    EXPECT_TRUE(route_of(report, "/churn").passed) << "allocation-churn is not in the default failing list";
}

TEST(GateJudge, RetainedGrowthJudgesTheMedian) {
    std::vector<GateRequest> requests;
    std::vector<ReplayOutcome> outcomes;
    for (int64_t retained : {kMiB, 2 * kMiB, 30 * kMiB}) {
        requests.push_back(synthetic_request("GET", "/leak", kMiB, 0, 100, {}, retained));
        outcomes.push_back(synthetic_outcome("GET", "/leak"));
    }
    const GateReport within = judge_gate(requests, outcomes, parse_budget(R"({"default": {"max_retained_growth": "4 MiB"}})", "b"), {});
    const GateReport over = judge_gate(requests, outcomes, parse_budget(R"({"default": {"max_retained_growth": "1 MiB"}})", "b"), {});
    EXPECT_TRUE(within.passed);
    EXPECT_FALSE(over.passed);
    EXPECT_EQ(route_of(within, "/leak").retained_growth_p50, 2 * kMiB);
}

TEST(GateJudge, WrongStatusAndTransportErrorsFail) {
    std::vector<GateRequest> requests;
    std::vector<ReplayOutcome> outcomes;
    add_rounds(requests, outcomes, "POST", "/a", {kMiB, kMiB}, kMiB);
    outcomes[0].status = 500;
    outcomes.push_back(synthetic_outcome("POST", "/a", 0, "Connection reset by peer"));
    const GateReport report = judge_gate(requests, outcomes, parse_budget(R"({"default": {}})", "b"), {});
    const GateCheck* responses = check_of(route_of(report, "/a"), "responses");
    ASSERT_NE(responses, nullptr);
    EXPECT_FALSE(responses->passed);
    EXPECT_NE(responses->reason.find("2 of 3 responses failed (got status 500, expected 200)"), std::string::npos)
        << responses->reason;
}

TEST(GateJudge, WarmupOutcomesAreNotJudged) {
    std::vector<GateRequest> requests;
    std::vector<ReplayOutcome> outcomes;
    add_rounds(requests, outcomes, "GET", "/a", {kMiB}, 10);
    ReplayOutcome warmup = synthetic_outcome("GET", "/a", 503);
    warmup.warmup = true;
    outcomes.push_back(warmup);
    EXPECT_TRUE(judge_gate(requests, outcomes, parse_budget(R"({"default": {}})", "b"), {}).passed);
}

TEST(GateJudge, UnrecordedRouteFails) {
    const std::vector<ReplayOutcome> outcomes = {synthetic_outcome("GET", "/proxied")};
    const GateReport report = judge_gate({}, outcomes, parse_budget(R"({"default": {}})", "b"), {});
    EXPECT_FALSE(report.passed);
    EXPECT_NE(check_of(route_of(report, "/proxied"), "recorded"), nullptr);
}

TEST(GateJudge, WarnsAboutUnusedBudgetAndUnbudgetedRoutes) {
    std::vector<GateRequest> requests;
    std::vector<ReplayOutcome> outcomes;
    add_rounds(requests, outcomes, "GET", "/a", {kMiB}, 10);
    const Budget budget = parse_budget("{\"routes\": [\n  {\"route\": \"GET /never\", \"max_peak_growth\": 1}\n]}", "memory-budget.json");
    const GateReport report = judge_gate(requests, outcomes, budget, {});
    ASSERT_EQ(report.warnings.size(), 2u);
    EXPECT_NE(report.warnings[0].find("GET /a matches no entry of memory-budget.json"), std::string::npos) << report.warnings[0];
    EXPECT_NE(report.warnings[1].find("memory-budget.json:2: the budget for \"GET /never\" matched no replayed request"),
              std::string::npos)
        << report.warnings[1];
}

GateReport judge_against_baseline(const std::vector<int64_t>& growth, int64_t base_p50, int64_t base_p95, double tolerance) {
    std::vector<GateRequest> requests;
    std::vector<ReplayOutcome> outcomes;
    add_rounds(requests, outcomes, "POST", "/a", growth, 100 * kMiB);
    GateOptions options;
    options.baseline = Baseline{{BaselineRoute{"POST", "/a", 5, base_p50, base_p95, base_p95}}};
    options.tolerance = tolerance;
    return judge_gate(requests, outcomes, parse_budget(R"({"default": {}})", "b"), options);
}

TEST(GateBaseline, WithinToleranceBandPasses) {
    // Baseline p95 100 MiB, tolerance 10%: up to 110 MiB passes when neither run is noisy.
    EXPECT_TRUE(judge_against_baseline({109 * kMiB, 109 * kMiB, 109 * kMiB}, 100 * kMiB, 100 * kMiB, 0.10).passed);
}

TEST(GateBaseline, RegressionBeyondBandFails) {
    const GateReport report = judge_against_baseline({112 * kMiB, 112 * kMiB, 112 * kMiB}, 100 * kMiB, 100 * kMiB, 0.10);
    EXPECT_FALSE(report.passed);
    const GateCheck* check = check_of(route_of(report, "/a"), "baseline");
    ASSERT_NE(check, nullptr);
    EXPECT_NE(check->reason.find("regressed from 100 MiB to 112 MiB (+12%)"), std::string::npos) << check->reason;
}

TEST(GateBaseline, NoiseWidensTheBand) {
    // The baseline's own p50..p95 spread (20 MiB) is added to the 10% band.
    EXPECT_TRUE(judge_against_baseline({125 * kMiB, 125 * kMiB, 125 * kMiB}, 80 * kMiB, 100 * kMiB, 0.10).passed);
    EXPECT_FALSE(judge_against_baseline({135 * kMiB, 135 * kMiB, 135 * kMiB}, 80 * kMiB, 100 * kMiB, 0.10).passed);
}

TEST(GateBaseline, FloorCoversTinyBaselines) {
    // 10% of 10 KiB is 1 KiB, but regressions below the 1 MiB floor never fail.
    EXPECT_TRUE(judge_against_baseline({900 * 1024}, 10 * 1024, 10 * 1024, 0.10).passed);
    EXPECT_FALSE(judge_against_baseline({2 * kMiB}, 10 * 1024, 10 * 1024, 0.10).passed);
}

TEST(GateBaseline, MissingRouteWarns) {
    std::vector<GateRequest> requests;
    std::vector<ReplayOutcome> outcomes;
    add_rounds(requests, outcomes, "GET", "/new", {kMiB}, 10);
    GateOptions options;
    options.baseline = Baseline{{BaselineRoute{"GET", "/old", 5, 1, 1, 1}}};
    const GateReport report = judge_gate(requests, outcomes, parse_budget(R"({"default": {}})", "b"), options);
    EXPECT_TRUE(report.passed);
    ASSERT_EQ(report.warnings.size(), 2u);
    EXPECT_NE(report.warnings[0].find("GET /new is not in the baseline"), std::string::npos);
    EXPECT_NE(report.warnings[1].find("GET /old was not replayed"), std::string::npos);
}

TEST(GateBaseline, WrittenBaselineReadsBack) {
    std::vector<GateRequest> requests;
    std::vector<ReplayOutcome> outcomes;
    add_rounds(requests, outcomes, "POST", "/a", {kMiB, 2 * kMiB, 3 * kMiB}, 10);
    const GateReport report = judge_gate(requests, outcomes, parse_budget(R"({"default": {}})", "b"), {});
    const Baseline baseline = parse_baseline(render_gate_baseline(report).dump(), "base.json");
    ASSERT_NE(baseline.find("POST", "/a"), nullptr);
    EXPECT_EQ(baseline.find("POST", "/a")->requests, 3u);
    EXPECT_EQ(baseline.find("POST", "/a")->peak_growth_p50, 2 * kMiB);
    EXPECT_EQ(baseline.find("POST", "/a")->peak_growth_p95, 3 * kMiB);
}

}  // namespace
}  // namespace routeheap::analysis
