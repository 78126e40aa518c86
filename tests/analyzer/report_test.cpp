// Reports: JSON fields and schema string, text and markdown content, byte units.
#include "scenarios.h"

#include <routeheap/analysis/analysis.h>
#include <routeheap/analysis/report.h>

#include <gtest/gtest.h>

#include <fstream>

namespace routeheap::testing {
namespace {

using namespace routeheap::analysis;
using nlohmann::json;

SessionAnalysis sample_session() {
    const auto folder = fresh_folder("report");
    TraceBuilder builder;
    add_exchange(builder, buffered_response_shape(10 * kMs, 60 * kMiBytes));
    ExchangeShape streamed = streamed_response_shape(2000 * kMs, 60 * kMiBytes);
    streamed.connection = 2;
    streamed.path = "/stream/42";
    add_exchange(builder, streamed);
    builder.trace_end(builder.start_ns() + 4000 * kMs);
    builder.write(folder / "4242.rhtrace");

    TraceBuilder truncated(4343);
    truncated.sample(truncated.start_ns() + 1, trace::SampleReason::Periodic, 0, MemoryState{1, 1, 1});
    truncated.write(folder / "4343.rhtrace");

    std::ofstream(folder / "session.json") << R"({"command": ["node", "server.js"], "start_time": "2024-01-01T00:00:00Z"})";
    return analyze_session(open_session(folder));
}

TEST(ReportJson, InvalidUtf8PathIsEncoded) {
    const auto folder = fresh_folder("report-utf8");
    TraceBuilder builder;
    ExchangeShape shape = streamed_response_shape(10 * kMs, 2 * kMiBytes);
    shape.path = "/caf\xe9";
    add_exchange(builder, shape);
    builder.trace_end(builder.start_ns() + 4000 * kMs);
    builder.write(folder / "4242.rhtrace");

    const SessionAnalysis analysis = analyze_session(open_session(folder));
    const std::string text = render_report(analysis, ReportFormat::Json);
    const json report = json::parse(text);
    ASSERT_EQ(report["requests"].size(), 1u);
    EXPECT_EQ(report["requests"][0]["path"], "/caf%E9");
}

TEST(ReportJson, SchemaAndTopLevelFields) {
    const json report = render_json(sample_session());
    EXPECT_EQ(report["schema"], "routeheap.report/1");
    for (const char* field : {"session", "routes", "requests", "warnings"}) {
        EXPECT_TRUE(report.contains(field)) << field;
    }
    const json& processes = report["session"]["processes"];
    ASSERT_EQ(processes.size(), 2u);
    EXPECT_EQ(processes[0]["pid"], 4242);
    EXPECT_EQ(processes[0]["exe"], "/usr/bin/node");
    EXPECT_EQ(processes[0]["complete"], true);
    EXPECT_TRUE(processes[0]["trace"].get<std::string>().ends_with("4242.rhtrace"));
    EXPECT_EQ(processes[1]["complete"], false);
    EXPECT_FALSE(processes[1]["warnings"].empty());
    EXPECT_EQ(report["session"]["metadata"]["command"][0], "node");
}

TEST(ReportJson, RouteFields) {
    const json report = render_json(sample_session());
    const json& routes = report["routes"];
    ASSERT_EQ(routes.size(), 2u);
    const json& buffered = routes[0];
    EXPECT_EQ(buffered["method"], "POST");
    EXPECT_EQ(buffered["route"], "/buffered");
    EXPECT_EQ(buffered["requests"], 1);
    EXPECT_EQ(buffered["peak_growth_bytes"]["p50"], 180 * kMiBytes);
    EXPECT_EQ(buffered["peak_growth_bytes"]["max"], 180 * kMiBytes);
    EXPECT_EQ(buffered["request_bytes"]["total"], 0);
    EXPECT_EQ(buffered["response_bytes"]["max"], 60 * kMiBytes);
    ASSERT_EQ(buffered["findings"].size(), 1u);
    const json& finding = buffered["findings"][0];
    EXPECT_EQ(finding["kind"], "buffered-response");
    EXPECT_EQ(finding["confidence"], "high");
    EXPECT_EQ(finding["evidence"]["response_bytes"], 60 * kMiBytes);
    EXPECT_DOUBLE_EQ(finding["evidence"]["growth_to_response_ratio"].get<double>(), 3.0);
    EXPECT_TRUE(finding["fix"].is_string());
    EXPECT_EQ(routes[1]["route"], "/stream/:id");
    EXPECT_TRUE(routes[1]["findings"].empty());
}

TEST(ReportJson, RequestFields) {
    const json report = render_json(sample_session());
    const json& requests = report["requests"];
    ASSERT_EQ(requests.size(), 2u);
    const json& request = requests[0];
    EXPECT_EQ(request["id"], "4242:1:0");
    EXPECT_EQ(request["pid"], 4242);
    EXPECT_EQ(request["method"], "POST");
    EXPECT_EQ(request["path"], "/buffered");
    EXPECT_EQ(request["route"], "/buffered");
    EXPECT_EQ(request["status"], 200);
    EXPECT_EQ(request["request_bytes"], 0);
    EXPECT_EQ(request["response_bytes"], 60 * kMiBytes);
    EXPECT_EQ(request["start_ns"], 10 * kMs);  // relative to the session's first trace
    EXPECT_EQ(request["first_response_byte_ns"], 910 * kMs);
    EXPECT_EQ(request["end_ns"], 1010 * kMs);
    EXPECT_DOUBLE_EQ(request["duration_ms"].get<double>(), 1000.0);
    EXPECT_EQ(request["peak_growth_bytes"]["native"], 120 * kMiBytes);
    EXPECT_EQ(request["peak_growth_bytes"]["v8"], 60 * kMiBytes);
    EXPECT_EQ(request["peak_growth_bytes"]["rss"], 120 * kMiBytes);
    EXPECT_EQ(request["peak_growth_bytes"]["heap"], 180 * kMiBytes);
    EXPECT_EQ(request["overlapping"], false);
    EXPECT_EQ(request["outcome"], "complete");
    ASSERT_EQ(request["findings"].size(), 1u);
    EXPECT_EQ(request["findings"][0]["kind"], "buffered-response");
    EXPECT_TRUE(requests[1]["findings"].empty());
}

TEST(ReportText, ShowsRoutesFindingsAndWarnings) {
    const std::string text = render_text(sample_session());
    EXPECT_NE(text.find("/buffered"), std::string::npos);
    EXPECT_NE(text.find("/stream/:id"), std::string::npos);
    EXPECT_NE(text.find("buffered-response on POST /buffered (high confidence, 1 of 1 requests)"), std::string::npos)
        << text;
    EXPECT_NE(text.find("fix:"), std::string::npos);
    EXPECT_NE(text.find("Warnings"), std::string::npos);
    EXPECT_NE(text.find("no TraceEnd"), std::string::npos);
    EXPECT_NE(text.find("command: node server.js"), std::string::npos);
}

TEST(ReportMarkdown, HasTablesAndSections) {
    const std::string text = render_markdown(sample_session());
    EXPECT_NE(text.find("## Routes"), std::string::npos);
    EXPECT_NE(text.find("| POST | /buffered |"), std::string::npos) << text;
    EXPECT_NE(text.find("### buffered-response on POST /buffered"), std::string::npos);
    EXPECT_NE(text.find("**Fix:**"), std::string::npos);
}

TEST(Format, ByteUnits) {
    EXPECT_EQ(format_bytes(0), "0 B");
    EXPECT_EQ(format_bytes(1023), "1023 B");
    EXPECT_EQ(format_bytes(1024), "1.0 KiB");
    EXPECT_EQ(format_bytes(24 * kMiBytes + kMiBytes / 10), "24.1 MiB");
    EXPECT_EQ(format_bytes(412 * kMiBytes), "412 MiB");
    EXPECT_EQ(format_bytes(3 * 1024 * kMiBytes / 2), "1.5 GiB");
    EXPECT_EQ(format_bytes(-2048), "-2.0 KiB");
}

TEST(Format, LiveLine) {
    const SessionAnalysis analysis = sample_session();
    EXPECT_EQ(format_request_line(analysis.requests[0]),
              "POST /buffered 200  in 0 B  out 60.0 MiB  peak +180 MiB (3.0x response)  BUFFERED RESPONSE");
    EXPECT_EQ(format_request_line(analysis.requests[1]),
              "POST /stream/42 200  in 0 B  out 60.0 MiB  peak +5.0 MiB (0.1x response)  ok");
}

TEST(Format, LiveLineSmallResponseHasNoRatio) {
    Request request;
    request.method = "POST";
    request.path = "/a";
    request.status = 200;
    request.request_bytes = 3;
    request.response_bytes = 32;
    request.growth_measured = true;
    request.growth.heap = 603 * 1024;
    request.outcome = Outcome::Complete;
    EXPECT_EQ(format_request_line(request), "POST /a 200  in 3 B  out 32 B  peak +603 KiB  ok");
}

TEST(Format, LiveLineUnfinishedHasNoVerdict) {
    Request request;
    request.method = "GET";
    request.path = "/slow";
    request.outcome = Outcome::Open;
    EXPECT_EQ(format_request_line(request), "GET /slow ---  in 0 B  out 0 B  peak n/a  [open]  no verdict");
}

TEST(Model, FramingStopBeforeHeadIsNotARequest) {
    const auto folder = fresh_folder("report-tls");
    TraceBuilder builder;
    const uint64_t start = builder.start_ns() + 10 * kMs;
    builder.sample(start, trace::SampleReason::RequestStart, 1, MemoryState{1, 1, 1});
    builder.framing_stopped(1, start + 1 * kMs, "TLS handshake");
    trace::RequestEnd end{};
    end.outcome = static_cast<uint16_t>(trace::RequestOutcome::FramingStopped);
    end.time_ns = start + 1 * kMs;
    end.connection_id = 1;
    builder.request_end(end);
    builder.sample(start + 1 * kMs, trace::SampleReason::RequestEnd, 1, MemoryState{1, 1, 1});
    builder.trace_end(start + 100 * kMs);
    builder.write(folder / "4242.rhtrace");

    const SessionAnalysis analysis = analyze_session(open_session(folder));
    EXPECT_TRUE(analysis.requests.empty());
}

}  // namespace
}  // namespace routeheap::testing
