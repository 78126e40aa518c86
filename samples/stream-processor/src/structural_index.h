// The first stage of the SIMD tokenizer: one pass over 64-byte blocks that lists the offsets of
// unquoted delimiters and newlines, and marks the bytes that need more than a copy.
// NOTE: this header is included by translation units compiled for AVX2, so it must not include
// standard headers whose inline functions the linker could share with the baseline build.
#pragma once

#include <cstddef>
#include <cstdint>

namespace csv2json::detail {

struct BlockMasks {
  std::uint64_t quote;
  std::uint64_t delimiter;
  std::uint64_t newline;
  std::uint64_t special;  // bytes below 0x20 or above 0x7F, and backslash
};

// Bit 31 of a structural entry: set for an LF, clear for a delimiter. Bits 0-30: the offset.
inline constexpr std::uint32_t newline_flag = std::uint32_t{1} << 31;
// Offsets must fit below the flag.
inline constexpr std::size_t max_index_size = newline_flag;

// Returns the entries of unquoted delimiters and LFs of data[0, size) in `structurals` (room for
// `size` + 8 entries, size < max_index_size) and the count. dirty[i] marks, in block i, quotes and the bytes JSON escaping or
// UTF-8 checking must see. Quote state starts outside quotes: data starts at a record boundary.
std::size_t build_index_sse2(const char* data, std::size_t size, char delimiter,
                             std::uint32_t* structurals, std::uint64_t* dirty);
std::size_t build_index_avx2(const char* data, std::size_t size, char delimiter,
                             std::uint32_t* structurals, std::uint64_t* dirty);

// The loop both builds share. Classifier::classify(block) returns the BlockMasks of 64 bytes.
template <class Classifier>
inline std::size_t build_index(const char* data, std::size_t size, char delimiter,
                               std::uint32_t* structurals, std::uint64_t* dirty) {
  const Classifier classifier(delimiter);
  std::uint64_t inside_quotes = 0;  // all ones while the previous block ended inside quotes
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

    const BlockMasks masks = classifier.classify(bytes);

    // Prefix XOR: bit i is the parity of the quotes at offsets <= i, so it is set inside quotes.
    std::uint64_t quoted = masks.quote;
    quoted ^= quoted << 1;
    quoted ^= quoted << 2;
    quoted ^= quoted << 4;
    quoted ^= quoted << 8;
    quoted ^= quoted << 16;
    quoted ^= quoted << 32;
    quoted ^= inside_quotes;
    inside_quotes = static_cast<std::uint64_t>(static_cast<std::int64_t>(quoted) >> 63);

    dirty[block] = masks.quote | masks.special;
    std::uint64_t structural = (masks.delimiter | masks.newline) & ~quoted & valid;
    const auto found = static_cast<std::size_t>(__builtin_popcountll(structural));
    // Eight entries are always written, so the loop has no data-dependent exit in most blocks.
    // Entries past `found` are overwritten by the next block, or ignored after the last one.
    std::uint32_t* out = structurals + count;
    for (std::size_t i = 0; i < 8; ++i) {
      const int bit = __builtin_ctzll(structural | (std::uint64_t{1} << 63));
      const auto is_newline = static_cast<std::uint32_t>((masks.newline >> bit) & 1);
      out[i] = static_cast<std::uint32_t>(base + static_cast<std::size_t>(bit)) | (is_newline << 31);
      structural &= structural - 1;
    }
    for (std::size_t i = 8; i < found; ++i) {
      const int bit = __builtin_ctzll(structural);
      const auto is_newline = static_cast<std::uint32_t>((masks.newline >> bit) & 1);
      out[i] = static_cast<std::uint32_t>(base + static_cast<std::size_t>(bit)) | (is_newline << 31);
      structural &= structural - 1;
    }
    count += found;
  }
  return count;
}

}  // namespace csv2json::detail
