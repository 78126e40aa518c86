// Differential test: the SIMD engines must produce exactly what the scalar reference produces,
// output and error, on random CSV pushed whole, split at every offset, and in random chunks.
#include <gtest/gtest.h>

#include <random>

#include "convert_helpers.h"
#include "random_csv.h"

namespace csv2json::testing {
namespace {

std::vector<Engine> simd_engines() {
  std::vector<Engine> engines;
  if (best_engine() != Engine::scalar) {
    engines.push_back(Engine::sse2);
  }
  if (best_engine() == Engine::avx2) {
    engines.push_back(Engine::avx2);
  }
  return engines;
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

TEST(Differential, EverySplitOfSmallInputs) {
  if (simd_engines().empty()) {
    GTEST_SKIP() << "no SIMD engine on this CPU";
  }
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
      for (const Engine engine : simd_engines()) {
        expect_same(reference, convert_split(csv, with_engine(options, engine), split),
                    "seed " + std::to_string(seed) + " split " + std::to_string(split) + " engine " +
                        std::string(engine_name(engine)));
        if (HasFatalFailure()) {
          return;
        }
      }
    }
  }
}

TEST(Differential, LargeInputsInRandomChunks) {
  if (simd_engines().empty()) {
    GTEST_SKIP() << "no SIMD engine on this CPU";
  }
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
    for (const Engine engine : simd_engines()) {
      expect_same(reference, convert(csv, with_engine(options, engine), chunk),
                  "seed " + std::to_string(seed) + " chunk " + std::to_string(chunk) + " engine " +
                      std::string(engine_name(engine)));
    }
  }
}

}  // namespace
}  // namespace csv2json::testing
