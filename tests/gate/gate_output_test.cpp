// Tests of the gate's outputs: Markdown and JUnit XML compared with the expected files in
// expected/, the table and JSON checked field by field. Set ROUTEHEAP_UPDATE_EXPECTED=1 to
// rewrite the expected files after an intended change, then review their diff.
#include "gate_synthetic.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace routeheap::analysis {
namespace {

using namespace routeheap::analysis::testing;
namespace fs = std::filesystem;

// A run with one passing streaming route, one buffered route that breaks its ratio and
// findings, a route with a failed response, a warning and a server crash.
GateReport sample_report() {
    std::vector<GateRequest> requests;
    std::vector<ReplayOutcome> outcomes;
    add_rounds(requests, outcomes, "POST", "/stream", {5 * kMiB, 6 * kMiB, 5 * kMiB}, 24 * kMiB);
    add_rounds(requests, outcomes, "POST", "/buffered", {400 * kMiB, 420 * kMiB, 410 * kMiB}, 24 * kMiB,
               {"buffered-response", "buffered-upload"});
    add_rounds(requests, outcomes, "GET", "/users/:id", {kMiB / 2}, 2048);
    outcomes.back().status = 500;
    const Budget budget = parse_budget(R"({
      "default": {"max_peak_growth_ratio": 2.5, "ratio_of": "response"},
      "routes": [{"route": "POST /stream*", "max_peak_growth": "48 MiB"}, {"route": "GET /never"}]
    })", "memory-budget.json");
    GateReport report = judge_gate(requests, outcomes, budget, {});
    report.errors.push_back("the server 'node server.js' was killed by SIGKILL during the replay <after 7 of 9 requests>");
    report.passed = false;
    return report;
}

std::string read_text(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

void expect_matches_file(const std::string& actual, const std::string& name) {
    const fs::path file = fs::path(ROUTEHEAP_GATE_EXPECTED_DIR) / name;
    if (std::getenv("ROUTEHEAP_UPDATE_EXPECTED") != nullptr) std::ofstream(file, std::ios::binary) << actual;
    ASSERT_TRUE(fs::exists(file)) << file << " is missing; the output was:\n" << actual;
    EXPECT_EQ(actual, read_text(file)) << "output differs from " << file;
}

TEST(GateOutput, MarkdownMatchesExpected) {
    expect_matches_file(render_gate_markdown(sample_report()), "sample.md");
}

TEST(GateOutput, JunitMatchesExpected) {
    expect_matches_file(render_gate_junit(sample_report()), "sample.junit.xml");
}

TEST(GateOutput, TableNamesFailedRoutesAndReasons) {
    const std::string table = render_gate_table(sample_report());
    EXPECT_NE(table.find("FAIL: 2 of 3 routes broke the budget, 1 run error"), std::string::npos) << table;
    EXPECT_NE(table.find("POST /buffered failed (budget \"default\", line 2):"), std::string::npos) << table;
    EXPECT_NE(table.find("buffered-response in 3 of 3 requests"), std::string::npos) << table;
    EXPECT_NE(table.find("GET /users/:id failed"), std::string::npos) << table;
    EXPECT_EQ(table.find("POST /stream failed"), std::string::npos) << table;
}

TEST(GateOutput, JsonCarriesChecksAndVerdicts) {
    const nlohmann::json json = render_gate_json(sample_report());
    EXPECT_EQ(json["schema"], kGateSchema);
    EXPECT_EQ(json["passed"], false);
    ASSERT_EQ(json["routes"].size(), 3u);
    const nlohmann::json& buffered = json["routes"][1];
    EXPECT_EQ(buffered["route"], "/buffered");
    EXPECT_EQ(buffered["passed"], false);
    EXPECT_EQ(buffered["peak_growth_bytes"]["p95"], 420 * kMiB);
    EXPECT_EQ(buffered["findings"]["buffered-response"], 3);
    EXPECT_EQ(buffered["budget"]["route"], "default");
    EXPECT_EQ(json["errors"].size(), 1u);
}

TEST(GateOutput, XmlEscapeDropsControlBytes) {
    EXPECT_EQ(xml_escape("a<b>&\"c'\x01\n"), "a&lt;b&gt;&amp;&quot;c&apos;\n");
}

}  // namespace
}  // namespace routeheap::analysis
