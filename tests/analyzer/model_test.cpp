// Request joining, peak growth over the sample timeline, and overlap marking.
#include "scenarios.h"

#include <routeheap/analysis/analysis.h>
#include <routeheap/analysis/model.h>

#include <gtest/gtest.h>

namespace routeheap::testing {
namespace {

using namespace routeheap::analysis;

std::vector<Request> read_requests(TraceBuilder& builder, const std::string& name) {
    const auto path = builder.write(fresh_folder(name) / "4242.rhtrace");
    TraceReader reader(path);
    reader.load_header(true);
    ProcessModel model(*reader.header());
    reader.read_available(model, true);
    return model.take_finished(true);
}

TEST(Model, JoinsRequestRecords) {
    TraceBuilder builder;
    ExchangeShape shape;
    shape.path = "/upload/17";
    shape.start_ns = 10 * kMs;
    shape.request_bytes = 5000;
    shape.body_done_ns = 20 * kMs;
    shape.first_response_ns = 30 * kMs;
    shape.end_ns = 40 * kMs;
    shape.response_bytes = 3000;
    shape.writes = 3;
    shape.largest_write = 1200;
    add_exchange(builder, shape);
    builder.trace_end(builder.start_ns() + 50 * kMs);

    const auto requests = read_requests(builder, "model");
    ASSERT_EQ(requests.size(), 1u);
    const Request& request = requests[0];
    EXPECT_EQ(request.id.to_string(), "4242:1:0");
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.route, "/upload/:id");
    EXPECT_EQ(request.status, 200);
    EXPECT_EQ(request.request_bytes, 5000u);
    EXPECT_EQ(request.response_bytes, 3000u);
    EXPECT_EQ(request.start_ns, builder.start_ns() + 10 * kMs);
    EXPECT_EQ(request.body_complete_ns, builder.start_ns() + 20 * kMs);
    EXPECT_EQ(request.first_response_byte_ns, builder.start_ns() + 30 * kMs);
    EXPECT_EQ(request.end_ns, builder.start_ns() + 40 * kMs);
    EXPECT_EQ(request.write_calls, 3u);
    EXPECT_EQ(request.largest_write_bytes, 1200u);
    EXPECT_EQ(request.outcome, Outcome::Complete);
    EXPECT_FALSE(request.overlapping);
    EXPECT_DOUBLE_EQ(request.duration_ms(), 30.0);
}

TEST(Model, WriteAfterRequestEndIsNotCountedTwice) {
    TraceBuilder builder;
    const uint64_t t0 = builder.start_ns();
    builder.sample(t0 + 1, trace::SampleReason::RequestStart, 1, MemoryState{100, 100, 100});
    builder.request_head(1, 0, t0 + 1, "GET", "/x");
    builder.response_head(1, 0, t0 + 2, 200);
    builder.response_write(1, 0, t0 + 2, 5000, 3000, 2900, trace::kWritePartial);
    trace::RequestEnd end{};
    end.status = 200;
    end.time_ns = t0 + 3;
    end.connection_id = 1;
    end.write_calls = 2;
    end.response_body_bytes = 4900;
    end.largest_write_bytes = 5000;
    builder.request_end(end);
    builder.response_write(1, 0, t0 + 3, 2000, 2000, 2000);  // the agent may log it after RequestEnd
    builder.sample(t0 + 3, trace::SampleReason::RequestEnd, 1, MemoryState{100, 100, 100});

    const auto requests = read_requests(builder, "model");
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].response_bytes, 4900u);
    EXPECT_EQ(requests[0].write_calls, 2u);
}

TEST(Model, StrayEmptyWriteIsNotARequest) {
    TraceBuilder builder;
    const uint64_t t0 = builder.start_ns();
    builder.sample(t0 + 1, trace::SampleReason::RequestStart, 1, MemoryState{100, 100, 100});
    builder.request_head(1, 0, t0 + 1, "GET", "/x");
    trace::RequestEnd end{};
    end.status = 200;
    end.time_ns = t0 + 3;
    end.connection_id = 1;
    builder.request_end(end);
    builder.sample(t0 + 3, trace::SampleReason::RequestEnd, 1, MemoryState{100, 100, 100});
    builder.response_write(1, 1, t0 + 4, 0, 0, 0);  // zero-byte write after the response

    const auto requests = read_requests(builder, "model");
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].path, "/x");
}

TEST(Model, RequestWithoutHeadIsKept) {
    TraceBuilder builder;
    const uint64_t t0 = builder.start_ns();
    builder.sample(t0 + 1, trace::SampleReason::Periodic, 0, MemoryState{100, 100, 100});
    builder.request_body(1, 0, t0 + 2, 500, 500, true);
    builder.sample(t0 + 3, trace::SampleReason::Periodic, 0, MemoryState{100, 100, 100});

    const auto requests = read_requests(builder, "model");
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].method, "?");
    EXPECT_EQ(requests[0].path, "(request head not recorded)");
    EXPECT_EQ(requests[0].request_bytes, 500u);
}

TEST(Model, InterimResponseIsNotTheFirstByte) {
    TraceBuilder builder;
    const uint64_t t0 = builder.start_ns();
    builder.sample(t0 + 1, trace::SampleReason::RequestStart, 1, MemoryState{100, 100, 100});
    builder.request_head(1, 0, t0 + 1, "PUT", "/x", 10);
    builder.response_head(1, 0, t0 + 2, 100, trace::kResponseInterim);
    builder.request_body(1, 0, t0 + 3, 10, 10, true);
    builder.response_head(1, 0, t0 + 4, 204);
    builder.sample(t0 + 5, trace::SampleReason::RequestEnd, 1, MemoryState{100, 100, 100});
    trace::RequestEnd end{};
    end.status = 204;
    end.time_ns = t0 + 5;
    end.connection_id = 1;
    end.request_body_bytes = 10;
    builder.request_end(end);

    const auto requests = read_requests(builder, "model");
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].status, 204);
    EXPECT_EQ(requests[0].first_response_byte_ns, t0 + 4);
}

TEST(Model, PeakGrowthOverSamplesInsideTheWindow) {
    TraceBuilder builder;
    const uint64_t t0 = builder.start_ns();
    // A spike before the request must not count: its sample precedes the start.
    builder.sample(t0 + 1 * kMs, trace::SampleReason::Periodic, 0, MemoryState{100, 200, 300, 900, 900});
    builder.sample(t0 + 2 * kMs, trace::SampleReason::RequestStart, 1, MemoryState{100, 200, 300});
    builder.request_head(1, 0, t0 + 2 * kMs, "GET", "/report");
    builder.sample(t0 + 3 * kMs, trace::SampleReason::Periodic, 0, MemoryState{150, 260, 390, 180, 250});
    builder.sample(t0 + 4 * kMs, trace::SampleReason::Periodic, 0, MemoryState{120, 210, 350, 170, 290});
    builder.sample(t0 + 5 * kMs, trace::SampleReason::RequestEnd, 1, MemoryState{110, 205, 320});
    trace::RequestEnd end{};
    end.status = 200;
    end.time_ns = t0 + 5 * kMs;
    end.connection_id = 1;
    builder.request_end(end);
    // A spike after the request must not count either.
    builder.sample(t0 + 6 * kMs, trace::SampleReason::Periodic, 0, MemoryState{100, 200, 999, 999, 999});

    const auto requests = read_requests(builder, "model");
    ASSERT_EQ(requests.size(), 1u);
    const PeakGrowth& growth = requests[0].growth;
    EXPECT_TRUE(requests[0].growth_measured);
    EXPECT_EQ(growth.native, 80);  // peak 180 - 100
    EXPECT_EQ(growth.v8, 90);      // peak 290 - 200
    EXPECT_EQ(growth.rss, 90);     // current 390 - 300
    EXPECT_EQ(growth.heap, 170);
}

TEST(Model, SamplesOutOfFileOrderAreSorted) {
    TraceBuilder builder;
    const uint64_t t0 = builder.start_ns();
    builder.request_head(1, 0, t0 + 2 * kMs, "GET", "/a");
    builder.sample(t0 + 5 * kMs, trace::SampleReason::RequestEnd, 1, MemoryState{100, 100, 100});
    builder.sample(t0 + 3 * kMs, trace::SampleReason::Periodic, 0, MemoryState{100, 100, 100, 600, 100});
    builder.end_block();
    builder.sample(t0 + 2 * kMs, trace::SampleReason::RequestStart, 1, MemoryState{100, 100, 100});
    trace::RequestEnd end{};
    end.time_ns = t0 + 5 * kMs;
    end.connection_id = 1;
    builder.request_end(end);

    const auto requests = read_requests(builder, "model");
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].growth.native, 500);
}

TEST(Model, WindowWithoutEndSampleUsesTheNextSample) {
    TraceBuilder builder;
    const uint64_t t0 = builder.start_ns();
    builder.sample(t0 + 1 * kMs, trace::SampleReason::RequestStart, 1, MemoryState{100, 100, 100});
    builder.request_head(1, 0, t0 + 1 * kMs, "GET", "/a");
    trace::RequestEnd end{};
    end.time_ns = t0 + 2 * kMs;
    end.connection_id = 1;
    builder.request_end(end);
    builder.sample(t0 + 8 * kMs, trace::SampleReason::Periodic, 0, MemoryState{100, 100, 100, 400, 100});
    builder.sample(t0 + 9 * kMs, trace::SampleReason::Periodic, 0, MemoryState{100, 100, 100, 900, 100});

    const auto requests = read_requests(builder, "model");
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].growth.native, 300);
}

TEST(Model, OverlappingRequestsAreMarked) {
    TraceBuilder builder;
    ExchangeShape first = streamed_response_shape(0, 64 * 1024);
    ExchangeShape second = streamed_response_shape(500 * kMs, 64 * 1024);
    second.connection = 2;
    ExchangeShape third = streamed_response_shape(3000 * kMs, 64 * 1024);
    third.connection = 3;
    add_exchange(builder, first);
    add_exchange(builder, second);
    add_exchange(builder, third);

    const auto requests = read_requests(builder, "model");
    ASSERT_EQ(requests.size(), 3u);
    EXPECT_TRUE(requests[0].overlapping);
    EXPECT_TRUE(requests[1].overlapping);
    EXPECT_FALSE(requests[2].overlapping);
}

TEST(Model, LongRequestOverlapsLaterShortOnes) {
    TraceBuilder builder;
    ExchangeShape long_poll = streamed_response_shape(0, 64 * 1024);
    long_poll.end_ns = 60'000 * kMs;  // a minute-long download
    add_exchange(builder, long_poll);
    for (uint32_t i = 0; i < 50; ++i) {
        ExchangeShape short_one = streamed_response_shape((1000 + 1000 * i) * kMs, 64 * 1024);
        short_one.connection = 2;
        short_one.index = i;
        add_exchange(builder, short_one);
    }
    ExchangeShape after = streamed_response_shape(70'000 * kMs, 64 * 1024);
    after.connection = 3;
    add_exchange(builder, after);

    const auto requests = read_requests(builder, "model-long");
    ASSERT_EQ(requests.size(), 52u);
    for (size_t i = 0; i + 1 < requests.size(); ++i) EXPECT_TRUE(requests[i].overlapping) << i;
    EXPECT_FALSE(requests.back().overlapping);
}

TEST(Model, UnfinishedRequestIsOpen) {
    TraceBuilder builder;
    const uint64_t t0 = builder.start_ns();
    builder.sample(t0 + 1 * kMs, trace::SampleReason::RequestStart, 1, MemoryState{100, 100, 100});
    builder.request_head(1, 0, t0 + 1 * kMs, "POST", "/buffered", 1000);
    builder.request_body(1, 0, t0 + 2 * kMs, 500, 500, false);
    builder.sample(t0 + 3 * kMs, trace::SampleReason::Periodic, 0, MemoryState{600, 100, 600});

    const auto requests = read_requests(builder, "model");
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].outcome, Outcome::Open);
    EXPECT_EQ(requests[0].request_bytes, 500u);
    EXPECT_EQ(requests[0].end_ns, t0 + 3 * kMs);
    EXPECT_EQ(requests[0].growth.native, 500);
}

TEST(Model, LiveModeWaitsForTheEndSample) {
    const auto folder = fresh_folder("model");
    TraceBuilder builder;
    const uint64_t t0 = builder.start_ns();
    builder.sample(t0 + 1, trace::SampleReason::RequestStart, 1, MemoryState{1, 1, 1});
    builder.request_head(1, 0, t0 + 1, "GET", "/a");
    trace::RequestEnd end{};
    end.time_ns = t0 + 5;
    end.connection_id = 1;
    builder.request_end(end);
    const auto path = builder.write(folder / "1.rhtrace");

    TraceReader reader(path);
    reader.load_header(false);
    ProcessModel model(*reader.header());
    reader.read_available(model, false);
    EXPECT_TRUE(model.take_finished(false).empty());  // no sample covers the end yet
    EXPECT_EQ(model.take_finished(true).size(), 1u);
}

}  // namespace
}  // namespace routeheap::testing
