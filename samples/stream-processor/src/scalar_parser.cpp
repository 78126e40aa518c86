// The reference RFC 4180 tokenizer. It favours plain code over speed: the SIMD tokenizer is
// tested against it, and it handles every record the SIMD one hands back.
#include "scalar_parser.h"

#include <string>

namespace csv2json::detail {

namespace {

constexpr std::size_t incomplete = static_cast<std::size_t>(-1);

std::string field_name(std::size_t number) { return "field " + std::to_string(number); }

// Parses one record that starts at data[start] on line `line`. Returns the offset after it, or
// `incomplete` when the input ends first (and is not final) or on an error. Only on success is
// `line` advanced past the record's newlines.
class RecordParser {
 public:
  RecordParser(const char* data, std::size_t size, bool final, const ScalarSettings& settings,
               RecordWriter& writer)
      : data_(data), size_(size), final_(final), settings_(settings), writer_(writer) {}

  std::size_t parse(std::size_t start, std::uint64_t& line) {
    line_ = line;
    record_line_ = line;
    writer_.begin_record();

    std::size_t position = start;
    for (;;) {
      const std::size_t next = position < size_ && data_[position] == '"'
                                   ? parse_quoted_field(position)
                                   : parse_unquoted_field(position, position);
      if (next == incomplete) {
        if (!writer_.failed()) {
          writer_.rollback_record();
        }
        return incomplete;
      }
      if (!record_ended_) {
        position = next;
        continue;
      }
      if (!writer_.end_record(record_line_)) {
        return incomplete;
      }
      line = line_;
      return next;
    }
  }

 private:
  // A field that starts with a quote at data[start]. Returns the offset after its delimiter or
  // record end.
  std::size_t parse_quoted_field(std::size_t start) {
    const std::uint64_t quote_line = line_;
    const std::size_t field_number = writer_.field_index() + 1;

    std::size_t close = start + 1;
    for (;;) {
      if (close >= size_) {
        return end_of_input_in_quotes(field_number, quote_line);
      }
      const char byte = data_[close];
      if (byte == '\n') {
        ++line_;
      }
      if (byte != '"') {
        ++close;
        continue;
      }
      if (close + 1 == size_ && !final_) {
        return incomplete;  // the next chunk may start with the second quote of a "" pair
      }
      if (close + 1 < size_ && data_[close + 1] == '"') {
        close += 2;
        continue;
      }
      break;
    }

    const std::string_view inner(data_ + start + 1, close - start - 1);
    const std::size_t after = close + 1;
    if (after == size_) {
      writer_.field(inner, true);
      record_ended_ = true;
      return after;
    }

    const char next = data_[after];
    if (next == settings_.delimiter) {
      writer_.field(inner, true);
      return after + 1;
    }
    if (next == '\n') {
      writer_.field(inner, true);
      return end_record_at(after);
    }
    if (next == '\r') {
      if (after + 1 == size_) {
        if (!final_) {
          return incomplete;
        }
        writer_.field(inner, true);
        record_ended_ = true;
        return size_;
      }
      if (data_[after + 1] == '\n') {
        writer_.field(inner, true);
        return end_record_at(after + 1);
      }
    }

    if (!settings_.relaxed) {
      writer_.fail(ErrorCode::stray_quote, line_,
                   "text after the closing quote of " + field_name(field_number) +
                       ": double the quotes inside a quoted field (\"\" for \"), or pass --relaxed "
                       "to keep the field as text");
      return incomplete;
    }
    // Relaxed: the whole field, its quotes included, is text up to the next delimiter.
    return parse_unquoted_field(start, after);
  }

  // A field without an opening quote that starts at data[start]; scanning resumes at `scan_from`
  // (after a relaxed quoted part). Returns the offset after its delimiter or record end.
  std::size_t parse_unquoted_field(std::size_t start, std::size_t scan_from) {
    std::size_t end = scan_from;
    while (end < size_ && data_[end] != settings_.delimiter && data_[end] != '\n') {
      if (data_[end] == '"' && !settings_.relaxed) {
        writer_.fail(ErrorCode::stray_quote, line_,
                     "stray quote in unquoted " + field_name(writer_.field_index() + 1) +
                         ": quote the whole field and double the quotes inside it, or pass "
                         "--relaxed to keep the quote as text");
        return incomplete;
      }
      ++end;
    }

    if (end == size_) {
      if (!final_) {
        return incomplete;
      }
      writer_.field(without_carriage_return(start, end), false);
      record_ended_ = true;
      return end;
    }
    if (data_[end] == settings_.delimiter) {
      writer_.field({data_ + start, end - start}, false);
      return end + 1;
    }
    writer_.field(without_carriage_return(start, end), false);
    return end_record_at(end);
  }

  std::string_view without_carriage_return(std::size_t start, std::size_t end) const {
    if (end > start && data_[end - 1] == '\r') {
      --end;
    }
    return {data_ + start, end - start};
  }

  std::size_t end_record_at(std::size_t newline) {
    ++line_;
    record_ended_ = true;
    return newline + 1;
  }

  std::size_t end_of_input_in_quotes(std::size_t field_number, std::uint64_t quote_line) {
    if (final_) {
      writer_.fail(ErrorCode::unterminated_quote, quote_line,
                   "the quoted " + field_name(field_number) + " opened on line " +
                       std::to_string(quote_line) +
                       " is not closed before the end of input: add the closing quote");
    }
    return incomplete;
  }

  const char* data_;
  std::size_t size_;
  bool final_;
  const ScalarSettings& settings_;
  RecordWriter& writer_;
  std::uint64_t line_ = 0;
  std::uint64_t record_line_ = 0;
  bool record_ended_ = false;
};

}  // namespace

std::size_t parse_scalar(const char* data, std::size_t size, bool final, std::size_t max_records,
                         std::uint64_t line, const ScalarSettings& settings, RecordWriter& writer) {
  std::size_t position = 0;
  std::size_t records = 0;
  while (position < size && records < max_records && !writer.failed()) {
    // Blank lines (LF or CRLF alone) are skipped, not turned into empty records.
    if (data[position] == '\n') {
      ++position;
      ++line;
      continue;
    }
    if (data[position] == '\r') {
      if (position + 1 == size) {
        if (!final) {
          break;
        }
        ++position;
        continue;
      }
      if (data[position + 1] == '\n') {
        position += 2;
        ++line;
        continue;
      }
    }

    RecordParser record(data, size, final, settings, writer);
    const std::size_t end = record.parse(position, line);
    if (end == incomplete) {
      break;
    }
    position = end;
    ++records;
  }
  return position;
}

}  // namespace csv2json::detail
