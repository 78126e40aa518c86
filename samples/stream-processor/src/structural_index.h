// The first stage of the SIMD tokenizer: one pass over 64-byte blocks that lists the offsets of
// unquoted delimiters and newlines, and marks the bytes that need more than a copy.
// NOTE: this header is included by translation units compiled for AVX2 and AVX-512, so it must
// not include standard headers whose inline functions the linker could share with the baseline
// build.
#pragma once

#include <cstddef>
#include <cstdint>

namespace csv2json::detail {

struct BlockMasks {
  std::uint64_t quote;
  std::uint64_t delimiter;
  std::uint64_t newline;
  std::uint64_t carriage_return;
  std::uint64_t special;  // bytes below 0x20 or above 0x7F, and backslash
};

// Bit 31 of a structural entry: set for an LF, clear for a delimiter.
inline constexpr std::uint32_t newline_flag = std::uint32_t{1} << 31;
// Bit 30: the field that ends at this entry may need more than a copy, because it contains a
// quote, a byte below 0x20 or above 0x7F, or a backslash. A CR right before the LF does not set it
// (stage 2 cuts that CR), except when the CR ends one 64-byte block and the LF starts the next.
inline constexpr std::uint32_t dirty_field_flag = std::uint32_t{1} << 30;
inline constexpr std::uint32_t offset_mask = dirty_field_flag - 1;
// Offsets must fit below the flags.
inline constexpr std::size_t max_index_size = dirty_field_flag;
// Entries a build may write past the last one: a block's entries are stored 16 at a time.
inline constexpr std::size_t index_slack = 64;

// Returns the entries of unquoted delimiters and LFs of data[0, size) in `structurals` (room for
// `size` + index_slack entries, size < max_index_size) and the count. dirty[i] marks, in block i, quotes and
// the bytes JSON escaping or UTF-8 checking must see. Quote state starts outside quotes: data
// starts at a record boundary.
std::size_t build_index_sse2(const char* data, std::size_t size, char delimiter,
                             std::uint32_t* structurals, std::uint64_t* dirty);
std::size_t build_index_avx2(const char* data, std::size_t size, char delimiter,
                             std::uint32_t* structurals, std::uint64_t* dirty);
std::size_t build_index_avx512(const char* data, std::size_t size, char delimiter,
                               std::uint32_t* structurals, std::uint64_t* dirty);

// Returns, for each bit of `structural`, whether a bit of `marks` lies between it and the previous
// structural bit. `carry` is 1 when the field still open at the end of the previous block was
// marked, and receives the same for this block.
inline std::uint64_t marked_field_ends(std::uint64_t structural, std::uint64_t marks,
                                       std::uint64_t& carry) {
  // `open` has a run of ones for each field. Adding a mark inside a run carries out of the run's
  // top and sets the structural bit above it, which `open` leaves clear, so the carry stops there.
  // The carry from the previous block enters at bit 0, inside the block's first field.
  const std::uint64_t open = ~structural;
  std::uint64_t sum = 0;
  const bool marks_overflow = __builtin_add_overflow(open, marks & open, &sum);
  const bool carry_overflow = __builtin_add_overflow(sum, carry, &sum);
  carry = static_cast<std::uint64_t>(marks_overflow || carry_overflow);
  return sum & structural;
}

// Returns the prefix XOR of `bits`: bit i is the parity of the set bits at offsets <= i.
inline std::uint64_t prefix_xor_by_shifts(std::uint64_t bits) {
  bits ^= bits << 1;
  bits ^= bits << 2;
  bits ^= bits << 4;
  bits ^= bits << 8;
  bits ^= bits << 16;
  bits ^= bits << 32;
  return bits;
}

inline std::uint32_t make_entry(std::size_t base, int bit, std::uint64_t newlines,
                                std::uint64_t dirty_ends) {
  const auto is_newline = static_cast<std::uint32_t>((newlines >> bit) & 1);
  const auto is_dirty = static_cast<std::uint32_t>((dirty_ends >> bit) & 1);
  return static_cast<std::uint32_t>(base + static_cast<std::size_t>(bit)) | (is_newline << 31) |
         (is_dirty << 30);
}

// Writes the entries of the bits of `structural` at `out` and returns their count. It always
// writes at least 8 entries, so most blocks take no data-dependent branch: the entries past the
// count are overwritten by the next block, or ignored after the last one.
inline std::size_t write_entries_scalar(std::uint32_t* out, std::size_t base,
                                        std::uint64_t structural, std::uint64_t newlines,
                                        std::uint64_t dirty_ends) {
  const auto found = static_cast<std::size_t>(__builtin_popcountll(structural));
  for (std::size_t i = 0; i < 8; ++i) {
    const int bit = __builtin_ctzll(structural | (std::uint64_t{1} << 63));
    out[i] = make_entry(base, bit, newlines, dirty_ends);
    structural &= structural - 1;
  }
  for (std::size_t i = 8; i < found; ++i) {
    const int bit = __builtin_ctzll(structural);
    out[i] = make_entry(base, bit, newlines, dirty_ends);
    structural &= structural - 1;
  }
  return found;
}

// How far ahead of the block being classified stage 1 prefetches the input, in bytes.
inline constexpr std::size_t prefetch_distance = 2048;

// The loop every build shares. Classifier::classify(block) returns the BlockMasks of 64 bytes,
// Classifier::prefix_xor computes what prefix_xor_by_shifts does, and Classifier::write_entries
// stores a block's entries as write_entries_scalar does.
template <class Classifier>
inline std::size_t build_index(const char* data, std::size_t size, char delimiter,
                               std::uint32_t* structurals, std::uint64_t* dirty) {
  const Classifier classifier(delimiter);
  std::uint64_t inside_quotes = 0;  // all ones while the previous block ended inside quotes
  std::uint64_t open_field_dirty = 0;
  std::size_t count = 0;
  const std::size_t full_blocks = size / 64;

  for (std::size_t block = 0; block * 64 < size; ++block) {
    const std::size_t base = block * 64;
    const char* bytes = data + base;
    alignas(64) char tail[64];
    std::uint64_t valid = ~std::uint64_t{0};
    if (block == full_blocks) {
      const std::size_t rest = size - base;
      __builtin_memcpy(tail, bytes, rest);
      __builtin_memset(tail + rest, 0, 64 - rest);
      bytes = tail;
      valid = (std::uint64_t{1} << rest) - 1;
    }

    // Mapped input comes from memory rather than from a cache-warm read buffer. Asking for it
    // ahead cut CPU time by 6 to 17% on the 1 GB bench files. A prefetch never faults, so it may
    // point past the data.
    __builtin_prefetch(bytes + prefetch_distance);
    const BlockMasks masks = classifier.classify(bytes);

    // Bit i is the parity of the quotes at offsets <= i, so it is set inside quotes.
    std::uint64_t quoted = classifier.prefix_xor(masks.quote) ^ inside_quotes;
    inside_quotes = static_cast<std::uint64_t>(static_cast<std::int64_t>(quoted) >> 63);

    dirty[block] = masks.quote | masks.special;
    std::uint64_t structural = (masks.delimiter | masks.newline) & ~quoted & valid;
    const std::uint64_t cut_carriage_returns = masks.carriage_return & (masks.newline >> 1);
    const std::uint64_t marks = (masks.quote | masks.special) & ~cut_carriage_returns;
    const std::uint64_t dirty_ends = marked_field_ends(structural, marks, open_field_dirty);
    count += classifier.write_entries(structurals + count, base, structural, masks.newline, dirty_ends);
  }
  return count;
}

}  // namespace csv2json::detail
