// Allocation sites in the reports (JSON fields, text and markdown lines, --stacks depth)
// and the folded export, through the library and the routeheap binary.
#include "scenarios.h"

#include <routeheap/analysis/analysis.h>
#include <routeheap/analysis/export.h>
#include <routeheap/analysis/report.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace routeheap::testing {
namespace {

using namespace routeheap::analysis;
using nlohmann::json;

uint64_t at(uint64_t ms) { return 1'000'000'000 + ms * kMs; }

// One buffered request on /buffered whose peak holds three sites: JSON.stringify under
// the handler (6 MiB), row parsing (2 MiB, sampled so an estimate), and a deep native
// stack (1 MiB); plus a streamed request with a 1 MiB site.
std::filesystem::path write_session(const std::string& name) {
    const auto folder = fresh_folder(name);
    TraceBuilder builder;
    add_exchange(builder, buffered_response_shape(100 * kMs, 8 * kMiBytes));
    ExchangeShape streamed = streamed_response_shape(2000 * kMs, 8 * kMiBytes);
    streamed.connection = 2;
    add_exchange(builder, streamed);
    builder.sampling_config(256 * 1024, 1 * kMiBytes);
    builder.stack_definition(1, {0x41010, 0x40010});
    builder.stack_definition(2, {0x42010, 0x40020});
    builder.stack_definition(3, {0x50000, 0x50100, 0x50200, 0x50300, 0x50400, 0x50500, 0x50600});
    builder.allocation(at(200), 0x1000, 6 * kMiBytes, 1, trace::kAllocationAlways);
    builder.allocation(at(300), 0x2000, 512 * 1024, 2);
    builder.allocation(at(400), 0x900000, 1 * kMiBytes, 3, trace::kAllocationAlways);
    builder.allocation(at(2100), 0x3000, 1 * kMiBytes, 1, trace::kAllocationAlways);
    builder.trace_end(at(4000));
    builder.write(folder / "4242.rhtrace");
    std::ofstream(folder / "perf-4242.map") << "40000 200 JS:*handleBuffered /srv/app/server.js:75:24\n"
                                            << "41000 200 Builtin:JsonStringify\n"
                                            << "42000 200 JS:~parseRows /srv/app/server.js:30:3\n";
    return folder;
}

struct RunResult {
    int exit_code = -1;
    std::string output;
};

RunResult run(const std::string& arguments) {
    const std::string command = std::string(ROUTEHEAP_BIN) + " " + arguments + " 2>&1";
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

TEST(SitesJson, RequestTopSites) {
    const json report = render_json(analyze_session(open_session(write_session("sites"))));
    const json& request = report["requests"][0];
    ASSERT_EQ(request["path"], "/buffered");
    const json& sites = request["top_sites"];
    ASSERT_EQ(sites.size(), 3u);
    EXPECT_EQ(sites[0]["bytes"], 6 * kMiBytes);
    EXPECT_EQ(sites[0]["estimate"], false);
    EXPECT_EQ(sites[0]["allocations"], 1);
    EXPECT_EQ(sites[0]["frame_count"], 2);
    EXPECT_EQ(sites[0]["frames"][0]["function"], "JSON.stringify");
    EXPECT_EQ(sites[0]["frames"][0]["kind"], "builtin");
    EXPECT_EQ(sites[0]["frames"][1]["function"], "handleBuffered");
    EXPECT_EQ(sites[0]["frames"][1]["location"], "/srv/app/server.js:75");
    EXPECT_EQ(sites[0]["frames"][1]["kind"], "js");
    EXPECT_EQ(sites[0]["frames"][1]["address"], "0x40010");
    EXPECT_EQ(sites[1]["frames"][0]["kind"], "jit");
    EXPECT_EQ(sites[1]["frames"].size(), 5u);  // --stacks default
    EXPECT_EQ(sites[1]["frame_count"], 7);
    EXPECT_EQ(sites[2]["estimate"], true);
    double shares = 0;
    for (const json& site : sites) shares += site["share"].get<double>();
    EXPECT_LE(shares, 1.0);
    EXPECT_EQ(request["allocation_peak"]["estimate"], true);
    EXPECT_EQ(report["session"]["processes"][0]["sampling"]["mean_interval_bytes"], 256 * 1024);
    EXPECT_EQ(report["session"]["processes"][0]["sampled_allocations"], 4);
}

TEST(SitesJson, FindingSitesAndDepth) {
    ReportOptions options;
    options.stack_depth = 1;
    const json report = render_json(analyze_session(open_session(write_session("sites"))), options);
    bool found = false;
    for (const json& route : report["routes"]) {
        for (const json& finding : route["findings"]) {
            if (finding["kind"] != "buffered-response") continue;
            found = true;
            ASSERT_EQ(finding["sites"].size(), 3u);
            EXPECT_EQ(finding["sites"][0]["frames"].size(), 1u);
            EXPECT_EQ(finding["sites"][0]["frames"][0]["label"], "JSON.stringify");
        }
    }
    EXPECT_TRUE(found);
    EXPECT_TRUE(report["requests"][1]["findings"].empty());
    EXPECT_EQ(report["requests"][1]["top_sites"].size(), 1u);
}

TEST(SitesJson, NullWithoutStacks) {
    const auto folder = fresh_folder("sites");
    TraceBuilder builder;
    add_exchange(builder, buffered_response_shape(100 * kMs, 8 * kMiBytes));
    builder.write(folder / "1.rhtrace");
    const json report = render_json(analyze_session(open_session(folder)));
    EXPECT_TRUE(report["requests"][0]["allocation_peak"].is_null());
    EXPECT_TRUE(report["requests"][0]["top_sites"].empty());
    EXPECT_TRUE(report["session"]["processes"][0]["sampling"].is_null());
}

TEST(SitesText, LinesUnderFinding) {
    const std::string text = render_text(analyze_session(open_session(write_session("sites"))));
    EXPECT_NE(text.find("allocation sites at the strongest request's peak"), std::string::npos) << text;
    EXPECT_NE(text.find("79% 6.0 MiB  JSON.stringify < handleBuffered /srv/app/server.js:75\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("(estimate)  parseRows /srv/app/server.js:30"), std::string::npos) << text;
    EXPECT_NE(text.find("[jit 0x50000] < [jit 0x50100] < [jit 0x50200] < [jit 0x50300] < [jit 0x50400] < ..."),
              std::string::npos)
        << text;
}

TEST(SitesText, ApplicationFrameNamedFirst) {
    AllocationSite site;
    site.bytes = 188 * 1024 * 1024;
    site.share = 0.8;
    Frame writev;
    writev.function = "node::StreamBase::Writev";
    Frame internal;
    internal.kind = FrameKind::Js;
    internal.function = "writevGeneric";
    internal.location = "node:internal/stream_base_commons:123";
    Frame dependency;
    dependency.kind = FrameKind::Js;
    dependency.function = "parse";
    dependency.location = "/srv/app/node_modules/csv-parser/index.js:40";
    Frame handler;
    handler.kind = FrameKind::Js;
    handler.function = "handler";
    handler.location = "/srv/app/server.js:41";
    site.frames = {writev, internal, dependency, handler};

    const std::string line = format_site_line(site, 1);
    EXPECT_EQ(line.substr(0, line.find("  via")), "80% 188 MiB  at " + handler.label());
    EXPECT_NE(line.find("  via node::StreamBase::Writev < ..."), std::string::npos) << line;
    EXPECT_EQ(format_site_line(site, 4).find("  at "), std::string::npos);  // the handler is shown anyway

    site.frames = {writev, internal, dependency};
    EXPECT_EQ(format_site_line(site, 1).find("  at "), std::string::npos);
}

TEST(SitesMarkdown, ListUnderFinding) {
    ReportOptions options;
    options.stack_depth = 2;
    const std::string text = render_markdown(analyze_session(open_session(write_session("sites"))), options);
    EXPECT_NE(text.find("Allocation sites at the strongest request's peak"), std::string::npos) << text;
    EXPECT_NE(text.find("- `79% 6.0 MiB  JSON.stringify < handleBuffered /srv/app/server.js:75`"), std::string::npos)
        << text;
    EXPECT_NE(text.find("[jit 0x50000] < [jit 0x50100] < ...`"), std::string::npos) << text;
}

TEST(FoldedExport, OuterFirstWithBytes) {
    const SessionAnalysis analysis = analyze_session(open_session(write_session("sites")));
    const std::string folded = render_folded(select_requests(analysis, RequestSelection{}));
    std::istringstream lines(folded);
    std::string line;
    std::vector<std::string> all;
    while (std::getline(lines, line)) all.push_back(line);
    ASSERT_EQ(all.size(), 3u) << folded;
    // The same stack in two requests is one line: 6 MiB + 1 MiB.
    EXPECT_NE(folded.find("handleBuffered /srv/app/server.js:75;JSON.stringify 7340032\n"), std::string::npos)
        << folded;
    EXPECT_NE(folded.find("[jit 0x50600];[jit 0x50500];[jit 0x50400];[jit 0x50300];[jit 0x50200];[jit 0x50100];"
                          "[jit 0x50000] 1048576\n"),
              std::string::npos)
        << folded;
    for (const std::string& entry : all) {
        const size_t space = entry.rfind(' ');
        ASSERT_NE(space, std::string::npos);
        EXPECT_GT(std::stoll(entry.substr(space + 1)), 0) << entry;
    }
}

TEST(FoldedExport, SelectsRouteAndRequest) {
    const SessionAnalysis analysis = analyze_session(open_session(write_session("sites")));
    EXPECT_EQ(select_requests(analysis, RequestSelection{"/stream", ""}).size(), 1u);
    EXPECT_EQ(select_requests(analysis, RequestSelection{"POST /buffered", ""}).size(), 1u);
    EXPECT_TRUE(select_requests(analysis, RequestSelection{"GET /buffered", ""}).empty());
    const std::string id = analysis.requests[1].id.to_string();
    const auto one = select_requests(analysis, RequestSelection{"", id});
    ASSERT_EQ(one.size(), 1u);
    EXPECT_EQ(render_folded(one), "handleBuffered /srv/app/server.js:75;JSON.stringify 1048576\n");
}

TEST(FoldedExport, CommandWritesFile) {
    const auto folder = write_session("sites");
    const auto output = folder / "out.folded";
    const RunResult result = run("export --format folded --route /buffered --output " + output.string() + " " +
                                 folder.string());
    ASSERT_EQ(result.exit_code, 0) << result.output;
    std::ifstream in(output);
    const std::string folded((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(folded.find("handleBuffered /srv/app/server.js:75;JSON.stringify 6291456\n"), std::string::npos)
        << folded;
}

TEST(FoldedExport, CommandErrors) {
    const auto folder = write_session("sites");
    const RunResult no_format = run("export " + folder.string());
    EXPECT_EQ(no_format.exit_code, 2);
    EXPECT_NE(no_format.output.find("missing --format"), std::string::npos) << no_format.output;
    const RunResult bad_format = run("export --format svg " + folder.string());
    EXPECT_EQ(bad_format.exit_code, 2);
    EXPECT_NE(bad_format.output.find("invalid --format 'svg'"), std::string::npos) << bad_format.output;
    const RunResult both = run("export --format folded --route /a --request 1:1:0 " + folder.string());
    EXPECT_EQ(both.exit_code, 2);
    const RunResult unknown_route = run("export --format folded --route /nope " + folder.string());
    EXPECT_EQ(unknown_route.exit_code, 1);
    EXPECT_NE(unknown_route.output.find("POST /buffered"), std::string::npos) << unknown_route.output;
    const RunResult unknown_request = run("export --format folded --request 9:9:9 " + folder.string());
    EXPECT_EQ(unknown_request.exit_code, 1);
    EXPECT_NE(unknown_request.output.find("no request with id '9:9:9'"), std::string::npos) << unknown_request.output;
}

TEST(FoldedExport, CommandWithoutStacksFails) {
    const auto folder = fresh_folder("sites");
    TraceBuilder builder;
    add_exchange(builder, buffered_response_shape(100 * kMs, 8 * kMiBytes));
    builder.write(folder / "1.rhtrace");
    const RunResult result = run("export --format folded " + folder.string());
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.output.find("no allocation stacks"), std::string::npos) << result.output;
}

TEST(ReportStacks, OptionChecked) {
    const auto folder = write_session("sites");
    const RunResult zero = run("report --stacks 0 " + folder.string());
    EXPECT_EQ(zero.exit_code, 2);
    EXPECT_NE(zero.output.find("invalid --stacks 0"), std::string::npos) << zero.output;
    const RunResult one = run("report --stacks 1 " + folder.string());
    EXPECT_EQ(one.exit_code, 0) << one.output;
    EXPECT_NE(one.output.find("79% 6.0 MiB  at handleBuffered /srv/app/server.js:75  via JSON.stringify < ...\n"),
              std::string::npos)
        << one.output;
}

}  // namespace
}  // namespace routeheap::testing
