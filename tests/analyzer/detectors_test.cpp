// Detectors on synthetic sessions: buffered vs streamed responses and uploads, ignored
// backpressure, allocation churn, per-request leaks, the V8 string limit, overlapping
// requests and framework-specific fixes.
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

// undici's web stream in Next.js 15 commits about 4 MiB of V8 heap while it reads the body,
// whatever the body size: the recorded join outweighs that V8 hint.
TEST(BufferedUpload, JoinOverridesTheV8Hint) {
    TraceBuilder builder;
    builder.sampling_config(256 * 1024, 1024 * 1024);
    ExchangeShape shape = upload_shape(0, 2 * kMiBytes);
    shape.native_growth_at_body = 6 * kMiBytes;
    shape.v8_growth_at_body = 4 * kMiBytes;
    add_exchange(builder, shape);
    builder.allocation(builder.start_ns() + shape.body_done_ns + 1 * kMs, 0x7f0000000000, shape.request_bytes, 1,
                       trace::kAllocationAlways);
    builder.stack_definition(1, {0x401000});
    const SessionAnalysis analysis = analyze(builder);
    ASSERT_TRUE(has_finding(analysis.requests[0], "buffered-upload"));
    EXPECT_EQ(finding_of(analysis.requests[0], "buffered-upload").confidence, Confidence::High);
}

// Next's pages router body parser keeps the body as a JS string: V8, not native memory,
// holds most of it, and the parser copies it into one Buffer afterwards.
TEST(BufferedUpload, BodyHeldAsJsStringIsFound) {
    TraceBuilder builder;
    builder.sampling_config(256 * 1024, 1024 * 1024);
    ExchangeShape shape = upload_shape(0, 4 * kMiBytes);
    shape.native_growth_at_body = 2900 * 1024;  // 0.69x
    shape.v8_growth_at_body = 4 * kMiBytes;
    add_exchange(builder, shape);
    builder.allocation(builder.start_ns() + shape.body_done_ns + 1 * kMs, 0x7f0000000000, shape.request_bytes, 1,
                       trace::kAllocationAlways);
    builder.stack_definition(1, {0x401000});
    const SessionAnalysis analysis = analyze(builder);
    ASSERT_TRUE(has_finding(analysis.requests[0], "buffered-upload"));
    const Finding& finding = finding_of(analysis.requests[0], "buffered-upload");
    EXPECT_NEAR(finding.find("growth_to_request_ratio")->value, (2900.0 * 1024 + 4.0 * kMiBytes) / (4.0 * kMiBytes),
                0.001);
}

// An earlier request's garbage freed during the upload cancels the growth at the body's
// last byte (seen on a 2 MiB request.formData() upload under next start); the join and
// the peak over the request still show the held body.
TEST(BufferedUpload, GarbageFreedDuringUploadIsFound) {
    TraceBuilder builder;
    builder.sampling_config(256 * 1024, 1024 * 1024);
    ExchangeShape shape = upload_shape(0, 2 * kMiBytes);
    shape.native_growth_at_body = 128 * 1024;
    shape.native_peak_growth = 4 * kMiBytes;
    add_exchange(builder, shape);
    builder.allocation(builder.start_ns() + shape.body_done_ns + 1 * kMs, 0x7f0000000000, shape.request_bytes, 1,
                       trace::kAllocationAlways);
    builder.stack_definition(1, {0x401000});
    const SessionAnalysis analysis = analyze(builder);
    ASSERT_TRUE(has_finding(analysis.requests[0], "buffered-upload"));
    EXPECT_NEAR(finding_of(analysis.requests[0], "buffered-upload").find("growth_to_request_ratio")->value, 2.0, 0.01);
}

TEST(BufferedUpload, FreedGarbageWithoutJoinIsNotAFinding) {
    TraceBuilder builder;
    builder.sampling_config(256 * 1024, 1024 * 1024);
    ExchangeShape shape = upload_shape(0, 2 * kMiBytes);
    shape.native_growth_at_body = 128 * 1024;
    shape.native_peak_growth = 4 * kMiBytes;
    add_exchange(builder, shape);
    const SessionAnalysis analysis = analyze(builder);
    EXPECT_FALSE(has_finding(analysis.requests[0], "buffered-upload"));
}

TEST(BufferedUpload, V8GrowthAloneIsNotAFinding) {
    TraceBuilder builder;
    builder.sampling_config(256 * 1024, 1024 * 1024);
    ExchangeShape shape = upload_shape(0, 4 * kMiBytes);
    shape.native_growth_at_body = 1 * kMiBytes;
    shape.v8_growth_at_body = 8 * kMiBytes;  // rows parsed during the upload
    add_exchange(builder, shape);
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


// A response whose writes the socket refuses. `fresh_after_refusal` is what each later write
// adds beyond the bytes the previous write left unsent.
void add_refused_response(TraceBuilder& builder, uint64_t connection, uint64_t start_ms, uint64_t fresh_after_refusal,
                          int64_t growth) {
    using trace::SampleReason;
    const uint64_t origin = builder.start_ns() + start_ms * kMs;
    const MemoryState before{50 * kMiBytes, 40 * kMiBytes, 120 * kMiBytes};
    builder.sample(origin, SampleReason::RequestStart, connection, before);
    builder.request_head(connection, 0, origin, "GET", connection == 1 ? "/write-loop" : "/write-drain");
    builder.sample(origin + 5 * kMs, SampleReason::ResponseStart, connection, before);
    builder.response_head(connection, 0, origin + 5 * kMs, 200);

    // The first write is cut short: 64 KiB of 256 KiB accepted, 192 KiB left unsent.
    uint64_t sent = 0;
    builder.response_write(connection, 0, origin + 6 * kMs, 256 * 1024, 64 * 1024, 64 * 1024, trace::kWritePartial);
    sent += 64 * 1024;
    uint64_t unsent = 192 * 1024;
    for (int i = 0; i < 8; ++i) {
        const uint64_t requested = unsent + fresh_after_refusal;
        const uint64_t accepted = requested / 2;
        builder.response_write(connection, 0, origin + (100 + 100 * i) * kMs, requested,
                               static_cast<int64_t>(accepted), accepted, trace::kWritePartial);
        sent += accepted;
        unsent = requested - accepted;
    }
    builder.response_write(connection, 0, origin + 950 * kMs, unsent, static_cast<int64_t>(unsent), unsent);
    sent += unsent;

    MemoryState peak = before;
    peak.native_peak = before.native + growth / 2;
    peak.v8_peak = before.v8 + growth / 2;
    builder.sample(origin + 500 * kMs, SampleReason::Periodic, 0, peak);
    builder.sample(origin + 1000 * kMs, SampleReason::RequestEnd, connection, before);
    trace::RequestEnd end{};
    end.status = 200;
    end.outcome = static_cast<uint16_t>(trace::RequestOutcome::Complete);
    end.time_ns = origin + 1000 * kMs;
    end.connection_id = connection;
    end.write_calls = 10;
    end.response_body_bytes = sent;
    end.largest_write_bytes = 256 * 1024 + fresh_after_refusal;
    end.partial_writes = 9;
    builder.request_end(end);
}

TEST(IgnoredBackpressure, QueuedWritesAreFoundRetriesAreNot) {
    TraceBuilder builder;
    add_refused_response(builder, 1, 0, 4 * kMiBytes, 48 * kMiBytes);
    // Waiting for 'drain': each later write only retries what the previous one left unsent.
    add_refused_response(builder, 2, 2000, 0, 24 * kMiBytes);

    const SessionAnalysis analysis = analyze(builder);
    ASSERT_EQ(analysis.requests.size(), 2u);
    const Request& loop = analysis.requests[0];
    const Request& drain = analysis.requests[1];
    EXPECT_EQ(loop.largest_write_after_refusal, 4u * kMiBytes);
    ASSERT_TRUE(has_finding(loop, "ignored-backpressure"));
    const Finding& finding = finding_of(loop, "ignored-backpressure");
    EXPECT_EQ(finding.confidence, Confidence::High);
    EXPECT_DOUBLE_EQ(finding.find("partial_writes")->value, 9.0);
    EXPECT_DOUBLE_EQ(finding.find("largest_write_after_refusal_bytes")->value, 4.0 * kMiBytes);
    EXPECT_NE(finding.fix.find("'drain'"), std::string::npos);
    EXPECT_FALSE(has_finding(loop, "buffered-response"));

    EXPECT_EQ(drain.largest_write_after_refusal, 0u);
    EXPECT_TRUE(drain.findings.empty());
}

TEST(IgnoredBackpressure, SmallGrowthIsNotAFinding) {
    TraceBuilder builder;
    add_refused_response(builder, 1, 0, 4 * kMiBytes, 1 * kMiBytes);
    const SessionAnalysis analysis = analyze(builder);
    EXPECT_FALSE(has_finding(analysis.requests[0], "ignored-backpressure"));
}

// `body = Buffer.concat([body, chunk])` per 64 KiB read: one allocation per read, each a
// chunk larger than the one before, from 1 MiB (the always-recorded size) up to the body.
void add_growing_copies(TraceBuilder& builder, const ExchangeShape& shape, uint64_t stack_id) {
    const uint64_t chunk = 64 * 1024;
    const uint64_t first_ns = builder.start_ns() + shape.start_ns + 1 * kMs;
    uint64_t address = 0x7f1000000000;
    for (uint64_t size = 1 * kMiBytes, k = 0; size <= shape.request_bytes; size += chunk, ++k) {
        builder.allocation(first_ns + k * 1000, address, size, stack_id, trace::kAllocationAlways);
        address += 2 * size;
    }
}

TEST(AllocationChurn, RepeatedCopiesAreFound) {
    TraceBuilder builder;
    builder.sampling_config(256 * 1024, 1024 * 1024);
    ExchangeShape churn = upload_shape(0, 6 * kMiBytes);
    churn.path = "/concat-churn";
    churn.allocated_bytes = 300 * kMiBytes;  // 6 MiB copied once per 64 KiB read
    churn.native_growth_at_body = 7 * kMiBytes;
    add_exchange(builder, churn);
    add_growing_copies(builder, churn, 1);
    builder.stack_definition(1, {0x401000});

    ExchangeShape once = upload_shape(1000 * kMs, 6 * kMiBytes);
    once.connection = 2;
    once.path = "/concat-stream";
    once.before.allocated_total = 300 * kMiBytes;
    once.allocated_bytes = 12 * kMiBytes;
    add_exchange(builder, once);

    const SessionAnalysis analysis = analyze(builder);
    ASSERT_EQ(analysis.requests.size(), 2u);
    const Request& bad = analysis.requests[0];
    EXPECT_EQ(bad.allocated_bytes, 300 * kMiBytes);
    ASSERT_TRUE(has_finding(bad, "allocation-churn"));
    const Finding& finding = finding_of(bad, "allocation-churn");
    EXPECT_EQ(finding.confidence, Confidence::High);
    EXPECT_NEAR(finding.find("allocated_to_body_ratio")->value, 50.0, 0.01);
    // The churn also held the body, but its fix covers that: one finding, not two.
    EXPECT_FALSE(has_finding(bad, "buffered-upload"));
    EXPECT_EQ(bad.findings.size(), 1u);

    EXPECT_EQ(analysis.requests[1].allocated_bytes, 12 * kMiBytes);
    EXPECT_TRUE(analysis.requests[1].findings.empty());
}

TEST(AllocationChurn, GrowingCopiesAreHighConfidence) {
    TraceBuilder builder;
    builder.sampling_config(256 * 1024, 1024 * 1024);
    ExchangeShape churn = upload_shape(0, 6 * kMiBytes);
    churn.path = "/concat-churn";
    churn.allocated_bytes = 300 * kMiBytes;
    churn.native_growth_at_body = 7 * kMiBytes;
    add_exchange(builder, churn);
    add_growing_copies(builder, churn, 1);
    builder.stack_definition(1, {0x401000});

    const SessionAnalysis analysis = analyze(builder);
    ASSERT_EQ(analysis.requests.size(), 1u);
    const Request& request = analysis.requests[0];
    ASSERT_TRUE(request.growing_copies.has_value());
    EXPECT_EQ(request.growing_copies->count, 81u);  // 1 MiB to 6 MiB in 64 KiB steps
    EXPECT_EQ(request.growing_copies->largest, 6 * kMiBytes);
    ASSERT_TRUE(has_finding(request, "allocation-churn"));
    const Finding& finding = finding_of(request, "allocation-churn");
    EXPECT_EQ(finding.confidence, Confidence::High);
    EXPECT_DOUBLE_EQ(finding.find("growing_copies")->value, 81.0);
    EXPECT_DOUBLE_EQ(finding.find("largest_copy_bytes")->value, 6.0 * kMiBytes);
}

// request.text() in a Next.js App Router handler: about 16x the body allocated (chunk copies,
// one join, csv-parser's copy of the text, rows), but in copies of the same size.
TEST(AllocationChurn, EqualSizedCopiesAreBufferedUpload) {
    TraceBuilder builder;
    builder.sampling_config(256 * 1024, 1024 * 1024);
    ExchangeShape shape = upload_shape(0, 4 * kMiBytes);
    shape.path = "/api/upload-text";
    shape.allocated_bytes = 68 * kMiBytes;
    shape.native_growth_at_body = 12 * kMiBytes;
    shape.v8_growth_at_body = 4 * kMiBytes;
    add_exchange(builder, shape);
    const uint64_t joined_ns = builder.start_ns() + shape.body_done_ns + 1 * kMs;
    builder.allocation(joined_ns, 0x7f0000000000, shape.request_bytes, 1, trace::kAllocationAlways);
    builder.allocation(joined_ns + 5 * kMs, 0x7f0001000000, shape.request_bytes, 1, trace::kAllocationAlways);
    builder.stack_definition(1, {0x401000});

    const SessionAnalysis analysis = analyze(builder);
    const Request& request = analysis.requests[0];
    ASSERT_TRUE(request.growing_copies.has_value());
    EXPECT_EQ(request.growing_copies->count, 1u);
    EXPECT_FALSE(has_finding(request, "allocation-churn"));
    EXPECT_TRUE(has_finding(request, "buffered-upload"));
}

// The first request to a route loads its modules: 109 MB allocated for a 1.9 KB request, in
// blocks far larger than either body.
TEST(AllocationChurn, ModuleLoadingIsNotChurn) {
    TraceBuilder builder;
    builder.sampling_config(256 * 1024, 1024 * 1024);
    ExchangeShape shape = upload_shape(0, 1875);
    shape.path = "/api/processCSV";
    shape.response_bytes = 3234;
    shape.allocated_bytes = 109 * kMiBytes;
    add_exchange(builder, shape);
    for (uint64_t k = 0; k < 12; ++k) {
        builder.allocation(builder.start_ns() + 2 * kMs + k * kMs, 0x7f0000000000 + k * 0x10000000,
                           (k + 1) * kMiBytes, 1, trace::kAllocationAlways);
    }
    builder.stack_definition(1, {0x401000});

    const SessionAnalysis analysis = analyze(builder);
    const Request& request = analysis.requests[0];
    ASSERT_TRUE(request.growing_copies.has_value());
    EXPECT_EQ(request.growing_copies->count, 0u);
    EXPECT_TRUE(request.findings.empty());
}

TEST(AllocationChurn, WithoutRecordsTheRatioIsMediumConfidence) {
    TraceBuilder builder;
    ExchangeShape shape = upload_shape(0, 6 * kMiBytes);
    shape.allocated_bytes = 300 * kMiBytes;
    add_exchange(builder, shape);
    const SessionAnalysis analysis = analyze(builder);
    const Request& request = analysis.requests[0];
    EXPECT_FALSE(request.growing_copies.has_value());
    ASSERT_TRUE(has_finding(request, "allocation-churn"));
    EXPECT_EQ(finding_of(request, "allocation-churn").confidence, Confidence::Medium);
    EXPECT_EQ(finding_of(request, "allocation-churn").find("growing_copies"), nullptr);
}

// Two uploads of the same size at once: the equal split gives the churning request only
// part of its copies, and the streaming one sees them in its window. Copies are told apart
// by size and time: each has the body size its own request had read just before.
TEST(AllocationChurn, OverlappingCopiesBelongToTheirRequest) {
    TraceBuilder builder;
    builder.sampling_config(256 * 1024, 1024 * 1024);
    ExchangeShape churn = upload_shape(0, 6 * kMiBytes);
    churn.path = "/concat-churn";
    churn.body_reads = 96;  // 64 KiB each
    churn.allocated_bytes = 40 * kMiBytes;
    ExchangeShape stream = upload_shape(500'000, 6 * kMiBytes);  // 0.5 ms later
    stream.connection = 2;
    stream.path = "/concat-stream";
    stream.body_reads = 96;
    stream.body_done_ns = stream.start_ns + 100 * kMs;
    stream.first_response_ns = stream.start_ns + 300 * kMs;
    stream.end_ns = stream.start_ns + 310 * kMs;
    add_exchange(builder, churn);
    add_exchange(builder, stream);
    const uint64_t chunk = 64 * 1024;
    for (uint64_t read = 16; read <= 96; ++read) {
        const uint64_t read_ns = builder.start_ns() + 100 * kMs * read / 96;
        builder.allocation(read_ns + 10'000, 0x7f1000000000 + read * 0x1000000, read * chunk, 1, trace::kAllocationAlways);
    }
    builder.stack_definition(1, {0x401000});

    const SessionAnalysis analysis = analyze(builder);
    ASSERT_EQ(analysis.requests.size(), 2u);
    const Request& bad = analysis.requests[0];
    const Request& good = analysis.requests[1];
    EXPECT_TRUE(bad.overlapping);
    ASSERT_TRUE(bad.growing_copies.has_value());
    EXPECT_EQ(bad.growing_copies->count, 81u);
    ASSERT_TRUE(has_finding(bad, "allocation-churn"));
    EXPECT_EQ(finding_of(bad, "allocation-churn").confidence, Confidence::Medium);  // one level lower when overlapping
    ASSERT_TRUE(good.growing_copies.has_value());
    EXPECT_EQ(good.growing_copies->count, 0u);
    EXPECT_FALSE(has_finding(good, "allocation-churn"));
}

TEST(AllocationChurn, SmallRequestsAreMeasuredAgainstOneMebibyte) {
    TraceBuilder builder;
    ExchangeShape shape = upload_shape(0, 1024);
    shape.allocated_bytes = 40 * kMiBytes;  // a small request that does real work
    add_exchange(builder, shape);
    const SessionAnalysis analysis = analyze(builder);
    EXPECT_FALSE(has_finding(analysis.requests[0], "allocation-churn"));
}

TEST(StringLimit, FailedRequestNearTheLimitIsBufferedResponse) {
    TraceBuilder builder;
    ExchangeShape failed = buffered_response_shape(0, 200);
    failed.path = "/rows-too-large";
    failed.status = 500;
    failed.largest_write = 200;
    failed.writes = 1;
    failed.native_peak_growth = 2 * kMiBytes;
    failed.v8_peak_growth = 520 * kMiBytes;
    add_exchange(builder, failed);

    ExchangeShape other_error = buffered_response_shape(2000 * kMs, 200);
    other_error.connection = 2;
    other_error.status = 500;
    other_error.native_peak_growth = 1 * kMiBytes;
    other_error.v8_peak_growth = 30 * kMiBytes;
    add_exchange(builder, other_error);

    const SessionAnalysis analysis = analyze(builder);
    ASSERT_EQ(analysis.requests.size(), 2u);
    ASSERT_TRUE(has_finding(analysis.requests[0], "buffered-response"));
    const Finding& finding = finding_of(analysis.requests[0], "buffered-response");
    EXPECT_DOUBLE_EQ(finding.find("v8_max_string_bytes")->value, static_cast<double>((int64_t{1} << 29) - 24));
    EXPECT_DOUBLE_EQ(finding.find("status")->value, 500.0);
    EXPECT_NE(finding.summary.find("Invalid string length"), std::string::npos);
    EXPECT_TRUE(analysis.requests[1].findings.empty());
}

// `count` sequential GET requests of `path`, 100 ms apart, each allocating a 1 MiB block
// that is freed `free_after_ms` after its request started (or never, when it is 0), then,
// with `collect_after`, a sample after a collection that frees 8 MiB.
void add_cached_requests(TraceBuilder& builder, const std::string& path, uint64_t first_connection, uint64_t start_ms,
                         int count, uint64_t free_after_ms, bool collect_after = true) {
    using trace::SampleReason;
    builder.sampling_config(256 * 1024, 1024 * 1024);
    builder.stack_definition(7, {0x401000});
    MemoryState memory{50 * kMiBytes, 40 * kMiBytes, 120 * kMiBytes};
    for (int i = 0; i < count; ++i) {
        const uint64_t connection = first_connection + static_cast<uint64_t>(i);
        const uint64_t start = builder.start_ns() + (start_ms + 100 * static_cast<uint64_t>(i)) * kMs;
        builder.sample(start, SampleReason::RequestStart, connection, memory);
        builder.request_head(connection, 0, start, "GET", path);
        const uint64_t address = 0x7f0000000000 + connection * 0x200000;
        builder.allocation(start + 2 * kMs, address, 1024 * 1024, 7, trace::kAllocationAlways);
        if (free_after_ms != 0) builder.free(start + free_after_ms * kMs, address);
        memory.native += 1024 * 1024;
        builder.sample(start + 5 * kMs, SampleReason::ResponseStart, connection, memory);
        builder.response_head(connection, 0, start + 5 * kMs, 200);
        builder.response_write(connection, 0, start + 6 * kMs, 64, 64, 20);
        builder.sample(start + 10 * kMs, SampleReason::RequestEnd, connection, memory);
        trace::RequestEnd end{};
        end.status = 200;
        end.outcome = static_cast<uint16_t>(trace::RequestOutcome::Complete);
        end.time_ns = start + 10 * kMs;
        end.connection_id = connection;
        end.write_calls = 1;
        end.response_body_bytes = 20;
        end.largest_write_bytes = 64;
        builder.request_end(end);
    }
    if (!collect_after) return;
    // A collection after the last request: memory falls by 8 MiB.
    memory.native -= 8 * 1024 * 1024;
    builder.sample(builder.start_ns() + (start_ms + 100 * static_cast<uint64_t>(count) + 500) * kMs,
                   SampleReason::Periodic, 0, memory);
}

TEST(PerRequestLeak, BlocksNeverFreedAreALeak) {
    TraceBuilder builder;
    add_cached_requests(builder, "/leak-cache", 1, 0, 16, 0);
    const SessionAnalysis analysis = analyze(builder);
    ASSERT_EQ(analysis.requests.size(), 16u);
    ASSERT_EQ(analysis.routes.size(), 1u);
    ASSERT_EQ(analysis.routes[0].findings.size(), 1u);
    const RouteFinding& route = analysis.routes[0].findings[0];
    EXPECT_EQ(route.worst.kind, "per-request-leak");
    EXPECT_EQ(route.worst.confidence, Confidence::High);
    EXPECT_EQ(route.requests, 12u);  // the 4 warm-up requests are not judged
    EXPECT_DOUBLE_EQ(route.worst.find("retained_per_request_bytes")->value, 1.0 * kMiBytes);
    EXPECT_DOUBLE_EQ(route.worst.find("warmup_requests")->value, 4.0);
    EXPECT_TRUE(analysis.requests[0].findings.empty());
}

TEST(PerRequestLeak, MemoryFreedLaterIsNotALeak) {
    TraceBuilder builder;
    // Each block is freed 2 s after its request: not yet collected when the request ends.
    add_cached_requests(builder, "/upload-released-at-gc", 1, 0, 16, 2000);
    const SessionAnalysis analysis = analyze(builder);
    for (const Request& request : analysis.requests) {
        EXPECT_EQ(request.retained_native_bytes, 0);
        EXPECT_FALSE(has_finding(request, "per-request-leak"));
    }
}

TEST(PerRequestLeak, FullBoundedCacheIsNotALeak) {
    // An LRU cache of 4 entries: each request's block is freed when the fourth later request
    // evicts it, so only the last 4 survive.
    TraceBuilder bounded;
    using trace::SampleReason;
    bounded.sampling_config(256 * 1024, 1024 * 1024);
    bounded.stack_definition(7, {0x401000});
    for (int i = 0; i < 16; ++i) {
        const uint64_t connection = 1 + static_cast<uint64_t>(i);
        const uint64_t start = bounded.start_ns() + 100 * static_cast<uint64_t>(i) * kMs;
        const MemoryState memory{50 * kMiBytes, 40 * kMiBytes, 120 * kMiBytes};
        bounded.sample(start, SampleReason::RequestStart, connection, memory);
        bounded.request_head(connection, 0, start, "GET", "/cache-bounded");
        bounded.allocation(start + 2 * kMs, 0x7f0000000000 + connection * 0x200000, 1024 * 1024, 7,
                           trace::kAllocationAlways);
        if (i >= 4) bounded.free(start + 3 * kMs, 0x7f0000000000 + (connection - 4) * 0x200000);
        bounded.sample(start + 10 * kMs, SampleReason::RequestEnd, connection, memory);
        trace::RequestEnd end{};
        end.status = 200;
        end.outcome = static_cast<uint16_t>(trace::RequestOutcome::Complete);
        end.time_ns = start + 10 * kMs;
        end.connection_id = connection;
        bounded.request_end(end);
    }
    MemoryState after{40 * kMiBytes, 40 * kMiBytes, 120 * kMiBytes};
    bounded.sample(bounded.start_ns() + 3000 * kMs, SampleReason::Periodic, 0, after);

    const SessionAnalysis analysis = analyze(bounded);
    ASSERT_EQ(analysis.requests.size(), 16u);
    EXPECT_EQ(analysis.requests[15].retained_native_bytes, 1 * kMiBytes);  // still cached
    EXPECT_EQ(analysis.requests[5].retained_native_bytes, 0);              // evicted
    ASSERT_EQ(analysis.routes.size(), 1u);
    EXPECT_TRUE(analysis.routes[0].findings.empty());
}

TEST(RetainedBytes, TimeOrderDecidesSurvivors) {
    // The agent drains per-thread buffers, so the file stores these records out of time order.
    TraceBuilder builder;
    using trace::SampleReason;
    builder.sampling_config(256 * 1024, 1024 * 1024);
    builder.stack_definition(7, {0x401000});
    const uint64_t start = builder.start_ns() + 100 * kMs;
    const MemoryState memory{50 * kMiBytes, 40 * kMiBytes, 120 * kMiBytes};
    const uint64_t freed_later = 0x7f0000100000;
    const uint64_t reused_same_ns = 0x7f0000200000;
    const uint64_t allocated_twice = 0x7f0000300000;
    builder.sample(start, SampleReason::RequestStart, 1, memory);
    builder.request_head(1, 0, start, "GET", "/order");
    // A free read before the allocation it frees.
    builder.free(start + 5 * kMs, freed_later);
    builder.allocation(start + 2 * kMs, freed_later, 1 * kMiBytes, 7, trace::kAllocationAlways);
    // A free read after an allocation of the same nanosecond: the free came first.
    builder.allocation(start + 3 * kMs, reused_same_ns, 2 * kMiBytes, 7, trace::kAllocationAlways);
    builder.free(start + 3 * kMs, reused_same_ns);
    // An address allocated again without a free: the later allocation is the block.
    builder.allocation(start + 6 * kMs, allocated_twice, 4 * kMiBytes, 7, trace::kAllocationAlways);
    builder.allocation(start + 4 * kMs, allocated_twice, 8 * kMiBytes, 7, trace::kAllocationAlways);
    builder.sample(start + 10 * kMs, SampleReason::RequestEnd, 1, memory);
    trace::RequestEnd end{};
    end.status = 200;
    end.outcome = static_cast<uint16_t>(trace::RequestOutcome::Complete);
    end.time_ns = start + 10 * kMs;
    end.connection_id = 1;
    builder.request_end(end);

    const SessionAnalysis analysis = analyze(builder);
    ASSERT_EQ(analysis.requests.size(), 1u);
    EXPECT_EQ(analysis.requests[0].retained_native_bytes, 2 * kMiBytes + 4 * kMiBytes);
}

TEST(PerRequestLeak, RequestsAfterTheLastCollectionAreNotJudged) {
    TraceBuilder builder;
    // No collection after the requests: their memory may be freed by the next one.
    add_cached_requests(builder, "/leak-cache", 1, 0, 16, 0, false);
    const SessionAnalysis analysis = analyze(builder);
    ASSERT_EQ(analysis.requests.size(), 16u);
    for (const Request& request : analysis.requests) {
        EXPECT_FALSE(request.collected_after);
        EXPECT_EQ(request.retained_native_bytes, 1 * kMiBytes);
        EXPECT_FALSE(has_finding(request, "per-request-leak"));
    }
}

TEST(Overlap, GrowthIsSplitAmongOpenRequests) {
    TraceBuilder builder;
    // Two identical buffered responses over the same window: each holds half the growth.
    ExchangeShape first = buffered_response_shape(0, 20 * kMiBytes);
    ExchangeShape second = buffered_response_shape(0, 20 * kMiBytes);
    second.connection = 2;
    add_exchange(builder, first);
    add_exchange(builder, second);

    const SessionAnalysis analysis = analyze(builder);
    ASSERT_EQ(analysis.requests.size(), 2u);
    for (const Request& request : analysis.requests) {
        EXPECT_TRUE(request.overlapping);
        EXPECT_EQ(request.max_concurrent, 2u);
        EXPECT_EQ(request.growth.heap, 60 * kMiBytes);
        EXPECT_EQ(request.apportioned_growth.heap, 30 * kMiBytes);
        ASSERT_TRUE(has_finding(request, "buffered-response"));
        const Finding& finding = finding_of(request, "buffered-response");
        EXPECT_EQ(finding.confidence, Confidence::Medium);
        EXPECT_DOUBLE_EQ(finding.find("peak_growth_heap_bytes")->value, 30.0 * kMiBytes);
    }
}

TEST(Overlap, AloneTheShareIsTheWholeGrowth) {
    TraceBuilder builder;
    add_exchange(builder, buffered_response_shape(0, 20 * kMiBytes));
    const SessionAnalysis analysis = analyze(builder);
    const Request& request = analysis.requests[0];
    EXPECT_FALSE(request.overlapping);
    EXPECT_EQ(request.max_concurrent, 1u);
    EXPECT_EQ(request.apportioned_growth.heap, request.growth.heap);
}

Request request_with_frames(const std::vector<std::string>& locations) {
    Request request;
    AllocationSite site;
    for (const std::string& location : locations) {
        Frame frame;
        frame.kind = FrameKind::Js;
        frame.function = "handler";
        frame.location = location;
        site.frames.push_back(frame);
    }
    request.allocations.sites.push_back(site);
    return request;
}

TEST(Framework, ToldFromStackFrames) {
    EXPECT_EQ(detect_framework(request_with_frames({"/app/server.js:41", "node:_http_server:1066"})),
              Framework::NodeHttp);
    EXPECT_EQ(detect_framework(request_with_frames({"/app/server.js:12", "/app/node_modules/express/lib/router/layer.js:95",
                                                    "node:_http_server:1066"})),
              Framework::Express);
    EXPECT_EQ(detect_framework(request_with_frames({"/app/node_modules/fastify/lib/handleRequest.js:20"})),
              Framework::Fastify);
    EXPECT_EQ(detect_framework(request_with_frames(
                  {"/app/.next/server/pages/api/processCSV.js:1",
                   "/app/node_modules/next/dist/compiled/next-server/pages-api.runtime.prod.js:1"})),
              Framework::NextPagesRouter);
    EXPECT_EQ(detect_framework(request_with_frames(
                  {"/app/node_modules/next/dist/server/route-modules/app-route/module.js:300"})),
              Framework::NextAppRouter);
    EXPECT_EQ(detect_framework(request_with_frames({"/app/node_modules/next/dist/server/next-server.js:10"})),
              Framework::NextUnknownRouter);
    EXPECT_EQ(detect_framework(Request{}), Framework::Unknown);
}

TEST(Framework, FixesUseTheFrameworkTerms) {
    EXPECT_NE(fix_for("buffered-response", Framework::Express).find("res.json"), std::string::npos);
    EXPECT_NE(fix_for("buffered-upload", Framework::Express).find("diskStorage"), std::string::npos);
    EXPECT_NE(fix_for("buffered-upload", Framework::NextPagesRouter).find("bodyParser: false"), std::string::npos);
    EXPECT_NE(fix_for("buffered-upload", Framework::NextAppRouter).find("request.formData()"), std::string::npos);
    EXPECT_NE(fix_for("buffered-response", Framework::NextAppRouter).find("ReadableStream"), std::string::npos);
    EXPECT_NE(fix_for("buffered-response", Framework::NodeHttp).find("stream.pipeline"), std::string::npos);
    for (const char* kind : {"buffered-response", "buffered-upload", "ignored-backpressure", "per-request-leak",
                             "allocation-churn"}) {
        EXPECT_FALSE(fix_for(kind, Framework::Unknown).empty()) << kind;
        EXPECT_EQ(fix_for(kind, Framework::Unknown), fix_for(kind, Framework::NodeHttp)) << kind;
    }
    EXPECT_TRUE(fix_for("no-such-kind", Framework::Express).empty());
}

}  // namespace
}  // namespace routeheap::testing
