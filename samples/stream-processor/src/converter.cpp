// The Converter: input buffering at record boundaries, the BOM, the record-length limit, and the
// choice between the SIMD tokenizer and the scalar reference.
#include "csv2json/converter.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "record_writer.h"
#include "scalar_parser.h"
#include "simd_parser.h"

namespace csv2json {

namespace {

// Input is converted in pieces of at most chunk_size bytes, which bounds the output one push makes.
constexpr std::size_t chunk_size = Converter::chunk_size;
static_assert(Converter::input_slack >= detail::copy_slack);
constexpr char utf8_bom[] = "\xEF\xBB\xBF";
// The SIMD index stores offsets in 31 bits, and the buffer contains a record plus a chunk.
constexpr std::size_t max_record_limit = std::size_t{1} << 30;

std::string printable(char byte) {
  switch (byte) {
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '"': return "\"";
    default: return std::string(1, byte);
  }
}

void validate(const Options& options) {
  const char delimiter = options.delimiter;
  if (delimiter == '"' || delimiter == '\n' || delimiter == '\r') {
    throw std::invalid_argument("invalid delimiter '" + printable(delimiter) +
                                "': a quote or line break cannot separate fields; use another "
                                "single byte such as ',', ';' or a tab");
  }
  if (options.max_record_bytes == 0 || options.max_record_bytes > max_record_limit) {
    throw std::invalid_argument("invalid maximum record size " + std::to_string(options.max_record_bytes) +
                                ": it must be from 1 byte to " + std::to_string(max_record_limit) +
                                " bytes (1 GiB)");
  }
  std::size_t first = 0;
  std::size_t second = 0;
  const std::string duplicate = detail::find_duplicate_column(options.columns, first, second);
  if (second < options.columns.size()) {
    throw std::invalid_argument("duplicate column name '" + duplicate + "' (columns " +
                                std::to_string(first + 1) + " and " + std::to_string(second + 1) +
                                "): give every column a unique name");
  }
  if (!engine_supported(options.engine)) {
    throw std::invalid_argument("engine " + std::string(engine_name(options.engine)) +
                                " is not supported by this CPU: use auto or scalar");
  }
}

}  // namespace

bool engine_supported(Engine engine) {
  switch (engine) {
    case Engine::automatic:
    case Engine::scalar:
      return true;
#if defined(__x86_64__)
    case Engine::sse2:
      return true;
    case Engine::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
    case Engine::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vbmi2") &&
             __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("popcnt");
#else
    case Engine::sse2:
    case Engine::avx2:
    case Engine::avx512:
      return false;
#endif
  }
  return false;
}

Engine best_engine() {
#if defined(__x86_64__)
  if (engine_supported(Engine::avx512)) {
    return Engine::avx512;
  }
  return engine_supported(Engine::avx2) ? Engine::avx2 : Engine::sse2;
#else
  return Engine::scalar;
#endif
}

std::string_view engine_name(Engine engine) {
  switch (engine) {
    case Engine::automatic: return "auto";
    case Engine::scalar: return "scalar";
    case Engine::sse2: return "sse2";
    case Engine::avx2: return "avx2";
    case Engine::avx512: return "avx512";
  }
  return "unknown";
}

// Runs the tokenizers over buffered input and keeps the line count at the buffer's start.
class Parser {
 public:
  Parser(const Options& options, Engine engine)
      : writer(options), settings_{options.delimiter, options.relaxed}, engine_(engine) {
    if (engine != Engine::scalar) {
      simd_.emplace(options.delimiter, engine);
    }
  }

  // Converts whole records of data[0, size), which starts at a record boundary, and returns the
  // bytes consumed.
  std::size_t parse(const char* data, std::size_t size, bool final) {
    std::size_t position = 0;
    if (simd_ && !writer.columns_known()) {
      position += parse_with_scalar(data, size, final, 1);  // the header, or the first array
    }
    if (simd_ && writer.columns_known() && !writer.failed()) {
      bool handed_back = false;
      std::uint64_t lines = 0;
      position += simd_->parse(data + position, size - position, writer, handed_back, lines);
      line_ += lines;
    }
    // The scalar tokenizer takes the rest: after a handed-back record, the rest of this piece, so
    // input full of unusual records costs one scalar pass rather than a rebuilt index per record.
    // Otherwise only the incomplete last record is left, and scanning it reports an error in it
    // (a stray quote) at the same point as the scalar engine would.
    if (!writer.failed()) {
      position += parse_with_scalar(data + position, size - position, final, static_cast<std::size_t>(-1));
    }
    return position;
  }

  std::uint64_t line() const { return line_; }
  Engine engine() const { return engine_; }

  detail::RecordWriter writer;

 private:
  std::size_t parse_with_scalar(const char* data, std::size_t size, bool final,
                                std::size_t max_records) {
    const std::size_t consumed =
        detail::parse_scalar(data, size, final, max_records, line_, settings_, writer);
    count_lines(data, consumed);
    return consumed;
  }

  void count_lines(const char* data, std::size_t size) { line_ += std::count(data, data + size, '\n'); }

  detail::ScalarSettings settings_;
  Engine engine_;
  std::optional<detail::SimdParser> simd_;
  std::uint64_t line_ = 1;
};

Converter::Converter(const Options& options) {
  validate(options);
  const Engine engine = options.engine == Engine::automatic ? best_engine() : options.engine;
  parser_ = std::make_unique<Parser>(options, engine);
  max_record_bytes_ = options.max_record_bytes;
}

Converter::~Converter() = default;

void Converter::reserve_input(std::size_t capacity) {
  if (capacity <= input_capacity_) {
    return;
  }
  capacity = std::max(capacity, input_capacity_ * 2);
  // The SIMD tokenizer may read detail::copy_slack bytes past the end of the data.
  std::unique_ptr<char[]> input(new char[capacity + detail::copy_slack]);
  if (input_size_ != 0) {
    std::memcpy(input.get(), input_.get(), input_size_);
  }
  input_ = std::move(input);
  input_capacity_ = capacity;
}

std::span<char> Converter::input_space() {
  reserve_input(input_size_ + chunk_size);
  return {input_.get() + input_size_, chunk_size};
}

void Converter::commit_input(std::size_t size) {
  input_size_ += std::min(size, chunk_size);
  convert_buffered(false);
}

void Converter::push(std::string_view chunk) {
  while (!chunk.empty()) {
    const std::span<char> space = input_space();
    const std::size_t size = std::min(space.size(), chunk.size());
    std::memcpy(space.data(), chunk.data(), size);
    commit_input(size);
    chunk.remove_prefix(size);
  }
}

void Converter::finish() {
  if (finished_) {
    return;
  }
  convert_buffered(true);
  parser_->writer.finish();
  finished_ = true;
}

void Converter::convert_buffered(bool final) {
  const std::size_t consumed = convert_range(input_.get(), input_size_, final);
  const std::size_t left = input_size_ - consumed;
  if (left != 0) {
    std::memmove(input_.get(), input_.get() + consumed, left);
  }
  input_size_ = left;
}

std::size_t Converter::convert_in_place(const char* data, std::size_t size) {
  if (input_size_ != 0) {
    // Bytes left buffered by push() must come first, so these bytes join them there.
    push({data, size});
    return size;
  }
  return convert_range(data, size, false);
}

std::size_t Converter::convert_range(const char* data, std::size_t size, bool final) {
  detail::RecordWriter& writer = parser_->writer;
  if (writer.failed() || finished_) {
    return size;
  }

  std::size_t offset = 0;
  if (!started_) {
    const std::size_t compared = std::min<std::size_t>(size, 3);
    const bool bom_prefix = compared != 0 && std::memcmp(data, utf8_bom, compared) == 0;
    if (bom_prefix && size < 3 && !final) {
      return 0;  // wait for the third byte
    }
    started_ = true;
    offset = bom_prefix && size >= 3 ? 3 : 0;
  }

  const std::size_t consumed = offset + parser_->parse(data + offset, size - offset, final);
  const std::size_t left = size - consumed;
  if (!writer.failed() && left > max_record_bytes_) {
    writer.fail_at_next_record(
        ErrorCode::record_too_long, parser_->line(),
        "the record is still incomplete after " + std::to_string(left) + " bytes, over the " +
            std::to_string(max_record_bytes_) +
            "-byte limit: look for a quote that is never closed, or raise --max-record-bytes");
  }
  return writer.failed() ? size : consumed;
}

std::string_view Converter::output() const { return parser_->writer.output().view(); }

void Converter::consume_output(std::size_t size) { parser_->writer.output().consume(size); }

bool Converter::failed() const { return parser_->writer.failed(); }

const Error& Converter::error() const { return parser_->writer.error(); }

Engine Converter::engine() const { return parser_->engine(); }

std::uint64_t Converter::records_written() const { return parser_->writer.records_written(); }

}  // namespace csv2json
