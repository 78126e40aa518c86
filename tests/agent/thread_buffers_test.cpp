// Unit tests of the per-thread record rings: room, the half-full signal and wrapping,
// while a drainer on another thread moves the read position between pushes.
#include "thread_buffers.h"

#include <routeheap/trace_format.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

namespace routeheap::agent {
namespace {

// A record of up to 64 bytes, typed as a ConnectionClose, whose time field carries
// `sequence`; every filler byte repeats the sequence's low byte.
struct TestRecord {
    trace::RecordHeader header;
    uint32_t reserved;
    uint64_t sequence;
    uint8_t filler[48];
};
static_assert(sizeof(TestRecord) == 64);

TestRecord make_record(uint64_t sequence, uint16_t size = sizeof(TestRecord)) {
    TestRecord record{};
    record.header = {static_cast<uint16_t>(trace::RecordType::ConnectionClose), size};
    record.sequence = sequence;
    std::memset(record.filler, static_cast<int>(sequence & 0xff), sizeof(record.filler));
    return record;
}

constexpr size_t kFillerStart = offsetof(TestRecord, filler);

bool push(ThreadBuffers& buffers, uint64_t sequence) {
    const TestRecord record = make_record(sequence);
    return buffers.try_push(&record, sizeof(record)) != ThreadBuffers::Push::Rejected;
}

// Drains every ring into a vector of sequences, on the calling thread, taking at most
// `capacity` bytes.
std::vector<uint64_t> drain(ThreadBuffers& buffers, size_t capacity = 1 << 20) {
    std::vector<uint8_t> out(capacity);
    uint32_t records = 0;
    uint64_t first = 0;
    uint64_t last = 0;
    const size_t bytes = buffers.drain_into(out.data(), out.size(), records, first, last);
    std::vector<uint64_t> sequences;
    size_t at = 0;
    while (at < bytes) {
        trace::RecordHeader header;
        std::memcpy(&header, out.data() + at, sizeof(header));
        if (header.size <= kFillerStart || header.size > sizeof(TestRecord) || at + header.size > bytes) {
            ADD_FAILURE() << "a record of " << header.size << " bytes at offset " << at;
            break;
        }
        TestRecord record{};
        std::memcpy(&record, out.data() + at, header.size);
        EXPECT_EQ(record.filler[header.size - kFillerStart - 1], static_cast<uint8_t>(record.sequence & 0xff))
            << "record " << record.sequence << " was torn";
        sequences.push_back(record.sequence);
        at += header.size;
    }
    EXPECT_EQ(records, sequences.size());
    return sequences;
}

// Each test pushes from a thread of its own, so the ring it claims is fresh.
template <typename Body>
void on_new_thread(Body body) {
    std::thread thread(body);
    thread.join();
}

TEST(ThreadBuffers, FullRingRejectsUntilDrained) {
    static ThreadBuffers buffers;
    buffers.init(4096);
    on_new_thread([&] {
        uint64_t pushed = 0;
        while (push(buffers, pushed)) ++pushed;
        EXPECT_EQ(pushed, 4096 / sizeof(TestRecord));
        EXPECT_TRUE(buffers.own_ring_half_full());

        // Another thread drains while this one still has its old reading of the head.
        std::vector<uint64_t> drained;
        std::thread drainer([&] { drained = drain(buffers); });
        drainer.join();
        ASSERT_EQ(drained.size(), pushed);
        for (uint64_t i = 0; i < pushed; ++i) EXPECT_EQ(drained[i], i);

        EXPECT_TRUE(push(buffers, pushed)) << "the drained ring rejected a record";
        EXPECT_FALSE(buffers.own_ring_half_full()) << "the drained ring still looks half full";
    });
}

TEST(ThreadBuffers, HalfFullFollowsDrainer) {
    static ThreadBuffers buffers;
    buffers.init(4096);
    on_new_thread([&] {
        const size_t half = 4096 / 2 / sizeof(TestRecord);
        for (uint64_t i = 0; i < half; ++i) {
            const TestRecord record = make_record(i);
            ASSERT_EQ(buffers.try_push(&record, sizeof(record)), ThreadBuffers::Push::Done) << "record " << i;
        }
        EXPECT_FALSE(buffers.own_ring_half_full()) << "exactly half is not more than half";
        const TestRecord over = make_record(half);
        ASSERT_EQ(buffers.try_push(&over, sizeof(over)), ThreadBuffers::Push::OverHalf);
        EXPECT_TRUE(buffers.own_ring_half_full());

        std::thread drainer([&] { EXPECT_EQ(drain(buffers).size(), half + 1); });
        drainer.join();
        EXPECT_FALSE(buffers.own_ring_half_full());
    });
}

// A drain with room for one and a half records takes one whole record and leaves the
// rest for the next drain.
TEST(ThreadBuffers, DrainTakesOnlyWholeRecords) {
    static ThreadBuffers buffers;
    buffers.init(4096);
    on_new_thread([&] {
        for (uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(push(buffers, i));
    });
    const size_t room = sizeof(TestRecord) * 3 / 2;
    EXPECT_EQ(drain(buffers, room), std::vector<uint64_t>({0}));
    EXPECT_EQ(drain(buffers, room), std::vector<uint64_t>({1}));
    EXPECT_EQ(drain(buffers, sizeof(TestRecord) - 1), std::vector<uint64_t>());
    EXPECT_EQ(drain(buffers, room), std::vector<uint64_t>({2}));
}

// Records cross the end of the ring many times while a drainer runs concurrently;
// every record arrives once, whole and in order.
TEST(ThreadBuffers, WrappedRecordsArriveWhole) {
    static ThreadBuffers buffers;
    buffers.init(4096);
    constexpr uint64_t kRecords = 200000;
    std::atomic<bool> done{false};
    std::vector<uint64_t> received;
    std::thread drainer([&] {
        while (!done.load()) {
            const std::vector<uint64_t> part = drain(buffers);
            received.insert(received.end(), part.begin(), part.end());
        }
        const std::vector<uint64_t> rest = drain(buffers);
        received.insert(received.end(), rest.begin(), rest.end());
    });
    on_new_thread([&] {
        // 60 bytes do not divide the ring, so records straddle its end.
        for (uint64_t i = 0; i < kRecords; ++i) {
            const TestRecord record = make_record(i, 60);
            while (buffers.try_push(&record, 60) == ThreadBuffers::Push::Rejected) std::this_thread::yield();
        }
    });
    done.store(true);
    drainer.join();
    ASSERT_EQ(received.size(), kRecords);
    for (uint64_t i = 0; i < kRecords; ++i) ASSERT_EQ(received[i], i);
}

}  // namespace
}  // namespace routeheap::agent
