// JSON string escaping with the replacement policy for invalid UTF-8, and the lossless-literal test
// behind --infer-types.
#include "json_text.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace csv2json::detail {

void OutputBuffer::grow(std::size_t needed) {
  std::size_t capacity = std::max<std::size_t>(capacity_ * 2, 64 * 1024);
  while (capacity < needed) {
    capacity *= 2;
  }
  std::unique_ptr<char[]> data(new char[capacity]);
  if (size_ != 0) {
    std::memcpy(data.get(), data_.get(), size_);
  }
  data_ = std::move(data);
  capacity_ = capacity;
}

void OutputBuffer::consume(std::size_t size) {
  size = std::min(size, size_);
  if (size != size_) {
    std::memmove(data_.get(), data_.get() + size, size_ - size);
  }
  size_ -= size;
}

namespace {

// Bytes that cannot be copied as they are: quote, backslash, controls and every non-ASCII byte.
constexpr std::array<bool, 256> make_special_table() {
  std::array<bool, 256> table{};
  for (int byte = 0; byte < 256; ++byte) {
    table[byte] = byte < 0x20 || byte >= 0x80 || byte == '"' || byte == '\\';
  }
  return table;
}
constexpr std::array<bool, 256> special_byte = make_special_table();

// Returns the length of the valid UTF-8 sequence at text[0], or 0 and the length of its maximal
// invalid subpart in `invalid_length` (the bytes one U+FFFD replaces).
std::size_t utf8_sequence_length(const unsigned char* text, std::size_t available,
                                 std::size_t& invalid_length) {
  const unsigned lead = text[0];
  std::size_t length = 0;
  unsigned low = 0x80;
  unsigned high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    low = lead == 0xE0 ? 0xA0 : 0x80;  // no overlong forms
    high = lead == 0xED ? 0x9F : 0xBF;  // no UTF-16 surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    low = lead == 0xF0 ? 0x90 : 0x80;
    high = lead == 0xF4 ? 0x8F : 0xBF;  // nothing above U+10FFFF
  } else {
    invalid_length = 1;
    return 0;
  }

  for (std::size_t i = 1; i < length; ++i) {
    const unsigned byte = i < available ? text[i] : 0;
    const bool in_range = i < available && byte >= low && byte <= high;
    if (!in_range) {
      invalid_length = i;
      return 0;
    }
    low = 0x80;
    high = 0xBF;
  }
  return length;
}

char* write_escaped_byte(char* out, unsigned char byte) {
  static constexpr char hex[] = "0123456789abcdef";
  *out++ = '\\';
  switch (byte) {
    case '"': *out++ = '"'; break;
    case '\\': *out++ = '\\'; break;
    case '\n': *out++ = 'n'; break;
    case '\r': *out++ = 'r'; break;
    case '\t': *out++ = 't'; break;
    case '\b': *out++ = 'b'; break;
    case '\f': *out++ = 'f'; break;
    default:
      *out++ = 'u';
      *out++ = '0';
      *out++ = '0';
      *out++ = hex[byte >> 4];
      *out++ = hex[byte & 0xF];
  }
  return out;
}

}  // namespace

char* escape_json_string(char* out, std::string_view text, bool quoted) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  std::size_t i = 0;
  while (i < size) {
    std::size_t run = i;
    while (run < size && !special_byte[bytes[run]]) {
      ++run;
    }
    std::memcpy(out, bytes + i, run - i);
    out += run - i;
    i = run;
    if (i == size) {
      break;
    }

    const unsigned char byte = bytes[i];
    if (byte < 0x80) {
      out = write_escaped_byte(out, byte);
      // Inside a quoted field the tokenizer has checked that quotes come in "" pairs.
      i += (quoted && byte == '"') ? 2 : 1;
      continue;
    }

    std::size_t invalid_length = 0;
    const std::size_t length = utf8_sequence_length(bytes + i, size - i, invalid_length);
    if (length != 0) {
      std::memcpy(out, bytes + i, length);
      out += length;
      i += length;
    } else {
      std::memcpy(out, "\xEF\xBF\xBD", 3);
      out += 3;
      i += invalid_length;
    }
  }
  return out;
}

std::string unescape_csv_quotes(std::string_view text) {
  std::string result;
  result.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    result.push_back(text[i]);
    if (text[i] == '"' && i + 1 < text.size() && text[i + 1] == '"') {
      ++i;
    }
  }
  return result;
}

bool is_lossless_json_literal(std::string_view text) {
  if (text == "true" || text == "false") {
    return true;
  }

  std::size_t i = 0;
  const std::size_t size = text.size();
  if (i < size && text[i] == '-') {
    ++i;
  }
  const std::size_t integer_start = i;
  while (i < size && text[i] >= '0' && text[i] <= '9') {
    ++i;
  }
  const std::size_t integer_digits = i - integer_start;
  if (integer_digits == 0 || (integer_digits > 1 && text[integer_start] == '0')) {
    return false;
  }

  std::size_t fraction_digits = 0;
  if (i < size && text[i] == '.') {
    ++i;
    const std::size_t fraction_start = i;
    while (i < size && text[i] >= '0' && text[i] <= '9') {
      ++i;
    }
    fraction_digits = i - fraction_start;
    if (fraction_digits == 0 || text[i - 1] == '0') {
      return false;  // "1." is invalid JSON; "1.50" would print back as 1.5
    }
  }
  if (i != size) {
    return false;  // exponents and anything else stay strings
  }

  // Significant digits: leading zeros of "0.000123" do not count.
  std::size_t significant = 0;
  std::size_t leading_zeros = 0;
  bool leading = true;
  for (std::size_t k = integer_start; k < size; ++k) {
    if (text[k] == '.') {
      continue;
    }
    if (leading && text[k] == '0') {
      ++leading_zeros;
      continue;
    }
    leading = false;
    ++significant;
  }
  // JavaScript prints values below 1e-6 in exponent form (0.0000001 becomes 1e-7).
  if (significant != 0 && fraction_digits != 0 && leading_zeros >= 7) {
    return false;
  }
  if (significant == 0) {
    return text[0] != '-';  // "0" and "0.0"-like forms were rejected above; "-0" prints as 0
  }
  return significant <= 15;
}

}  // namespace csv2json::detail
