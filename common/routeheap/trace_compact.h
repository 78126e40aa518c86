// Compact request records: the agent builds them, readers expand them. The agent writes
// a compact record only where expanding it gives back, byte for byte, the records it
// replaces, so the expanded records are what an agent without them would write.
#pragma once

#include <routeheap/trace_block.h>
#include <routeheap/trace_format.h>

#include <cstddef>
#include <cstdint>

namespace routeheap::trace {

// Room for the records one compact record stands for: a CounterSample and a RequestHead
// with the longest method and path, which is more than a response's four records take.
inline constexpr size_t kMaxExpandedBytes =
    sizeof(CounterSample) + sizeof(RequestHead) + kMaxMethodBytes + kMaxPathBytes;
static_assert(kMaxExpandedBytes >=
              sizeof(ResponseHead) + sizeof(RequestEnd) + sizeof(CounterSample) + sizeof(ResponseWrite));

// The expanded records, one after another as in a decoded block (RecordCursor walks them).
struct ExpandedRecords {
    alignas(8) uint8_t bytes[kMaxExpandedBytes];
    size_t size = 0;
};

bool is_compact_record(uint16_t type);

// Writes the records that the compact record `record` (with `header` read from it) stands
// for into `out`, in the order the agent would have written them. Returns false when the
// record is too short for its layout and text, or `header` names no compact type.
bool expand_compact_record(const RecordHeader& header, const uint8_t* record, ExpandedRecords& out);

// Calls `visit(header, bytes)` for each record that the compact record `record` stands
// for, in order. Returns false without calling it when expand_compact_record() fails.
template <typename Visit>
bool for_each_expanded_record(const RecordHeader& header, const uint8_t* record, Visit&& visit) {
    ExpandedRecords expanded;
    if (!expand_compact_record(header, record, expanded)) return false;
    RecordCursor cursor(expanded.bytes, expanded.size);
    RecordHeader inner{};
    const uint8_t* bytes = nullptr;
    while (cursor.next(inner, bytes)) visit(inner, bytes);
    return true;
}

// The compact form of a RequestStart sample followed by its request's RequestHead, whose
// header.size must count the method and path bytes. Returns false where the compact form
// would not give back both records exactly; `out` is then unspecified.
bool compact_request_head(const CounterSample& sample, const RequestHead& head, CompactRequestHead& out);

// The compact form of a response's ResponseHead, RequestEnd and RequestEnd sample, and the
// ResponseWrite of the call that wrote it. Returns false as compact_request_head does.
bool compact_response(const ResponseHead& head, const RequestEnd& end, const CounterSample& sample,
                      const ResponseWrite& write, CompactResponse& out);

}  // namespace routeheap::trace
