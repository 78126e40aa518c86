// Prints the connection and HTTP records of a routeheap trace, one line each, to check
// the agent's framing end to end: http_trace_dump FILE.rhtrace
#include <routeheap/trace_block.h>
#include <routeheap/trace_compact.h>
#include <routeheap/trace_format.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using namespace routeheap::trace;

template <typename Record>
Record load(const uint8_t* bytes) {
    Record record;
    std::memcpy(&record, bytes, sizeof(Record));
    return record;
}

void print_record(const RecordHeader& header, const uint8_t* bytes) {
    switch (static_cast<RecordType>(header.type)) {
    case RecordType::ConnectionOpen: {
        auto r = load<ConnectionOpen>(bytes);
        std::printf("%" PRIu64 " connection-open conn=%" PRIu64 " fd=%d listen_fd=%d\n", r.time_ns,
                    r.connection_id, r.fd, r.listen_fd);
        break;
    }
    case RecordType::RequestHead: {
        auto r = load<RequestHead>(bytes);
        const char* text = reinterpret_cast<const char*>(bytes + sizeof(RequestHead));
        std::printf("%" PRIu64 " request-head conn=%" PRIu64 " #%u %.*s %.*s flags=%u content_length=%" PRId64
                    " header_bytes=%" PRIu64 "\n",
                    r.headers_done_ns, r.connection_id, r.request_index, r.method_length, text, r.path_length,
                    text + r.method_length, r.flags, r.content_length, r.header_bytes);
        break;
    }
    case RecordType::RequestBody: {
        auto r = load<RequestBody>(bytes);
        std::printf("%" PRIu64 " request-body conn=%" PRIu64 " #%u bytes=%" PRIu64 " total=%" PRIu64 "%s\n",
                    r.time_ns, r.connection_id, r.request_index, r.bytes, r.body_total,
                    r.complete ? " complete" : "");
        break;
    }
    case RecordType::ResponseHead: {
        auto r = load<ResponseHead>(bytes);
        std::printf("%" PRIu64 " response-head conn=%" PRIu64 " #%u status=%u flags=%u content_length=%" PRId64
                    "\n",
                    r.headers_done_ns, r.connection_id, r.request_index, r.status, r.flags, r.content_length);
        break;
    }
    case RecordType::ResponseWrite: {
        auto r = load<ResponseWrite>(bytes);
        std::printf("%" PRIu64 " response-write conn=%" PRIu64 " #%u iov=%u requested=%" PRIu64 " result=%" PRId64
                    " body=%" PRIu64 " flags=%u\n",
                    r.time_ns, r.connection_id, r.request_index, r.iov_count, r.bytes_requested, r.result,
                    r.body_bytes, r.flags);
        break;
    }
    case RecordType::RequestEnd: {
        auto r = load<RequestEnd>(bytes);
        std::printf("%" PRIu64 " request-end conn=%" PRIu64 " #%u status=%u outcome=%u writes=%u request_body=%" PRIu64
                    " response_body=%" PRIu64 " largest_write=%" PRIu64 "\n",
                    r.time_ns, r.connection_id, r.request_index, r.status, r.outcome, r.write_calls,
                    r.request_body_bytes, r.response_body_bytes, r.largest_write_bytes);
        break;
    }
    case RecordType::ConnectionClose: {
        auto r = load<ConnectionClose>(bytes);
        std::printf("%" PRIu64 " connection-close conn=%" PRIu64 " reason=%u\n", r.time_ns, r.connection_id,
                    r.reason);
        break;
    }
    case RecordType::FramingStopped: {
        auto r = load<FramingStopped>(bytes);
        std::printf("%" PRIu64 " framing-stopped conn=%" PRIu64 " %.*s\n", r.time_ns, r.connection_id,
                    r.text_length, reinterpret_cast<const char*>(bytes + sizeof(FramingStopped)));
        break;
    }
    case RecordType::CounterSample: {
        auto r = load<CounterSample>(bytes);
        if (r.reason != 0) {
            std::printf("%" PRIu64 " counter-sample reason=%u conn=%" PRIu64 " native_live=%" PRId64 " rss=%" PRId64
                        "\n",
                        r.time_ns, r.reason, r.connection_id, r.current.native_live_bytes, r.current.rss_bytes);
        }
        break;
    }
    default:
        break;
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: http_trace_dump FILE.rhtrace\n");
        return 2;
    }
    std::ifstream file(argv[1], std::ios::binary);
    if (!file) {
        std::fprintf(stderr, "http_trace_dump: cannot open %s: check the path\n", argv[1]);
        return 1;
    }
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());

    FileHeader header{};
    if (check_file_header(data.data(), data.size(), header) != HeaderStatus::Ok) {
        std::fprintf(stderr, "http_trace_dump: %s has no valid routeheap file header: pass a .rhtrace file\n", argv[1]);
        return 1;
    }
    size_t offset = header.header_size;
    size_t compact_records = 0;
    BlockDecoder decoder;
    std::vector<uint8_t> raw(kMaxBlockRawBytes);
    while (offset < data.size()) {
        BlockHeader block{};
        BlockStatus status = decoder.decode(data.data() + offset, data.size() - offset, block, raw.data(), raw.size());
        if (status != BlockStatus::Ok) {
            std::fprintf(stderr, "http_trace_dump: stopped at offset %zu: %s\n", offset, describe(status));
            break;
        }
        offset += sizeof(BlockHeader) + block.compressed_size;
        RecordCursor cursor(raw.data(), block.raw_size);
        RecordHeader record{};
        const uint8_t* bytes = nullptr;
        while (cursor.next(record, bytes)) {
            if (!is_compact_record(record.type)) {
                print_record(record, bytes);
                continue;
            }
            // Printed as the records it stands for, so the output does not depend on compaction.
            ++compact_records;
            if (!for_each_expanded_record(record, bytes, print_record)) {
                std::fprintf(stderr, "http_trace_dump: malformed compact record of type %u\n", record.type);
            }
        }
    }
    std::printf("compact-records %zu\n", compact_records);
    return 0;
}
