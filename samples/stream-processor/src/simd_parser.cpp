// Stage 2 of the SIMD tokenizer: walks the structural index record by record and writes fields,
// copying clean ones and escaping the rest, and hands unusual records to the scalar tokenizer.
#include "simd_parser.h"

#include <algorithm>
#include <cstring>

#include "structural_index.h"

namespace csv2json::detail {

SimdParser::SimdParser(char delimiter, Engine engine) : delimiter_(delimiter), engine_(engine) {}

void SimdParser::reserve(std::size_t size) {
  if (size <= capacity_) {
    return;
  }
  // Not zero-filled: only the entries stage 1 writes are touched.
  structurals_.reset(new std::uint32_t[size + 8]);
  dirty_.reset(new std::uint64_t[size / 64 + 1]);
  capacity_ = size;
}

bool SimdParser::dirty_across_blocks(std::size_t first, std::size_t last, std::uint64_t head,
                                     std::uint64_t tail) const {
  if ((dirty_[first] & head) != 0) {
    return true;
  }
  for (std::size_t block = first + 1; block < last; ++block) {
    if (dirty_[block] != 0) {
      return true;
    }
  }
  return (dirty_[last] & tail) != 0;
}

// Writes the field data[start, end) (its CR before LF already cut) that contains a quote or a byte
// to escape. Returns false when the field is not well-formed RFC 4180, so the scalar tokenizer
// must decide.
bool SimdParser::write_dirty_field(const char* data, std::size_t start, std::size_t end,
                                   RecordWriter& writer, std::uint64_t& lines) const {
  const std::string_view text(data + start, end - start);
  if (data[start] != '"') {
    if (text.find('"') != std::string_view::npos) {
      return false;  // a stray quote: an error, or text under --relaxed
    }
    writer.field(text, false);
    return true;
  }

  if (text.size() < 2 || text.back() != '"') {
    return false;  // text after the closing quote
  }
  const std::string_view inner = text.substr(1, text.size() - 2);
  if (!dirty_between(start + 1, end - 1)) {
    writer.field_clean(inner.data(), inner.size(), true);
    return true;
  }
  for (std::size_t quote = inner.find('"'); quote != std::string_view::npos;
       quote = inner.find('"', quote + 2)) {
    if (quote + 1 >= inner.size() || inner[quote + 1] != '"') {
      return false;  // a lone quote inside: the quoted part ended early
    }
  }
  // Clean fields hold no LF (it is a control byte), so only here can a record span lines.
  lines += static_cast<std::uint64_t>(std::count(inner.begin(), inner.end(), '\n'));
  writer.field(inner, true);
  return true;
}

namespace {

// The output position kept in locals across the fields of a record. Stores through char* may
// alias any object, so writing through the buffer's own members would reload them after every
// store.
class OutputCursor {
 public:
  explicit OutputCursor(OutputBuffer& buffer) : buffer_(buffer) { refresh(); }

  void refresh() {
    out_ = buffer_.end_pointer();
    limit_ = buffer_.limit_pointer();
  }
  void commit() { buffer_.commit_to(out_); }

  // Writes `key` then the value in quotes; neither needs escaping.
  void write_field(const char* key, std::size_t key_size, const char* value, std::size_t size) {
    const std::size_t needed = key_size + size + 2 + 2 * copy_slack;
    if (static_cast<std::size_t>(limit_ - out_) < needed) {
      commit();
      buffer_.reserve(needed);
      refresh();
    }
    out_ = copy_with_slack(out_, key, key_size);
    *out_++ = '"';
    out_ = copy_with_slack(out_, value, size);
    *out_++ = '"';
  }

  void close_record(char close, bool ndjson) {
    if (static_cast<std::size_t>(limit_ - out_) < 2) {
      commit();
      buffer_.reserve(2);
      refresh();
    }
    *out_++ = close;
    if (ndjson) {
      *out_++ = '\n';
    }
  }

 private:
  OutputBuffer& buffer_;
  char* out_ = nullptr;
  char* limit_ = nullptr;
};

}  // namespace

std::size_t SimdParser::parse(const char* data, std::size_t size, RecordWriter& writer,
                              bool& handed_back, std::uint64_t& lines) {
  handed_back = false;
  lines = 0;
  reserve(size);
  const std::size_t count = engine_ == Engine::avx2
                                ? build_index_avx2(data, size, delimiter_, structurals_.get(), dirty_.get())
                                : build_index_sse2(data, size, delimiter_, structurals_.get(), dirty_.get());
  const std::uint32_t* structurals = structurals_.get();
  const std::size_t columns = writer.column_count();
  const char* keys = writer.key_data();
  const std::size_t* key_offsets = writer.key_offsets();
  const bool infer_types = writer.infer_types();
  const bool ndjson = writer.ndjson();
  const char record_close = writer.record_close();
  OutputCursor cursor(writer.output());

  // Ends the walk before the current record, which the next chunk or the scalar tokenizer takes.
  auto stop_before_record = [&](std::size_t record_start, bool hand_back) {
    cursor.commit();
    writer.rollback_record();
    handed_back = hand_back;
    return record_start;
  };

  std::size_t record_start = 0;
  std::size_t next = 0;
  while (next < count) {
    cursor.commit();
    writer.begin_record();
    cursor.refresh();
    std::size_t field = 0;
    std::size_t field_start = record_start;
    std::uint64_t record_lines = 1;
    for (;;) {
      if (next == count) {
        return stop_before_record(record_start, false);  // the record continues in the next chunk
      }
      const std::uint32_t entry = structurals[next++];
      const std::size_t position = entry & ~newline_flag;
      const bool newline = (entry & newline_flag) != 0;
      std::size_t end = position;
      if (newline && end > field_start && data[end - 1] == '\r') {
        --end;
      }

      const bool blank_line = newline && field == 0 && end == field_start;
      const bool count_mismatch = field >= columns || (newline && field + 1 != columns);
      if (blank_line || count_mismatch) {
        return stop_before_record(record_start, true);
      }

      // A clean field, or a quoted one with nothing to escape or unquote inside, is copied.
      const char* value = data + field_start;
      std::size_t value_size = end - field_start;
      bool quoted = false;
      bool clean = !dirty_between(field_start, end);
      if (!clean && value_size >= 2 && value[0] == '"' && value[value_size - 1] == '"' &&
          !dirty_between(field_start + 1, end - 1)) {
        ++value;
        value_size -= 2;
        quoted = true;
        clean = true;
      }

      if (clean && (quoted || !infer_types)) {
        const std::size_t key_start = key_offsets[field];
        cursor.write_field(keys + key_start, key_offsets[field + 1] - key_start, value, value_size);
      } else {
        cursor.commit();
        writer.set_field_index(field);
        bool written = true;
        if (clean) {
          writer.field_clean(value, value_size, quoted);
        } else {
          written = write_dirty_field(data, field_start, end, writer, record_lines);
        }
        cursor.refresh();
        if (!written) {
          return stop_before_record(record_start, true);
        }
      }
      ++field;

      field_start = position + 1;
      if (newline) {
        cursor.close_record(record_close, ndjson);
        writer.count_clean_record();
        record_start = field_start;
        lines += record_lines;
        break;
      }
    }
  }
  cursor.commit();
  return record_start;
}

}  // namespace csv2json::detail
