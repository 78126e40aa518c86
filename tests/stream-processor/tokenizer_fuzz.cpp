// Fuzzing the tokenizers: two header bytes choose the options and the chunk size; the rest is CSV.
// Every SIMD engine must match the scalar reference, and the output must always be valid JSON.
#include "tokenizer_fuzz.h"

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "convert_helpers.h"

namespace {

using namespace csv2json;
using csv2json::testing::Conversion;

[[noreturn]] void report(const char* what, const std::string& detail) {
  std::fprintf(stderr, "tokenizer fuzz: %s\n%s\n", what, detail.c_str());
  std::abort();
}

void check_json(const Options& options, const std::string& output) {
  if (options.format == OutputFormat::json_array) {
    if (!nlohmann::json::accept(output)) {
      report("the JSON array output is not valid JSON", output);
    }
    return;
  }
  std::size_t start = 0;
  while (start < output.size()) {
    const std::size_t end = output.find('\n', start);
    if (end == std::string::npos || !nlohmann::json::accept(output.substr(start, end - start))) {
      report("an NDJSON line is not valid JSON", output);
    }
    start = end + 1;
  }
}

}  // namespace

int run_tokenizer_fuzz_case(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  const std::uint8_t flags = data[0];
  const std::size_t chunk = 1 + data[1] * 7u;
  const std::string_view csv(reinterpret_cast<const char*>(data + 2), size - 2);

  Options options;
  options.format = (flags & 1) != 0 ? OutputFormat::ndjson : OutputFormat::json_array;
  options.infer_types = (flags & 2) != 0;
  options.relaxed = (flags & 4) != 0;
  options.header = (flags & 8) == 0;
  options.field_count = static_cast<FieldCountPolicy>((flags >> 4) % 3);
  options.delimiter = (flags & 64) != 0 ? ';' : ',';
  options.max_record_bytes = (flags & 128) != 0 ? 64 : 4096;

  options.engine = Engine::scalar;
  const Conversion reference = csv2json::testing::convert(csv, options, chunk);
  check_json(options, reference.output);

  for (const Engine engine : {Engine::sse2, Engine::avx2, Engine::avx512}) {
    if (!engine_supported(engine)) {
      continue;
    }
    options.engine = engine;
    const Conversion simd = csv2json::testing::convert(csv, options, chunk);
    if (simd.error.message != reference.error.message || simd.output != reference.output) {
      report("a SIMD engine differs from the scalar reference",
             std::string(engine_name(engine)) + " output:\n" + simd.output + "\nerror: " +
                 simd.error.message + "\nscalar output:\n" + reference.output +
                 "\nerror: " + reference.error.message);
    }
  }
  return 0;
}
