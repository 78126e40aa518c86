// JSON text helpers shared by both tokenizers: the output buffer, string escaping with the
// invalid UTF-8 policy, and the type-inference test for numbers and booleans.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace csv2json::detail {

// A growable byte buffer written through raw pointers. Unlike std::string it never zero-fills,
// so reserving room costs nothing until bytes are written.
class OutputBuffer {
 public:
  // Returns a pointer with room for at least `extra` more bytes after the current end.
  char* reserve(std::size_t extra) {
    if (capacity_ - size_ < extra) {
      grow(size_ + extra);
    }
    return data_.get() + size_;
  }
  void commit_to(const char* end) { size_ = static_cast<std::size_t>(end - data_.get()); }
  void append(std::string_view text) {
    char* out = reserve(text.size());
    std::memcpy(out, text.data(), text.size());
    size_ += text.size();
  }
  void truncate(std::size_t size) { size_ = size; }
  char* end_pointer() { return data_.get() + size_; }
  char* limit_pointer() { return data_.get() + capacity_; }
  void consume(std::size_t size);
  std::size_t size() const { return size_; }
  std::string_view view() const { return {data_.get(), size_}; }

 private:
  void grow(std::size_t needed);

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

// The maximum bytes escape_json_string writes per input byte: a control byte becomes \u00XX.
inline constexpr std::size_t max_escape_expansion = 6;

// Writes `text` as the inside of a JSON string (no surrounding quotes) at `out`, which must have
// room for max_escape_expansion * text.size() bytes, and returns the new end.
// `quoted` is true for the inside of a quoted CSV field, where each "" pair stands for one quote.
// Policy: control characters are escaped (\n, \r, \t, \b, \f, or \u00XX), and each maximal invalid
// UTF-8 subsequence becomes U+FFFD, as the WHATWG decoder (Node's Buffer.toString) does.
char* escape_json_string(char* out, std::string_view text, bool quoted);

// Returns the text with "" pairs turned into single quotes, raw bytes kept (header names).
std::string unescape_csv_quotes(std::string_view text);

// True when the text is `true`, `false`, or a number that JSON.parse reads back and prints as the
// same text: -?(0|[1-9][0-9]*)(\.[0-9]*[1-9])? with at most 15 significant digits, and not -0.
// So 00E009, 1e5, 1.50, 9007199254740993 and -0 stay strings: no digit, zero or exponent is lost.
bool is_lossless_json_literal(std::string_view text);

}  // namespace csv2json::detail
