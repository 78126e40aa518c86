// Reports over stacks that symbolize badly: a stripped binary, a module deleted after
// load, a frame without a frame pointer and a signal handler frame. Each case records one
// request of samples/native/bad_frames_server and checks that the report still comes out,
// that unknown frames show as "[module+0xoffset]" and that the warnings count them.
#include "native_runs.h"
#include "trace_builder.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <regex>

namespace routeheap::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct RecordedReport {
    json report;
    json site;  // the request's top site
    std::string warnings;  // every warning, one per line
};

// Records `program args` (one request) in exact mode and reads the JSON report with every
// frame of each site.
RecordedReport record_one_request(const fs::path& folder, const std::string& program, const std::string& args) {
    RecordedReport result;
    const fs::path session = folder / "session";
    const CommandResult recorded = run_command("ROUTEHEAP_SAMPLE_BYTES=1 " + std::string(ROUTEHEAP_BIN) +
                                               " record --output " + session.string() + " -- " + program + " " + args);
    EXPECT_EQ(recorded.exit_code, 0) << recorded.output;
    EXPECT_NE(recorded.output.find("done"), std::string::npos) << recorded.output;

    const CommandResult reported =
        run_command(std::string(ROUTEHEAP_BIN) + " report " + session.string() + " --format json --stacks 64");
    EXPECT_EQ(reported.exit_code, 0) << reported.output;
    if (reported.exit_code != 0) return result;
    result.report = json::parse(reported.output);
    for (const json& warning : result.report["warnings"]) result.warnings += warning.get<std::string>() + "\n";

    const json& requests = result.report["requests"];
    EXPECT_EQ(requests.size(), 1u) << result.report.dump(2);
    if (requests.size() != 1 || requests[0]["top_sites"].empty()) {
        ADD_FAILURE() << "the request has no allocation sites:\n" << result.report.dump(2);
        return result;
    }
    result.site = requests[0]["top_sites"][0];
    return result;
}

std::string describe(const json& site) {
    std::string text;
    for (const json& frame : site["frames"]) text += "  " + frame["label"].get<std::string>() + "\n";
    return text;
}

bool has_frame(const json& site, const std::string& function) {
    for (const json& frame : site["frames"]) {
        if (frame["function"].is_string() && frame["function"] == function) return true;
    }
    return false;
}

// The 1 MiB block of the handler is the top site and holds the whole peak.
void expect_handler_block(const json& site) {
    EXPECT_EQ(site["bytes"], 1 << 20) << describe(site);
    EXPECT_EQ(site["allocations"], 1);
    EXPECT_FALSE(site["estimate"].get<bool>());
}

// A warning such as "3 of 40 frames could not be symbolized ...", with at least one frame.
void expect_unknown_frame_count(const std::string& warnings) {
    static const std::regex count(R"(([1-9]\d*) of \d+ frames? could not be symbolized)");
    EXPECT_TRUE(std::regex_search(warnings, count)) << warnings;
}

TEST(BadInputReport, StrippedBinaryShowsAddresses) {
    const fs::path server = native_sample("bad_frames_server");
    const fs::path strip = find_program("strip");
    ASSERT_FALSE(strip.empty()) << "strip is not in PATH: install the Debian package binutils";
    const fs::path folder = fresh_folder("stripped");
    const fs::path stripped = folder / "stripped_server";
    fs::copy_file(server, stripped);
    const CommandResult stripping = run_command(strip.string() + " --strip-all " + stripped.string());
    ASSERT_EQ(stripping.exit_code, 0) << stripping.output;

    const RecordedReport result = record_one_request(folder, stripped.string(), "plain");
    ASSERT_FALSE(result.site.is_null());
    expect_handler_block(result.site);
    const json& first = result.site["frames"][0];
    EXPECT_TRUE(first["function"].is_null()) << describe(result.site);
    EXPECT_EQ(first["kind"], "native");
    EXPECT_EQ(first["module"], stripped.string());
    EXPECT_TRUE(std::regex_match(first["label"].get<std::string>(), std::regex(R"(\[stripped_server\+0x[0-9a-f]+\])")))
        << describe(result.site);
    expect_unknown_frame_count(result.warnings);
}

TEST(BadInputReport, DeletedModuleShowsAddresses) {
    const fs::path plugin = native_sample("alloc_plugin.so");
    const fs::path folder = fresh_folder("deleted-module");
    const fs::path copy = folder / "deleted_plugin.so";
    fs::copy_file(plugin, copy);

    const RecordedReport result =
        record_one_request(folder, native_sample("bad_frames_server").string(), "plugin-unlinked " + copy.string());
    EXPECT_FALSE(fs::exists(copy)) << "the server did not delete " << copy;
    ASSERT_FALSE(result.site.is_null());
    expect_handler_block(result.site);
    const json& first = result.site["frames"][0];
    EXPECT_EQ(first["module"], copy.string()) << describe(result.site);
    EXPECT_TRUE(std::regex_match(first["label"].get<std::string>(), std::regex(R"(\[deleted_plugin\.so\+0x[0-9a-f]+\])")))
        << describe(result.site);
    // The server's own frames still symbolize.
    EXPECT_TRUE(has_frame(result.site, "handle_request")) << describe(result.site);
    EXPECT_NE(result.warnings.find("cannot read " + copy.string() + ": the file no longer exists"), std::string::npos)
        << result.warnings;
    expect_unknown_frame_count(result.warnings);
}

TEST(BadInputReport, FrameWithoutFramePointer) {
    const RecordedReport result = record_one_request(fresh_folder("no-frame-pointer"),
                                                     native_sample("bad_frames_server").string(), "no-frame-pointer");
    ASSERT_FALSE(result.site.is_null());
    expect_handler_block(result.site);
    // The return address into the function comes from the allocator's own frame, so it is
    // always there. Its caller's frame may be lost to the frame-pointer walk.
    EXPECT_EQ(result.site["frames"][0]["function"], "allocate_without_frame_pointer") << describe(result.site);
    EXPECT_TRUE(has_frame(result.site, "main")) << describe(result.site);
}

TEST(BadInputReport, SignalHandlerFrame) {
    const RecordedReport result =
        record_one_request(fresh_folder("signal-frame"), native_sample("bad_frames_server").string(), "signal");
    ASSERT_FALSE(result.site.is_null());
    expect_handler_block(result.site);
    EXPECT_EQ(result.site["frames"][0]["function"], "signal_handler") << describe(result.site);
    // The handler returns to the signal trampoline in libc.
    ASSERT_GE(result.site["frames"].size(), 2u) << describe(result.site);
    const json& trampoline = result.site["frames"][1];
    ASSERT_TRUE(trampoline["module"].is_string()) << describe(result.site);
    EXPECT_TRUE(trampoline["module"].get<std::string>().ends_with("/libc.so.6")) << describe(result.site);
    for (const json& frame : result.site["frames"]) {
        EXPECT_FALSE(frame["label"].get<std::string>().empty()) << describe(result.site);
    }
}

}  // namespace
}  // namespace routeheap::testing
