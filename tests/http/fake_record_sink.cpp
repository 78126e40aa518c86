// In-memory record sink for the connection table tests (see fake_record_sink.h).
#include "fake_record_sink.h"

#include "record_sink.h"

#include <routeheap/trace_block.h>
#include <routeheap/trace_compact.h>

#include <cstring>
#include <cstdlib>
#include <cstdio>

namespace routeheap::agent {

namespace testing {

FakeRecorder& fake_recorder() {
    static FakeRecorder recorder;
    return recorder;
}

void FakeRecorder::clear() {
    records.clear();
    samples.clear();
    stream.clear();
    compact_records = 0;
    open_requests = 0;
    max_open_requests = 0;
}

}  // namespace testing

uint64_t now_ns() { return testing::fake_recorder().clock_ns++; }

bool recording() { return testing::fake_recorder().recording; }

bool emit_record(const void* record, size_t size) {
    trace::RecordHeader header;
    std::memcpy(&header, record, sizeof(header));
    if (header.size != size) {
        std::fprintf(stderr, "record of type %u has header size %u but %zu bytes\n", header.type, header.size, size);
        std::abort();
    }
    const uint8_t* bytes = static_cast<const uint8_t*>(record);
    testing::FakeRecorder& recorder = testing::fake_recorder();
    // Compact records are kept as the records they stand for. Samples go to `stream` only,
    // because `samples` lists them when they are read.
    const auto keep = [&recorder](const trace::RecordHeader& kept, const uint8_t* kept_bytes) {
        recorder.stream.emplace_back(kept_bytes, kept_bytes + kept.size);
        if (kept.type != static_cast<uint16_t>(trace::RecordType::CounterSample)) {
            recorder.records.emplace_back(kept_bytes, kept_bytes + kept.size);
        }
    };
    if (!trace::is_compact_record(header.type)) {
        keep(header, bytes);
        return true;
    }
    if (!trace::for_each_expanded_record(header, bytes, keep)) {
        std::fprintf(stderr, "compact record of type %u does not expand\n", header.type);
        std::abort();
    }
    ++recorder.compact_records;
    return true;
}

bool read_counter_sample(trace::SampleReason reason, uint64_t connection_id, uint64_t time_ns,
                         trace::CounterSample& sample) {
    testing::fake_recorder().samples.push_back({reason, connection_id, time_ns});
    sample = trace::CounterSample{};
    sample.header = {static_cast<uint16_t>(trace::RecordType::CounterSample), sizeof(sample)};
    sample.reason = static_cast<uint16_t>(reason);
    sample.time_ns = time_ns;
    sample.connection_id = connection_id;
    return true;
}

void emit_counter_sample(trace::SampleReason reason, uint64_t connection_id, uint64_t time_ns) {
    trace::CounterSample sample;
    if (read_counter_sample(reason, connection_id, time_ns, sample)) emit_record(&sample, sizeof(sample));
}

void request_opened() {
    testing::FakeRecorder& recorder = testing::fake_recorder();
    if (++recorder.open_requests > recorder.max_open_requests) recorder.max_open_requests = recorder.open_requests;
}

void request_closed() { --testing::fake_recorder().open_requests; }

}  // namespace routeheap::agent
