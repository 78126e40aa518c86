// An in-memory implementation of the recorder entry points in record_sink.h, so the
// connection table can be tested without the agent's recorder.
#pragma once

#include <routeheap/trace_format.h>

#include <cstdint>
#include <vector>

namespace routeheap::agent::testing {

struct CounterSampleCall {
    trace::SampleReason reason;
    uint64_t connection_id;
    uint64_t time_ns;
};

struct FakeRecorder {
    bool recording = true;
    uint64_t clock_ns = 1000;
    // Every record but CounterSamples, with compact records replaced by what they stand for.
    std::vector<std::vector<uint8_t>> records;
    std::vector<CounterSampleCall> samples;  // every sample read, in order
    // Every record emitted, CounterSamples included, in emit order, with each compact
    // record replaced by its expanded records as a trace reader receives them.
    std::vector<std::vector<uint8_t>> stream;
    int compact_records = 0;
    int open_requests = 0;
    int max_open_requests = 0;

    void clear();
    // Records of one type, decoded into their fixed part.
    template <typename Record>
    std::vector<Record> of_type(trace::RecordType type) const;
};

FakeRecorder& fake_recorder();

}  // namespace routeheap::agent::testing

#include <cstring>

template <typename Record>
std::vector<Record> routeheap::agent::testing::FakeRecorder::of_type(trace::RecordType type) const {
    std::vector<Record> found;
    for (const std::vector<uint8_t>& bytes : records) {
        trace::RecordHeader header;
        std::memcpy(&header, bytes.data(), sizeof(header));
        if (header.type != static_cast<uint16_t>(type)) continue;
        Record record;
        std::memcpy(&record, bytes.data(), sizeof(Record));
        found.push_back(record);
    }
    return found;
}
