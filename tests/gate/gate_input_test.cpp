// Tests of the gate's input files: request lists, budgets and baselines, with the line
// and field that errors name.
#include <routeheap/analysis/gate.h>

#include <gtest/gtest.h>

#include <fstream>

namespace routeheap::analysis {
namespace {

namespace fs = std::filesystem;

// The message of the GateInputError that `parse` throws, or "" when it throws none.
template <typename Parse>
std::string error_of(Parse parse) {
    try {
        parse();
    } catch (const GateInputError& error) {
        return error.what();
    }
    return "";
}

class RequestListTest : public ::testing::Test {
protected:
    void SetUp() override {
        folder_ = fs::temp_directory_path() / ("routeheap-gate-input-" + std::to_string(::getpid()));
        fs::create_directories(folder_);
        std::ofstream(folder_ / "body.csv") << "a,b\n1,2\n";
    }
    void TearDown() override { fs::remove_all(folder_); }

    fs::path folder_;
};

TEST(ByteSize, AcceptsUnitsAndNumbers) {
    EXPECT_EQ(parse_byte_size("4096"), 4096);
    EXPECT_EQ(parse_byte_size("16 MiB"), 16 * 1024 * 1024);
    EXPECT_EQ(parse_byte_size("1.5GiB"), int64_t(1.5 * 1024 * 1024 * 1024));
    EXPECT_EQ(parse_byte_size("200 KB"), 200'000);
    EXPECT_EQ(parse_byte_size(" 12 B "), 12);
}

TEST(ByteSize, RejectsInvalidText) {
    EXPECT_FALSE(parse_byte_size(""));
    EXPECT_FALSE(parse_byte_size("-1 MiB"));
    EXPECT_FALSE(parse_byte_size("12 XB"));
    EXPECT_FALSE(parse_byte_size("MiB"));
}

TEST(Tolerance, ParsesPercent) {
    EXPECT_DOUBLE_EQ(*parse_tolerance("10%"), 0.10);
    EXPECT_DOUBLE_EQ(*parse_tolerance("2.5"), 0.025);
    EXPECT_FALSE(parse_tolerance("-5%"));
    EXPECT_FALSE(parse_tolerance("ten"));
    EXPECT_FALSE(parse_tolerance("%"));
}

TEST(JsonLineIndex, FindsNestedValues) {
    const std::string text = "{\n  \"routes\": [\n    {\"route\": \"/a\"},\n    {\n      \"route\": \"/b\",\n      \"max\": 5\n    }\n  ]\n}\n";
    const JsonLineIndex lines(text);
    EXPECT_EQ(lines.line_of("/routes"), 2u);
    EXPECT_EQ(lines.line_of("/routes/0/route"), 3u);
    EXPECT_EQ(lines.line_of("/routes/1"), 4u);
    EXPECT_EQ(lines.line_of("/routes/1/max"), 6u);
    EXPECT_EQ(lines.line_of("/routes/1/missing"), 4u);
    EXPECT_EQ(json_field_name("/routes/1/max"), "routes[1].max");
}

TEST(JsonDocument, SyntaxErrorNamesLineAndColumn) {
    const std::string message = error_of([] { parse_json_document("{\n  \"a\": 1,\n  \"b\": ]\n}", "budget.json"); });
    EXPECT_NE(message.find("budget.json:3:8: invalid JSON"), std::string::npos) << message;
}

TEST_F(RequestListTest, ParsesRequestsWithBodies) {
    const auto requests = parse_request_list(R"({"requests": [
        {"method": "POST", "path": "/upload?x=1", "headers": {"Content-Type": "text/csv"}, "body_file": "body.csv", "expect_status": 201},
        {"path": "/health"}
    ]})", folder_ / "requests.json");
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(requests[0].method, "POST");
    EXPECT_EQ(requests[0].label(), "POST /upload");
    EXPECT_EQ(requests[0].body_file, folder_ / "body.csv");
    EXPECT_EQ(requests[0].expect_status, 201);
    ASSERT_EQ(requests[0].headers.size(), 1u);
    EXPECT_EQ(requests[0].headers[0].first, "Content-Type");
    EXPECT_EQ(requests[1].method, "GET");
    EXPECT_EQ(requests[1].expect_status, 200);
    EXPECT_EQ(requests[1].line, 3u);
}

TEST_F(RequestListTest, AcceptsBareArray) {
    const auto requests = parse_request_list(R"([{"path": "/"}])", folder_ / "requests.json");
    ASSERT_EQ(requests.size(), 1u);
}

TEST_F(RequestListTest, MissingBodyFileNamesLineAndField) {
    const std::string message = error_of([&] {
        parse_request_list("{\"requests\": [\n  {\"path\": \"/a\"},\n  {\"path\": \"/b\", \"body_file\": \"nope.csv\"}\n]}",
                           folder_ / "requests.json");
    });
    EXPECT_NE(message.find("requests.json:3: requests[1].body_file: body file"), std::string::npos) << message;
    EXPECT_NE(message.find("nope.csv not found"), std::string::npos) << message;
}

TEST_F(RequestListTest, RejectsInvalidFields) {
    const fs::path file = folder_ / "requests.json";
    EXPECT_NE(error_of([&] { parse_request_list(R"([{"path": "nope"}])", file); }).find("requests.json:1: [0].path: invalid path"),
              std::string::npos);
    EXPECT_NE(error_of([&] { parse_request_list(R"([{"path": "/", "method": "get"}])", file); }).find("invalid method \"get\""),
              std::string::npos);
    EXPECT_NE(error_of([&] { parse_request_list(R"([{"path": "/", "expect_status": 99}])", file); }).find("invalid status 99"),
              std::string::npos);
    EXPECT_NE(error_of([&] { parse_request_list(R"([{"path": "/", "bodyfile": "x"}])", file); }).find("[0].bodyfile: unknown field"),
              std::string::npos);
    EXPECT_NE(error_of([&] { parse_request_list(R"({"requests": []})", file); }).find("the request list is empty"),
              std::string::npos);
    EXPECT_NE(error_of([&] { parse_request_list(R"([{"method": "POST"}])", file); }).find("missing field path"),
              std::string::npos);
}

TEST(Budget, RouteEntriesInheritTheDefault) {
    const Budget budget = parse_budget(R"({
      "default": {"max_peak_growth": "64 MiB", "max_peak_growth_ratio": 2, "ratio_of": "response"},
      "routes": [
        {"route": "POST /stream*", "max_peak_growth": "8 MiB", "statistic": "p50"},
        {"route": "/health", "max_peak_growth_ratio": null, "fail_on_findings": []}
      ]
    })", "budget.json");
    ASSERT_TRUE(budget.fallback);
    ASSERT_EQ(budget.routes.size(), 2u);

    const RouteBudget& stream = budget.routes[0];
    EXPECT_EQ(stream.method, "POST");
    EXPECT_EQ(stream.route_glob, "/stream*");
    EXPECT_EQ(stream.max_peak_growth_bytes, 8 * 1024 * 1024);
    EXPECT_EQ(stream.max_peak_growth_ratio, 2.0);
    EXPECT_EQ(stream.ratio_of, RatioBase::Response);
    EXPECT_EQ(stream.statistic, GateStatistic::P50);
    EXPECT_EQ(stream.failing_findings, default_failing_findings());
    EXPECT_EQ(stream.line, 4u);

    const RouteBudget& health = budget.routes[1];
    EXPECT_TRUE(health.method.empty());
    EXPECT_FALSE(health.max_peak_growth_ratio);
    EXPECT_EQ(health.max_peak_growth_bytes, 64 * 1024 * 1024);
    EXPECT_TRUE(health.failing_findings.empty());
}

TEST(Budget, FirstMatchingEntryApplies) {
    const Budget budget = parse_budget(R"({
      "default": {"max_peak_growth": "1 MiB"},
      "routes": [{"route": "POST /api/*", "max_peak_growth": 10}, {"route": "/api/users/:id", "max_peak_growth": 20}]
    })", "budget.json");
    EXPECT_EQ(budget.find("POST", "/api/users/:id")->max_peak_growth_bytes, 10);
    EXPECT_EQ(budget.find("GET", "/api/users/:id")->max_peak_growth_bytes, 20);
    EXPECT_EQ(budget.find("GET", "/other")->pattern, "default");
}

TEST(Budget, NoDefaultLeavesOtherRoutesUnmatched) {
    const Budget budget = parse_budget(R"({"routes": [{"route": "GET /a"}]})", "budget.json");
    EXPECT_EQ(budget.find("GET", "/b"), nullptr);
}

TEST(Budget, ErrorsNameLineAndField) {
    const std::string size = error_of([] {
        parse_budget("{\n  \"routes\": [\n    {\"route\": \"/a\",\n     \"max_peak_growth\": \"12 XB\"}\n  ]\n}", "memory-budget.json");
    });
    EXPECT_NE(size.find("memory-budget.json:4: routes[0].max_peak_growth: invalid size \"12 XB\""), std::string::npos) << size;

    const std::string typo = error_of([] { parse_budget("{\"default\": {\"max_peak_grwth\": 1}}", "b.json"); });
    EXPECT_NE(typo.find("default.max_peak_grwth: unknown field"), std::string::npos) << typo;

    const std::string route = error_of([] { parse_budget("{\"routes\": [{\"route\": \"stream\"}]}", "b.json"); });
    EXPECT_NE(route.find("routes[0].route: invalid route \"stream\""), std::string::npos) << route;

    const std::string statistic = error_of([] { parse_budget("{\"default\": {\"statistic\": \"p99\"}}", "b.json"); });
    EXPECT_NE(statistic.find("use p50, p95 or max"), std::string::npos) << statistic;

    const std::string empty = error_of([] { parse_budget("{}", "b.json"); });
    EXPECT_NE(empty.find("the budget sets no limits"), std::string::npos) << empty;
}

TEST(Budget, CommittedSampleBudgetParses) {
    const Budget budget = load_budget(fs::path(ROUTEHEAP_SAMPLE_GATE_DIR) / "memory-budget.json");
    EXPECT_TRUE(budget.fallback);
    EXPECT_FALSE(budget.routes.empty());
}

TEST(Baseline, RejectsOtherSchemas) {
    const std::string message = error_of([] { parse_baseline(R"({"schema": "routeheap.report/1", "routes": []})", "base.json"); });
    EXPECT_NE(message.find("not a gate baseline"), std::string::npos) << message;
}

TEST(Baseline, ParsesRoutes) {
    const Baseline baseline = parse_baseline(R"({"schema": "routeheap.gate-baseline/1", "routes": [
        {"method": "POST", "route": "/a", "requests": 5, "peak_growth_p50": 10, "peak_growth_p95": 20, "peak_growth_max": 30}]})",
                                             "base.json");
    ASSERT_NE(baseline.find("POST", "/a"), nullptr);
    EXPECT_EQ(baseline.find("POST", "/a")->peak_growth_p95, 20);
    EXPECT_EQ(baseline.find("GET", "/a"), nullptr);
}

}  // namespace
}  // namespace routeheap::analysis
