// Compact request records: a compact record is built only where expanding it gives back
// the records it replaces byte for byte, and a damaged one is rejected, never read past.
#include <routeheap/trace_block.h>
#include <routeheap/trace_compact.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace routeheap::trace {
namespace {

template <typename Record>
void append_bytes(std::vector<uint8_t>& out, const Record& record) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(&record);
    out.insert(out.end(), bytes, bytes + sizeof(record));
}

Counters some_counters() {
    return Counters{1'000'003, 1'200'007, 64 << 20, 90 << 20, 5'000'011, 70'001};
}

CounterSample sample_of(SampleReason reason, uint64_t time_ns, uint64_t connection) {
    CounterSample sample{};
    set_header(sample, RecordType::CounterSample);
    sample.reason = static_cast<uint16_t>(reason);
    sample.time_ns = time_ns;
    sample.connection_id = connection;
    sample.current = some_counters();
    sample.native_live_peak_bytes = 1'100'000;
    sample.v8_committed_peak_bytes = 65 << 20;
    return sample;
}

constexpr std::string_view kMethod = "GET";
constexpr std::string_view kPath = "/health";

// A request read whole in one call: its RequestStart sample and its RequestHead.
struct RequestStartRecords {
    CounterSample sample = sample_of(SampleReason::RequestStart, 7'000'123, 41);
    RequestHead head{};

    RequestStartRecords() {
        set_header(head, RecordType::RequestHead, sizeof(head) + kMethod.size() + kPath.size());
        head.flags = kRequestHadQuery;
        head.first_byte_ns = 7'000'123;
        head.headers_done_ns = 7'000'123;
        head.connection_id = 41;
        head.request_index = 5;
        head.method_length = kMethod.size();
        head.path_length = kPath.size();
        head.content_length = -1;
        head.header_bytes = 77;
    }

    std::vector<uint8_t> bytes() const {
        std::vector<uint8_t> out;
        append_bytes(out, sample);
        append_bytes(out, head);
        out.insert(out.end(), kMethod.begin(), kMethod.end());
        out.insert(out.end(), kPath.begin(), kPath.end());
        return out;
    }
};

// A response written whole in one call, as the agent reports it.
struct ResponseRecords {
    ResponseHead head{};
    RequestEnd end{};
    CounterSample sample = sample_of(SampleReason::RequestEnd, 7'050'000, 41);
    ResponseWrite write{};

    ResponseRecords() {
        set_header(head, RecordType::ResponseHead);
        head.status = 200;
        head.first_byte_ns = 7'050'000;
        head.headers_done_ns = 7'050'000;
        head.connection_id = 41;
        head.request_index = 5;
        head.flags = kResponseConnectionClose;
        head.content_length = 15;
        head.header_bytes = 150;
        set_header(end, RecordType::RequestEnd);
        end.status = 200;
        end.time_ns = 7'050'000;
        end.connection_id = 41;
        end.request_index = 5;
        end.write_calls = 1;
        end.request_body_bytes = 3;
        end.response_body_bytes = 15;
        end.response_header_bytes = 150;
        end.largest_write_bytes = 165;
        set_header(write, RecordType::ResponseWrite);
        write.time_ns = 7'050'000;
        write.connection_id = 41;
        write.request_index = 5;
        write.iov_count = 2;
        write.bytes_requested = 165;
        write.result = 165;
        write.body_bytes = 15;
    }

    std::vector<uint8_t> bytes() const {
        std::vector<uint8_t> out;
        append_bytes(out, head);
        append_bytes(out, end);
        append_bytes(out, sample);
        append_bytes(out, write);
        return out;
    }
};

std::vector<uint8_t> compact_bytes(const RequestStartRecords& records) {
    CompactRequestHead compact;
    if (!compact_request_head(records.sample, records.head, compact)) return {};
    std::vector<uint8_t> out;
    append_bytes(out, compact);
    out.insert(out.end(), kMethod.begin(), kMethod.end());
    out.insert(out.end(), kPath.begin(), kPath.end());
    return out;
}

std::vector<uint8_t> compact_bytes(const ResponseRecords& records) {
    CompactResponse compact;
    if (!compact_response(records.head, records.end, records.sample, records.write, compact)) return {};
    std::vector<uint8_t> out;
    append_bytes(out, compact);
    return out;
}

// Expands one compact record; empty when it is malformed.
std::vector<uint8_t> expand(const std::vector<uint8_t>& compact) {
    RecordHeader header{};
    std::memcpy(&header, compact.data(), sizeof(header));
    ExpandedRecords expanded;
    if (header.size != compact.size() || !expand_compact_record(header, compact.data(), expanded)) return {};
    return std::vector<uint8_t>(expanded.bytes, expanded.bytes + expanded.size);
}

TEST(CompactRecords, RequestStartExpandsToItsRecords) {
    const RequestStartRecords records;
    const std::vector<uint8_t> compact = compact_bytes(records);
    ASSERT_FALSE(compact.empty());
    EXPECT_EQ(compact.size(), sizeof(CompactRequestHead) + kMethod.size() + kPath.size());
    EXPECT_EQ(expand(compact), records.bytes());
}

TEST(CompactRecords, ResponseExpandsToItsRecords) {
    const ResponseRecords records;
    const std::vector<uint8_t> compact = compact_bytes(records);
    ASSERT_FALSE(compact.empty());
    EXPECT_EQ(compact.size(), sizeof(CompactResponse));
    EXPECT_EQ(expand(compact), records.bytes());
    // The cursor readers use walks the expansion as four whole records.
    const std::vector<uint8_t> expanded = expand(compact);
    RecordCursor cursor(expanded.data(), expanded.size());
    RecordHeader header{};
    const uint8_t* bytes = nullptr;
    std::vector<uint16_t> types;
    while (cursor.next(header, bytes)) types.push_back(header.type);
    EXPECT_FALSE(cursor.malformed());
    const std::vector<uint16_t> expected{static_cast<uint16_t>(RecordType::ResponseHead),
                                         static_cast<uint16_t>(RecordType::RequestEnd),
                                         static_cast<uint16_t>(RecordType::CounterSample),
                                         static_cast<uint16_t>(RecordType::ResponseWrite)};
    EXPECT_EQ(types, expected);
}

// Changes one byte of the records at a time. Whatever the change, either no compact
// record is built or it expands to exactly the changed records. Many changes (counters,
// sizes, flags) must still compact, so a check that rejects everything unusual fails.
template <typename Records>
void check_every_byte(Records original, size_t& compacted, size_t& rejected) {
    constexpr size_t kSize = sizeof(Records);
    for (size_t offset = 0; offset < kSize; ++offset) {
        for (const uint8_t delta : {uint8_t{1}, uint8_t{0x80}}) {
            Records changed = original;
            reinterpret_cast<uint8_t*>(&changed)[offset] += delta;
            const std::vector<uint8_t> compact = compact_bytes(changed);
            if (compact.empty()) {
                ++rejected;
                continue;
            }
            ++compacted;
            EXPECT_EQ(expand(compact), changed.bytes()) << "byte " << offset << " changed by " << int{delta};
        }
    }
}

TEST(CompactRecords, RequestStartNeverLosesAByte) {
    static_assert(std::is_trivially_copyable_v<RequestStartRecords> &&
                  sizeof(RequestStartRecords) == sizeof(CounterSample) + sizeof(RequestHead));
    size_t compacted = 0;
    size_t rejected = 0;
    check_every_byte(RequestStartRecords{}, compacted, rejected);
    EXPECT_GT(compacted, 100u);
    EXPECT_GT(rejected, 20u);
}

TEST(CompactRecords, ResponseNeverLosesAByte) {
    static_assert(std::is_trivially_copyable_v<ResponseRecords> &&
                  sizeof(ResponseRecords) ==
                      sizeof(ResponseHead) + sizeof(RequestEnd) + sizeof(CounterSample) + sizeof(ResponseWrite));
    size_t compacted = 0;
    size_t rejected = 0;
    check_every_byte(ResponseRecords{}, compacted, rejected);
    EXPECT_GT(compacted, 100u);
    EXPECT_GT(rejected, 100u);
}

TEST(CompactRecords, ResponsesThatNeedTheirRecordsStayWhole) {
    ResponseRecords partial;
    partial.write.flags = kWritePartial;
    partial.write.result = 100;
    EXPECT_TRUE(compact_bytes(partial).empty());

    ResponseRecords two_writes;
    two_writes.end.write_calls = 2;
    EXPECT_TRUE(compact_bytes(two_writes).empty());

    ResponseRecords started_earlier;
    started_earlier.head.first_byte_ns -= 1000;
    EXPECT_TRUE(compact_bytes(started_earlier).empty());

    ResponseRecords closed;
    closed.end.outcome = static_cast<uint16_t>(RequestOutcome::ConnectionClosed);
    EXPECT_TRUE(compact_bytes(closed).empty());

    ResponseRecords other_request;
    other_request.write.request_index = 6;
    EXPECT_TRUE(compact_bytes(other_request).empty());

    RequestStartRecords head_in_later_read;
    head_in_later_read.head.headers_done_ns += 1000;
    EXPECT_TRUE(compact_bytes(head_in_later_read).empty());
}

TEST(CompactRecords, DamagedRecordsAreRejected) {
    const std::vector<uint8_t> request = compact_bytes(RequestStartRecords{});
    const std::vector<uint8_t> response = compact_bytes(ResponseRecords{});
    ASSERT_FALSE(request.empty());
    ASSERT_FALSE(response.empty());

    // Shorter than the fixed part, text lengths past the record, a text longer than the
    // agent ever writes, and a response record with trailing bytes.
    for (size_t size : {size_t{4}, sizeof(CompactRequestHead) - 1, request.size() - 1}) {
        std::vector<uint8_t> cut(request.begin(), request.begin() + static_cast<std::ptrdiff_t>(size));
        const uint16_t size16 = static_cast<uint16_t>(size);
        std::memcpy(cut.data() + offsetof(RecordHeader, size), &size16, sizeof(size16));
        EXPECT_TRUE(expand(cut).empty()) << size;
    }
    std::vector<uint8_t> long_path = request;
    const uint16_t path_length = 2000;
    std::memcpy(long_path.data() + offsetof(CompactRequestHead, path_length), &path_length, sizeof(path_length));
    EXPECT_TRUE(expand(long_path).empty());

    std::vector<uint8_t> padded = response;
    padded.resize(response.size() + 8);
    const uint16_t padded_size = static_cast<uint16_t>(padded.size());
    std::memcpy(padded.data() + offsetof(RecordHeader, size), &padded_size, sizeof(padded_size));
    EXPECT_TRUE(expand(padded).empty());

    std::vector<uint8_t> not_compact = response;
    const uint16_t type = static_cast<uint16_t>(RecordType::ResponseHead);
    std::memcpy(not_compact.data(), &type, sizeof(type));
    EXPECT_TRUE(expand(not_compact).empty());
    EXPECT_FALSE(is_compact_record(type));
}

}  // namespace
}  // namespace routeheap::trace
