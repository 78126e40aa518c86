// csv2json: converts CSV (RFC 4180) to a JSON array or NDJSON in memory that does not grow
// with the input. Push input in chunks of any size, pull the JSON produced so far.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace csv2json {

enum class OutputFormat {
  json_array,  // one JSON array holding every record, records separated by ",\n"
  ndjson,      // one JSON value per line
};

// The handling of a record whose field count differs from the header's.
enum class FieldCountPolicy {
  error,  // stop with ErrorCode::field_count
  keep,   // csv-parser's shape: missing fields are left out, extra fields are keyed "_<index>"
  pad,    // missing fields become "", extra fields are keyed "_<index>"
};

// The tokenizer implementation. The scalar one is the reference the SIMD ones are tested against.
enum class Engine { automatic, scalar, sse2, avx2, avx512 };

struct Options {
  char delimiter = ',';
  // true: the first record names the columns. false: records become arrays of strings, unless
  // `columns` names them.
  bool header = true;
  // Column names for input without a header row. When set, the first record is data.
  std::vector<std::string> columns;
  OutputFormat format = OutputFormat::json_array;
  // Unquoted fields that read back as the same JSON number, and true/false, lose their quotes.
  bool infer_types = false;
  // Accept quotes inside unquoted fields and text after a closing quote, both kept verbatim.
  bool relaxed = false;
  FieldCountPolicy field_count = FieldCountPolicy::error;
  // A record still incomplete after this many input bytes is an error, which bounds the memory a
  // record takes. At most 1 GiB.
  std::size_t max_record_bytes = std::size_t{1} << 20;
  Engine engine = Engine::automatic;
};

enum class ErrorCode {
  none,
  unterminated_quote,  // end of input inside a quoted field
  stray_quote,         // a quote inside an unquoted field, or text after a closing quote
  field_count,         // field count differs from the header's under FieldCountPolicy::error
  record_too_long,     // a record exceeds Options::max_record_bytes
  duplicate_column,    // two columns of the header have the same name
};

struct Error {
  ErrorCode code = ErrorCode::none;
  std::uint64_t record = 0;  // 1-based, counting the header record and not counting blank lines
  std::uint64_t line = 0;    // 1-based line where the record (or the unterminated quote) starts
  std::string message;       // "line 3, record 3: ..." with the fix
};

// Returns the engine `automatic` resolves to on this CPU: avx512, avx2, sse2 or scalar.
Engine best_engine();
// Returns whether this CPU can run `engine` (avx512 needs AVX-512 F, BW, VBMI and VBMI2, and
// PCLMULQDQ).
bool engine_supported(Engine engine);
std::string_view engine_name(Engine engine);

class Parser;

// Converts one CSV stream. Not thread-safe: one thread pushes and pulls.
//
// Output is produced only for whole records, so after an error the output ends after the last
// good record, and finish() still closes the JSON array: what was produced is valid JSON.
class Converter {
 public:
  // Throws std::invalid_argument when the options cannot work (delimiter is a quote or newline,
  // duplicate names in `columns`, max_record_bytes of 0 or over 1 GiB, an engine this CPU lacks).
  explicit Converter(const Options& options);
  ~Converter();
  Converter(const Converter&) = delete;
  Converter& operator=(const Converter&) = delete;

  // Copies `chunk` in and converts every record it completes.
  void push(std::string_view chunk);

  // Zero-copy input: write up to input_space().size() bytes into the span, then commit them
  // (the span is invalidated by the next call).
  std::span<char> input_space();
  void commit_input(std::size_t size);

  // Zero-copy input for input already in memory, such as a mapped file. Converts the whole
  // records of data[0, size) where they are and returns the bytes consumed. The next call takes
  // the rest again, followed by more input. Each call converts what push() of the same bytes
  // would, with the same errors. The last piece of input goes through push() instead, then
  // finish(). At least input_slack bytes after data[size - 1] must be readable. Bytes that push()
  // left buffered are converted first, by copying these after them.
  std::size_t convert_in_place(const char* data, std::size_t size);
  static constexpr std::size_t input_slack = 64;

  // The input that input_space() offers per call, and the piece size convert_in_place() should
  // be given to report a too-long record at the same byte count as the buffered path.
  static constexpr std::size_t chunk_size = 64 * 1024;

  // Marks the end of input: converts the last record (with or without a newline), reports an
  // unterminated quote, and closes the JSON array.
  void finish();

  // The JSON produced and not yet consumed.
  std::string_view output() const;
  void consume_output(std::size_t size);

  bool failed() const;
  const Error& error() const;
  Engine engine() const;
  std::uint64_t records_written() const;

 private:
  void convert_buffered(bool final);
  // Converts whole records of data[0, size) (all of it when `final`), checks the BOM and the
  // record-length limit, and returns the bytes consumed: all of them after an error.
  std::size_t convert_range(const char* data, std::size_t size, bool final);

  void reserve_input(std::size_t capacity);

  std::unique_ptr<Parser> parser_;
  // Unconsumed bytes: the current partial record, then new input. It grows up to
  // max_record_bytes plus one chunk, and is not zero-filled so untouched pages stay unmapped.
  std::unique_ptr<char[]> input_;
  std::size_t input_size_ = 0;
  std::size_t input_capacity_ = 0;
  std::size_t max_record_bytes_ = 0;
  bool started_ = false;  // the BOM check is done
  bool finished_ = false;
};

}  // namespace csv2json
