// The structural index with AVX-512 (F, BW, VBMI and VBMI2) and PCLMULQDQ: one compare per byte class
// yields the 64-bit mask of a whole block, and one byte compress gathers its structural offsets.
// build_index_avx512 is called only after a runtime check of the CPU.
#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vbmi,avx512vbmi2,pclmul,popcnt"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512vbmi,avx512vbmi2,pclmul,popcnt")
#endif

#include "structural_index.h"

namespace csv2json::detail {

namespace {

struct Avx512Classifier {
  explicit Avx512Classifier(char delimiter_byte)
      : quote(_mm512_set1_epi8('"')),
        delimiter(_mm512_set1_epi8(delimiter_byte)),
        newline(_mm512_set1_epi8('\n')),
        carriage_return(_mm512_set1_epi8('\r')),
        backslash(_mm512_set1_epi8('\\')),
        space(_mm512_set1_epi8(0x20)) {}

  BlockMasks classify(const char* bytes) const {
    const __m512i block = _mm512_loadu_si512(bytes);
    BlockMasks masks;
    masks.quote = _mm512_cmpeq_epi8_mask(block, quote);
    masks.delimiter = _mm512_cmpeq_epi8_mask(block, delimiter);
    masks.newline = _mm512_cmpeq_epi8_mask(block, newline);
    masks.carriage_return = _mm512_cmpeq_epi8_mask(block, carriage_return);
    // A signed compare: bytes 0x80-0xFF are negative, so "below 0x20" also catches them.
    masks.special = _mm512_cmplt_epi8_mask(block, space) | _mm512_cmpeq_epi8_mask(block, backslash);
    return masks;
  }

  // A carry-less multiplication by all ones is the prefix XOR in one instruction.
  static std::uint64_t prefix_xor(std::uint64_t bits) {
    const __m128i product = _mm_clmulepi64_si128(_mm_set_epi64x(0, static_cast<long long>(bits)),
                                                 _mm_set1_epi8(-1), 0);
    return static_cast<std::uint64_t>(_mm_cvtsi128_si64(product));
  }

  // Tags each byte with its offset (bits 0-5), the dirty-field mark (bit 6) and the newline mark
  // (bit 7), compresses the bytes of the structural bits to the front, then widens them to
  // entries 16 at a time. Blocks rarely hold more than 16 structural bytes.
  static std::size_t write_entries(std::uint32_t* out, std::size_t base, std::uint64_t structural,
                                   std::uint64_t newlines, std::uint64_t dirty_ends) {
    const __m512i offsets = _mm512_set_epi8(
        63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41,
        40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18,
        17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512i tagged = _mm512_mask_add_epi8(offsets, dirty_ends, offsets, _mm512_set1_epi8(0x40));
    tagged = _mm512_mask_add_epi8(tagged, newlines, tagged, _mm512_set1_epi8(-0x80));
    const __m512i packed = _mm512_maskz_compress_epi8(structural, tagged);

    const auto found = static_cast<std::size_t>(__builtin_popcountll(structural));
    const __m512i block_base = _mm512_set1_epi32(static_cast<int>(base));
    widen_entries(out, packed, 0, block_base);
    if (found > 16) [[unlikely]] {
      for (int part = 1; part * 16 < static_cast<int>(found); ++part) {
        widen_entries(out + 16 * part, packed, part, block_base);
      }
    }
    return found;
  }

  // Stores 16 entries from bytes 16 * part to 16 * part + 15 of `packed`: the block's base plus
  // the offset, with the two marks moved to bits 30-31.
  static void widen_entries(std::uint32_t* out, __m512i packed, int part, __m512i block_base) {
    // A byte permutation that keeps only the low byte of each 32-bit lane zero-extends them.
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i indexes = _mm512_add_epi32(lanes, _mm512_set1_epi32(16 * part));
    const __m512i tagged = _mm512_maskz_permutexvar_epi8(0x1111111111111111, indexes, packed);
    const __m512i offset = _mm512_and_si512(tagged, _mm512_set1_epi32(0x3F));
    const __m512i marks = _mm512_maskz_slli_epi32(
        0xFFFF, _mm512_and_si512(tagged, _mm512_set1_epi32(0xC0)), 24);
    _mm512_storeu_si512(out, _mm512_or_si512(_mm512_add_epi32(offset, block_base), marks));
  }

  __m512i quote, delimiter, newline, carriage_return, backslash, space;
};

}  // namespace

std::size_t build_index_avx512(const char* data, std::size_t size, char delimiter,
                               std::uint32_t* structurals, std::uint64_t* dirty) {
  return build_index<Avx512Classifier>(data, size, delimiter, structurals, dirty);
}

}  // namespace csv2json::detail

#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif
