// Test helpers: run a whole input through a Converter in chunks and collect output and error.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "csv2json/converter.h"

namespace csv2json::testing {

struct Conversion {
  std::string output;
  Error error;
};

// Converts `input` pushed in pieces of `chunk` bytes (0: all at once).
inline Conversion convert(std::string_view input, const Options& options, std::size_t chunk = 0) {
  Converter converter(options);
  Conversion result;
  if (chunk == 0) {
    chunk = input.size() + 1;
  }
  for (std::size_t offset = 0; offset < input.size(); offset += chunk) {
    converter.push(input.substr(offset, chunk));
    result.output.append(converter.output());
    converter.consume_output(converter.output().size());
  }
  converter.finish();
  result.output.append(converter.output());
  result.error = converter.error();
  return result;
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
    result.output.append(converter.output());
    converter.consume_output(converter.output().size());
  }
  converter.push(input.substr(position, converted - position));
  for (std::size_t offset = converted; offset < input.size(); offset += piece) {
    converter.push(input.substr(offset, piece));
    result.output.append(converter.output());
    converter.consume_output(converter.output().size());
  }
  converter.finish();
  result.output.append(converter.output());
  result.error = converter.error();
  return result;
}

inline Options with_engine(Options options, Engine engine) {
  options.engine = engine;
  return options;
}

}  // namespace csv2json::testing
