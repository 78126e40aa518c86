// Packs and unpacks the compact records of a block (see trace_pack.h).
#include <routeheap/trace_pack.h>

#include <routeheap/trace_block.h>
#include <routeheap/trace_format.h>

#include <cstring>

namespace routeheap::trace {

namespace {

// The packed types: the 8-byte words from kFirstWord to the end of the fixed part are
// packed. The bytes before them and the text after them are copied.
constexpr size_t kFirstWord = 8;
constexpr size_t kMaxWords = 16;
static_assert(offsetof(CompactRequestHead, time_ns) == kFirstWord);
static_assert(offsetof(CompactResponse, time_ns) == kFirstWord);
static_assert((sizeof(CompactRequestHead) - kFirstWord) % 8 == 0);
static_assert((sizeof(CompactResponse) - kFirstWord) % 8 == 0);
static_assert((sizeof(CompactResponse) - kFirstWord) / 8 <= kMaxWords);
static_assert((sizeof(CompactRequestHead) - kFirstWord) / 8 <= kMaxWords);

// Each packed type's previous words, zero at the start of a block.
struct PreviousWords {
    uint64_t request_head[kMaxWords] = {};
    uint64_t response[kMaxWords] = {};
};

// The fixed size of a packed type, and its previous words; 0 for a type copied as it is.
size_t packed_fixed_size(uint16_t type, PreviousWords& previous, uint64_t*& words) {
    switch (static_cast<RecordType>(type)) {
    case RecordType::CompactRequestHead:
        words = previous.request_head;
        return sizeof(CompactRequestHead);
    case RecordType::CompactResponse:
        words = previous.response;
        return sizeof(CompactResponse);
    default:
        return 0;
    }
}

size_t put_varint(uint64_t value, uint8_t* out) {
    size_t length = 0;
    while (value >= 0x80) {
        out[length++] = static_cast<uint8_t>(value | 0x80);
        value >>= 7;
    }
    out[length++] = static_cast<uint8_t>(value);
    return length;
}

// Reads a varint of at most 64 bits from in[0, size) into `value` and returns its
// length. Returns 0 when the varint runs past the end or over 64 bits.
size_t get_varint(const uint8_t* in, size_t size, uint64_t& value) {
    value = 0;
    for (size_t i = 0; i < size && i < 10; ++i) {
        const uint64_t bits = in[i] & 0x7f;
        if (i == 9 && bits > 1) return 0;
        value |= bits << (7 * i);
        if ((in[i] & 0x80) == 0) return i + 1;
    }
    return 0;
}

// Zigzag: small differences of either sign become small unsigned numbers.
uint64_t zigzag(uint64_t difference) {
    return (difference << 1) ^ (0 - (difference >> 63));
}

uint64_t unzigzag(uint64_t value) { return (value >> 1) ^ (0 - (value & 1)); }

}  // namespace

size_t packed_bound(size_t raw_size) { return raw_size + raw_size / 4 + 16; }

size_t pack_records(const uint8_t* raw, size_t raw_size, uint8_t* out, size_t capacity) {
    if (capacity < packed_bound(raw_size)) return 0;
    PreviousWords previous;
    size_t written = 0;
    RecordCursor cursor(raw, raw_size);
    RecordHeader header{};
    const uint8_t* record = nullptr;
    while (cursor.next(header, record)) {
        uint64_t* words = nullptr;
        const size_t fixed = packed_fixed_size(header.type, previous, words);
        if (fixed == 0 || header.size < fixed) {
            std::memcpy(out + written, record, header.size);
            written += header.size;
            continue;
        }

        std::memcpy(out + written, record, kFirstWord);
        written += kFirstWord;
        for (size_t offset = kFirstWord, i = 0; offset < fixed; offset += 8, ++i) {
            uint64_t word = 0;
            std::memcpy(&word, record + offset, sizeof(word));
            written += put_varint(zigzag(word - words[i]), out + written);
            words[i] = word;
        }
        std::memcpy(out + written, record + fixed, header.size - fixed);
        written += header.size - fixed;
    }

    // From a malformed record on, the bytes are copied as they are. memcpy's pointers must
    // not be null even for 0 bytes, and an empty block may have none.
    const size_t in = cursor.offset();
    if (raw_size > in) std::memcpy(out + written, raw + in, raw_size - in);
    return written + (raw_size - in);
}

bool unpack_records(const uint8_t* packed, size_t packed_size, uint8_t* out, size_t raw_size) {
    PreviousWords previous;
    size_t in = 0;
    size_t produced = 0;
    RecordHeader header{};
    // RecordCursor's test of a whole record, as the packer ran it, depends only on the raw
    // bytes left, which here are the bytes of `out` left.
    while (raw_size - produced >= sizeof(RecordHeader)) {
        if (packed_size - in < sizeof(RecordHeader)) return false;
        std::memcpy(&header, packed + in, sizeof(header));
        if (header.size < sizeof(RecordHeader) || header.size > raw_size - produced) break;

        uint64_t* words = nullptr;
        const size_t fixed = packed_fixed_size(header.type, previous, words);
        if (fixed == 0 || header.size < fixed) {
            if (packed_size - in < header.size) return false;
            std::memcpy(out + produced, packed + in, header.size);
            produced += header.size;
            in += header.size;
            continue;
        }
        if (packed_size - in < kFirstWord) return false;
        std::memcpy(out + produced, packed + in, kFirstWord);
        in += kFirstWord;
        for (size_t offset = kFirstWord, i = 0; offset < fixed; offset += 8, ++i) {
            uint64_t value = 0;
            const size_t length = get_varint(packed + in, packed_size - in, value);
            if (length == 0) return false;
            in += length;
            words[i] += unzigzag(value);
            std::memcpy(out + produced + offset, &words[i], sizeof(words[i]));
        }
        const size_t text = header.size - fixed;
        if (packed_size - in < text) return false;
        std::memcpy(out + produced + fixed, packed + in, text);
        in += text;
        produced += header.size;
    }
    // The rest was copied as it is.
    if (packed_size - in != raw_size - produced) return false;
    if (raw_size > produced) std::memcpy(out + produced, packed + in, raw_size - produced);
    return true;
}

}  // namespace routeheap::trace
