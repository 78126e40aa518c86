// Unit tests of the converter: output shapes, options, error messages and positions, the
// invalid UTF-8 policy, type inference and the incremental API.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "convert_helpers.h"
#include "json_text.h"
#include "random_csv.h"

namespace csv2json::testing {
namespace {

Options ndjson() {
  Options options;
  options.format = OutputFormat::ndjson;
  return options;
}

std::string convert_ok(std::string_view input, const Options& options = Options{}) {
  const Conversion result = convert(input, options);
  EXPECT_EQ(result.error.code, ErrorCode::none) << result.error.message;
  return result.output;
}

TEST(Converter, ArrayOfObjects) {
  EXPECT_EQ(convert_ok("a,b\n1,2\n3,4\n"), "[\n{\"a\":\"1\",\"b\":\"2\"},\n{\"a\":\"3\",\"b\":\"4\"}\n]\n");
}

TEST(Converter, HeaderOnlyIsEmptyArray) {
  EXPECT_EQ(convert_ok("a,b\n"), "[]\n");
  EXPECT_EQ(convert_ok(""), "[]\n");
}

TEST(Converter, Ndjson) {
  EXPECT_EQ(convert_ok("a,b\r\n1,2\r\n3,4", ndjson()), "{\"a\":\"1\",\"b\":\"2\"}\n{\"a\":\"3\",\"b\":\"4\"}\n");
}

TEST(Converter, ArraysWithoutHeader) {
  Options options;
  options.header = false;
  EXPECT_EQ(convert_ok("1,2\n3,4\n", options), "[\n[\"1\",\"2\"],\n[\"3\",\"4\"]\n]\n");
}

TEST(Converter, ExplicitColumns) {
  Options options = ndjson();
  options.columns = {"start", "end"};
  EXPECT_EQ(convert_ok("1,2\n3,4\n", options), "{\"start\":\"1\",\"end\":\"2\"}\n{\"start\":\"3\",\"end\":\"4\"}\n");
}

TEST(Converter, QuotedFieldsKeepLineBreaks) {
  EXPECT_EQ(convert_ok("a,b\n\"x,\r\ny\",\"he said \"\"hi\"\"\"\n", ndjson()),
            "{\"a\":\"x,\\r\\ny\",\"b\":\"he said \\\"hi\\\"\"}\n");
}

TEST(Converter, BomIsStripped) {
  EXPECT_EQ(convert_ok("\xEF\xBB\xBF" "a\n1\n", ndjson()), "{\"a\":\"1\"}\n");
  EXPECT_EQ(convert(std::string("\xEF\xBB\xBF" "a\n1\n"), ndjson(), 1).output, "{\"a\":\"1\"}\n");
}

TEST(Converter, BlankLinesSkipped) {
  EXPECT_EQ(convert_ok("a\n\n1\r\n\r\n2\n\n", ndjson()), "{\"a\":\"1\"}\n{\"a\":\"2\"}\n");
}

TEST(Converter, LastRecordWithoutNewline) {
  EXPECT_EQ(convert_ok("a,b\n1,", ndjson()), "{\"a\":\"1\",\"b\":\"\"}\n");
  EXPECT_EQ(convert_ok("a,b\n1,\"2\"", ndjson()), "{\"a\":\"1\",\"b\":\"2\"}\n");
  EXPECT_EQ(convert_ok("a,b\n1,2\r", ndjson()), "{\"a\":\"1\",\"b\":\"2\"}\n");
}

TEST(Converter, ControlCharactersEscaped) {
  EXPECT_EQ(convert_ok(std::string("a\n\"\x01\t\\\x1f\"\n", 9), ndjson()),
            "{\"a\":\"\\u0001\\t\\\\\\u001f\"}\n");
}

TEST(Converter, InvalidUtf8Replaced) {
  // A lone continuation byte, a truncated 3-byte sequence, an overlong form and a surrogate.
  EXPECT_EQ(convert_ok("a\n\x80x\n", ndjson()), "{\"a\":\"\xEF\xBF\xBDx\"}\n");
  EXPECT_EQ(convert_ok("a\n\xE2\x82x\n", ndjson()), "{\"a\":\"\xEF\xBF\xBDx\"}\n");
  EXPECT_EQ(convert_ok("a\n\xC0\xAF\n", ndjson()), "{\"a\":\"\xEF\xBF\xBD\xEF\xBF\xBD\"}\n");
  EXPECT_EQ(convert_ok("a\n\xED\xA0\x80\n", ndjson()),
            "{\"a\":\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"}\n");
  EXPECT_EQ(convert_ok("a\n\xF0\x9F\x98\x80\n", ndjson()), "{\"a\":\"\xF0\x9F\x98\x80\"}\n");
}

TEST(Converter, HeaderNamesEscaped) {
  EXPECT_EQ(convert_ok("\"a\"\"b\",c\\d\n1,2\n", ndjson()), "{\"a\\\"b\":\"1\",\"c\\\\d\":\"2\"}\n");
}

TEST(Converter, OtherDelimiter) {
  Options options = ndjson();
  options.delimiter = '\t';
  EXPECT_EQ(convert_ok("a\tb\n1,5\t\"x\ty\"\n", options), "{\"a\":\"1,5\",\"b\":\"x\\ty\"}\n");
}

TEST(InferTypes, KeepsMacPrefixesAsStrings) {
  Options options = ndjson();
  options.infer_types = true;
  EXPECT_EQ(convert_ok("a,b,c,d,e,f,g\n00E009,1E5,12,-3.25,true,\"7\",0\n", options),
            "{\"a\":\"00E009\",\"b\":\"1E5\",\"c\":12,\"d\":-3.25,\"e\":true,\"f\":\"7\",\"g\":0}\n");
}

TEST(InferTypes, LosslessLiteralRule) {
  using detail::is_lossless_json_literal;
  for (const char* number : {"0", "7", "-7", "123456789012345", "0.5", "-0.000001", "10.25"}) {
    EXPECT_TRUE(is_lossless_json_literal(number)) << number;
  }
  for (const char* text : {"", "-", "-0", "00", "007", "1.", ".5", "1.50", "1e3", "0x10", "+1",
                           "1234567890123456", "9007199254740993", "0.0000001", "True", "NaN",
                           "Infinity", " 1", "1 "}) {
    EXPECT_FALSE(is_lossless_json_literal(text)) << text;
  }
}

TEST(Errors, StrayQuoteNamesLineAndRecord) {
  const Conversion result = convert("a,b\n1,2\n3,x\"y\n5,6\n", ndjson());
  EXPECT_EQ(result.error.code, ErrorCode::stray_quote);
  EXPECT_EQ(result.error.line, 3u);
  EXPECT_EQ(result.error.record, 3u);
  EXPECT_NE(result.error.message.find("line 3, record 3: stray quote in unquoted field 2"), std::string::npos)
      << result.error.message;
  EXPECT_EQ(result.output, "{\"a\":\"1\",\"b\":\"2\"}\n");
}

TEST(Errors, TextAfterClosingQuote) {
  const Conversion result = convert("a,b\n\"1\"x,2\n", ndjson());
  EXPECT_EQ(result.error.code, ErrorCode::stray_quote);
  EXPECT_NE(result.error.message.find("text after the closing quote of field 1"), std::string::npos);
}

TEST(Errors, RelaxedKeepsQuotesAsText) {
  Options options = ndjson();
  options.relaxed = true;
  EXPECT_EQ(convert_ok("a,b\n3,x\"y\n\"1\"x,2\n", options),
            "{\"a\":\"3\",\"b\":\"x\\\"y\"}\n{\"a\":\"\\\"1\\\"x\",\"b\":\"2\"}\n");
}

TEST(Errors, UnterminatedQuoteGivesOpeningLine) {
  const Conversion result = convert("a\n1\n2\n\"open\n\nstill\n", Options{});
  EXPECT_EQ(result.error.code, ErrorCode::unterminated_quote);
  EXPECT_EQ(result.error.line, 4u);
  EXPECT_EQ(result.error.record, 4u);
  // The records before the error form a closed, valid JSON array.
  EXPECT_EQ(result.output, "[\n{\"a\":\"1\"},\n{\"a\":\"2\"}\n]\n");
}

TEST(Errors, FieldCountPolicies) {
  const std::string input = "a,b\n1\n2,3,4\n";
  const Conversion strict = convert(input, ndjson());
  EXPECT_EQ(strict.error.code, ErrorCode::field_count);
  EXPECT_NE(strict.error.message.find("line 2, record 2: the record has 1 field but the header has 2"),
            std::string::npos)
      << strict.error.message;

  Options keep = ndjson();
  keep.field_count = FieldCountPolicy::keep;
  EXPECT_EQ(convert_ok(input, keep), "{\"a\":\"1\"}\n{\"a\":\"2\",\"b\":\"3\",\"_2\":\"4\"}\n");

  Options pad = ndjson();
  pad.field_count = FieldCountPolicy::pad;
  EXPECT_EQ(convert_ok(input, pad), "{\"a\":\"1\",\"b\":\"\"}\n{\"a\":\"2\",\"b\":\"3\",\"_2\":\"4\"}\n");
}

TEST(Errors, ArraysCheckFirstRecordCount) {
  Options options = ndjson();
  options.header = false;
  const Conversion result = convert("1,2\n3\n", options);
  EXPECT_EQ(result.error.code, ErrorCode::field_count);
  EXPECT_NE(result.error.message.find("the first record has 2"), std::string::npos);
}

TEST(Errors, DuplicateHeaderColumn) {
  const Conversion result = convert("id,name,id\n1,2,3\n", Options{});
  EXPECT_EQ(result.error.code, ErrorCode::duplicate_column);
  EXPECT_NE(result.error.message.find("column 1 and column 3 'id'"), std::string::npos) << result.error.message;
  EXPECT_EQ(result.output, "[]\n");
}

TEST(Errors, RecordTooLong) {
  Options options = ndjson();
  options.max_record_bytes = 100;
  const std::string input = "a\n1\n\"" + std::string(200 * 1024, 'x');
  const Conversion result = convert(input, options, 4096);
  EXPECT_EQ(result.error.code, ErrorCode::record_too_long);
  EXPECT_EQ(result.error.line, 3u);
  EXPECT_EQ(result.output, "{\"a\":\"1\"}\n");
}

TEST(Options, InvalidOptionsRejected) {
  Options quote_delimiter;
  quote_delimiter.delimiter = '"';
  EXPECT_THROW(Converter{quote_delimiter}, std::invalid_argument);

  Options duplicate;
  duplicate.columns = {"a", "b", "a"};
  try {
    Converter converter(duplicate);
    FAIL() << "duplicate columns accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("duplicate column name 'a' (columns 1 and 3)"), std::string::npos);
  }

  Options zero_limit;
  zero_limit.max_record_bytes = 0;
  EXPECT_THROW(Converter{zero_limit}, std::invalid_argument);
}

TEST(Incremental, ZeroCopyInputMatchesPush) {
  const std::string input = "a,b\n1,\"x\ny\"\n2,3\n";
  Converter converter(ndjson());
  std::string output;
  for (char byte : input) {
    const std::span<char> space = converter.input_space();
    ASSERT_GE(space.size(), 1u);
    space[0] = byte;
    converter.commit_input(1);
    output.append(converter.output());
    converter.consume_output(converter.output().size());
  }
  converter.finish();
  output.append(converter.output());
  EXPECT_EQ(output, convert_ok(input, ndjson()));
  EXPECT_EQ(converter.records_written(), 2u);
}

// In-place pieces end where pushed chunks of the same size end, so output and errors, including
// the byte count of a record that is too long, must be identical.
TEST(Incremental, InPlaceInputMatchesPush) {
  for (std::uint64_t seed = 1; seed <= 24; ++seed) {
    RandomCsvShape shape;
    shape.columns = 1 + static_cast<int>(seed % 4);
    shape.records = 400;
    shape.malformed = seed % 3 == 0;
    std::string csv = random_csv(seed, shape);
    if (seed % 4 == 0) {
      csv.insert(0, "\xEF\xBB\xBF");  // a BOM, skipped only at the start
    }
    if (seed % 5 == 0) {
      csv.insert(csv.size() / 2, "\"" + std::string(3000, 'x'));  // a quote never closed
    }
    Options options;
    options.format = seed % 2 == 0 ? OutputFormat::ndjson : OutputFormat::json_array;
    options.max_record_bytes = seed % 5 == 0 ? 2000 : options.max_record_bytes;
    for (const Engine engine : {Engine::scalar, Engine::sse2, Engine::avx2, Engine::avx512}) {
      if (!engine_supported(engine)) {
        continue;
      }
      options.engine = engine;
      for (const std::size_t piece : {std::size_t{97}, std::size_t{1024}}) {
        const std::string context = "seed " + std::to_string(seed) + " piece " +
                                    std::to_string(piece) + " engine " +
                                    std::string(engine_name(engine));
        const Conversion pushed = convert(csv, options, piece);
        const Conversion in_place = convert_in_place(csv, options, piece);
        if (seed % 5 == 0) {
          ASSERT_NE(pushed.error.code, ErrorCode::none) << context;
        }
        ASSERT_EQ(in_place.error.message, pushed.error.message) << context;
        ASSERT_EQ(in_place.output, pushed.output) << context;
      }
    }
  }
}

TEST(Incremental, MemoryStaysBoundedForLongInput) {
  // 64 MiB of records pushed through: the input buffer never contains more than a chunk plus one
  // partial record, so the output pulled after each push stays small too.
  Converter converter(ndjson());
  converter.push("a,b\n");
  const std::string block = [] {
    std::string rows;
    while (rows.size() < 1024 * 1024) {
      rows += "12345,\"quoted, text\"\r\n";
    }
    return rows;
  }();
  std::size_t largest_output = 0;
  for (int i = 0; i < 64; ++i) {
    converter.push(block);
    largest_output = std::max(largest_output, converter.output().size());
    converter.consume_output(converter.output().size());
  }
  converter.finish();
  EXPECT_FALSE(converter.failed());
  EXPECT_LT(largest_output, 4u * 1024 * 1024);
}

}  // namespace
}  // namespace csv2json::testing
