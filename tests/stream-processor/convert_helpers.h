// Test helpers: run a whole input through a Converter in chunks and collect output and error.
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "csv2json/converter.h"

namespace csv2json {

// Prints an engine by name in GoogleTest messages, such as a failing parameterized test.
inline void PrintTo(Engine engine, std::ostream* stream) { *stream << engine_name(engine); }

}  // namespace csv2json

namespace csv2json::testing {

struct Conversion {
  std::string output;
  Error error;
};

// Moves the output produced so far from `converter` to `result`.
inline void take_output(Converter& converter, Conversion& result) {
  result.output.append(converter.output());
  converter.consume_output(converter.output().size());
}

// Pushes `input` in pieces of `chunk` bytes (0: all at once), finishes, and returns `result` with
// the output and the error added.
inline Conversion push_and_finish(Converter& converter, Conversion result, std::string_view input,
                                  std::size_t chunk) {
  if (chunk == 0) {
    chunk = input.size() + 1;
  }
  for (std::size_t offset = 0; offset < input.size(); offset += chunk) {
    converter.push(input.substr(offset, chunk));
    take_output(converter, result);
  }
  converter.finish();
  take_output(converter, result);
  result.error = converter.error();
  return result;
}

// Converts `input` pushed in pieces of `chunk` bytes (0: all at once).
inline Conversion convert(std::string_view input, const Options& options, std::size_t chunk = 0) {
  Converter converter(options);
  return push_and_finish(converter, Conversion{}, input, chunk);
}

// Converts `input` pushed as two pieces split at `split`.
inline Conversion convert_split(std::string_view input, const Options& options, std::size_t split) {
  Converter converter(options);
  Conversion result;
  converter.push(input.substr(0, split));
  result.output.append(converter.output());
  converter.consume_output(converter.output().size());
  converter.push(input.substr(split));
  converter.finish();
  result.output.append(converter.output());
  result.error = converter.error();
  return result;
}

// Converts `input` as csv2json does a mapped file: in place, in pieces of `piece` bytes while
// Converter::input_slack bytes of input follow the piece, then the rest through push().
inline Conversion convert_in_place(std::string_view input, const Options& options,
                                   std::size_t piece) {
  Converter converter(options);
  Conversion result;
  std::size_t position = 0;
  std::size_t converted = 0;
  while (converted + piece + Converter::input_slack <= input.size() && !converter.failed()) {
    converted += piece;
    position += converter.convert_in_place(input.data() + position, converted - position);
    take_output(converter, result);
  }
  converter.push(input.substr(position, converted - position));
  return push_and_finish(converter, std::move(result), input.substr(converted), piece);
}

inline Options with_engine(Options options, Engine engine) {
  options.engine = engine;
  return options;
}

}  // namespace csv2json::testing
