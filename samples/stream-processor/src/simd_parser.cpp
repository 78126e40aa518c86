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
  structurals_.reset(new std::uint32_t[size + index_slack]);
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

// The output position kept in locals across the fields of a record. Stores through char* may
// alias any object, so writing through the buffer's own members would reload them after every
// store.
namespace {

class OutputCursor {
 public:
  explicit OutputCursor(OutputBuffer& buffer) : buffer_(buffer) { refresh(); }

  void refresh() {
    out_ = buffer_.end_pointer();
    begin_ = out_ - buffer_.size();
    limit_ = buffer_.limit_pointer();
  }
  void commit() { buffer_.commit_to(out_); }

  // Makes room for `size` bytes, because the write functions below do not check.
  void reserve(std::size_t size) {
    if (static_cast<std::size_t>(limit_ - out_) < size) {
      commit();
      buffer_.reserve(size);
      refresh();
    }
  }

  // The offset of the write position, which stays valid when the buffer moves.
  std::size_t offset() const { return static_cast<std::size_t>(out_ - begin_); }
  void rewind(std::size_t offset) { out_ = begin_ + offset; }

  // Writes `key`, then the value in quotes. Neither needs escaping, and the buffer needs room
  // for key_size + size + 2 + 2 * copy_slack bytes.
  void write_field(const char* key, std::size_t key_size, const char* value, std::size_t size) {
    out_ = copy_with_slack(out_, key, key_size);
    *out_++ = '"';
    out_ = copy_with_slack(out_, value, size);
    *out_++ = '"';
  }

  void write_two(char first, char second) {
    out_[0] = first;
    out_[1] = second;
    out_ += 2;
  }
  void write_one(char byte) { *out_++ = byte; }

  char* position() const { return out_; }
  char* limit() const { return limit_; }
  void advance_to(char* out) { out_ = out; }

 private:
  OutputBuffer& buffer_;
  char* begin_ = nullptr;
  char* out_ = nullptr;
  char* limit_ = nullptr;
};

}  // namespace

bool SimdParser::write_unusual_field(const char* data, std::size_t start, std::size_t end,
                                     std::size_t field, RecordWriter& writer,
                                     std::uint64_t& lines) const {
  writer.set_field_index(field);
  // Stage 1 also marks a field whose CR and LF fall in different blocks, so it may be clean.
  if (!dirty_between(start, end)) {
    writer.field_clean(data + start, end - start, false);
    return true;
  }
  return write_dirty_field(data, start, end, writer, lines);
}

std::size_t SimdParser::parse(const char* data, std::size_t size, RecordWriter& writer,
                              bool& handed_back, std::uint64_t& lines) {
  handed_back = false;
  lines = 0;
  // Offsets beyond the index's range are left to the scalar tokenizer, which the caller runs on
  // whatever this call does not consume. Only a record near 1 GiB gets there.
  size = std::min(size, max_index_size - 64);
  reserve(size);
  std::size_t count = 0;
  switch (engine_) {
    case Engine::avx512:
      count = build_index_avx512(data, size, delimiter_, structurals_.get(), dirty_.get());
      break;
    case Engine::avx2:
      count = build_index_avx2(data, size, delimiter_, structurals_.get(), dirty_.get());
      break;
    default:
      count = build_index_sse2(data, size, delimiter_, structurals_.get(), dirty_.get());
      break;
  }
  switch (engine_) {
    case Engine::avx512: return walk_avx512(data, size, count, writer, handed_back, lines);
    case Engine::avx2: return walk_avx2(data, size, count, writer, handed_back, lines);
    default: return walk(data, size, count, writer, handed_back, lines);
  }
}

// The state of one walk over the index, shared by the fast path and the general one.
struct WalkState {
  WalkState(const char* data_bytes, std::size_t data_size, const std::uint32_t* entries,
            std::size_t entry_count, RecordWriter& record_writer)
      : data(data_bytes),
        size(data_size),
        structurals(entries),
        count(entry_count),
        writer(record_writer),
        cursor(record_writer.output()),
        columns(record_writer.column_count()),
        keys(record_writer.key_data()),
        key_offsets(record_writer.key_offsets()),
        record_overhead(key_offsets[columns] + 2 * columns + 4 + 2 * copy_slack),
        ndjson(record_writer.ndjson()),
        record_close(record_writer.record_close()),
        first_record(record_writer.records_written() == 0) {}

  // Returns the output room the record that starts at entry `next` needs, unless a field needs
  // escaping: it ends at or before the entry of its last field, or at the end of the data.
  std::size_t record_room() const {
    const std::size_t last_entry = next + columns - 1;
    const std::size_t record_end = last_entry < count ? (structurals[last_entry] & offset_mask) : size;
    return record_overhead + (record_end - record_start);
  }

  const char* data;
  std::size_t size;
  const std::uint32_t* structurals;
  std::size_t count;
  RecordWriter& writer;
  OutputCursor cursor;
  std::size_t columns;
  const char* keys;
  const std::size_t* key_offsets;
  // Bytes a record adds besides its field values: keys, two quotes per field, the separator
  // before it in an array, the closing bracket and newline, and the copies' slack.
  std::size_t record_overhead;
  bool ndjson;
  char record_close;
  bool first_record;

  std::size_t next = 0;          // the index entry where the current record starts
  std::size_t record_start = 0;  // its offset in data
  std::uint64_t records = 0;     // records written by this walk
  std::uint64_t lines = 0;       // LFs in the records written
};

namespace {

// Returns whether data[start, end) is a quoted field with nothing to escape or unquote inside.
inline bool plain_quoted(const char* data, std::size_t start, std::size_t end,
                         const SimdParser& parser) {
  return end - start >= 2 && data[start] == '"' && data[end - 1] == '"' &&
         !parser.dirty_between(start + 1, end - 1);
}

}  // namespace

inline std::size_t SimdParser::walk_records(const char* data, std::size_t size, std::size_t count,
                                            RecordWriter& writer, bool& handed_back,
                                            std::uint64_t& lines) {
  WalkState state(data, size, structurals_.get(), count, writer);
  if (joiner_offsets_.size() != state.columns + 1) {
    prepare_joiners(writer);
  }
  const bool fast = !writer.infer_types();

  RecordStatus status = RecordStatus::written;
  while (state.next < count) {
    if (fast) {
      write_plain_records(state);
      if (state.next == count) {
        break;
      }
    }
    status = write_record(state);
    if (status != RecordStatus::written) {
      break;
    }
  }

  state.cursor.commit();
  writer.count_clean_records(state.records);
  handed_back = status == RecordStatus::handed_back;
  lines = state.lines;
  return state.record_start;
}

void SimdParser::prepare_joiners(const RecordWriter& writer) {
  // A joiner closes the previous value's quotes (except before the first field), then writes the
  // key prefix and opens the value's quotes: `{"a":"`, then `","b":"`.
  const std::size_t columns = writer.column_count();
  const char* keys = writer.key_data();
  const std::size_t* key_offsets = writer.key_offsets();
  joiners_.clear();
  joiner_offsets_.clear();
  for (std::size_t field = 0; field < columns; ++field) {
    joiner_offsets_.push_back(joiners_.size());
    if (field != 0) {
      joiners_.push_back('"');
    }
    joiners_.append(keys + key_offsets[field], key_offsets[field + 1] - key_offsets[field]);
    joiners_.push_back('"');
  }
  joiner_offsets_.push_back(joiners_.size());
  joiners_.append(copy_slack, ' ');
}

namespace {

// Copies up to 64 bytes as one fixed 64-byte copy (a single vector move with AVX-512), so the
// length takes no branch. Both sides need copy_slack bytes of room past `size`.
inline char* copy_short(char* out, const char* in, std::size_t size) {
  if (size <= 64) [[likely]] {
    __builtin_memcpy(out, in, 64);
  } else {
    std::memcpy(out, in, size);
  }
  return out + size;
}

}  // namespace

inline void SimdParser::write_plain_records(WalkState& state) const {
  const char* data = state.data;
  const std::uint32_t* structurals = state.structurals;
  const std::size_t count = state.count;
  const std::size_t columns = state.columns;
  const std::size_t last_field = columns - 1;
  const char* joiners = joiners_.data();
  const std::size_t* joiner_offsets = joiner_offsets_.data();
  // The text after the last value: its closing quote, the record's closing bracket, and the LF
  // of NDJSON (three bytes are stored, and the end moves by two or three).
  const char record_end_text[3] = {'"', state.record_close, '\n'};
  const std::size_t record_end_size = state.ndjson ? 3 : 2;
  const bool ndjson = state.ndjson;

  // Locals only, so nothing in the loop is reloaded after the stores through `out`.
  std::size_t next = state.next;
  std::size_t record_start = state.record_start;
  bool first_record = state.first_record;
  std::uint64_t records = 0;
  char* out = state.cursor.position();
  char* const limit = state.cursor.limit();

  while (next + columns <= count) {
    const std::size_t record_end = structurals[next + last_field] & offset_mask;
    if (static_cast<std::size_t>(limit - out) < state.record_overhead + (record_end - record_start)) {
      break;  // the general path grows the buffer
    }
    char* const record_out = out;
    if (!ndjson) {
      out[0] = first_record ? '[' : ',';
      out[1] = '\n';
      out += 2;
    }
    const std::uint32_t* entries = structurals + next;
    std::size_t start = record_start;
    std::size_t field = 0;
    for (; field < columns; ++field) {
      const std::uint32_t entry = entries[field];
      std::size_t end = entry & offset_mask;
      const std::uint32_t expected = field == last_field ? newline_flag : 0;
      if ((entry & newline_flag) != expected) {
        break;
      }
      if (expected != 0) {
        if (end > start && data[end - 1] == '\r') {
          --end;
        }
        if (end == start && columns == 1) {
          break;  // a blank line
        }
      }
      const char* value = data + start;
      std::size_t value_size = end - start;
      if ((entry & dirty_field_flag) != 0) {
        if (!plain_quoted(data, start, end, *this)) {
          break;
        }
        ++value;
        value_size -= 2;
      }
      const std::size_t joiner_start = joiner_offsets[field];
      out = copy_short(out, joiners + joiner_start, joiner_offsets[field + 1] - joiner_start);
      out = copy_short(out, value, value_size);
      start = (entry & offset_mask) + 1;
    }
    if (field != columns) {
      out = record_out;  // the general path decides
      break;
    }
    __builtin_memcpy(out, record_end_text, 3);
    out += record_end_size;
    next += columns;
    record_start = start;
    first_record = false;
    ++records;
  }

  state.cursor.advance_to(out);
  state.next = next;
  state.record_start = record_start;
  state.first_record = first_record;
  state.records += records;
  state.lines += records;
}

// The walk compiled for the engine's instruction set, so the short copies of keys and values
// become one or two vector moves. Only the inlined code gets the wider instructions: functions it
// calls keep the baseline build.
#if defined(__x86_64__)
__attribute__((target("avx2"))) std::size_t SimdParser::walk_avx2(
    const char* data, std::size_t size, std::size_t count, RecordWriter& writer,
    bool& handed_back, std::uint64_t& lines) {
  return walk_records(data, size, count, writer, handed_back, lines);
}

__attribute__((target("avx512f,avx512bw"))) std::size_t SimdParser::walk_avx512(
    const char* data, std::size_t size, std::size_t count, RecordWriter& writer,
    bool& handed_back, std::uint64_t& lines) {
  return walk_records(data, size, count, writer, handed_back, lines);
}
#else
std::size_t SimdParser::walk_avx2(const char* data, std::size_t size, std::size_t count,
                                  RecordWriter& writer, bool& handed_back, std::uint64_t& lines) {
  return walk_records(data, size, count, writer, handed_back, lines);
}

std::size_t SimdParser::walk_avx512(const char* data, std::size_t size, std::size_t count,
                                    RecordWriter& writer, bool& handed_back, std::uint64_t& lines) {
  return walk_records(data, size, count, writer, handed_back, lines);
}
#endif

std::size_t SimdParser::walk(const char* data, std::size_t size, std::size_t count,
                             RecordWriter& writer, bool& handed_back, std::uint64_t& lines) {
  return walk_records(data, size, count, writer, handed_back, lines);
}

SimdParser::RecordStatus SimdParser::write_record(WalkState& state) const {
  OutputCursor& cursor = state.cursor;
  const std::size_t last_field = state.columns - 1;
  const char* data = state.data;
  const std::size_t record_room = state.record_room();
  cursor.reserve(record_room);
  const std::size_t record_mark = cursor.offset();
  if (!state.ndjson) {
    cursor.write_two(state.first_record ? '[' : ',', '\n');
  }

  // Leaves the record to the next chunk or to the scalar tokenizer.
  auto stop = [&](RecordStatus status) {
    cursor.rewind(record_mark);
    return status;
  };

  std::size_t next = state.next;
  std::size_t field_start = state.record_start;
  std::uint64_t record_lines = 1;
  for (std::size_t field = 0;; ++field) {
    if (next == state.count) {
      return stop(RecordStatus::incomplete);
    }
    const std::uint32_t entry = state.structurals[next++];
    const std::size_t position = entry & offset_mask;
    const bool newline = (entry & newline_flag) != 0;
    if (newline != (field == last_field)) {
      return stop(RecordStatus::handed_back);  // the field count differs from the header's
    }
    std::size_t end = position;
    if (newline) {
      if (end > field_start && data[end - 1] == '\r') {
        --end;
      }
      if (end == field_start && field == 0) {
        return stop(RecordStatus::handed_back);  // a blank line
      }
    }

    const std::size_t key_start = state.key_offsets[field];
    const std::size_t key_size = state.key_offsets[field + 1] - key_start;
    if ((entry & dirty_field_flag) == 0 && !state.writer.infer_types()) {
      cursor.write_field(state.keys + key_start, key_size, data + field_start, end - field_start);
    } else if (plain_quoted(data, field_start, end, *this)) {
      cursor.write_field(state.keys + key_start, key_size, data + field_start + 1,
                         end - field_start - 2);
    } else {
      cursor.commit();
      const bool written = write_unusual_field(data, field_start, end, field, state.writer, record_lines);
      cursor.refresh();
      if (!written) {
        return stop(RecordStatus::handed_back);
      }
      cursor.reserve(record_room);
    }
    field_start = position + 1;
    if (newline) {
      break;
    }
  }

  cursor.write_one(state.record_close);
  if (state.ndjson) {
    cursor.write_one('\n');
  }
  state.next = next;
  state.record_start = field_start;
  state.first_record = false;
  ++state.records;
  state.lines += record_lines;
  return RecordStatus::written;
}

}  // namespace csv2json::detail
