// Synthetic request exchanges for the model and detector tests.
#include "scenarios.h"

#include <algorithm>

namespace routeheap::testing {

void add_exchange(TraceBuilder& builder, const ExchangeShape& s) {
    using trace::SampleReason;
    const uint64_t origin = builder.start_ns();
    const uint64_t start = origin + s.start_ns;
    MemoryState memory = s.before;
    builder.sample(start, SampleReason::RequestStart, s.connection, memory);
    builder.request_head(s.connection, s.index, start, s.method, s.path,
                         s.request_bytes > 0 ? static_cast<int64_t>(s.request_bytes) : -1);

    if (s.request_bytes > 0) {
        const uint64_t reads = std::max<uint32_t>(s.body_reads, 1);
        uint64_t total = 0;
        for (uint64_t i = 1; i <= reads; ++i) {
            const uint64_t next = s.request_bytes * i / reads;
            const uint64_t time = start + (s.body_done_ns - s.start_ns) * i / reads;
            builder.request_body(s.connection, s.index, time, next - total, next, i == reads);
            total = next;
        }
        MemoryState at_body = s.before;
        at_body.native = s.before.native + s.native_growth_at_body;
        at_body.v8 = s.before.v8 + s.v8_growth_at_body;
        at_body.rss = s.before.rss + s.native_growth_at_body + s.v8_growth_at_body;
        builder.sample(origin + s.body_done_ns, SampleReason::Periodic, 0, at_body);
        memory = at_body;
    }

    builder.sample(origin + s.first_response_ns, SampleReason::ResponseStart, s.connection, memory);
    builder.response_head(s.connection, s.index, origin + s.first_response_ns, s.status);

    const uint64_t writes = std::max<uint32_t>(s.writes, 1);
    const uint64_t response_span = s.end_ns - s.first_response_ns;
    uint64_t sent = 0;
    for (uint64_t i = 1; i <= writes; ++i) {
        const uint64_t next = s.response_bytes * i / writes;
        const uint64_t requested = i == 1 ? std::max(s.largest_write, next - sent) : next - sent;
        builder.response_write(s.connection, s.index, origin + s.first_response_ns + response_span * i / (writes + 1),
                               requested, static_cast<int64_t>(next - sent), next - sent,
                               requested > next - sent ? trace::kWritePartial : 0);
        sent = next;
    }

    MemoryState peak = s.before;
    peak.allocated_total = s.before.allocated_total + s.allocated_bytes / 2;
    peak.native = s.before.native;
    peak.native_peak = s.before.native + s.native_peak_growth;
    peak.v8 = s.before.v8;
    peak.v8_peak = s.before.v8 + s.v8_peak_growth;
    peak.rss = s.before.rss + s.rss_peak_growth;
    builder.sample(origin + s.first_response_ns + response_span / 2, SampleReason::Periodic, 0, peak);

    MemoryState after = s.before;
    after.allocated_total = s.before.allocated_total + s.allocated_bytes;
    builder.sample(origin + s.end_ns, SampleReason::RequestEnd, s.connection, after);
    trace::RequestEnd end{};
    end.status = s.status;
    end.outcome = static_cast<uint16_t>(trace::RequestOutcome::Complete);
    end.time_ns = origin + s.end_ns;
    end.connection_id = s.connection;
    end.request_index = s.index;
    end.write_calls = static_cast<uint32_t>(writes);
    end.request_body_bytes = s.request_bytes;
    end.response_body_bytes = s.response_bytes;
    end.response_header_bytes = 120;
    end.largest_write_bytes = std::max(s.largest_write, s.response_bytes / writes);
    builder.request_end(end);
}

ExchangeShape buffered_response_shape(uint64_t start_ns, uint64_t response_bytes) {
    ExchangeShape shape;
    shape.path = "/buffered";
    shape.start_ns = start_ns;
    shape.request_bytes = 0;
    shape.first_response_ns = start_ns + 900 * kMs;
    shape.end_ns = start_ns + 1000 * kMs;
    shape.response_bytes = response_bytes;
    shape.writes = 30;
    shape.largest_write = response_bytes;
    shape.before = MemoryState{50 * kMiBytes, 40 * kMiBytes, 120 * kMiBytes};
    shape.native_peak_growth = static_cast<int64_t>(response_bytes) * 2;
    shape.v8_peak_growth = static_cast<int64_t>(response_bytes);
    shape.rss_peak_growth = static_cast<int64_t>(response_bytes) * 2;
    return shape;
}

ExchangeShape streamed_response_shape(uint64_t start_ns, uint64_t response_bytes) {
    ExchangeShape shape;
    shape.path = "/stream";
    shape.start_ns = start_ns;
    shape.first_response_ns = start_ns + 5 * kMs;
    shape.end_ns = start_ns + 1000 * kMs;
    shape.response_bytes = response_bytes;
    shape.writes = static_cast<uint32_t>(response_bytes / (16 * 1024));
    shape.largest_write = 16 * 1024;
    shape.before = MemoryState{50 * kMiBytes, 40 * kMiBytes, 120 * kMiBytes};
    shape.native_peak_growth = 1 * kMiBytes;
    shape.v8_peak_growth = 4 * kMiBytes;
    shape.rss_peak_growth = 6 * kMiBytes;
    return shape;
}

}  // namespace routeheap::testing
