// Encoding and decoding of trace file headers and blocks (zstd + crc32), shared by the
// agent's writer thread and the analyzer's reader so both agree byte for byte.
#pragma once

#include <routeheap/trace_format.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

typedef struct ZSTD_CCtx_s ZSTD_CCtx;
typedef struct ZSTD_DCtx_s ZSTD_DCtx;

namespace routeheap::trace {

uint32_t crc32_of(const void* data, size_t size, uint32_t seed = 0);

// Fills `header` (magic, version, sizes, checksum) for the given strings; the caller
// sets pid, times and flags first. Returns false when a string is too long.
bool finish_file_header(FileHeader& header, std::string_view exe, std::string_view cmdline);

enum class HeaderStatus { Ok, Truncated, BadMagic, NewerVersion, BadChecksum };
// Validates a file header whose first `available` bytes are at `data`.
HeaderStatus check_file_header(const uint8_t* data, size_t available, FileHeader& header);

// Compresses runs of records into blocks. Not thread-safe: one per writer thread.
// It allocates only in init(), through the process's malloc.
class BlockEncoder {
public:
    BlockEncoder() = default;
    BlockEncoder(const BlockEncoder&) = delete;
    BlockEncoder& operator=(const BlockEncoder&) = delete;
    ~BlockEncoder();

    // With `pack`, encode() packs the records before compressing them (trace_pack.h).
    // Without it, blocks hold the records as they are, as version-2 writers made them.
    bool init(int zstd_level, bool pack = true);

    // Upper bound of encode()'s output for `raw_size` bytes of records.
    static size_t max_encoded_size(size_t raw_size);

    // Writes BlockHeader + zstd frame into `out` (capacity >= max_encoded_size) and
    // returns the bytes written, or 0 on failure. `raw_size` <= kMaxBlockRawBytes.
    size_t encode(const void* raw, uint32_t raw_size, uint32_t record_count, uint64_t sequence,
                  uint64_t first_time_ns, uint64_t last_time_ns, void* out, size_t capacity);

private:
    ZSTD_CCtx* context_ = nullptr;
    int level_ = 1;
    uint8_t* packed_ = nullptr;  // packed_bound(kMaxBlockRawBytes) bytes when packing
};

enum class BlockStatus {
    Ok,
    Truncated,           // fewer bytes than the header or its payload need: end of a torn file
    BadMagic,
    BadHeaderChecksum,
    BadPayloadChecksum,
    BadSize,             // sizes out of range
    DecompressFailed,
    UnpackFailed,        // a packed payload that decompresses but does not unpack to raw_size bytes
};

const char* describe(BlockStatus status);

// Decompresses blocks. Not thread-safe: one per reading thread.
class BlockDecoder {
public:
    BlockDecoder();
    BlockDecoder(const BlockDecoder&) = delete;
    BlockDecoder& operator=(const BlockDecoder&) = delete;
    ~BlockDecoder();

    // Reads a block header at `data` (checks magic, sizes and header checksum).
    static BlockStatus read_header(const uint8_t* data, size_t available, BlockHeader& header);

    // Checks and decompresses the block at `data` into `raw` (capacity >= header.raw_size).
    // On Ok, `header` is filled and the block occupies sizeof(BlockHeader) +
    // header.compressed_size bytes.
    BlockStatus decode(const uint8_t* data, size_t available, BlockHeader& header, uint8_t* raw,
                       size_t raw_capacity);

private:
    ZSTD_DCtx* context_ = nullptr;
    std::vector<uint8_t> packed_;  // a packed block's decompressed bytes
};

// Walks the records of one decoded block. Stops at a record whose size is smaller
// than a RecordHeader or runs past the end, and reports that through malformed().
class RecordCursor {
public:
    RecordCursor(const uint8_t* raw, size_t size) : data_(raw), size_(size) {}

    // Returns the next record's header and bytes (including the header), or false at
    // the end of the block or at a malformed record. Inline, because the agent's writer
    // and the trace readers call it once per record.
    bool next(RecordHeader& header, const uint8_t*& record) {
        if (malformed_ || offset_ >= size_) return false;
        if (size_ - offset_ < sizeof(RecordHeader)) {
            malformed_ = true;
            return false;
        }
        std::memcpy(&header, data_ + offset_, sizeof(header));
        if (header.size < sizeof(RecordHeader) || header.size > size_ - offset_) {
            malformed_ = true;
            return false;
        }
        record = data_ + offset_;
        offset_ += header.size;
        return true;
    }
    bool malformed() const { return malformed_; }

    // The bytes of whole records walked so far: after next() returned false, the size,
    // or the start of the malformed record.
    size_t offset() const { return offset_; }

private:
    const uint8_t* data_;
    size_t size_;
    size_t offset_ = 0;
    bool malformed_ = false;
};

}  // namespace routeheap::trace
