// A short, deterministic fuzz run for every CTest pass: seeded random bytes biased toward CSV
// syntax, and mutated random CSV, through the same checks as the libFuzzer target.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "random_csv.h"
#include "tokenizer_fuzz.h"

namespace {

TEST(TokenizerFuzz, SeededRandomBytes) {
  static const char alphabet[] = {'a', '1', ',', ';', '"', '"', '\n', '\r', ' ', '\\', '\x01', '\x80',
                                  '\xC3', '\xA9', '\xEF', '\xBB', '\xBF', 'e', '-', '.'};
  std::mt19937_64 random(20261204);
  for (int run = 0; run < 4000; ++run) {
    std::vector<std::uint8_t> input(2 + random() % 300);
    input[0] = static_cast<std::uint8_t>(random());
    input[1] = static_cast<std::uint8_t>(random());
    for (std::size_t i = 2; i < input.size(); ++i) {
      input[i] = static_cast<std::uint8_t>(alphabet[random() % sizeof(alphabet)]);
    }
    run_tokenizer_fuzz_case(input.data(), input.size());
  }
}

TEST(TokenizerFuzz, MutatedRandomCsv) {
  std::mt19937_64 random(7);
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    csv2json::testing::RandomCsvShape shape;
    shape.columns = 1 + static_cast<int>(seed % 6);
    shape.records = 30;
    shape.malformed = seed % 2 == 0;
    std::string csv = csv2json::testing::random_csv(seed, shape);
    for (int flip = 0; flip < 3 && !csv.empty(); ++flip) {
      csv[random() % csv.size()] = "\",\n\r"[random() % 4];
    }
    std::vector<std::uint8_t> input = {static_cast<std::uint8_t>(random()), static_cast<std::uint8_t>(random())};
    input.insert(input.end(), csv.begin(), csv.end());
    run_tokenizer_fuzz_case(input.data(), input.size());
  }
}

}  // namespace
