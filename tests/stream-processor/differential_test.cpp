// Differential test: the SIMD engines must produce exactly what the scalar reference produces,
// output and error, on random CSV pushed whole, split at every offset, and in random chunks.
#include <gtest/gtest.h>

#include <random>

#include "convert_helpers.h"
#include "random_csv.h"

namespace csv2json::testing {
namespace {

// Every SIMD engine is one test parameter, so a CPU without its instructions shows it as skipped.
class Differential : public ::testing::TestWithParam<Engine> {
 protected:
  void SetUp() override {
    if (!engine_supported(GetParam())) {
      GTEST_SKIP() << "this CPU lacks the instructions of engine " << engine_name(GetParam());
    }
  }
};

std::string engine_label(const ::testing::TestParamInfo<Engine>& info) {
  return std::string(engine_name(info.param));
}

void expect_same(const Conversion& reference, const Conversion& simd, const std::string& context) {
  ASSERT_EQ(simd.error.code, reference.error.code) << context << "\n" << simd.error.message;
  ASSERT_EQ(simd.error.message, reference.error.message) << context;
  ASSERT_EQ(simd.output, reference.output) << context;
}

Options options_for(std::uint64_t seed, bool malformed) {
  Options options;
  options.format = seed % 2 == 0 ? OutputFormat::json_array : OutputFormat::ndjson;
  options.infer_types = seed % 3 == 0;
  options.header = seed % 7 != 0;
  if (malformed) {
    options.relaxed = seed % 2 == 1;
    options.field_count = static_cast<FieldCountPolicy>(seed % 3);
  }
  return options;
}

TEST_P(Differential, EverySplitOfSmallInputs) {
  const Engine engine = GetParam();
  for (std::uint64_t seed = 1; seed <= 60; ++seed) {
    const bool malformed = seed % 4 == 0;
    RandomCsvShape shape;
    shape.columns = 1 + static_cast<int>(seed % 5);
    shape.records = 6;
    shape.malformed = malformed;
    const std::string csv = random_csv(seed, shape);
    const Options options = options_for(seed, malformed);
    for (std::size_t split = 0; split <= csv.size(); ++split) {
      const Conversion reference = convert_split(csv, with_engine(options, Engine::scalar), split);
      expect_same(reference, convert_split(csv, with_engine(options, engine), split),
                  "seed " + std::to_string(seed) + " split " + std::to_string(split));
      if (HasFatalFailure()) {
        return;
      }
    }
  }
}

TEST_P(Differential, LargeInputsInRandomChunks) {
  const Engine engine = GetParam();
  for (std::uint64_t seed = 100; seed < 140; ++seed) {
    const bool malformed = seed % 5 == 0;
    RandomCsvShape shape;
    shape.columns = 1 + static_cast<int>(seed % 9);
    shape.records = 3000;
    shape.malformed = malformed;
    shape.delimiter = seed % 6 == 0 ? ';' : ',';
    const std::string csv = random_csv(seed, shape);
    Options options = options_for(seed, malformed);
    options.delimiter = shape.delimiter;

    std::mt19937_64 random(seed);
    const std::size_t chunk = 1 + random() % 100000;
    const Conversion reference = convert(csv, with_engine(options, Engine::scalar), chunk);
    expect_same(reference, convert(csv, with_engine(options, engine), chunk),
                "seed " + std::to_string(seed) + " chunk " + std::to_string(chunk));
    if (HasFatalFailure()) {
      return;
    }
  }
}

// Stage 1 marks, per field, whether it holds a byte to escape, carrying the mark from one 64-byte
// block to the next. Records of every length from 1 to 200 bytes move each field edge, quote,
// escaped byte and CRLF across the block boundaries.
TEST_P(Differential, FieldMarksAcrossBlocks) {
  const Engine engine = GetParam();
  static const char* const fields[] = {"plain", "\"quoted, with comma\"", "tab\there",
                                       "caf\xC3\xA9", "\"two\"\"quotes\"", "back\\slash",
                                       "\"line\nbreak\"", "\"\"", ""};
  const std::size_t field_count = sizeof(fields) / sizeof(fields[0]);
  for (const char* newline : {"\n", "\r\n"}) {
    std::string csv = std::string("a,b,c") + newline;
    for (std::size_t length = 1; length <= 200; ++length) {
      const std::string padding(length, 'x');
      const std::size_t pick = length % field_count;
      csv += padding + "," + fields[pick] + "," + fields[(pick + 4) % field_count] + newline;
      csv += std::string(fields[(pick + 2) % field_count]) + "," + padding + "," + padding + newline;
    }
    for (const OutputFormat format : {OutputFormat::ndjson, OutputFormat::json_array}) {
      Options options;
      options.format = format;
      for (const std::size_t chunk : {std::size_t{0}, std::size_t{64}, std::size_t{4093}}) {
        const Conversion reference = convert(csv, with_engine(options, Engine::scalar), chunk);
        ASSERT_EQ(reference.error.code, ErrorCode::none) << reference.error.message;
        expect_same(reference, convert(csv, with_engine(options, engine), chunk),
                    "chunk " + std::to_string(chunk));
        if (HasFatalFailure()) {
          return;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SimdEngines, Differential,
                         ::testing::Values(Engine::sse2, Engine::avx2, Engine::avx512),
                         engine_label);

}  // namespace
}  // namespace csv2json::testing
