// Prints a trace file's header and records, one line each: a debugging aid for
// the agent tests (routeheap's analyzer is the real reader).
#include "trace_file.h"

#include <cstdio>
#include <cstring>

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
        } else if (record.type == trace::RecordType::Allocation) {
            const auto allocation = record.as<trace::Allocation>();
            std::printf(" kind %u flags %u address 0x%llx size %llu stack %llu thread %u", allocation.kind,
                        allocation.flags, static_cast<unsigned long long>(allocation.address),
                        static_cast<unsigned long long>(allocation.size),
                        static_cast<unsigned long long>(allocation.stack_id), allocation.thread_id);
        } else if (record.type == trace::RecordType::Free) {
            const auto release = record.as<trace::Free>();
            std::printf(" address 0x%llx size %llu thread %u", static_cast<unsigned long long>(release.address),
                        static_cast<unsigned long long>(release.size), release.thread_id);
        } else if (record.type == trace::RecordType::StackDefinition) {
            const auto definition = record.as<trace::StackDefinition>();
            std::printf(" stack %llu frames", static_cast<unsigned long long>(definition.stack_id));
            for (uint32_t i = 0; i < definition.frame_count; ++i) {
                uint64_t frame = 0;
                const size_t offset = sizeof(trace::StackDefinition) + i * sizeof(uint64_t);
                if (offset + sizeof(frame) > record.bytes.size()) break;
                std::memcpy(&frame, record.bytes.data() + offset, sizeof(frame));
                std::printf(" 0x%llx", static_cast<unsigned long long>(frame));
            }
        } else if (record.type == trace::RecordType::ModuleLoad) {
            const auto load = record.as<trace::ModuleLoad>();
            std::printf(" bias 0x%llx start 0x%llx end 0x%llx build-id ", static_cast<unsigned long long>(load.load_bias),
                        static_cast<unsigned long long>(load.start), static_cast<unsigned long long>(load.end));
            for (uint16_t i = 0; i < load.build_id_length; ++i) {
                std::printf("%02x", record.bytes[sizeof(trace::ModuleLoad) + i]);
            }
            std::printf(" path %s", record.tail(sizeof(trace::ModuleLoad) + load.build_id_length).c_str());
        } else if (record.type == trace::RecordType::ModuleUnload) {
            std::printf(" bias 0x%llx",
                        static_cast<unsigned long long>(record.as<trace::ModuleUnload>().load_bias));
        } else if (record.type == trace::RecordType::SamplingConfig) {
            const auto config = record.as<trace::SamplingConfig>();
            std::printf(" mean %llu always %llu max_frames %u",
                        static_cast<unsigned long long>(config.mean_interval_bytes),
                        static_cast<unsigned long long>(config.always_threshold_bytes), config.max_frames);
        } else if (record.type == trace::RecordType::TraceEnd) {
            std::printf(" dropped %llu",
                        static_cast<unsigned long long>(record.as<trace::TraceEnd>().dropped_records));
        } else if (record.type == trace::RecordType::AgentLog) {
            std::printf(" text %s", record.tail(sizeof(trace::AgentLog)).c_str());
        }
        std::printf("\n");
    }
    if (!file.stop_reason.empty()) std::printf("stopped: %s\n", file.stop_reason.c_str());
    return 0;
}
