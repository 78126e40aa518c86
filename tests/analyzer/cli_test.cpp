// The routeheap binary: usage errors, report on missing and empty folders, report
// formats, and record's argument checks.
#include "scenarios.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>

namespace routeheap::testing {
namespace {

struct RunResult {
    int exit_code = -1;
    std::string output;  // stdout and stderr together
};

// Runs the routeheap binary through the shell; `environment` is "NAME=value ..." to prepend.
RunResult run(const std::string& arguments, const std::string& environment = "") {
    const std::string command = environment + " " + std::string(ROUTEHEAP_BIN) + " " + arguments + " 2>&1";
    RunResult result;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return result;
    std::array<char, 4096> buffer{};
    size_t got = 0;
    while ((got = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), got);
    const int status = ::pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

TEST(Cli, HelpListsSubcommands) {
    const RunResult result = run("--help");
    EXPECT_EQ(result.exit_code, 0);
    EXPECT_NE(result.output.find("record"), std::string::npos);
    EXPECT_NE(result.output.find("report"), std::string::npos);
}

TEST(Cli, SubcommandHelpShowsDefaults) {
    const RunResult report = run("report --help");
    EXPECT_EQ(report.exit_code, 0);
    EXPECT_NE(report.output.find("--format"), std::string::npos);
    EXPECT_NE(report.output.find("(=text)"), std::string::npos) << report.output;
    const RunResult record = run("record --help");
    EXPECT_EQ(record.exit_code, 0);
    EXPECT_NE(record.output.find("--output"), std::string::npos);
    EXPECT_NE(record.output.find("ROUTEHEAP_AGENT"), std::string::npos);
}

TEST(Cli, UnknownSubcommandExitsTwo) {
    const RunResult result = run("recrod");
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_NE(result.output.find("unknown subcommand 'recrod'"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("usage:"), std::string::npos);
}

TEST(Cli, UnknownOptionExitsTwo) {
    const RunResult result = run("report --colour x");
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_NE(result.output.find("colour"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("usage: routeheap report"), std::string::npos);
}

TEST(Cli, InvalidFormatExitsTwo) {
    const auto folder = fresh_folder("cli");
    const RunResult result = run("report " + folder.string() + " --format yaml");
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_NE(result.output.find("invalid --format 'yaml'"), std::string::npos) << result.output;
}

TEST(Cli, ReportOnMissingFolderFails) {
    const auto folder = fresh_folder("cli") / "does-not-exist";
    const RunResult result = run("report " + folder.string());
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.output.find(folder.string() + ": no such file or folder"), std::string::npos) << result.output;
}

TEST(Cli, ReportOnEmptyFolderFails) {
    const auto folder = fresh_folder("cli");
    const RunResult result = run("report " + folder.string());
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.output.find("holds no .rhtrace files"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("routeheap record"), std::string::npos);
}

TEST(Cli, ReportOnNewerTraceFails) {
    const auto folder = fresh_folder("cli");
    TraceBuilder builder(1, 1000, trace::kFormatVersion + 1);
    builder.write(folder / "1.rhtrace");
    const RunResult result = run("report " + folder.string());
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.output.find("upgrade routeheap"), std::string::npos) << result.output;
}

TEST(Cli, ReportJsonToFile) {
    const auto folder = fresh_folder("cli");
    TraceBuilder builder;
    add_exchange(builder, buffered_response_shape(0, 8 * kMiBytes));
    builder.trace_end(builder.start_ns() + 2000 * kMs);
    builder.write(folder / "4242.rhtrace");
    const auto output = folder / "report.json";

    const RunResult result = run("report " + folder.string() + " --format json --output " + output.string());
    EXPECT_EQ(result.exit_code, 0) << result.output;
    std::ifstream in(output);
    const auto report = nlohmann::json::parse(in);
    EXPECT_EQ(report["schema"], "routeheap.report/1");
    ASSERT_EQ(report["routes"].size(), 1u);
    EXPECT_EQ(report["routes"][0]["findings"][0]["kind"], "buffered-response");
}

TEST(Cli, ReportOnSingleTraceFile) {
    const auto folder = fresh_folder("cli");
    TraceBuilder builder;
    add_exchange(builder, streamed_response_shape(0, 2 * kMiBytes));
    const auto path = builder.write(folder / "4242.rhtrace");
    const RunResult result = run("report " + path.string() + " --format markdown");
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find("| POST | /stream |"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("no TraceEnd"), std::string::npos);
}

TEST(Cli, RecordWithoutCommandExitsTwo) {
    const RunResult result = run("record --quiet");
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_NE(result.output.find("missing the command"), std::string::npos) << result.output;
}

TEST(Cli, RecordRejectsAgentPathWithSpace) {
    const auto folder = fresh_folder("cli");
    const auto agent = folder / "my agent.so";
    std::ofstream(agent) << "placeholder";
    const RunResult result = run("record --output " + (folder / "session").string() + " -- /bin/true",
                                 "ROUTEHEAP_AGENT='" + agent.string() + "'");
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.output.find("contains a space or colon"), std::string::npos) << result.output;
    EXPECT_FALSE(std::filesystem::exists(folder / "session"));
}

TEST(Cli, RecordRejectsMissingAgentOverride) {
    const auto folder = fresh_folder("cli");
    const RunResult result = run("record --output " + (folder / "session").string() + " -- /bin/true",
                                 "ROUTEHEAP_AGENT=" + (folder / "missing.so").string());
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.output.find("ROUTEHEAP_AGENT is set to"), std::string::npos) << result.output;
}

// A placeholder file as the agent: the loader ignores it with a warning, so these tests
// check record's own work (folder, metadata, exit status) without the real agent.
std::filesystem::path placeholder_agent(const std::filesystem::path& folder) {
    const auto agent = folder / "placeholder-agent.so";
    std::ofstream(agent) << "placeholder";
    return agent;
}

TEST(Cli, RecordPassesTheExitStatusThrough) {
    const auto folder = fresh_folder("cli");
    const auto session = folder / "session";
    const RunResult result = run("record --output " + session.string() + " -- sh -c 'exit 3'",
                                 "ROUTEHEAP_AGENT=" + placeholder_agent(folder).string());
    EXPECT_EQ(result.exit_code, 3) << result.output;
    EXPECT_NE(result.output.find("session: " + session.string() + "  (0 processes, 0 requests)"), std::string::npos)
        << result.output;
    // The placeholder agent records nothing, so there is no report to suggest.
    EXPECT_EQ(result.output.find("routeheap report " + session.string()), std::string::npos);

    const auto permissions = std::filesystem::status(session).permissions();
    EXPECT_EQ(permissions & std::filesystem::perms::all, std::filesystem::perms::owner_all);
    const auto metadata_permissions = std::filesystem::status(session / "session.json").permissions();
    EXPECT_EQ(metadata_permissions & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::ifstream in(session / "session.json");
    const auto metadata = nlohmann::json::parse(in);
    EXPECT_EQ(metadata["command"][0], "sh");
    EXPECT_EQ(metadata["exit_status"], 3);
    EXPECT_TRUE(metadata.contains("start_time"));
    EXPECT_TRUE(metadata.contains("routeheap_version"));
}

TEST(Cli, RecordReportsDeathBySignal) {
    const auto folder = fresh_folder("cli");
    const RunResult result = run("record --quiet --output " + (folder / "session").string() +
                                     " -- sh -c 'kill -TERM $$'",
                                 "ROUTEHEAP_AGENT=" + placeholder_agent(folder).string());
    EXPECT_EQ(result.exit_code, 128 + 15) << result.output;
}

TEST(Cli, RecordSetsTheChildEnvironment) {
    const auto folder = fresh_folder("cli");
    const auto agent = placeholder_agent(folder);
    const auto session = folder / "session";
    const auto dump = folder / "env.txt";
    const RunResult result =
        run("record --quiet --output " + session.string() + " -- sh -c 'env > " + dump.string() + "'",
            "NODE_OPTIONS=--max-old-space-size=100 ROUTEHEAP_AGENT=" + agent.string());
    EXPECT_EQ(result.exit_code, 0) << result.output;
    std::ifstream in(dump);
    const std::string environment((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(environment.find("LD_PRELOAD=" + agent.string()), std::string::npos) << environment;
    EXPECT_NE(environment.find("ROUTEHEAP_OUTPUT_DIR=" + session.string()), std::string::npos);
    EXPECT_NE(environment.find("NODE_OPTIONS=--max-old-space-size=100 --perf-basic-prof-only-functions "
                               "--interpreted-frames-native-stack"),
              std::string::npos)
        << environment;
}

TEST(Cli, RecordRemovesOnlyNewIsolateLogs) {
    const auto folder = fresh_folder("cli");
    std::ofstream(folder / "isolate-0x1-1-v8.log") << "the user's own log";
    const RunResult result = run("record --quiet --output session -- sh -c 'echo v8 > isolate-0x2-2-v8.log'",
                                 "cd " + folder.string() + " && ROUTEHEAP_AGENT=" + placeholder_agent(folder).string());
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_TRUE(std::filesystem::exists(folder / "isolate-0x1-1-v8.log"));
    EXPECT_FALSE(std::filesystem::exists(folder / "isolate-0x2-2-v8.log"));
    EXPECT_TRUE(std::filesystem::exists(folder / "session" / "session.json"));
}

TEST(Cli, RecordRefusesANonEmptyFolder) {
    const auto folder = fresh_folder("cli");
    std::ofstream(folder / "keep.txt") << "user data";
    const RunResult result = run("record --output " + folder.string() + " -- /bin/true",
                                 "ROUTEHEAP_AGENT=" + placeholder_agent(folder).string());
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.output.find("exists and is not empty"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace routeheap::testing
