// Packing of a block's records before compression (format version 3).
//
// A small request costs two compact records of 112 and 136 bytes, most of them 8-byte
// counters, times and sizes that differ little from the same field of the previous
// record of that type. Packing writes each such field as the zigzag varint of that
// difference, and every other byte as it is. On a small-request server's records it
// left a quarter of the bytes, and zstd, whose time grows with its input, then took a
// quarter of the time. The trace became 3.4 times smaller.
//
// Each block starts from zero, so a block still decodes on its own after a torn or
// lost neighbour. Record headers stay as they are and keep the unpacked size, and the
// unpacker reads the layout from the type and that size.
#pragma once

#include <cstddef>
#include <cstdint>

namespace routeheap::trace {

// The maximum size of pack_records()'s output for `raw_size` bytes of records: a field
// of 8 bytes takes at most 10.
size_t packed_bound(size_t raw_size);

// Packs the records in raw[0, raw_size) into `out`. From a header whose size is below 4
// or past the end on, the bytes are copied as they are. Returns the bytes written, or 0
// when `capacity` is below packed_bound(raw_size).
size_t pack_records(const uint8_t* raw, size_t raw_size, uint8_t* out, size_t capacity);

// Writes into `out` the `raw_size` bytes that pack_records() packed into `packed`.
// Returns false when the packed bytes do not unpack to exactly `raw_size` bytes (a
// varint past the end or over 64 bits, bytes left over or missing). The layout depends
// on `raw_size`, so a wrong `raw_size` can unpack to other bytes without an error: the
// block header's checksum covers it.
bool unpack_records(const uint8_t* packed, size_t packed_size, uint8_t* out, size_t raw_size);

}  // namespace routeheap::trace
