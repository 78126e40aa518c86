// `routeheap record` with the real agent: the perf maps it copies into the session
// folder and the report command it prints at the end.
#include "trace_builder.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>

namespace routeheap::testing {
namespace {

namespace fs = std::filesystem;

struct RunResult {
    int exit_code = -1;
    std::string output;  // stdout and stderr together
};

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

// Records `sh -c SCRIPT` into folder/session; SCRIPT may use $$ (the traced shell's pid).
RunResult record_shell(const fs::path& folder, const std::string& script) {
    return run_shell("ROUTEHEAP_AGENT=" + std::string(ROUTEHEAP_AGENT_PATH) + " " + ROUTEHEAP_BIN +
                     " record --quiet --output " + (folder / "session").string() + " -- sh -c '" + script + "'");
}

std::string read_text(const fs::path& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The pid the recorded shell wrote to folder/pid, with its /tmp/perf-PID.map removed at
// the end of the test.
class ShellPid {
public:
    explicit ShellPid(const fs::path& folder) : pid_(std::stoul(read_text(folder / "pid"))) {}
    ~ShellPid() {
        std::error_code error;
        fs::remove(map(), error);
    }
    fs::path map() const { return "/tmp/perf-" + std::to_string(pid_) + ".map"; }
    std::string map_name() const { return map().filename().string(); }

private:
    unsigned long pid_;
};

TEST(RecordSession, StalePerfMapIsNotCopied) {
    const auto folder = fresh_folder("record-session");
    const RunResult result =
        record_shell(folder, "echo $$ > " + (folder / "pid").string() +
                                 "; echo \"10 20 JS:*old\" > /tmp/perf-$$.map; touch -d 2020-01-01 /tmp/perf-$$.map");
    ASSERT_EQ(result.exit_code, 0) << result.output;
    const ShellPid shell(folder);
    EXPECT_TRUE(fs::exists(shell.map()));
    EXPECT_FALSE(fs::exists(folder / "session" / shell.map_name())) << "a map older than the trace was copied";
}

TEST(RecordSession, FreshPerfMapIsCopiedPrivately) {
    const auto folder = fresh_folder("record-session");
    const RunResult result =
        record_shell(folder, "echo $$ > " + (folder / "pid").string() + "; echo \"10 20 JS:*new\" > /tmp/perf-$$.map");
    ASSERT_EQ(result.exit_code, 0) << result.output;
    const ShellPid shell(folder);
    const fs::path copy = folder / "session" / shell.map_name();
    ASSERT_TRUE(fs::exists(copy)) << result.output;
    EXPECT_EQ(read_text(copy), "10 20 JS:*new\n");
    EXPECT_EQ(fs::status(copy).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
}

TEST(RecordSession, NextStepNamesTheProgramRun) {
    const auto folder = fresh_folder("record-session");
    fs::create_directory(folder / "bin");
    fs::create_symlink(ROUTEHEAP_BIN, folder / "bin" / "rh");
    const std::string agent = "ROUTEHEAP_AGENT=" + std::string(ROUTEHEAP_AGENT_PATH);

    const RunResult by_path =
        run_shell("cd '" + folder.string() + "' && " + agent + " ./bin/rh record -q -o by-path -- /bin/true");
    EXPECT_EQ(by_path.exit_code, 0) << by_path.output;
    EXPECT_NE(by_path.output.find("next: " + (folder / "bin" / "rh").string() + " report " +
                                  (folder / "by-path").string()),
              std::string::npos)
        << by_path.output;

    const RunResult by_name = run_shell("cd '" + folder.string() + "' && PATH='" + (folder / "bin").string() +
                                        "':\"$PATH\" " + agent + " rh record -q -o by-name -- /bin/true");
    EXPECT_EQ(by_name.exit_code, 0) << by_name.output;
    EXPECT_NE(by_name.output.find("next: rh report " + (folder / "by-name").string()), std::string::npos)
        << by_name.output;
}

}  // namespace
}  // namespace routeheap::testing
