// The structural index with AVX2. Every function below the pragma is compiled for AVX2 and
// POPCNT, and build_index_avx2 is called only after a runtime check of the CPU for both.
#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,popcnt"))), apply_to = function)
#else
#pragma GCC target("avx2,popcnt")
#endif

#include "structural_index.h"

namespace csv2json::detail {

namespace {

struct Avx2Classifier {
  explicit Avx2Classifier(char delimiter_byte)
      : quote(_mm256_set1_epi8('"')),
        delimiter(_mm256_set1_epi8(delimiter_byte)),
        newline(_mm256_set1_epi8('\n')),
        carriage_return(_mm256_set1_epi8('\r')),
        backslash(_mm256_set1_epi8('\\')),
        space(_mm256_set1_epi8(0x20)) {}

  BlockMasks classify(const char* bytes) const {
    const __m256i low = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bytes));
    const __m256i high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bytes + 32));
    BlockMasks masks;
    masks.quote = join(_mm256_cmpeq_epi8(low, quote), _mm256_cmpeq_epi8(high, quote));
    masks.delimiter = join(_mm256_cmpeq_epi8(low, delimiter), _mm256_cmpeq_epi8(high, delimiter));
    masks.newline = join(_mm256_cmpeq_epi8(low, newline), _mm256_cmpeq_epi8(high, newline));
    masks.carriage_return =
        join(_mm256_cmpeq_epi8(low, carriage_return), _mm256_cmpeq_epi8(high, carriage_return));
    // A signed compare: bytes 0x80-0xFF are negative, so "below 0x20" also catches them.
    masks.special = join(
        _mm256_or_si256(_mm256_cmpgt_epi8(space, low), _mm256_cmpeq_epi8(low, backslash)),
        _mm256_or_si256(_mm256_cmpgt_epi8(space, high), _mm256_cmpeq_epi8(high, backslash)));
    return masks;
  }

  static std::uint64_t prefix_xor(std::uint64_t bits) { return prefix_xor_by_shifts(bits); }

  static std::size_t write_entries(std::uint32_t* out, std::size_t base, std::uint64_t structural,
                                   std::uint64_t newlines, std::uint64_t dirty_ends) {
    return write_entries_scalar(out, base, structural, newlines, dirty_ends);
  }

  static std::uint64_t join(__m256i low, __m256i high) {
    const auto low_bits = static_cast<std::uint32_t>(_mm256_movemask_epi8(low));
    const auto high_bits = static_cast<std::uint32_t>(_mm256_movemask_epi8(high));
    return low_bits | (std::uint64_t{high_bits} << 32);
  }

  __m256i quote, delimiter, newline, carriage_return, backslash, space;
};

}  // namespace

std::size_t build_index_avx2(const char* data, std::size_t size, char delimiter,
                             std::uint32_t* structurals, std::uint64_t* dirty) {
  return build_index<Avx2Classifier>(data, size, delimiter, structurals, dirty);
}

}  // namespace csv2json::detail

#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif
