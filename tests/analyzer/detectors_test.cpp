// Detectors on synthetic sessions: buffered vs streamed responses of the same size,
// buffered vs streamed uploads.
#include "scenarios.h"

#include <routeheap/analysis/analysis.h>
#include <routeheap/analysis/detectors.h>

#include <gtest/gtest.h>

namespace routeheap::testing {
namespace {

using namespace routeheap::analysis;

SessionAnalysis analyze(TraceBuilder& builder) {
    const auto folder = fresh_folder("detectors");
    builder.trace_end(builder.start_ns() + 3600'000 * kMs);
    builder.write(folder / "4242.rhtrace");
    return analyze_session(open_session(folder));
}

bool has_finding(const Request& request, const std::string& kind) {
    for (const Finding& finding : request.findings) {
        if (finding.kind == kind) return true;
    }
    return false;
}

const Finding& finding_of(const Request& request, const std::string& kind) {
    for (const Finding& finding : request.findings) {
        if (finding.kind == kind) return finding;
    }
    throw std::runtime_error("no " + kind + " finding");
}

ExchangeShape upload_shape(uint64_t start_ns, uint64_t request_bytes) {
    ExchangeShape shape;
    shape.path = "/upload";
    shape.start_ns = start_ns;
    shape.request_bytes = request_bytes;
    shape.body_reads = 64;
    shape.body_done_ns = start_ns + 100 * kMs;
    shape.first_response_ns = start_ns + 300 * kMs;
    shape.end_ns = start_ns + 310 * kMs;
    shape.response_bytes = 40;
    shape.before = MemoryState{50 * kMiBytes, 40 * kMiBytes, 120 * kMiBytes};
    return shape;
}

TEST(BufferedResponse, BufferedIsFoundStreamedIsNot) {
    TraceBuilder builder;
    add_exchange(builder, buffered_response_shape(0, 60 * kMiBytes));
    ExchangeShape streamed = streamed_response_shape(2000 * kMs, 60 * kMiBytes);
    streamed.connection = 2;
    add_exchange(builder, streamed);

    const SessionAnalysis analysis = analyze(builder);
    ASSERT_EQ(analysis.requests.size(), 2u);
    const Request& buffered = analysis.requests[0];
    const Request& stream = analysis.requests[1];
    ASSERT_EQ(buffered.path, "/buffered");
    ASSERT_EQ(stream.path, "/stream");

    ASSERT_TRUE(has_finding(buffered, "buffered-response"));
    const Finding& finding = finding_of(buffered, "buffered-response");
    EXPECT_EQ(finding.confidence, Confidence::High);
    EXPECT_DOUBLE_EQ(finding.find("response_bytes")->value, 60.0 * kMiBytes);
    EXPECT_DOUBLE_EQ(finding.find("growth_to_response_ratio")->value, 3.0);
    EXPECT_NEAR(finding.find("first_byte_fraction")->value, 0.9, 1e-9);
    EXPECT_DOUBLE_EQ(finding.find("largest_write_bytes")->value, 60.0 * kMiBytes);
    EXPECT_NE(finding.fix.find("stream.pipeline"), std::string::npos);

    EXPECT_TRUE(stream.findings.empty());
}

TEST(BufferedResponse, SmallResponseIsNotAFinding) {
    TraceBuilder builder;
    add_exchange(builder, buffered_response_shape(0, 512 * 1024));
    const SessionAnalysis analysis = analyze(builder);
    ASSERT_EQ(analysis.requests.size(), 1u);
    EXPECT_FALSE(has_finding(analysis.requests[0], "buffered-response"));
}

TEST(BufferedResponse, EarlyFirstByteIsNotAFinding) {
    TraceBuilder builder;
    ExchangeShape shape = buffered_response_shape(0, 8 * kMiBytes);
    shape.first_response_ns = 50 * kMs;  // 5% into the request
    add_exchange(builder, shape);
    const SessionAnalysis analysis = analyze(builder);
    EXPECT_FALSE(has_finding(analysis.requests[0], "buffered-response"));
}

TEST(BufferedResponse, SmallGrowthIsNotAFinding) {
    TraceBuilder builder;
    ExchangeShape shape = buffered_response_shape(0, 8 * kMiBytes);
    shape.native_peak_growth = 1 * kMiBytes;
    shape.v8_peak_growth = 2 * kMiBytes;
    add_exchange(builder, shape);
    const SessionAnalysis analysis = analyze(builder);
    EXPECT_FALSE(has_finding(analysis.requests[0], "buffered-response"));
}

TEST(BufferedResponse, OverlapLowersConfidence) {
    TraceBuilder builder;
    add_exchange(builder, buffered_response_shape(0, 20 * kMiBytes));
    ExchangeShape other = buffered_response_shape(100 * kMs, 20 * kMiBytes);
    other.connection = 2;
    add_exchange(builder, other);

    const SessionAnalysis analysis = analyze(builder);
    ASSERT_EQ(analysis.requests.size(), 2u);
    EXPECT_TRUE(analysis.requests[0].overlapping);
    ASSERT_TRUE(has_finding(analysis.requests[0], "buffered-response"));
    const Finding& finding = finding_of(analysis.requests[0], "buffered-response");
    EXPECT_EQ(finding.confidence, Confidence::Medium);
    EXPECT_NE(finding.summary.find("overlapping"), std::string::npos);
}

TEST(BufferedUpload, BufferedIsFoundStreamedIsNot) {
    TraceBuilder builder;
    builder.sampling_config(256 * 1024, 1024 * 1024);
    ExchangeShape buffered = upload_shape(0, 24 * kMiBytes);
    buffered.native_growth_at_body = 26 * kMiBytes;
    buffered.native_peak_growth = 30 * kMiBytes;
    add_exchange(builder, buffered);
    // Buffer.concat of every chunk, just after the body's last byte.
    const uint64_t concat_ns = builder.start_ns() + buffered.body_done_ns + 1 * kMs;
    builder.allocation(concat_ns, 0x7f0000000000, buffered.request_bytes, 1, trace::kAllocationAlways);
    builder.stack_definition(1, {0x401000});

    // Streamed: the response starts while the body is still arriving, growth stays small.
    ExchangeShape streamed = upload_shape(1000 * kMs, 24 * kMiBytes);
    streamed.connection = 2;
    streamed.path = "/upload-stream";
    streamed.first_response_ns = streamed.start_ns + 10 * kMs;
    streamed.native_growth_at_body = 2 * kMiBytes;
    streamed.native_peak_growth = 2 * kMiBytes;
    add_exchange(builder, streamed);

    const SessionAnalysis analysis = analyze(builder);
    ASSERT_EQ(analysis.requests.size(), 2u);
    ASSERT_TRUE(has_finding(analysis.requests[0], "buffered-upload"));
    const Finding& finding = finding_of(analysis.requests[0], "buffered-upload");
    EXPECT_EQ(finding.confidence, Confidence::High);
    EXPECT_DOUBLE_EQ(finding.find("native_growth_at_body_complete_bytes")->value, 26.0 * kMiBytes);
    EXPECT_DOUBLE_EQ(finding.find("request_bytes")->value, 24.0 * kMiBytes);
    EXPECT_DOUBLE_EQ(finding.find("body_sized_allocations")->value, 1.0);
    EXPECT_NE(finding.fix.find("busboy"), std::string::npos);
    EXPECT_TRUE(analysis.requests[1].findings.empty());
}

TEST(BufferedUpload, LowGrowthAfterTheBodyIsNotAFinding) {
    TraceBuilder builder;
    ExchangeShape shape = upload_shape(0, 24 * kMiBytes);
    shape.native_growth_at_body = 4 * kMiBytes;  // parsed in chunks, with the response sent at the end
    add_exchange(builder, shape);
    const SessionAnalysis analysis = analyze(builder);
    EXPECT_FALSE(has_finding(analysis.requests[0], "buffered-upload"));
}

TEST(BufferedUpload, ParsingDuringUploadIsNotAFinding) {
    TraceBuilder builder;
    ExchangeShape shape = upload_shape(0, 3 * kMiBytes);
    // Consumed chunks not yet collected, while the parser's rows grew the V8 heap.
    shape.native_growth_at_body = 6 * kMiBytes;
    shape.v8_growth_at_body = 9 * kMiBytes;
    add_exchange(builder, shape);
    const SessionAnalysis analysis = analyze(builder);
    EXPECT_FALSE(has_finding(analysis.requests[0], "buffered-upload"));
}

TEST(BufferedUpload, NoBodyCopyIsNotAFinding) {
    TraceBuilder builder;
    // Every allocation of 1 MiB or more is recorded and none has the body's size: the
    // native growth is consumed chunks that V8 has not collected yet.
    builder.sampling_config(256 * 1024, 1024 * 1024);
    ExchangeShape shape = upload_shape(0, 3 * kMiBytes);
    shape.native_growth_at_body = 6 * kMiBytes;
    add_exchange(builder, shape);
    builder.allocation(builder.start_ns() + shape.body_done_ns + 1 * kMs, 0x7f0000000000, 16 * kMiBytes, 1,
                       trace::kAllocationAlways);  // the response string's UTF-8 copy
    builder.stack_definition(1, {0x401000});
    const SessionAnalysis analysis = analyze(builder);
    EXPECT_FALSE(has_finding(analysis.requests[0], "buffered-upload"));
}

TEST(BufferedUpload, CountersAloneAreMediumConfidence) {
    TraceBuilder builder;
    ExchangeShape shape = upload_shape(0, 24 * kMiBytes);
    shape.native_growth_at_body = 26 * kMiBytes;
    add_exchange(builder, shape);
    const SessionAnalysis analysis = analyze(builder);
    ASSERT_TRUE(has_finding(analysis.requests[0], "buffered-upload"));
    EXPECT_EQ(finding_of(analysis.requests[0], "buffered-upload").confidence, Confidence::Medium);
}

TEST(BufferedUpload, PartialGrowthIsMediumConfidence) {
    TraceBuilder builder;
    ExchangeShape shape = upload_shape(0, 20 * kMiBytes);
    shape.native_growth_at_body = 16 * kMiBytes;  // 80% of the body
    add_exchange(builder, shape);
    const SessionAnalysis analysis = analyze(builder);
    ASSERT_TRUE(has_finding(analysis.requests[0], "buffered-upload"));
    EXPECT_EQ(finding_of(analysis.requests[0], "buffered-upload").confidence, Confidence::Medium);
}

TEST(Detectors, RouteFindingCountsRequests) {
    TraceBuilder builder;
    add_exchange(builder, buffered_response_shape(0, 10 * kMiBytes));
    ExchangeShape second = buffered_response_shape(2000 * kMs, 12 * kMiBytes);
    second.connection = 2;
    add_exchange(builder, second);
    const SessionAnalysis analysis = analyze(builder);
    ASSERT_EQ(analysis.routes.size(), 1u);
    ASSERT_EQ(analysis.routes[0].findings.size(), 1u);
    EXPECT_EQ(analysis.routes[0].findings[0].requests, 2u);
    EXPECT_DOUBLE_EQ(analysis.routes[0].findings[0].worst.find("response_bytes")->value, 12.0 * kMiBytes);
}

}  // namespace
}  // namespace routeheap::testing
