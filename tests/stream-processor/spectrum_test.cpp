// Conformance: every csv-spectrum case, whole and split in two at every byte offset, with each
// engine, parsed and compared with the suite's expected JSON.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "convert_helpers.h"

namespace csv2json::testing {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

std::vector<Engine> engines() {
  std::vector<Engine> result;
  for (const Engine engine : {Engine::scalar, Engine::sse2, Engine::avx2, Engine::avx512}) {
    if (engine_supported(engine)) {
      result.push_back(engine);
    }
  }
  return result;
}

const fs::path spectrum_dir = CSV_SPECTRUM_DIR;

std::vector<std::string> consistent_cases() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(spectrum_dir / "csvs")) {
    const std::string name = entry.path().stem().string();
    if (name != "location_coordinates") {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(CsvSpectrum, SuiteIsPresent) {
  ASSERT_TRUE(fs::exists(spectrum_dir / "csvs" / "simple.csv"))
      << "csv-spectrum not found in " << spectrum_dir << ": run scripts/setup.sh";
  EXPECT_GE(consistent_cases().size(), 11u);
}

TEST(CsvSpectrum, EveryCaseAtEverySplit) {
  for (const std::string& name : consistent_cases()) {
    const std::string csv = read_file(spectrum_dir / "csvs" / (name + ".csv"));
    const nlohmann::json expected = nlohmann::json::parse(read_file(spectrum_dir / "json" / (name + ".json")));
    for (const Engine engine : engines()) {
      const Options options = with_engine(Options{}, engine);
      for (std::size_t split = 0; split <= csv.size(); ++split) {
        const Conversion result = convert_split(csv, options, split);
        ASSERT_EQ(result.error.code, ErrorCode::none)
            << name << " split at " << split << ": " << result.error.message;
        ASSERT_EQ(nlohmann::json::parse(result.output), expected)
            << name << " engine " << engine_name(engine) << " split at " << split << ":\n" << result.output;
      }
    }
  }
}

// The case's JSON does not match its CSV: the phone number differs, and the JSON is one object,
// not an array. Its second field also contains unquoted quotes (37°36'37.8"N), a strict-mode error.
TEST(CsvSpectrum, LocationCoordinatesIsStrictError) {
  const std::string csv = read_file(spectrum_dir / "csvs" / "location_coordinates.csv");
  for (const Engine engine : engines()) {
    const Conversion result = convert(csv, with_engine(Options{}, engine));
    EXPECT_EQ(result.error.code, ErrorCode::stray_quote) << engine_name(engine);
    EXPECT_EQ(result.error.line, 2u);
    EXPECT_NE(result.error.message.find("stray quote in unquoted field 2"), std::string::npos)
        << result.error.message;
    EXPECT_EQ(result.output, "[]\n");
  }
}

TEST(CsvSpectrum, LocationCoordinatesRelaxed) {
  const std::string csv = read_file(spectrum_dir / "csvs" / "location_coordinates.csv");
  nlohmann::json expected = nlohmann::json::parse(read_file(spectrum_dir / "json" / "location_coordinates.json"));
  expected["Contact Phone Number"] = "2095257564";  // the number in the CSV
  for (const Engine engine : engines()) {
    Options options = with_engine(Options{}, engine);
    options.relaxed = true;
    for (std::size_t split = 0; split <= csv.size(); ++split) {
      const Conversion result = convert_split(csv, options, split);
      ASSERT_EQ(result.error.code, ErrorCode::none) << result.error.message;
      ASSERT_EQ(nlohmann::json::parse(result.output), nlohmann::json::array({expected}))
          << "split at " << split;
    }
  }
}

}  // namespace
}  // namespace csv2json::testing
