// Writes synthetic .rhtrace files with the real block codec, so the analyzer tests read
// exactly what the agent would write.
#pragma once

#include <routeheap/trace_block.h>
#include <routeheap/trace_format.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace routeheap::testing {

struct MemoryState {
    int64_t native = 0;
    int64_t v8 = 0;
    int64_t rss = 0;
    int64_t native_peak = -1;  // -1: same as `native`
    int64_t v8_peak = -1;      // -1: same as `v8`
    uint64_t allocated_total = 0;  // bytes ever requested from the malloc family
};

class TraceBuilder {
public:
    explicit TraceBuilder(uint32_t pid = 4242, uint64_t start_ns = 1'000'000'000, uint32_t version = trace::kFormatVersion,
                          const std::string& exe = "/usr/bin/node");

    void sample(uint64_t time_ns, trace::SampleReason reason, uint64_t connection, const MemoryState& memory);
    void connection_open(uint64_t connection, uint64_t time_ns);
    void request_head(uint64_t connection, uint32_t index, uint64_t time_ns, std::string_view method,
                      std::string_view path, int64_t content_length = -1);
    void request_body(uint64_t connection, uint32_t index, uint64_t time_ns, uint64_t bytes, uint64_t total,
                      bool complete);
    void response_head(uint64_t connection, uint32_t index, uint64_t time_ns, uint16_t status, uint32_t flags = 0);
    void response_write(uint64_t connection, uint32_t index, uint64_t time_ns, uint64_t requested, int64_t result,
                        uint64_t body_bytes, uint32_t flags = 0);
    void request_end(const trace::RequestEnd& end);
    void connection_close(uint64_t connection, uint64_t time_ns, trace::CloseReason reason);
    void framing_stopped(uint64_t connection, uint64_t time_ns, std::string_view text);
    void process_fork(uint32_t child, uint64_t time_ns);
    void process_exec(uint64_t time_ns, std::string_view path);
    void process_exit(int32_t status, uint64_t time_ns);
    void agent_log(uint64_t time_ns, std::string_view text, bool disabled);
    void trace_end(uint64_t time_ns, uint64_t dropped = 0);

    void sampling_config(uint64_t mean_interval_bytes, uint64_t always_threshold_bytes, uint32_t max_frames = 64);
    void allocation(uint64_t time_ns, uint64_t address, uint64_t size, uint64_t stack_id, uint16_t flags = 0,
                    trace::AllocationKind kind = trace::AllocationKind::Malloc, uint32_t thread_id = 1);
    void free(uint64_t time_ns, uint64_t address, uint64_t size = 0, uint32_t thread_id = 1);
    void stack_definition(uint64_t stack_id, const std::vector<uint64_t>& frames);
    void module_load(uint64_t time_ns, std::string_view path, uint64_t load_bias, uint64_t start, uint64_t end,
                     std::string_view build_id = {});
    void module_unload(uint64_t time_ns, uint64_t load_bias);

    // Appends any record; `fixed` is the record struct including its RecordHeader,
    // whose type and size are filled in here.
    void append(uint16_t type, const void* fixed, size_t fixed_size, std::string_view text = {});

    // Closes the current run of records into a block.
    void end_block();

    // The file bytes: header then every finished block (the open run is ended first).
    std::vector<uint8_t> bytes();
    std::filesystem::path write(const std::filesystem::path& path);

    const std::vector<size_t>& block_offsets() const { return block_offsets_; }
    uint64_t start_ns() const { return start_ns_; }

private:
    trace::FileHeader header_{};
    uint64_t start_ns_;
    std::vector<uint8_t> header_bytes_;
    std::vector<uint8_t> blocks_;
    std::vector<uint8_t> pending_;
    uint32_t pending_records_ = 0;
    uint64_t sequence_ = 0;
    std::vector<size_t> block_offsets_;
    std::unique_ptr<trace::BlockEncoder> encoder_;  // unique_ptr keeps the builder movable
};

// A fresh empty folder under the test temp dir, named after the running test.
std::filesystem::path fresh_folder(const std::string& name);

}  // namespace routeheap::testing
