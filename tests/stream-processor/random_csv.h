// A seeded generator of CSV text with the hard cases: quoted fields, "" escapes, CRLF and LF,
// line breaks inside quotes, UTF-8 (valid and not), control bytes and blank lines. On request it
// adds malformed records: stray quotes, wrong field counts, an unterminated quote at the end.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace csv2json::testing {

struct RandomCsvShape {
  int columns = 4;
  int records = 40;
  bool malformed = false;
  char delimiter = ',';
};

inline std::string random_field(std::mt19937_64& random, const RandomCsvShape& shape) {
  static const char* const pieces[] = {"a", "Zb", "12", "0", "-3.5", "00E009", " ", "\\", "\t",
                                       "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\x80",
                                       "\xE2\x82", "\x01", "true", "longer text here"};
  const int kind = static_cast<int>(random() % 10);
  std::string text;
  const int length = static_cast<int>(random() % 5);
  for (int i = 0; i < length; ++i) {
    text += pieces[random() % (sizeof(pieces) / sizeof(pieces[0]))];
  }
  if (kind < 5) {
    return text;  // unquoted, no delimiter, quote or newline
  }
  // Quoted: may hold the delimiter, quotes, CR, LF and CRLF.
  static const char* const quoted_pieces[] = {"\"\"", "\n", "\r\n", "\r", ",", ";", "x"};
  std::string quoted = "\"";
  quoted += text;
  const int extra = static_cast<int>(random() % 4);
  for (int i = 0; i < extra; ++i) {
    quoted += quoted_pieces[random() % (sizeof(quoted_pieces) / sizeof(quoted_pieces[0]))];
    quoted += text.substr(0, random() % (text.size() + 1));
  }
  quoted += '"';
  if (shape.malformed && random() % 40 == 0) {
    quoted += "tail";  // text after the closing quote
  }
  return quoted;
}

inline std::string random_csv(std::uint64_t seed, const RandomCsvShape& shape) {
  std::mt19937_64 random(seed);
  std::string csv;
  for (int record = 0; record <= shape.records; ++record) {
    int columns = shape.columns;
    if (shape.malformed && random() % 25 == 0) {
      columns += static_cast<int>(random() % 3) - 1;
    }
    for (int column = 0; column < columns; ++column) {
      if (column != 0) {
        csv += shape.delimiter;
      }
      csv += record == 0 ? "h" + std::to_string(column) : random_field(random, shape);
      if (shape.malformed && random() % 60 == 0) {
        csv += "x\"y";  // a stray quote
      }
    }
    csv += random() % 3 == 0 ? "\r\n" : "\n";
    if (random() % 30 == 0) {
      csv += "\n";  // a blank line
    }
  }
  if (random() % 2 == 0 && !csv.empty()) {
    csv.pop_back();  // the last record without its newline
    if (!csv.empty() && csv.back() == '\r') {
      csv.pop_back();
    }
  }
  if (shape.malformed && random() % 10 == 0) {
    csv += "\"unterminated";
  }
  return csv;
}

}  // namespace csv2json::testing
