// csv2json: the command-line front end of the converter. Reads a file or stdin in chunks and
// writes JSON to stdout in large writes; see --help for the options and exit codes.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "csv2json/converter.h"

namespace {

// Exit codes, also listed in --help and docs/stream-processor.md.
constexpr int exit_ok = 0;
constexpr int exit_data_error = 1;    // the CSV is invalid: the message names line and record
constexpr int exit_usage_error = 2;   // an unknown or invalid option
constexpr int exit_io_error = 3;      // the input cannot be read or the output cannot be written
constexpr int exit_output_closed = 4; // stdout was closed early (EPIPE), e.g. by `head`

// Output is written once this much is pending: few, large writes.
constexpr std::size_t write_threshold = 256 * 1024;
// A mapped input file has its converted pages released in steps of this many bytes, which keeps
// them out of the resident set.
constexpr std::size_t release_step = 256 * 1024;

constexpr const char* usage_text = R"(Usage: csv2json [OPTION]... [FILE]
Convert CSV (RFC 4180) from FILE, or standard input when FILE is - or missing, to JSON on
standard output, in memory that does not grow with the input.

Options:
  -d, --delimiter CHAR    field delimiter, one byte; "tab" or "\t" for a tab (default ,)
      --columns A,B,C     column names for input without a header row: the first record is data
      --no-header         no header row: each record becomes an array of strings
      --ndjson            one JSON value per line instead of one JSON array
      --infer-types       write unquoted fields that JSON reads back unchanged (integers,
                          decimals without trailing zeros, at most 15 significant digits)
                          and true/false without quotes; all else stays a string
      --relaxed           keep a quote inside an unquoted field, and text after a closing
                          quote, as text instead of failing
      --field-count POLICY
                          records whose field count differs from the header's: error (default),
                          keep (leave missing fields out, key extra ones "_<index>"), or pad
                          (missing fields become "", extra ones are keyed "_<index>")
      --max-record-bytes N
                          fail when a record is still incomplete after N bytes (default
                          1048576, at most 1073741824)
      --engine NAME       tokenizer: auto (default), scalar, sse2, avx2 or avx512
  -h, --help              show this help and exit
      --version           show the version and exit

Output: every value is a JSON string unless --infer-types; control characters are escaped and
each invalid UTF-8 sequence becomes U+FFFD. A UTF-8 BOM at the start is skipped, blank lines too.

Exit codes: 0 success; 1 invalid CSV (the message names the line and record, and the output
holds the records before it as valid JSON); 2 invalid option; 3 read or write error;
4 standard output closed before the end (EPIPE).
)";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct CommandLine {
  csv2json::Options options;
  std::string input_path = "-";
};

char parse_delimiter(std::string_view value) {
  if (value == "tab" || value == "\\t") {
    return '\t';
  }
  if (value.size() != 1) {
    throw UsageError("invalid delimiter '" + std::string(value) +
                     "': it must be a single byte, or \"tab\"");
  }
  return value[0];
}

std::vector<std::string> parse_columns(std::string_view value) {
  std::vector<std::string> columns;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = value.find(',', start);
    columns.emplace_back(value.substr(start, comma - start));
    if (comma == std::string_view::npos) {
      break;
    }
    start = comma + 1;
  }
  return columns;
}

csv2json::FieldCountPolicy parse_field_count(std::string_view value) {
  if (value == "error") return csv2json::FieldCountPolicy::error;
  if (value == "keep") return csv2json::FieldCountPolicy::keep;
  if (value == "pad") return csv2json::FieldCountPolicy::pad;
  throw UsageError("invalid --field-count '" + std::string(value) + "': use error, keep or pad");
}

csv2json::Engine parse_engine(std::string_view value) {
  if (value == "auto") return csv2json::Engine::automatic;
  if (value == "scalar") return csv2json::Engine::scalar;
  if (value == "sse2") return csv2json::Engine::sse2;
  if (value == "avx2") return csv2json::Engine::avx2;
  if (value == "avx512") return csv2json::Engine::avx512;
  throw UsageError("invalid --engine '" + std::string(value) +
                   "': use auto, scalar, sse2, avx2 or avx512");
}

std::size_t parse_size(std::string_view option, std::string_view value) {
  std::size_t result = 0;
  for (char digit : value) {
    if (digit < '0' || digit > '9' || result > (static_cast<std::size_t>(-1) - 9) / 10) {
      result = 0;
      break;
    }
    result = result * 10 + static_cast<std::size_t>(digit - '0');
  }
  if (result == 0) {
    throw UsageError("invalid " + std::string(option) + " '" + std::string(value) +
                     "': it must be a positive whole number of bytes");
  }
  return result;
}

// Returns false when --help or --version was handled.
bool parse_command_line(int argc, char** argv, CommandLine& command) {
  bool have_input = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) {
        throw UsageError("option " + std::string(argument) + " needs a value");
      }
      return argv[++i];
    };

    if (argument == "-h" || argument == "--help") {
      std::fputs(usage_text, stdout);
      return false;
    } else if (argument == "--version") {
      std::printf("csv2json 0.1.0 (engine %s)\n",
                  std::string(csv2json::engine_name(csv2json::best_engine())).c_str());
      return false;
    } else if (argument == "-d" || argument == "--delimiter") {
      command.options.delimiter = parse_delimiter(value());
    } else if (argument == "--columns") {
      command.options.columns = parse_columns(value());
    } else if (argument == "--no-header") {
      command.options.header = false;
    } else if (argument == "--ndjson") {
      command.options.format = csv2json::OutputFormat::ndjson;
    } else if (argument == "--infer-types") {
      command.options.infer_types = true;
    } else if (argument == "--relaxed") {
      command.options.relaxed = true;
    } else if (argument == "--field-count") {
      command.options.field_count = parse_field_count(value());
    } else if (argument == "--max-record-bytes") {
      command.options.max_record_bytes = parse_size(argument, value());
    } else if (argument == "--engine") {
      command.options.engine = parse_engine(value());
    } else if (argument.size() > 1 && argument[0] == '-') {
      throw UsageError("unknown option '" + std::string(argument) + "': see csv2json --help");
    } else if (have_input) {
      throw UsageError("more than one input file ('" + command.input_path + "' and '" +
                       std::string(argument) + "'): convert one file per run");
    } else {
      command.input_path = argument;
      have_input = true;
    }
  }
  return true;
}

enum class WriteResult { ok, closed, failed };

WriteResult write_all(std::string_view data) {
  while (!data.empty()) {
    const ssize_t written = ::write(STDOUT_FILENO, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno == EPIPE ? WriteResult::closed : WriteResult::failed;
    }
    data.remove_prefix(static_cast<std::size_t>(written));
  }
  return WriteResult::ok;
}

// Writes the pending output when at least `threshold` bytes wait. Returns an exit code or -1.
int flush_output(csv2json::Converter& converter, std::size_t threshold) {
  const std::string_view pending = converter.output();
  if (pending.size() < threshold || pending.empty()) {
    return -1;
  }
  const WriteResult result = write_all(pending);
  if (result == WriteResult::closed) {
    return exit_output_closed;
  }
  if (result == WriteResult::failed) {
    std::fprintf(stderr, "csv2json: error: writing standard output failed: %s\n", std::strerror(errno));
    return exit_io_error;
  }
  converter.consume_output(pending.size());
  return -1;
}

// The message of on_mapped_input_truncated(), formatted before the mapping is read, because
// snprintf is not async-signal-safe and write() is.
char g_truncated_message[1024];
std::size_t g_truncated_length = 0;

// Reading a mapped page past the end of a file that another process truncated raises SIGBUS.
// The rest of the input is gone, so the run ends as an input error instead of a crash.
extern "C" void on_mapped_input_truncated(int) {
  const ssize_t ignored = ::write(STDERR_FILENO, g_truncated_message, g_truncated_length);
  (void)ignored;
  ::_exit(exit_io_error);
}

// Converts a regular file through a read-only mapping, so its bytes are not copied into the
// converter's input buffer. Returns an exit code, or -1 with `resume` set to the file offset
// where read() must take over (0 when the file was not mapped). The pieces end where 64 KiB
// reads would, so errors match those of the read path. A file truncated by another process
// during the conversion ends the run with exit code 3 (on_mapped_input_truncated).
int convert_mapped(int input, const char* path, csv2json::Converter& converter, off_t& resume) {
  using csv2json::Converter;
  resume = 0;
  struct stat info {};
  if (::fstat(input, &info) != 0 || !S_ISREG(info.st_mode) ||
      static_cast<std::size_t>(info.st_size) < 2 * Converter::chunk_size) {
    return -1;  // reading a small file costs little
  }
  const auto file_size = static_cast<std::size_t>(info.st_size);
  void* mapping = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, input, 0);
  if (mapping == MAP_FAILED) {
    return -1;  // read() works on anything open() opened
  }
  ::madvise(mapping, file_size, MADV_SEQUENTIAL);
  const char* bytes = static_cast<const char*>(mapping);

  const int length = std::snprintf(g_truncated_message, sizeof(g_truncated_message),
                                   "csv2json: error: '%s' became shorter during the conversion (another "
                                   "process truncated it); convert a copy that nothing writes to\n",
                                   path);
  g_truncated_length = length < 0 ? 0 : std::min(static_cast<std::size_t>(length), sizeof(g_truncated_message) - 1);
  struct sigaction on_bus {};
  struct sigaction previous {};
  on_bus.sa_handler = on_mapped_input_truncated;
  sigemptyset(&on_bus.sa_mask);
  ::sigaction(SIGBUS, &on_bus, &previous);

  int status = -1;
  std::size_t position = 0;   // the first byte not yet converted
  std::size_t converted = 0;  // the end of the last piece
  std::size_t released = 0;   // the pages below this offset were released
  // The converter reads up to input_slack bytes past a piece, which must still be in the file.
  while (converted + Converter::chunk_size + Converter::input_slack <= file_size) {
    converted += Converter::chunk_size;
    position += converter.convert_in_place(bytes + position, converted - position);
    status = flush_output(converter, write_threshold);
    if (status >= 0 || converter.failed()) {
      break;
    }
    const std::size_t release_end = position / release_step * release_step;
    if (release_end > released) {
      ::madvise(const_cast<char*>(bytes) + released, release_end - released, MADV_DONTNEED);
      released = release_end;
    }
  }
  if (status < 0 && !converter.failed()) {
    // The incomplete record at the end goes to the input buffer, and read() continues after it.
    converter.push({bytes + position, converted - position});
    resume = static_cast<off_t>(converted);
  }
  ::munmap(mapping, file_size);
  ::sigaction(SIGBUS, &previous, nullptr);
  return status;
}

int convert(const CommandLine& command, csv2json::Converter& converter) {
  int input = STDIN_FILENO;
  const bool from_file = command.input_path != "-";
  if (from_file) {
    input = ::open(command.input_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (input < 0) {
      std::fprintf(stderr, "csv2json: error: cannot open '%s': %s\n", command.input_path.c_str(),
                   std::strerror(errno));
      return exit_io_error;
    }
    ::posix_fadvise(input, 0, 0, POSIX_FADV_SEQUENTIAL);
  }

  int status = -1;
  if (from_file) {
    off_t resume = 0;
    status = convert_mapped(input, command.input_path.c_str(), converter, resume);
    if (status < 0 && resume != 0 && ::lseek(input, resume, SEEK_SET) != resume) {
      std::fprintf(stderr, "csv2json: error: seeking in '%s' failed: %s\n",
                   command.input_path.c_str(), std::strerror(errno));
      status = exit_io_error;
    }
  }
  while (status < 0 && !converter.failed()) {
    const std::span<char> space = converter.input_space();
    const ssize_t got = ::read(input, space.data(), space.size());
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got < 0) {
      std::fprintf(stderr, "csv2json: error: reading '%s' failed: %s\n",
                   from_file ? command.input_path.c_str() : "standard input", std::strerror(errno));
      status = exit_io_error;
      break;
    }
    if (got == 0) {
      break;
    }
    converter.commit_input(static_cast<std::size_t>(got));
    status = flush_output(converter, write_threshold);
    if (converter.failed()) {
      break;
    }
  }
  if (from_file) {
    ::close(input);
  }
  if (status >= 0) {
    return status;
  }

  converter.finish();
  status = flush_output(converter, 1);
  if (status >= 0) {
    return status;
  }
  if (converter.failed()) {
    std::fprintf(stderr, "csv2json: error: %s\n", converter.error().message.c_str());
    return exit_data_error;
  }
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  // A closed stdout must become EPIPE from write(), not a fatal signal.
  std::signal(SIGPIPE, SIG_IGN);

  CommandLine command;
  try {
    if (!parse_command_line(argc, argv, command)) {
      return exit_ok;
    }
    csv2json::Converter converter(command.options);
    return convert(command, converter);
  } catch (const UsageError& error) {
    std::fprintf(stderr, "csv2json: error: %s\n", error.what());
    return exit_usage_error;
  } catch (const std::invalid_argument& error) {
    std::fprintf(stderr, "csv2json: error: %s\n", error.what());
    return exit_usage_error;
  }
}
