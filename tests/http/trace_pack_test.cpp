// Tests of the block packing of compact records: round trips through packing and
// through whole blocks, the size it saves, and packed input that must be rejected.
#include <routeheap/trace_block.h>
#include <routeheap/trace_format.h>
#include <routeheap/trace_pack.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace routeheap::trace {
namespace {

template <typename Record>
void append(std::vector<uint8_t>& out, Record record, RecordType type, const std::string& text = "") {
    record.header = {static_cast<uint16_t>(type), static_cast<uint16_t>(sizeof(record) + text.size())};
    const size_t start = out.size();
    out.resize(start + sizeof(record));
    std::memcpy(out.data() + start, &record, sizeof(record));
    out.insert(out.end(), text.begin(), text.end());
}

// A run of records like a small-request server's: compact heads and responses whose
// counters grow and shrink a little, with other records between them.
std::vector<uint8_t> server_records(int requests, uint64_t seed) {
    std::mt19937_64 random(seed);
    std::vector<uint8_t> out;
    int64_t live = 50'000'000;
    uint64_t time = 1'000'000'000;
    uint64_t calls = 1000;
    for (int i = 0; i < requests; ++i) {
        CompactRequestHead head{};
        head.time_ns = time += random() % 20000;
        head.connection_id = 1 + random() % 10;
        head.request_index = static_cast<uint32_t>(i);
        head.method_length = 3;
        head.path_length = 7;
        head.content_length = -1;
        head.header_bytes = 40;
        head.current.native_live_bytes = live += static_cast<int64_t>(random() % 4096) - 2048;
        head.current.native_allocation_calls = calls += random() % 20;
        head.current.rss_bytes = -1;
        head.native_live_peak_bytes = live + 100;
        append(out, head, RecordType::CompactRequestHead, "GET/health");

        CompactResponse response{};
        response.status = 200;
        response.time_ns = time += random() % 20000;
        response.connection_id = head.connection_id;
        response.content_length = 40;
        response.header_bytes = 153;
        response.body_bytes = 40;
        response.write_bytes = 193;
        response.current.native_live_bytes = live -= static_cast<int64_t>(random() % 4096);
        response.current.native_allocated_total = UINT64_MAX - random() % 1000;  // wraps in a difference
        append(out, response, RecordType::CompactResponse);

        if (i % 7 == 0) {
            ConnectionClose close{};
            close.time_ns = time;
            close.connection_id = head.connection_id;
            append(out, close, RecordType::ConnectionClose);
        }
    }
    return out;
}

std::vector<uint8_t> pack(const std::vector<uint8_t>& raw) {
    std::vector<uint8_t> packed(packed_bound(raw.size()));
    const size_t size = pack_records(raw.data(), raw.size(), packed.data(), packed.size());
    packed.resize(size);
    return packed;
}

bool unpack(const std::vector<uint8_t>& packed, size_t raw_size, std::vector<uint8_t>& raw) {
    raw.assign(raw_size, 0);
    return unpack_records(packed.data(), packed.size(), raw.data(), raw_size);
}

TEST(TracePack, ServerRecordsRoundTrip) {
    const std::vector<uint8_t> raw = server_records(500, 1);
    const std::vector<uint8_t> packed = pack(raw);
    std::vector<uint8_t> unpacked;
    ASSERT_TRUE(unpack(packed, raw.size(), unpacked));
    EXPECT_EQ(unpacked, raw);
    std::printf("packed %zu of %zu bytes\n", packed.size(), raw.size());
    EXPECT_LT(packed.size(), raw.size() / 2);
}

// Compact records too short for their type, and bytes after the last whole record,
// are kept as they are.
TEST(TracePack, OddRecordsAndTailRoundTrip) {
    std::vector<uint8_t> raw = server_records(3, 2);
    const RecordHeader short_head{static_cast<uint16_t>(RecordType::CompactRequestHead), 12};
    const size_t at = raw.size();
    raw.resize(at + 12, 0xab);
    std::memcpy(raw.data() + at, &short_head, sizeof(short_head));
    const std::vector<uint8_t> body = server_records(2, 3);
    raw.insert(raw.end(), body.begin(), body.end());
    for (const uint16_t tail_size : {0, 1, 3, 4, 200}) {
        std::vector<uint8_t> with_tail = raw;
        const RecordHeader tail{static_cast<uint16_t>(RecordType::CompactResponse), 200};
        std::vector<uint8_t> tail_bytes(tail_size, 0x5a);
        if (tail_size > 0) std::memcpy(tail_bytes.data(), &tail, std::min<size_t>(tail_size, sizeof(tail)));
        if (tail_size == 200) tail_bytes.resize(150);  // a header whose size runs past the end
        with_tail.insert(with_tail.end(), tail_bytes.begin(), tail_bytes.end());

        std::vector<uint8_t> unpacked;
        ASSERT_TRUE(unpack(pack(with_tail), with_tail.size(), unpacked)) << "tail of " << tail_size;
        EXPECT_EQ(unpacked, with_tail) << "tail of " << tail_size;
    }
}

TEST(TracePack, EmptyInputRoundTrips) {
    std::vector<uint8_t> unpacked;
    EXPECT_TRUE(unpack(pack({}), 0, unpacked));
}

TEST(TracePack, DamagedInputIsRejected) {
    const std::vector<uint8_t> raw = server_records(20, 4);
    const std::vector<uint8_t> packed = pack(raw);
    std::vector<uint8_t> unpacked;

    std::vector<uint8_t> cut(packed.begin(), packed.end() - 1);
    EXPECT_FALSE(unpack(cut, raw.size(), unpacked)) << "a packed run one byte short";
    std::vector<uint8_t> longer = packed;
    longer.push_back(0);
    EXPECT_FALSE(unpack(longer, raw.size(), unpacked)) << "a packed run one byte long";
    EXPECT_FALSE(unpack(packed, raw.size() + 1, unpacked)) << "a raw size one byte long";

    // An 11-byte varint where the first packed word starts.
    std::vector<uint8_t> overlong(packed.begin(), packed.begin() + 8);
    overlong.insert(overlong.end(), 11, 0xff);
    overlong.insert(overlong.end(), packed.begin() + 8, packed.end());
    EXPECT_FALSE(unpack(overlong, raw.size(), unpacked));
}

// Damaged packed bytes, unpacked to any size, give false or the requested bytes, into
// buffers of exactly that size (so a build with AddressSanitizer checks the bounds).
TEST(TracePack, RandomInputNeverOverruns) {
    std::mt19937 random(5);
    const std::vector<uint8_t> raw = server_records(30, 6);
    const std::vector<uint8_t> packed = pack(raw);
    for (int i = 0; i < 3000; ++i) {
        std::vector<uint8_t> mutated = packed;
        for (int flips = 1 + static_cast<int>(random() % 4); flips > 0; --flips) {
            mutated[random() % mutated.size()] = static_cast<uint8_t>(random());
        }
        mutated.resize(random() % (mutated.size() + 1));
        const size_t raw_size = random() % (raw.size() + 64);
        std::vector<uint8_t> unpacked;
        unpack(mutated, raw_size, unpacked);
        EXPECT_EQ(unpacked.size(), raw_size);
    }
}

// Whole blocks: packed ones, and unpacked ones as version-2 writers made, both decode.
TEST(TracePack, PackedAndPlainBlocksDecode) {
    const std::vector<uint8_t> raw = server_records(200, 7);
    for (const bool packed : {true, false}) {
        BlockEncoder encoder;
        ASSERT_TRUE(encoder.init(-3, packed));
        std::vector<uint8_t> block(BlockEncoder::max_encoded_size(raw.size()));
        const size_t size = encoder.encode(raw.data(), static_cast<uint32_t>(raw.size()), 1, 0, 1, 2, block.data(),
                                           block.size());
        ASSERT_GT(size, 0u);
        BlockHeader header{};
        std::memcpy(&header, block.data(), sizeof(header));
        EXPECT_EQ(header.magic, packed ? kPackedBlockMagic : kBlockMagic);

        BlockDecoder decoder;
        std::vector<uint8_t> decoded(kMaxBlockRawBytes);
        ASSERT_EQ(decoder.decode(block.data(), size, header, decoded.data(), decoded.size()), BlockStatus::Ok);
        decoded.resize(header.raw_size);
        EXPECT_EQ(decoded, raw) << (packed ? "packed" : "plain");
    }
}

}  // namespace
}  // namespace routeheap::trace
