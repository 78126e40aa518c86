// The reference tokenizer: a byte-at-a-time RFC 4180 state machine. It also reports every error,
// because the SIMD tokenizer hands any record it does not fully understand back to it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "record_writer.h"

namespace csv2json::detail {

struct ScalarSettings {
  char delimiter;
  bool relaxed;
};

// Parses records from data[0, size), which starts at a record boundary on line `line`, and
// returns the bytes consumed (always up to a record boundary). Stops after `max_records` records,
// at an incomplete record unless `final`, or at an error (writer.failed()).
std::size_t parse_scalar(const char* data, std::size_t size, bool final, std::size_t max_records,
                         std::uint64_t line, const ScalarSettings& settings, RecordWriter& writer);

}  // namespace csv2json::detail
