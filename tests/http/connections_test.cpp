// Tests of the connection table (connections.cpp): descriptor tracking, reuse, ends
// and the records it emits, against an in-memory record sink.
#include "connections.h"
#include "fake_record_sink.h"
#include "http_framer.h"

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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

// The records an agent without compact records writes for the same framer events: every
// record at once, and the ResponseStart sample of a response still open after the call.
class UncompactedEvents final : public http::Events {
public:
    std::vector<std::vector<uint8_t>> stream;

    void request_started(uint64_t connection_id, uint64_t time_ns) override {
        sample(trace::SampleReason::RequestStart, connection_id, time_ns);
    }
    void request_head(const trace::RequestHead& head, std::string_view method, std::string_view path) override {
        trace::RequestHead record = head;
        set_header(record, RecordType::RequestHead, sizeof(record) + method.size() + path.size());
        std::vector<uint8_t> bytes = as_bytes(record);
        bytes.insert(bytes.end(), method.begin(), method.end());
        bytes.insert(bytes.end(), path.begin(), path.end());
        stream.push_back(bytes);
    }
    void request_body(const trace::RequestBody& body) override { stream.push_back(as_bytes(body)); }
    void response_started(uint64_t connection_id, uint64_t time_ns) override {
        pending_start_ = true;
        pending_connection_id_ = connection_id;
        pending_start_ns_ = time_ns;
    }
    void response_head(const trace::ResponseHead& head) override { stream.push_back(as_bytes(head)); }
    void response_write(const trace::ResponseWrite& write) override { stream.push_back(as_bytes(write)); }
    void request_ended(const trace::RequestEnd& end) override {
        if (pending_start_ && pending_connection_id_ == end.connection_id) pending_start_ = false;
        stream.push_back(as_bytes(end));
        sample(trace::SampleReason::RequestEnd, end.connection_id, end.time_ns);
    }
    void framing_stopped(uint64_t connection_id, uint64_t time_ns, std::string_view reason) override {
        trace::FramingStopped record{};
        set_header(record, RecordType::FramingStopped, sizeof(record) + reason.size());
        record.text_length = static_cast<uint16_t>(reason.size());
        record.time_ns = time_ns;
        record.connection_id = connection_id;
        std::vector<uint8_t> bytes = as_bytes(record);
        bytes.insert(bytes.end(), reason.begin(), reason.end());
        stream.push_back(bytes);
    }
    void finish_call() {
        if (pending_start_) sample(trace::SampleReason::ResponseStart, pending_connection_id_, pending_start_ns_);
        pending_start_ = false;
    }

private:
    template <typename Record>
    static std::vector<uint8_t> as_bytes(const Record& record) {
        const auto* bytes = reinterpret_cast<const uint8_t*>(&record);
        return std::vector<uint8_t>(bytes, bytes + sizeof(record));
    }
    // As the fake recorder's read_counter_sample() fills it: no counters.
    void sample(trace::SampleReason reason, uint64_t connection_id, uint64_t time_ns) {
        trace::CounterSample record{};
        set_header(record, RecordType::CounterSample);
        record.reason = static_cast<uint16_t>(reason);
        record.time_ns = time_ns;
        record.connection_id = connection_id;
        stream.push_back(as_bytes(record));
    }

    bool pending_start_ = false;
    uint64_t pending_connection_id_ = 0;
    uint64_t pending_start_ns_ = 0;
};

// One call on the connection: a read of `bytes`, or a write of `bytes` that returns
// `result` (-errno when it failed).
struct Call {
    bool write;
    std::string bytes;
    ssize_t result;
};

Call read_call(std::string bytes) { return {false, bytes, static_cast<ssize_t>(bytes.size())}; }
Call write_call(std::string bytes) { return {true, bytes, static_cast<ssize_t>(bytes.size())}; }

std::string describe(const std::vector<Call>& calls) {
    std::string text;
    for (const Call& call : calls) {
        text += call.write ? "write(" : "read(";
        text += std::to_string(call.bytes.size()) + " bytes, result " + std::to_string(call.result) + ") ";
    }
    return text;
}

// Runs `calls` on a new connection, closes it, and checks that the expanded records equal
// the records an agent without compact records writes for the same calls.
void expect_same_as_uncompacted(const std::vector<Call>& calls) {
    fake_recorder().clear();
    constexpr int kFd = 40;
    on_accept(3, kFd);
    const uint64_t connection_id = fake_recorder().of_type<trace::ConnectionOpen>(RecordType::ConnectionOpen).back().connection_id;
    auto framer = std::make_unique<http::Framer>();
    framer->reset(connection_id);
    UncompactedEvents reference;
    bool reference_open = true;

    for (const Call& call : calls) {
        const uint64_t time_ns = fake_recorder().clock_ns;  // what now_ns() returns in the call
        iovec iov{const_cast<char*>(call.bytes.data()), call.bytes.size()};
        const int saved_errno = call.result < 0 ? static_cast<int>(-call.result) : 0;
        if (call.write) {
            on_write(kFd, &iov, 1, call.result, saved_errno);
            if (reference_open) framer->on_write(&iov, 1, call.result, saved_errno, time_ns, reference);
        } else {
            on_read(kFd, &iov, 1, call.result, saved_errno);
            if (reference_open && call.result == 0) framer->on_read_eof(time_ns, reference);
            if (reference_open && call.result > 0) {
                framer->on_read(&iov, 1, static_cast<size_t>(call.result), time_ns, reference);
            }
        }
        if (!reference_open) continue;
        reference.finish_call();
        if (!framer->framing()) {
            reference_open = false;
        } else if (framer->finished()) {
            framer->on_connection_end(trace::RequestOutcome::ConnectionClosed, time_ns, reference);
            reference.finish_call();
            reference_open = false;
        }
    }
    const uint64_t close_ns = fake_recorder().clock_ns;
    on_close(kFd);
    if (reference_open) {
        framer->on_connection_end(trace::RequestOutcome::ConnectionClosed, close_ns, reference);
        reference.finish_call();
    }

    std::vector<std::vector<uint8_t>> seen;
    for (const std::vector<uint8_t>& bytes : fake_recorder().stream) {
        trace::RecordHeader header;
        std::memcpy(&header, bytes.data(), sizeof(header));
        if (header.type == type(RecordType::ConnectionOpen) || header.type == type(RecordType::ConnectionClose)) continue;
        seen.push_back(bytes);
    }
    ASSERT_EQ(seen.size(), reference.stream.size()) << describe(calls);
    for (size_t i = 0; i < seen.size(); ++i) {
        trace::RecordHeader header;
        std::memcpy(&header, reference.stream[i].data(), sizeof(header));
        EXPECT_EQ(seen[i], reference.stream[i]) << "record " << i << " of type " << header.type << " after "
                                                << describe(calls);
    }
}

// Every way to split `bytes` into one or two calls of the same kind.
std::vector<std::vector<Call>> splits(const std::string& bytes, bool write) {
    std::vector<std::vector<Call>> result;
    for (size_t at = 0; at < bytes.size(); ++at) {
        std::vector<Call> calls;
        if (at > 0) calls.push_back(write ? write_call(bytes.substr(0, at)) : read_call(bytes.substr(0, at)));
        calls.push_back(write ? write_call(bytes.substr(at)) : read_call(bytes.substr(at)));
        result.push_back(calls);
    }
    return result;
}

std::vector<Call> joined(std::vector<Call> first, const std::vector<Call>& second) {
    first.insert(first.end(), second.begin(), second.end());
    return first;
}

struct Exchange {
    const char* name;
    std::string request;
    std::string response;
};

const std::vector<Exchange>& exchanges() {
    static const std::vector<Exchange> cases{
        {"small", "GET /a?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
        {"empty 204", "GET /b HTTP/1.1\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n"},
        {"304", "GET /c HTTP/1.1\r\n\r\n", "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"},
        {"HEAD", "HEAD /d HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"},
        {"chunked", "GET /e HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
        {"continue", "POST /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nk"},
        {"close", "GET /g HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nz"},
        {"close delimited", "GET /h HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\nuntil close"},
        {"pipelined", "GET /i HTTP/1.1\r\n\r\nGET /j HTTP/1.1\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nbb"},
        {"response then garbage", "GET /k HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naXYZ"},
        {"request then garbage", "GET /m HTTP/1.1\r\n\r\nG\x01",
         "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nm"},
        {"invalid header", "GET /n HTTP/1.1\r\nBad Header\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n\r\n"},
        {"upload answered early", "POST /l HTTP/1.1\r\nContent-Length: 4\r\n\r\nab",
         "HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n"},
    };
    return cases;
}

TEST_F(Connections, CompactMatchesUncompactedAtEverySplit) {
    for (const Exchange& exchange : exchanges()) {
        SCOPED_TRACE(exchange.name);
        for (const auto& reads : splits(exchange.request, false)) {
            expect_same_as_uncompacted(joined(reads, {write_call(exchange.response)}));
        }
        for (const auto& writes : splits(exchange.response, true)) {
            expect_same_as_uncompacted(joined({read_call(exchange.request)}, writes));
        }
    }
}

TEST_F(Connections, CompactMatchesUncompactedOnFailedWrites) {
    for (const Exchange& exchange : exchanges()) {
        SCOPED_TRACE(exchange.name);
        const std::string& response = exchange.response;
        // EAGAIN first, then the whole response.
        expect_same_as_uncompacted({read_call(exchange.request), {true, response, -EAGAIN}, write_call(response)});
        // A broken pipe ends the exchange.
        expect_same_as_uncompacted({read_call(exchange.request), {true, response, -EPIPE}});
        // Every partial write, with the rest in a second call.
        for (size_t accepted = 0; accepted < response.size(); ++accepted) {
            expect_same_as_uncompacted({read_call(exchange.request),
                                        {true, response, static_cast<ssize_t>(accepted)},
                                        write_call(response.substr(accepted))});
        }
        // The peer's EOF after the request, then the response.
        expect_same_as_uncompacted({read_call(exchange.request), {false, "", 0}, write_call(response)});
    }
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
