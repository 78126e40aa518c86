// Tests of `routeheap diff`'s library part: reading report, gate and baseline JSON, and
// pairing routes with their growth change and findings that appeared or are gone.
#include <routeheap/analysis/diff.h>
#include <routeheap/analysis/gate.h>
#include <routeheap/analysis/report.h>

#include <gtest/gtest.h>

namespace routeheap::analysis {
namespace {

constexpr int64_t kMiB = 1024 * 1024;

nlohmann::json report_route(const std::string& route, int64_t p50, uint64_t response_max, std::vector<std::string> kinds) {
    nlohmann::json findings = nlohmann::json::array();
    for (const std::string& kind : kinds) findings.push_back({{"kind", kind}});
    return {{"method", "POST"},
            {"route", route},
            {"requests", 5},
            {"peak_growth_bytes", {{"p50", p50}, {"max", p50 * 2}}},
            {"request_bytes", {{"total", 0}, {"max", 0}}},
            {"response_bytes", {{"total", response_max * 5}, {"max", response_max}}},
            {"findings", findings}};
}

TEST(Diff, PairsRoutesAndFindings) {
    const nlohmann::json before = {{"schema", kReportSchema},
                                   {"routes", nlohmann::json::array({report_route("/a", 10 * kMiB, 20 * kMiB, {}),
                                                                    report_route("/old", kMiB, 0, {"buffered-upload"})})}};
    const nlohmann::json after = {{"schema", kReportSchema},
                                  {"routes", nlohmann::json::array({report_route("/a", 30 * kMiB, 20 * kMiB, {"buffered-response"}),
                                                                   report_route("/new", kMiB, kMiB, {})})}};
    const DiffSide a = diff_side_from_json(before, "a.json");
    const DiffSide b = diff_side_from_json(after, "b.json");
    EXPECT_EQ(a.kind, "report");

    const std::vector<RouteDiff> routes = diff_routes(a, b);
    ASSERT_EQ(routes.size(), 3u);
    EXPECT_EQ(routes[0].route, "/a");
    EXPECT_EQ(routes[0].change(), 20 * kMiB);
    EXPECT_DOUBLE_EQ(*routes[0].change_ratio(), 3.0);
    EXPECT_EQ(routes[0].appeared, std::vector<std::string>{"buffered-response"});
    EXPECT_TRUE(routes[0].gone.empty());
    EXPECT_EQ(routes[1].route, "/new");
    EXPECT_FALSE(routes[1].a);
    EXPECT_EQ(routes[2].route, "/old");
    EXPECT_FALSE(routes[2].b);
    EXPECT_EQ(routes[2].gone, std::vector<std::string>{"buffered-upload"});
    EXPECT_DOUBLE_EQ(*response_ratio(*routes[0].b), 1.5);

    const std::string text = render_diff_text(a, b, routes);
    EXPECT_NE(text.find("+20.0 MiB (3.00x)"), std::string::npos) << text;
    EXPECT_NE(text.find("new"), std::string::npos) << text;
    const nlohmann::json json = render_diff_json(a, b, routes);
    EXPECT_EQ(json["routes"][0]["peak_growth_p50_change_bytes"], 20 * kMiB);
    EXPECT_EQ(json["routes"][0]["findings_appeared"][0], "buffered-response");
}

TEST(Diff, ReadsBaselines) {
    const nlohmann::json baseline = {{"schema", kGateBaselineSchema},
                                     {"routes", nlohmann::json::array({{{"method", "GET"}, {"route", "/x"}, {"requests", 3},
                                                                       {"peak_growth_p50", 7}, {"peak_growth_p95", 8},
                                                                       {"peak_growth_max", 9}}})}};
    const DiffSide side = diff_side_from_json(baseline, "base.json");
    EXPECT_EQ(side.kind, "baseline");
    ASSERT_EQ(side.routes.size(), 1u);
    EXPECT_EQ(side.routes[0].peak_growth_p50, 7);
    EXPECT_FALSE(response_ratio(side.routes[0]));
    EXPECT_FALSE(side.has_findings);
}

TEST(Diff, BaselineSideComparesNoFindings) {
    DiffSide baseline{"base.json", "baseline", {DiffRoute{"GET", "/x", 3, 7, 9, 0, {}}}, false};
    DiffSide report{"r.json", "report", {DiffRoute{"GET", "/x", 3, 7, 9, 100, {"buffered-response"}}}, true};
    const std::vector<RouteDiff> routes = diff_routes(baseline, report);
    ASSERT_EQ(routes.size(), 1u);
    EXPECT_TRUE(routes[0].appeared.empty());
    EXPECT_NE(render_diff_text(baseline, report, routes).find("findings are not compared"), std::string::npos);
}

TEST(Diff, RejectsUnknownSchema) {
    try {
        diff_side_from_json({{"schema", "something/1"}}, "x.json");
        FAIL() << "no DiffInputError";
    } catch (const DiffInputError& error) {
        EXPECT_NE(std::string(error.what()).find("x.json: unknown schema \"something/1\""), std::string::npos) << error.what();
    }
}

TEST(Diff, MissingPathNamesIt) {
    try {
        load_diff_side("/nonexistent/routeheap-diff-side");
        FAIL() << "no DiffInputError";
    } catch (const DiffInputError& error) {
        EXPECT_NE(std::string(error.what()).find("/nonexistent/routeheap-diff-side not found"), std::string::npos);
    }
}

}  // namespace
}  // namespace routeheap::analysis
