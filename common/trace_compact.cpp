// Compact request records: building and expanding them (see trace_compact.h).
#include <routeheap/trace_compact.h>

#include <cstring>

namespace routeheap::trace {

namespace {

template <typename Record>
bool has_header(const Record& record, RecordType type, size_t size = sizeof(Record)) {
    return record.header.type == static_cast<uint16_t>(type) && record.header.size == size;
}

template <typename Record>
void append(ExpandedRecords& out, const Record& record) {
    std::memcpy(out.bytes + out.size, &record, sizeof(record));
    out.size += sizeof(record);
}

CounterSample make_sample(SampleReason reason, uint64_t time_ns, uint64_t connection_id, const Counters& current,
                          int64_t native_live_peak_bytes, int64_t v8_committed_peak_bytes) {
    CounterSample sample{};
    set_header(sample, RecordType::CounterSample);
    sample.reason = static_cast<uint16_t>(reason);
    sample.time_ns = time_ns;
    sample.connection_id = connection_id;
    sample.current = current;
    sample.native_live_peak_bytes = native_live_peak_bytes;
    sample.v8_committed_peak_bytes = v8_committed_peak_bytes;
    return sample;
}

bool sample_fits(const CounterSample& sample, SampleReason reason, uint64_t time_ns, uint64_t connection_id) {
    return has_header(sample, RecordType::CounterSample) && sample.reason == static_cast<uint16_t>(reason) &&
           sample.reserved == 0 && sample.time_ns == time_ns && sample.connection_id == connection_id;
}

bool expand_request_head(const uint8_t* record, size_t size, ExpandedRecords& out) {
    CompactRequestHead compact;
    if (size < sizeof(compact)) return false;
    std::memcpy(&compact, record, sizeof(compact));
    const size_t text = size_t{compact.method_length} + compact.path_length;
    if (size != sizeof(compact) + text || compact.method_length > kMaxMethodBytes ||
        compact.path_length > kMaxPathBytes) {
        return false;
    }
    append(out, make_sample(SampleReason::RequestStart, compact.time_ns, compact.connection_id, compact.current,
                            compact.native_live_peak_bytes, compact.v8_committed_peak_bytes));
    RequestHead head{};
    set_header(head, RecordType::RequestHead, sizeof(head) + text);
    head.flags = compact.flags;
    head.first_byte_ns = compact.time_ns;
    head.headers_done_ns = compact.time_ns;
    head.connection_id = compact.connection_id;
    head.request_index = compact.request_index;
    head.method_length = compact.method_length;
    head.path_length = compact.path_length;
    head.content_length = compact.content_length;
    head.header_bytes = compact.header_bytes;
    append(out, head);
    std::memcpy(out.bytes + out.size, record + sizeof(compact), text);
    out.size += text;
    return true;
}

bool expand_response(const uint8_t* record, size_t size, ExpandedRecords& out) {
    CompactResponse compact;
    if (size != sizeof(compact)) return false;
    std::memcpy(&compact, record, sizeof(compact));

    ResponseHead head{};
    set_header(head, RecordType::ResponseHead);
    head.status = compact.status;
    head.first_byte_ns = compact.time_ns;
    head.headers_done_ns = compact.time_ns;
    head.connection_id = compact.connection_id;
    head.request_index = compact.request_index;
    head.flags = compact.flags;
    head.content_length = compact.content_length;
    head.header_bytes = compact.header_bytes;
    append(out, head);

    RequestEnd end{};
    set_header(end, RecordType::RequestEnd);
    end.status = compact.status;
    end.outcome = static_cast<uint16_t>(RequestOutcome::Complete);
    end.time_ns = compact.time_ns;
    end.connection_id = compact.connection_id;
    end.request_index = compact.request_index;
    end.write_calls = 1;
    end.request_body_bytes = compact.request_body_bytes;
    end.response_body_bytes = compact.body_bytes;
    end.response_header_bytes = compact.header_bytes;
    end.largest_write_bytes = compact.write_bytes;
    append(out, end);

    append(out, make_sample(SampleReason::RequestEnd, compact.time_ns, compact.connection_id, compact.current,
                            compact.native_live_peak_bytes, compact.v8_committed_peak_bytes));

    ResponseWrite write{};
    set_header(write, RecordType::ResponseWrite);
    write.time_ns = compact.time_ns;
    write.connection_id = compact.connection_id;
    write.request_index = compact.request_index;
    write.iov_count = compact.iov_count;
    write.bytes_requested = compact.write_bytes;
    write.result = static_cast<int64_t>(compact.write_bytes);
    write.body_bytes = compact.body_bytes;
    append(out, write);
    return true;
}

}  // namespace

bool is_compact_record(uint16_t type) {
    return type == static_cast<uint16_t>(RecordType::CompactRequestHead) ||
           type == static_cast<uint16_t>(RecordType::CompactResponse);
}

bool expand_compact_record(const RecordHeader& header, const uint8_t* record, ExpandedRecords& out) {
    out.size = 0;
    switch (static_cast<RecordType>(header.type)) {
    case RecordType::CompactRequestHead: return expand_request_head(record, header.size, out);
    case RecordType::CompactResponse: return expand_response(record, header.size, out);
    default: return false;
    }
}

bool compact_request_head(const CounterSample& sample, const RequestHead& head, CompactRequestHead& out) {
    const size_t text = size_t{head.method_length} + head.path_length;
    if (!has_header(head, RecordType::RequestHead, sizeof(head) + text) || head.first_byte_ns != head.headers_done_ns ||
        !sample_fits(sample, SampleReason::RequestStart, head.first_byte_ns, head.connection_id)) {
        return false;
    }
    out = CompactRequestHead{};
    set_header(out, RecordType::CompactRequestHead, sizeof(out) + text);
    out.flags = head.flags;
    out.time_ns = head.first_byte_ns;
    out.connection_id = head.connection_id;
    out.request_index = head.request_index;
    out.method_length = head.method_length;
    out.path_length = head.path_length;
    out.content_length = head.content_length;
    out.header_bytes = head.header_bytes;
    out.current = sample.current;
    out.native_live_peak_bytes = sample.native_live_peak_bytes;
    out.v8_committed_peak_bytes = sample.v8_committed_peak_bytes;
    return true;
}

bool compact_response(const ResponseHead& head, const RequestEnd& end, const CounterSample& sample,
                      const ResponseWrite& write, CompactResponse& out) {
    const uint64_t time = write.time_ns;
    const uint64_t connection = write.connection_id;
    const uint32_t index = write.request_index;
    const bool head_fits = has_header(head, RecordType::ResponseHead) && head.reserved == 0 && head.flags <= 0xffff &&
                           head.first_byte_ns == time && head.headers_done_ns == time &&
                           head.connection_id == connection && head.request_index == index;
    const bool end_fits = has_header(end, RecordType::RequestEnd) && end.status == head.status &&
                          end.outcome == static_cast<uint16_t>(RequestOutcome::Complete) && end.time_ns == time &&
                          end.connection_id == connection && end.request_index == index && end.write_calls == 1 &&
                          end.response_body_bytes == write.body_bytes &&
                          end.response_header_bytes == head.header_bytes &&
                          end.largest_write_bytes == write.bytes_requested && end.would_block_writes == 0 &&
                          end.partial_writes == 0;
    const bool write_fits = has_header(write, RecordType::ResponseWrite) && write.flags == 0 &&
                            write.result >= 0 && static_cast<uint64_t>(write.result) == write.bytes_requested;
    if (!head_fits || !end_fits || !write_fits || !sample_fits(sample, SampleReason::RequestEnd, time, connection)) {
        return false;
    }
    out = CompactResponse{};
    set_header(out, RecordType::CompactResponse);
    out.status = head.status;
    out.flags = static_cast<uint16_t>(head.flags);
    out.time_ns = time;
    out.connection_id = connection;
    out.request_index = index;
    out.iov_count = write.iov_count;
    out.content_length = head.content_length;
    out.header_bytes = head.header_bytes;
    out.body_bytes = write.body_bytes;
    out.write_bytes = write.bytes_requested;
    out.request_body_bytes = end.request_body_bytes;
    out.current = sample.current;
    out.native_live_peak_bytes = sample.native_live_peak_bytes;
    out.v8_committed_peak_bytes = sample.v8_committed_peak_bytes;
    return true;
}

}  // namespace routeheap::trace
