// Synthetic request exchanges for the model and detector tests: the records and
// counter samples one request leaves in a trace, shaped by a few numbers.
#pragma once

#include "trace_builder.h"

#include <string>

namespace routeheap::testing {

inline constexpr uint64_t kMs = 1'000'000;
inline constexpr int64_t kMiBytes = 1024 * 1024;

struct ExchangeShape {
    uint64_t connection = 1;
    uint32_t index = 0;
    std::string method = "POST";
    std::string path = "/buffered";
    uint16_t status = 200;

    uint64_t start_ns = 0;
    uint64_t request_bytes = 0;
    uint32_t body_reads = 8;
    uint64_t body_done_ns = 0;  // when the last body byte was read
    uint64_t first_response_ns = 0;
    uint64_t end_ns = 0;
    uint64_t response_bytes = 0;
    uint32_t writes = 1;
    uint64_t largest_write = 0;

    MemoryState before;                  // counters at the request's first byte
    int64_t native_growth_at_body = 0;   // native peak growth up to the last body byte
    int64_t v8_growth_at_body = 0;       // V8 committed growth up to the last body byte
    int64_t native_peak_growth = 0;      // native peak growth over the whole request
    int64_t v8_peak_growth = 0;
    int64_t rss_peak_growth = 0;
    uint64_t allocated_bytes = 0;        // malloc-family bytes allocated during the request
};

// Writes the exchange: samples at request start, body completion, response start,
// the middle of the response and request end, with the head, body, response and end
// records between them.
void add_exchange(TraceBuilder& builder, const ExchangeShape& shape);

// A response of `response_bytes` built in memory: first byte after 90% of the request,
// one write requesting the whole body, heap growth of 3x the body.
ExchangeShape buffered_response_shape(uint64_t start_ns, uint64_t response_bytes);

// The same response streamed: first byte early, 16 KiB writes, growth of a few MiB.
ExchangeShape streamed_response_shape(uint64_t start_ns, uint64_t response_bytes);

}  // namespace routeheap::testing
