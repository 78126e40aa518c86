// The end of each process in the reports: an exec that replaced it, an exit whose
// status the agent did not see, and a signal named in session.json.
#include "trace_builder.h"

#include <routeheap/analysis/analysis.h>
#include <routeheap/analysis/report.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace routeheap::testing {
namespace {

using namespace routeheap::analysis;

SessionAnalysis analyze_folder(const std::filesystem::path& folder) {
    return analyze_session(open_session(folder));
}

bool any_contains(const std::vector<std::string>& lines, const std::string& text) {
    for (const std::string& line : lines) {
        if (line.find(text) != std::string::npos) return true;
    }
    return false;
}

TEST(ProcessEnd, ExecIsNotIncomplete) {
    const auto folder = fresh_folder("process-end");
    TraceBuilder shell(4242, 1'000'000);
    shell.sample(2'000'000, trace::SampleReason::Periodic, 0, MemoryState{1, 2, 3});
    shell.process_exec(3'000'000, "/usr/bin/node");
    shell.write(folder / "4242.rhtrace");

    const SessionAnalysis analysis = analyze_folder(folder);
    ASSERT_EQ(analysis.processes.size(), 1u);
    EXPECT_EQ(analysis.processes[0].end, ProcessEnd::Exec);
    EXPECT_FALSE(any_contains(analysis.warnings, "no TraceEnd")) << "an exec is no reason to warn";

    const std::string text = render_report(analysis, ReportFormat::Text);
    EXPECT_NE(text.find("replaced by exec of /usr/bin/node (continues in 4242.1)"), std::string::npos) << text;
    EXPECT_EQ(text.find("incomplete"), std::string::npos) << text;
    const auto json = nlohmann::json::parse(render_report(analysis, ReportFormat::Json));
    EXPECT_EQ(json["session"]["processes"][0]["ended"], "exec");
    EXPECT_EQ(json["session"]["processes"][0]["exec_path"], "/usr/bin/node");
    EXPECT_TRUE(json["session"]["processes"][0]["complete"].get<bool>());
}

TEST(ProcessEnd, UnseenExitStatusIsUnknown) {
    const auto folder = fresh_folder("process-end");
    TraceBuilder builder(4243, 1'000'000);
    builder.process_exit(-1, 2'000'000);
    builder.trace_end(3'000'000);
    builder.write(folder / "4243.rhtrace");

    const SessionAnalysis analysis = analyze_folder(folder);
    const std::string text = render_report(analysis, ReportFormat::Text);
    EXPECT_NE(text.find("exited, status unknown"), std::string::npos) << text;
    EXPECT_EQ(text.find("status -1"), std::string::npos) << text;
    const auto json = nlohmann::json::parse(render_report(analysis, ReportFormat::Json));
    EXPECT_TRUE(json["session"]["processes"][0]["exit_status"].is_null());
    EXPECT_EQ(json["session"]["processes"][0]["ended"], "exit");
}

TEST(ProcessEnd, KnownSignalIsNamed) {
    const auto folder = fresh_folder("process-end");
    TraceBuilder server(4244, 1'000'000);
    server.sample(2'000'000, trace::SampleReason::Periodic, 0, MemoryState{1, 2, 3});
    server.write(folder / "4244.rhtrace");
    TraceBuilder other(4245, 1'000'000);
    other.sample(2'000'000, trace::SampleReason::Periodic, 0, MemoryState{1, 2, 3});
    other.write(folder / "4245.rhtrace");
    std::ofstream(folder / "session.json")
        << R"({"command": ["node", "server.js"], "pid": 4244, "exit_status": 130, "exit_signal": "SIGINT"})";

    const SessionAnalysis analysis = analyze_folder(folder);
    ASSERT_EQ(analysis.processes.size(), 2u);
    EXPECT_EQ(analysis.processes[0].end, ProcessEnd::Signal);
    EXPECT_EQ(analysis.processes[1].end, ProcessEnd::Unknown) << "only the command's own pid is known";
    EXPECT_FALSE(any_contains(analysis.warnings, "4244.rhtrace: read")) << "the signal explains the missing TraceEnd";
    EXPECT_TRUE(any_contains(analysis.warnings, "4245.rhtrace: read"));

    const std::string text = render_report(analysis, ReportFormat::Text);
    EXPECT_NE(text.find("ended by SIGINT"), std::string::npos) << text;
    const auto json = nlohmann::json::parse(render_report(analysis, ReportFormat::Json));
    EXPECT_EQ(json["session"]["processes"][0]["ended"], "signal");
    EXPECT_EQ(json["session"]["processes"][0]["signal"], "SIGINT");
    EXPECT_EQ(json["session"]["processes"][1]["ended"], "unknown");
}

}  // namespace
}  // namespace routeheap::testing
