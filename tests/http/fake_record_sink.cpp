// In-memory record sink for the connection table tests (see fake_record_sink.h).
#include "fake_record_sink.h"

#include "record_sink.h"

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
    testing::fake_recorder().records.emplace_back(bytes, bytes + size);
    return true;
}

void emit_counter_sample(trace::SampleReason reason, uint64_t connection_id, uint64_t time_ns) {
    testing::fake_recorder().samples.push_back({reason, connection_id, time_ns});
}

void request_opened() {
    testing::FakeRecorder& recorder = testing::fake_recorder();
    if (++recorder.open_requests > recorder.max_open_requests) recorder.max_open_requests = recorder.open_requests;
}

void request_closed() { --testing::fake_recorder().open_requests; }

}  // namespace routeheap::agent
