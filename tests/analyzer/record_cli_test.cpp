// `routeheap record` as a user runs it: option parsing, the session folder and its
// metadata, what is copied or removed around the run, and the messages it prints.
// The agent is a placeholder file unless a test needs the real one.
#include "trace_builder.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <array>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <vector>

namespace routeheap::testing {
namespace {

namespace fs = std::filesystem;

struct RunResult {
    int exit_code = -1;
    std::string output;  // stdout and stderr together
};

// Runs `command` through the shell with stderr merged into stdout.
RunResult run_shell(const std::string& command) {
    RunResult result;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) return result;
    std::array<char, 4096> buffer{};
    size_t got = 0;
    while ((got = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), got);
    const int status = ::pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

// A file the loader ignores with a warning, so record runs without tracing anything.
fs::path placeholder_agent(const fs::path& folder) {
    const auto agent = folder / "placeholder-agent.so";
    std::ofstream(agent) << "placeholder";
    return agent;
}

// Runs `routeheap ARGUMENTS` in `folder` with the placeholder agent.
RunResult record_in(const fs::path& folder, const std::string& arguments) {
    return run_shell("cd '" + folder.string() + "' && ROUTEHEAP_AGENT='" + placeholder_agent(folder).string() + "' " +
                     ROUTEHEAP_BIN + " " + arguments);
}

TEST(RecordCli, ShortOutputOptionTakesValue) {
    const auto folder = fresh_folder("record-cli");
    for (const std::string options : {"-o one", "-q -o two", "-qo three", "-othree-b", "--output=four"}) {
        const RunResult result = record_in(folder, "record " + options + " -- /bin/true");
        EXPECT_EQ(result.exit_code, 0) << options << ": " << result.output;
    }
    for (const std::string name : {"one", "two", "three", "three-b", "four"}) {
        EXPECT_TRUE(fs::exists(folder / name / "session.json")) << name;
    }
}


TEST(RecordCli, IsolateLogsKeptWhenRequested) {
    const auto folder = fresh_folder("record-cli");
    const std::string script = "-- sh -c 'echo v8 > isolate-0x$1-v8.log' sh";
    EXPECT_EQ(record_in(folder, "record -q -o s1 " + script + " 1 --prof").exit_code, 0);
    EXPECT_TRUE(fs::exists(folder / "isolate-0x1-v8.log")) << "--prof in the command";
    EXPECT_EQ(record_in(folder, "record -q -o s2 " + script + " 2 --logfile=v8.log").exit_code, 0);
    EXPECT_TRUE(fs::exists(folder / "isolate-0x2-v8.log")) << "--logfile in the command";

    const RunResult with_options = run_shell("cd '" + folder.string() + "' && NODE_OPTIONS='--max-old-space-size=99 --prof' "
                                             "ROUTEHEAP_AGENT='" + placeholder_agent(folder).string() + "' " +
                                             ROUTEHEAP_BIN + " record -q -o s3 " + script + " 3");
    EXPECT_EQ(with_options.exit_code, 0) << with_options.output;
    EXPECT_TRUE(fs::exists(folder / "isolate-0x3-v8.log")) << "--prof in NODE_OPTIONS";

    EXPECT_EQ(record_in(folder, "record -q -o s4 " + script + " 4 --verbose").exit_code, 0);
    EXPECT_FALSE(fs::exists(folder / "isolate-0x4-v8.log")) << "no log flag: the new log is removed";
}

TEST(RecordCli, SessionNamesTheEndingSignal) {
    const auto folder = fresh_folder("record-cli");
    const RunResult result = record_in(folder, "record -q -o signal -- sh -c 'kill -TERM $$'");
    EXPECT_EQ(result.exit_code, 128 + 15) << result.output;
    std::ifstream in(folder / "signal" / "session.json");
    const auto metadata = nlohmann::json::parse(in);
    EXPECT_EQ(metadata["exit_status"], 128 + 15);
    EXPECT_EQ(metadata["exit_signal"], "SIGTERM");
    EXPECT_TRUE(metadata["pid"].is_number_unsigned()) << metadata.dump();

    EXPECT_EQ(record_in(folder, "record -q -o normal -- sh -c 'exit 4'").exit_code, 4);
    std::ifstream normal_in(folder / "normal" / "session.json");
    const auto normal = nlohmann::json::parse(normal_in);
    EXPECT_EQ(normal["exit_status"], 4);
    EXPECT_FALSE(normal.contains("exit_signal"));
}

TEST(RecordCli, MissingCommandLeavesNoSession) {
    const auto folder = fresh_folder("record-cli");
    const RunResult named = record_in(folder, "record -o named -- no-such-command-for-routeheap");
    EXPECT_EQ(named.exit_code, 127) << named.output;
    EXPECT_NE(named.output.find("cannot run 'no-such-command-for-routeheap': No such file or directory"),
              std::string::npos)
        << named.output;
    EXPECT_EQ(named.output.find("session:"), std::string::npos) << named.output;
    EXPECT_EQ(named.output.find("recording into"), std::string::npos) << named.output;
    EXPECT_EQ(named.output.find("next:"), std::string::npos) << named.output;
    EXPECT_FALSE(fs::exists(folder / "named"));

    fs::create_directory(folder / "empty");
    EXPECT_EQ(record_in(folder, "record -o empty -- no-such-command-for-routeheap").exit_code, 127);
    EXPECT_TRUE(fs::is_empty(folder / "empty")) << "the user's empty folder is kept, and left empty";

    const fs::path cwd = folder / "default";
    fs::create_directory(cwd);
    const RunResult unnamed = record_in(cwd, "record -- no-such-command-for-routeheap");
    EXPECT_EQ(unnamed.exit_code, 127) << unnamed.output;
    for (const auto& entry : fs::directory_iterator(cwd)) {
        EXPECT_FALSE(entry.path().filename().string().starts_with("routeheap-")) << entry.path();
    }

    std::ofstream(folder / "notes.txt") << "not a program";
    fs::permissions(folder / "notes.txt", fs::perms::owner_read | fs::perms::owner_write);
    const RunResult not_executable = record_in(folder, "record -o plain -- ./notes.txt");
    EXPECT_EQ(not_executable.exit_code, 126) << not_executable.output;
    EXPECT_NE(not_executable.output.find("Permission denied"), std::string::npos) << not_executable.output;
    EXPECT_FALSE(fs::exists(folder / "plain"));
}

TEST(RecordCli, UnloadedAgentIsNamed) {
    const auto folder = fresh_folder("record-cli");
    const RunResult result = record_in(folder, "record -o session -- sh -c 'exit 3'");
    EXPECT_EQ(result.exit_code, 3) << result.output;
    const std::string warning = "no process loaded the agent";
    const size_t at = result.output.find(warning);
    ASSERT_NE(at, std::string::npos) << result.output;
    EXPECT_EQ(result.output.find(warning, at + 1), std::string::npos) << "the warning is printed once";
    EXPECT_NE(result.output.find("ROUTEHEAP_DISABLE"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("placeholder-agent.so"), std::string::npos) << result.output;
    EXPECT_EQ(result.output.find("next:"), std::string::npos) << result.output;
}

// The default session name for `offset_seconds` from now, as record formats it.
std::string default_name_at(int offset_seconds) {
    const std::time_t when = std::time(nullptr) + offset_seconds;
    std::tm parts{};
    localtime_r(&when, &parts);
    char buffer[64];
    std::strftime(buffer, sizeof(buffer), "routeheap-%Y%m%d-%H%M%S", &parts);
    return buffer;
}

TEST(RecordCli, TakenDefaultNameGetsSuffix) {
    const auto folder = fresh_folder("record-cli");
    // Occupy the names of the next few seconds, so the run meets one whenever it starts.
    std::vector<std::string> taken;
    for (int offset = 0; offset < 10; ++offset) {
        taken.push_back(default_name_at(offset));
        fs::create_directory(folder / taken.back());
        std::ofstream(folder / taken.back() / "other-run.txt") << "another session";
    }
    const RunResult result = record_in(folder, "record -q -- /bin/true");
    EXPECT_EQ(result.exit_code, 0) << result.output;
    bool found = false;
    for (const std::string& name : taken) found = found || fs::exists(folder / (name + "-2") / "session.json");
    EXPECT_TRUE(found) << result.output;
    EXPECT_NE(result.output.find("-2"), std::string::npos) << result.output;
}

TEST(RecordCli, EmptyOutputFolderBecomesPrivate) {
    const auto folder = fresh_folder("record-cli");
    fs::create_directory(folder / "out");
    fs::permissions(folder / "out", fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                        fs::perms::others_read | fs::perms::others_exec);
    const RunResult result = record_in(folder, "record -q -o out -- /bin/true");
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_EQ(fs::status(folder / "out").permissions() & fs::perms::all, fs::perms::owner_all);
}

TEST(RecordCli, HelpTopicPrintsSubcommandHelp) {
    const auto folder = fresh_folder("record-cli");
    const RunResult record = run_shell(std::string(ROUTEHEAP_BIN) + " help record");
    EXPECT_EQ(record.exit_code, 0) << record.output;
    EXPECT_NE(record.output.find("usage: routeheap record"), std::string::npos) << record.output;
    EXPECT_NE(record.output.find("ROUTEHEAP_SAMPLE_BYTES"), std::string::npos) << record.output;
    EXPECT_NE(record.output.find("ROUTEHEAP_DISABLE"), std::string::npos) << record.output;
    EXPECT_NE(record.output.find("docs/configuration.md"), std::string::npos) << record.output;
    EXPECT_EQ(record.output.find("must not exist or be empty"), std::string::npos) << record.output;

    const RunResult report = run_shell(std::string(ROUTEHEAP_BIN) + " help report");
    EXPECT_EQ(report.exit_code, 0) << report.output;
    EXPECT_NE(report.output.find("--format ] FORMAT"), std::string::npos) << report.output;
    EXPECT_NE(report.output.find("--output ] FILE"), std::string::npos) << report.output;
    EXPECT_NE(report.output.find("  PATH "), std::string::npos) << report.output;

    const RunResult unknown = run_shell(std::string(ROUTEHEAP_BIN) + " help recrod");
    EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
    EXPECT_NE(unknown.output.find("'recrod'"), std::string::npos) << unknown.output;
}

TEST(RecordCli, ReportNamesExtraArgument) {
    const auto folder = fresh_folder("record-cli");
    const RunResult result = run_shell(std::string(ROUTEHEAP_BIN) + " report first-path second-path");
    EXPECT_EQ(result.exit_code, 2) << result.output;
    EXPECT_NE(result.output.find("unexpected argument 'second-path'"), std::string::npos) << result.output;
}

TEST(RecordCli, SessionFolderPrintedAtStart) {
    const auto folder = fresh_folder("record-cli");
    const RunResult result = record_in(folder, "record -o started -- sh -c 'echo command-ran'");
    EXPECT_EQ(result.exit_code, 0) << result.output;
    // Printed once exec succeeded, so the command's own output may come first.
    EXPECT_NE(result.output.find("routeheap record: recording into " + (folder / "started").string()),
              std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("command-ran"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace routeheap::testing
