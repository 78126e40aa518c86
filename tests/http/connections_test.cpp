// Tests of the connection table (connections.cpp): descriptor tracking, reuse, ends
// and the records it emits, against an in-memory record sink.
#include "connections.h"
#include "fake_record_sink.h"

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <string_view>

namespace routeheap::agent::net {
namespace {

using testing::fake_recorder;
using trace::RecordType;

void read_bytes(int fd, std::string_view bytes) {
    iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
    on_read(fd, &iov, 1, static_cast<ssize_t>(bytes.size()), 0);
}

void write_bytes(int fd, std::string_view bytes) {
    iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
    on_write(fd, &iov, 1, static_cast<ssize_t>(bytes.size()), 0);
}

std::vector<uint16_t> record_types() {
    std::vector<uint16_t> types;
    for (const auto& bytes : fake_recorder().records) {
        trace::RecordHeader header;
        std::memcpy(&header, bytes.data(), sizeof(header));
        types.push_back(header.type);
    }
    return types;
}

uint16_t type(RecordType record_type) { return static_cast<uint16_t>(record_type); }

class Connections : public ::testing::Test {
protected:
    void SetUp() override {
        fake_recorder().recording = true;
        fake_recorder().clear();
    }
    void TearDown() override {
        on_process_exit();
        EXPECT_EQ(fake_recorder().open_requests, 0);
    }
};

TEST_F(Connections, ExchangeEmitsRecords) {
    on_accept(3, 10);
    EXPECT_TRUE(is_tracked(10));
    EXPECT_FALSE(is_tracked(11));
    read_bytes(10, "GET /items?id=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    write_bytes(10, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");

    std::vector<uint16_t> expected{type(RecordType::ConnectionOpen), type(RecordType::RequestHead),
                                   type(RecordType::ResponseHead), type(RecordType::RequestEnd),
                                   type(RecordType::ResponseWrite)};
    EXPECT_EQ(record_types(), expected);

    const std::vector<uint8_t>& head_bytes = fake_recorder().records[1];
    trace::RequestHead head;
    std::memcpy(&head, head_bytes.data(), sizeof(head));
    EXPECT_EQ(head.header.size, sizeof(head) + 3 + 6);
    std::string text(head_bytes.begin() + sizeof(head), head_bytes.end());
    EXPECT_EQ(text, "GET/items");
    EXPECT_EQ(head.flags, trace::kRequestHadQuery);

    auto opens = fake_recorder().of_type<trace::ConnectionOpen>(RecordType::ConnectionOpen);
    ASSERT_EQ(opens.size(), 1u);
    EXPECT_EQ(opens[0].fd, 10);
    EXPECT_EQ(opens[0].listen_fd, 3);
    EXPECT_EQ(head.connection_id, opens[0].connection_id);

    // The response ended in the write that started it, so no ResponseStart sample.
    ASSERT_EQ(fake_recorder().samples.size(), 2u);
    EXPECT_EQ(fake_recorder().samples[0].reason, trace::SampleReason::RequestStart);
    EXPECT_EQ(fake_recorder().samples[1].reason, trace::SampleReason::RequestEnd);
    EXPECT_EQ(fake_recorder().samples[0].connection_id, opens[0].connection_id);
    EXPECT_EQ(fake_recorder().max_open_requests, 1);
    EXPECT_EQ(fake_recorder().open_requests, 0);
    // A request read whole and a response written whole: one compact record each.
    EXPECT_EQ(fake_recorder().compact_records, 2);
}

TEST_F(Connections, ResponseOverTwoWritesSamplesStart) {
    on_accept(3, 10);
    read_bytes(10, "GET /items HTTP/1.1\r\nHost: x\r\n\r\n");
    write_bytes(10, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nok");
    ASSERT_EQ(fake_recorder().samples.size(), 2u);
    EXPECT_EQ(fake_recorder().samples[1].reason, trace::SampleReason::ResponseStart);
    write_bytes(10, "ok");

    ASSERT_EQ(fake_recorder().samples.size(), 3u);
    EXPECT_EQ(fake_recorder().samples[0].reason, trace::SampleReason::RequestStart);
    EXPECT_EQ(fake_recorder().samples[2].reason, trace::SampleReason::RequestEnd);
    const auto heads = fake_recorder().of_type<trace::ResponseHead>(RecordType::ResponseHead);
    ASSERT_EQ(heads.size(), 1u);
    // The sample carries the time of the write that sent the first byte.
    EXPECT_EQ(fake_recorder().samples[1].time_ns, heads[0].first_byte_ns);
    // Only the request head is compact: the response took two writes.
    EXPECT_EQ(fake_recorder().compact_records, 1);
}

TEST_F(Connections, PipelinedResponsesInOneWrite) {
    on_accept(3, 10);
    read_bytes(10, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
    // The first response ends in this write, the second one only starts.
    write_bytes(10, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nb");
    std::vector<trace::SampleReason> reasons;
    for (const auto& sample : fake_recorder().samples) reasons.push_back(sample.reason);
    const std::vector<trace::SampleReason> expected{trace::SampleReason::RequestStart, trace::SampleReason::RequestStart,
                                                    trace::SampleReason::RequestEnd, trace::SampleReason::ResponseStart};
    EXPECT_EQ(reasons, expected);
    // Both heads are compact; the write carried two responses, so its records stay whole,
    // in the order the framer reported them.
    EXPECT_EQ(fake_recorder().compact_records, 2);
    const std::vector<uint16_t> types{type(RecordType::ConnectionOpen), type(RecordType::RequestHead),
                                      type(RecordType::RequestHead),    type(RecordType::ResponseHead),
                                      type(RecordType::RequestEnd),     type(RecordType::ResponseHead),
                                      type(RecordType::ResponseWrite)};
    EXPECT_EQ(record_types(), types);
}

TEST_F(Connections, DescriptorReuseEndsOldConnection) {
    on_accept(3, 12);
    read_bytes(12, "POST /upload HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc");
    on_accept(3, 12);  // libuv closed fd 12 with a raw syscall; accept returned it again

    auto ends = fake_recorder().of_type<trace::RequestEnd>(RecordType::RequestEnd);
    ASSERT_EQ(ends.size(), 1u);
    EXPECT_EQ(ends[0].outcome, static_cast<uint16_t>(trace::RequestOutcome::ConnectionClosed));
    EXPECT_EQ(ends[0].request_body_bytes, 3u);
    auto closes = fake_recorder().of_type<trace::ConnectionClose>(RecordType::ConnectionClose);
    ASSERT_EQ(closes.size(), 1u);
    EXPECT_EQ(closes[0].reason, static_cast<uint16_t>(trace::CloseReason::FdReused));
    auto opens = fake_recorder().of_type<trace::ConnectionOpen>(RecordType::ConnectionOpen);
    ASSERT_EQ(opens.size(), 2u);
    EXPECT_NE(opens[0].connection_id, opens[1].connection_id);
    EXPECT_EQ(closes[0].connection_id, opens[0].connection_id);
    EXPECT_TRUE(is_tracked(12));
    EXPECT_EQ(fake_recorder().open_requests, 0);
}

TEST_F(Connections, FramingStopUntracks) {
    on_accept(3, 13);
    read_bytes(13, std::string_view("\x16\x03\x01\x00\x10", 5));
    EXPECT_FALSE(is_tracked(13));

    const std::vector<uint8_t>& stopped = fake_recorder().records.back();
    trace::FramingStopped record;
    std::memcpy(&record, stopped.data(), sizeof(record));
    EXPECT_EQ(record.header.type, type(RecordType::FramingStopped));
    EXPECT_EQ(std::string(stopped.begin() + sizeof(record), stopped.end()), "TLS handshake");

    on_close(13);
    auto closes = fake_recorder().of_type<trace::ConnectionClose>(RecordType::ConnectionClose);
    ASSERT_EQ(closes.size(), 1u);
    EXPECT_EQ(closes[0].reason, static_cast<uint16_t>(trace::CloseReason::Close));
}

TEST_F(Connections, ShutdownCompletesCloseDelimitedResponse) {
    on_accept(3, 14);
    read_bytes(14, "GET / HTTP/1.0\r\n\r\n");
    write_bytes(14, "HTTP/1.1 200 OK\r\n\r\nbody until close");
    on_shutdown(14, SHUT_RD);
    EXPECT_TRUE(is_tracked(14));
    on_shutdown(14, SHUT_WR);
    EXPECT_FALSE(is_tracked(14));

    auto ends = fake_recorder().of_type<trace::RequestEnd>(RecordType::RequestEnd);
    ASSERT_EQ(ends.size(), 1u);
    EXPECT_EQ(ends[0].outcome, static_cast<uint16_t>(trace::RequestOutcome::Complete));
    EXPECT_EQ(ends[0].response_body_bytes, 16u);
    auto closes = fake_recorder().of_type<trace::ConnectionClose>(RecordType::ConnectionClose);
    ASSERT_EQ(closes.size(), 1u);
    EXPECT_EQ(closes[0].reason, static_cast<uint16_t>(trace::CloseReason::Shutdown));
}

TEST_F(Connections, PeerEofClosesIdleConnection) {
    on_accept(3, 15);
    read_bytes(15, "GET / HTTP/1.1\r\n\r\n");
    write_bytes(15, "HTTP/1.1 204 No Content\r\n\r\n");
    on_read(15, nullptr, 0, -1, EAGAIN);  // ignored
    EXPECT_TRUE(is_tracked(15));
    on_read(15, nullptr, 0, 0, 0);
    EXPECT_FALSE(is_tracked(15));
    auto closes = fake_recorder().of_type<trace::ConnectionClose>(RecordType::ConnectionClose);
    ASSERT_EQ(closes.size(), 1u);
    EXPECT_EQ(closes[0].reason, static_cast<uint16_t>(trace::CloseReason::PeerEof));
}

TEST_F(Connections, ProcessExitEndsOpenRequests) {
    on_accept(3, 16);
    on_accept(3, 200);
    read_bytes(16, "GET /slow HTTP/1.1\r\n\r\n");
    read_bytes(200, "POST /upload HTTP/1.1\r\nContent-Length: 5\r\n\r\nab");
    on_process_exit();

    auto ends = fake_recorder().of_type<trace::RequestEnd>(RecordType::RequestEnd);
    ASSERT_EQ(ends.size(), 2u);
    for (const auto& end : ends) EXPECT_EQ(end.outcome, static_cast<uint16_t>(trace::RequestOutcome::ProcessExit));
    auto closes = fake_recorder().of_type<trace::ConnectionClose>(RecordType::ConnectionClose);
    ASSERT_EQ(closes.size(), 2u);
    for (const auto& close : closes) EXPECT_EQ(close.reason, static_cast<uint16_t>(trace::CloseReason::ProcessExit));
    EXPECT_FALSE(is_tracked(16));
    EXPECT_FALSE(is_tracked(200));
}

TEST_F(Connections, DescriptorAboveRangeCounted) {
    uint64_t before = untracked_connection_count();
    on_accept(3, 1 << 20);
    EXPECT_FALSE(is_tracked(1 << 20));
    EXPECT_EQ(untracked_connection_count(), before + 1);
    auto stops = fake_recorder().of_type<trace::FramingStopped>(RecordType::FramingStopped);
    EXPECT_EQ(stops.size(), 1u);

    on_accept(3, (1 << 20) - 1);  // the last slot of the table works
    EXPECT_TRUE(is_tracked((1 << 20) - 1));
    EXPECT_FALSE(is_tracked(-1));
}

TEST_F(Connections, NotRecordingEmitsNothing) {
    fake_recorder().recording = false;
    on_accept(3, 17);
    read_bytes(17, "GET / HTTP/1.1\r\n\r\n");
    EXPECT_FALSE(is_tracked(17));
    EXPECT_TRUE(fake_recorder().records.empty());
    fake_recorder().recording = true;
}

}  // namespace
}  // namespace routeheap::agent::net
