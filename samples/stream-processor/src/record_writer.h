// The record protocol both tokenizers drive: it reads the header, applies the field-count policy,
// reports errors with line and record numbers, and writes each record as JSON.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "csv2json/converter.h"
#include "json_text.h"

namespace csv2json::detail {

// Returns the repeated name and sets `first` < `second` to the 0-based indexes of the first pair
// of equal names; sets `second` to names.size() when all names differ.
std::string find_duplicate_column(const std::vector<std::string>& names, std::size_t& first,
                                  std::size_t& second);

// Short copies are done as one fixed 32- or 64-byte copy, which compiles to a few vector moves
// instead of a call: both sides must have copy_slack bytes of room past the copied length.
inline constexpr std::size_t copy_slack = 64;

inline char* copy_with_slack(char* out, const char* in, std::size_t size) {
  if (size <= 32) {
    __builtin_memcpy(out, in, 32);
  } else if (size <= 64) {
    __builtin_memcpy(out, in, 64);
  } else {
    std::memcpy(out, in, size);
  }
  return out + size;
}

class RecordWriter {
 public:
  explicit RecordWriter(const Options& options);

  // Column names are known once the header record was read (or came from Options::columns), and
  // for arrays once the first record fixed the expected field count.
  bool columns_known() const { return columns_known_; }
  std::size_t column_count() const { return expected_fields_; }
  bool infer_types() const { return infer_types_; }

  void begin_record() {
    record_mark_ = out_.size();
    field_index_ = 0;
    ++record_number_;
    if (format_ == OutputFormat::json_array && !reading_header_) {
      out_.append(records_written_ == 0 ? "[\n" : ",\n");
    }
  }

  // A field's text as it appears between the delimiters (for a quoted field, between the quotes,
  // with "" pairs still doubled when `quoted`).
  void field(std::string_view text, bool quoted);

  // Fast path for a field the SIMD tokenizer found clean: no byte needs escaping and, when
  // `quoted`, no "" pair inside. Only valid while field_index() < column_count().
  void field_clean(const char* text, std::size_t size, bool quoted) {
    if (!quoted && infer_types_ && is_lossless_json_literal({text, size})) {
      write_literal(text, size);
      return;
    }
    const std::string_view key = key_prefix(field_index_++);
    char* out = out_.reserve(key.size() + size + 2 + copy_slack);
    out = copy_with_slack(out, key.data(), key.size());
    *out++ = '"';
    out = copy_with_slack(out, text, size);
    *out++ = '"';
    out_.commit_to(out);
  }

  std::size_t field_index() const { return field_index_; }

  // For the SIMD walk, which writes whole records itself, counts them with count_clean_records(),
  // and sets the field index before it calls field() or field_clean() for a field.
  void set_field_index(std::size_t index) { field_index_ = index; }
  const char* key_data() const { return keys_.data(); }
  const std::size_t* key_offsets() const { return key_offsets_.data(); }
  bool ndjson() const { return format_ == OutputFormat::ndjson; }
  char record_close() const { return record_close_; }
  void count_clean_records(std::uint64_t count) {
    record_number_ += count;
    records_written_ += count;
  }

  // Ends the record that began at line `line`. Returns false after an error (see error()).
  bool end_record(std::uint64_t line);

  // Fast-path end for a record with exactly column_count() fields.
  void end_record_clean() {
    char* out = out_.reserve(3);
    if (format_ != OutputFormat::ndjson) {
      *out++ = record_close_;
    } else {
      *out++ = record_close_;
      *out++ = '\n';
    }
    out_.commit_to(out);
    ++records_written_;
  }

  // Undoes the output of the current record (it was incomplete in this chunk).
  void rollback_record() {
    out_.truncate(record_mark_);
    header_fields_.clear();
    --record_number_;
  }

  // Records an error for the current record. `detail` states what is wrong and how to fix it.
  void fail(ErrorCode code, std::uint64_t line, const std::string& detail);
  void fail_at_next_record(ErrorCode code, std::uint64_t line, const std::string& detail);
  bool failed() const { return error_.code != ErrorCode::none; }
  const Error& error() const { return error_; }

  // Closes the JSON array (when the format has one). Call once, also after an error.
  void finish();

  std::uint64_t records_written() const { return records_written_; }
  std::uint64_t record_number() const { return record_number_; }
  OutputBuffer& output() { return out_; }

 private:
  std::string_view key_prefix(std::size_t index) {
    if (index < key_offsets_.size() - 1) {
      const std::size_t start = key_offsets_[index];
      return std::string_view(keys_).substr(start, key_offsets_[index + 1] - start);
    }
    return extra_key_prefix(index);
  }
  std::string_view extra_key_prefix(std::size_t index);
  void write_literal(const char* text, std::size_t size);
  void set_columns(const std::vector<std::string>& names);
  bool end_header(std::uint64_t line);
  void write_padding();

  OutputFormat format_;
  FieldCountPolicy field_count_;
  bool infer_types_;
  bool arrays_;             // records become arrays (no header, no column names)
  bool reading_header_;     // the next record is the header
  bool columns_known_ = false;
  std::size_t expected_fields_ = 0;

  // Key prefixes laid end to end: for objects `{"name":` then `,"name":`, for arrays `[` then `,`,
  // followed by copy_slack bytes of padding.
  std::string keys_;
  std::vector<std::size_t> key_offsets_;
  std::string extra_key_;
  char record_close_;
  std::vector<std::string> header_fields_;

  OutputBuffer out_;
  std::size_t record_mark_ = 0;
  std::size_t field_index_ = 0;
  std::uint64_t record_number_ = 0;
  std::uint64_t records_written_ = 0;
  Error error_;
};

}  // namespace csv2json::detail
