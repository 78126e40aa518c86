// The structural index with SSE2, which every x86-64 CPU has.
#if defined(__x86_64__)
#include <emmintrin.h>

#include "structural_index.h"

namespace csv2json::detail {

namespace {

struct Sse2Classifier {
  explicit Sse2Classifier(char delimiter_byte)
      : quote(_mm_set1_epi8('"')),
        delimiter(_mm_set1_epi8(delimiter_byte)),
        newline(_mm_set1_epi8('\n')),
        carriage_return(_mm_set1_epi8('\r')),
        backslash(_mm_set1_epi8('\\')),
        space(_mm_set1_epi8(0x20)) {}

  BlockMasks classify(const char* bytes) const {
    BlockMasks masks{0, 0, 0, 0, 0};
    for (int part = 0; part < 4; ++part) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + 16 * part));
      const int shift = 16 * part;
      masks.quote |= bits(_mm_cmpeq_epi8(v, quote)) << shift;
      masks.delimiter |= bits(_mm_cmpeq_epi8(v, delimiter)) << shift;
      masks.newline |= bits(_mm_cmpeq_epi8(v, newline)) << shift;
      masks.carriage_return |= bits(_mm_cmpeq_epi8(v, carriage_return)) << shift;
      // A signed compare: bytes 0x80-0xFF are negative, so "below 0x20" also catches them.
      const __m128i special = _mm_or_si128(_mm_cmplt_epi8(v, space), _mm_cmpeq_epi8(v, backslash));
      masks.special |= bits(special) << shift;
    }
    return masks;
  }

  static std::uint64_t prefix_xor(std::uint64_t bits) { return prefix_xor_by_shifts(bits); }

  static std::size_t write_entries(std::uint32_t* out, std::size_t base, std::uint64_t structural,
                                   std::uint64_t newlines, std::uint64_t dirty_ends) {
    return write_entries_scalar(out, base, structural, newlines, dirty_ends);
  }

  static std::uint64_t bits(__m128i mask) {
    return static_cast<std::uint32_t>(_mm_movemask_epi8(mask));
  }

  __m128i quote, delimiter, newline, carriage_return, backslash, space;
};

}  // namespace

std::size_t build_index_sse2(const char* data, std::size_t size, char delimiter,
                             std::uint32_t* structurals, std::uint64_t* dirty) {
  return build_index<Sse2Classifier>(data, size, delimiter, structurals, dirty);
}

}  // namespace csv2json::detail
#endif
