// The fast tokenizer: a SIMD structural index (stage 1), then a walk over it that writes each
// well-formed record (stage 2). Anything unusual goes back to the scalar tokenizer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "csv2json/converter.h"
#include "record_writer.h"

namespace csv2json::detail {

struct WalkState;

class SimdParser {
 public:
  // `engine` is Engine::sse2, Engine::avx2 or Engine::avx512, and the CPU must support it.
  SimdParser(char delimiter, Engine engine);

  // Converts whole records from data[0, size), which starts at a record boundary, and returns the
  // bytes consumed. Sets `handed_back` when it stopped at a record it leaves to the scalar
  // tokenizer: a blank line, a field-count mismatch, a stray quote or any other error. Without
  // it, the rest is an incomplete record. The header must be known (writer.columns_known()).
  // `lines` receives the count of LFs in the bytes consumed. At least copy_slack readable bytes
  // must follow data[size - 1].
  std::size_t parse(const char* data, std::size_t size, RecordWriter& writer, bool& handed_back,
                    std::uint64_t& lines);

  // Returns whether data[start, end) of the last parse() contains a byte stage 1 marked.
  bool dirty_between(std::size_t start, std::size_t end) const {
    if (start >= end) {
      return false;
    }
    const std::size_t first = start / 64;
    const std::size_t last = (end - 1) / 64;
    const std::uint64_t head = ~std::uint64_t{0} << (start % 64);
    const std::uint64_t tail = ~std::uint64_t{0} >> (63 - (end - 1) % 64);
    if (first == last) {
      return (dirty_[first] & head & tail) != 0;
    }
    if (last == first + 1) {
      return ((dirty_[first] & head) | (dirty_[last] & tail)) != 0;
    }
    return dirty_across_blocks(first, last, head, tail);
  }

 private:
  void reserve(std::size_t size);
  enum class RecordStatus { written, incomplete, handed_back };

  // Stage 2: writes the records of the `count` index entries. walk_avx2 and walk_avx512 are
  // the same code compiled for those instruction sets.
  std::size_t walk(const char* data, std::size_t size, std::size_t count, RecordWriter& writer,
                   bool& handed_back, std::uint64_t& lines);
  std::size_t walk_avx2(const char* data, std::size_t size, std::size_t count,
                        RecordWriter& writer, bool& handed_back, std::uint64_t& lines);
  std::size_t walk_avx512(const char* data, std::size_t size, std::size_t count,
                          RecordWriter& writer, bool& handed_back, std::uint64_t& lines);
  [[gnu::always_inline]] std::size_t walk_records(const char* data, std::size_t size,
                                                  std::size_t count, RecordWriter& writer,
                                                  bool& handed_back, std::uint64_t& lines);
  // Writes records while they have the header's field count and every field is unquoted without
  // bytes to escape, or quoted with nothing to unquote, and the output buffer has room.
  [[gnu::always_inline]] void write_plain_records(WalkState& state) const;
  void prepare_joiners(const RecordWriter& writer);
  // Writes the record at state.next, one field at a time, through the writer when a field needs
  // escaping or type inference.
  RecordStatus write_record(WalkState& state) const;
  // Writes a field stage 1 marked that is not a plain quoted one, through the writer (escaping,
  // type inference). Returns false when the scalar tokenizer must decide.
  bool write_unusual_field(const char* data, std::size_t start, std::size_t end, std::size_t field,
                           RecordWriter& writer, std::uint64_t& lines) const;
  bool write_dirty_field(const char* data, std::size_t start, std::size_t end,
                         RecordWriter& writer, std::uint64_t& lines) const;

  bool dirty_across_blocks(std::size_t first, std::size_t last, std::uint64_t head,
                           std::uint64_t tail) const;

  char delimiter_;
  Engine engine_;
  std::unique_ptr<std::uint32_t[]> structurals_;
  std::unique_ptr<std::uint64_t[]> dirty_;
  std::size_t capacity_ = 0;
  // The text written before each field's value on the fast path, and where each one starts.
  std::string joiners_;
  std::vector<std::size_t> joiner_offsets_;
};

}  // namespace csv2json::detail
