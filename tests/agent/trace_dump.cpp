// Prints a trace file's header and records, one line each: a debugging aid for
// the agent tests (routeheap's analyzer is the real reader).
#include "trace_file.h"

#include <cstdio>

using routeheap::testing::read_trace;
namespace trace = routeheap::trace;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: trace_dump FILE.rhtrace\n");
        return 2;
    }
    const routeheap::testing::TraceFile file = read_trace(argv[1]);
    if (!file.header_ok) {
        std::fprintf(stderr, "%s: %s\n", argv[1], file.stop_reason.c_str());
        return 1;
    }
    std::printf("pid %u ppid %u flags %u sequence %u exe %s blocks %zu\n", file.header.pid, file.header.ppid,
                file.header.flags, file.header.sequence, file.exe.c_str(), file.blocks);
    for (const auto& record : file.records) {
        std::printf("type %u size %zu", static_cast<unsigned>(record.type), record.bytes.size());
        if (record.type == trace::RecordType::CounterSample) {
            const auto sample = record.as<trace::CounterSample>();
            std::printf(" reason %u live %lld usable %lld committed %lld rss %lld total %llu calls %llu peaks %lld %lld",
                        sample.reason, static_cast<long long>(sample.current.native_live_bytes),
                        static_cast<long long>(sample.current.native_usable_bytes),
                        static_cast<long long>(sample.current.v8_committed_bytes),
                        static_cast<long long>(sample.current.rss_bytes),
                        static_cast<unsigned long long>(sample.current.native_allocated_total),
                        static_cast<unsigned long long>(sample.current.native_allocation_calls),
                        static_cast<long long>(sample.native_live_peak_bytes),
                        static_cast<long long>(sample.v8_committed_peak_bytes));
        } else if (record.type == trace::RecordType::AgentLog) {
            std::printf(" text %s", record.tail(sizeof(trace::AgentLog)).c_str());
        }
        std::printf("\n");
    }
    if (!file.stop_reason.empty()) std::printf("stopped: %s\n", file.stop_reason.c_str());
    return 0;
}
