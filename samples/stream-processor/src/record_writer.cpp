// Header handling, the field-count policy, error messages and the slow (escaping) field path.
#include "record_writer.h"

#include <algorithm>
#include <stdexcept>

namespace csv2json::detail {

namespace {

std::string quote_for_message(std::string_view name) {
  std::string quoted = "'";
  quoted.append(name);
  quoted.push_back('\'');
  return quoted;
}

}  // namespace

std::string find_duplicate_column(const std::vector<std::string>& names, std::size_t& first,
                                  std::size_t& second) {
  for (second = 1; second < names.size(); ++second) {
    for (first = 0; first < second; ++first) {
      if (names[first] == names[second]) {
        return names[second];
      }
    }
  }
  return {};
}

RecordWriter::RecordWriter(const Options& options)
    : format_(options.format),
      field_count_(options.field_count),
      infer_types_(options.infer_types),
      arrays_(!options.header && options.columns.empty()),
      reading_header_(options.header && options.columns.empty()),
      record_close_(arrays_ ? ']' : '}') {
  if (!options.columns.empty()) {
    set_columns(options.columns);
  } else if (arrays_) {
    keys_ = "[,";
    key_offsets_ = {0, 1, 2};
  }
}

void RecordWriter::set_columns(const std::vector<std::string>& names) {
  keys_.clear();
  key_offsets_.clear();
  for (std::size_t i = 0; i < names.size(); ++i) {
    key_offsets_.push_back(keys_.size());
    keys_.append(i == 0 ? "{\"" : ",\"");
    std::string escaped(names[i].size() * max_escape_expansion, '\0');
    char* end = escape_json_string(escaped.data(), names[i], false);
    keys_.append(escaped.data(), end);
    keys_.append("\":");
  }
  key_offsets_.push_back(keys_.size());
  keys_.append(copy_slack, ' ');
  expected_fields_ = names.size();
  columns_known_ = true;
}

std::string_view RecordWriter::extra_key_prefix(std::size_t index) {
  if (arrays_) {
    return index == 0 ? "[" : ",";
  }
  extra_key_ = ",\"_" + std::to_string(index) + "\":";
  return extra_key_;
}

void RecordWriter::field(std::string_view text, bool quoted) {
  if (reading_header_) {
    header_fields_.push_back(quoted ? unescape_csv_quotes(text) : std::string(text));
    ++field_index_;
    return;
  }
  if (!quoted && infer_types_ && is_lossless_json_literal(text)) {
    write_literal(text.data(), text.size());
    return;
  }

  const std::string_view key = key_prefix(field_index_++);
  char* out = out_.reserve(key.size() + max_escape_expansion * text.size() + 2);
  std::memcpy(out, key.data(), key.size());
  out += key.size();
  *out++ = '"';
  out = escape_json_string(out, text, quoted);
  *out++ = '"';
  out_.commit_to(out);
}

void RecordWriter::write_literal(const char* text, std::size_t size) {
  const std::string_view key = key_prefix(field_index_++);
  char* out = out_.reserve(key.size() + size);
  std::memcpy(out, key.data(), key.size());
  std::memcpy(out + key.size(), text, size);
  out_.commit_to(out + key.size() + size);
}

void RecordWriter::write_padding() {
  while (field_index_ < expected_fields_) {
    const std::string_view key = key_prefix(field_index_++);
    out_.append(key);
    out_.append("\"\"");
  }
}

bool RecordWriter::end_header(std::uint64_t line) {
  std::size_t first = 0;
  std::size_t second = 0;
  const std::string duplicate = find_duplicate_column(header_fields_, first, second);
  if (second < header_fields_.size()) {
    fail(ErrorCode::duplicate_column, line,
         "the header names column " + std::to_string(first + 1) + " and column " +
             std::to_string(second + 1) + " " + quote_for_message(duplicate) +
             ": rename one, or pass --columns with unique names and drop the header row");
    return false;
  }
  set_columns(header_fields_);
  header_fields_.clear();
  reading_header_ = false;
  return true;
}

bool RecordWriter::end_record(std::uint64_t line) {
  if (reading_header_) {
    return end_header(line);
  }

  const std::size_t fields = field_index_;
  if (columns_known_ && fields != expected_fields_) {
    if (field_count_ == FieldCountPolicy::error) {
      fail(ErrorCode::field_count, line,
           "the record has " + std::to_string(fields) + " field" + (fields == 1 ? "" : "s") +
               " but " + (arrays_ ? "the first record has " : "the header has ") +
               std::to_string(expected_fields_) +
               ": fix the record, or pass --field-count=keep or --field-count=pad");
      return false;
    }
    if (field_count_ == FieldCountPolicy::pad) {
      write_padding();
    }
  }
  if (!columns_known_) {
    // Arrays: the first record fixes the expected count and the prefix table grows to it.
    expected_fields_ = fields;
    columns_known_ = true;
    keys_.assign(1, '[');
    keys_.append(fields > 1 ? fields - 1 : 0, ',');
    key_offsets_.clear();
    for (std::size_t i = 0; i <= fields; ++i) {
      key_offsets_.push_back(std::min(i, keys_.size()));
    }
    keys_.append(copy_slack, ' ');
  }
  end_record_clean();
  return true;
}

void RecordWriter::fail(ErrorCode code, std::uint64_t line, const std::string& detail) {
  out_.truncate(record_mark_);
  error_.code = code;
  error_.record = record_number_;
  error_.line = line;
  error_.message = "line " + std::to_string(line) + ", record " + std::to_string(record_number_) +
                   ": " + detail;
}

void RecordWriter::fail_at_next_record(ErrorCode code, std::uint64_t line,
                                       const std::string& detail) {
  record_mark_ = out_.size();
  ++record_number_;
  fail(code, line, detail);
}

void RecordWriter::finish() {
  if (format_ != OutputFormat::json_array) {
    return;
  }
  out_.append(records_written_ == 0 ? "[]\n" : "\n]\n");
}

}  // namespace csv2json::detail
