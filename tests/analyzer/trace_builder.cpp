// Synthetic trace writer for the analyzer tests.
#include "trace_builder.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <stdexcept>

namespace routeheap::testing {

TraceBuilder::TraceBuilder(uint32_t pid, uint64_t start_ns, uint32_t version, const std::string& exe) : start_ns_(start_ns) {
    header_.pid = pid;
    header_.ppid = 1;
    header_.start_realtime_ns = 1'700'000'000'000'000'000;
    header_.start_monotonic_ns = start_ns;
    header_.page_size = 4096;
    const std::string cmdline{"node\0server.js", 14};
    if (!trace::finish_file_header(header_, exe, cmdline)) throw std::runtime_error("finish_file_header failed");
    if (version != trace::kFormatVersion) {
        // A newer writer: change the version and checksum the header again.
        header_.version = version;
        header_.header_crc32 = 0;
        uint32_t crc = trace::crc32_of(&header_, sizeof(header_));
        crc = trace::crc32_of(exe.data(), exe.size(), crc);
        header_.header_crc32 = trace::crc32_of(cmdline.data(), cmdline.size(), crc);
    }
    header_bytes_.resize(sizeof(header_));
    std::memcpy(header_bytes_.data(), &header_, sizeof(header_));
    header_bytes_.insert(header_bytes_.end(), exe.begin(), exe.end());
    header_bytes_.insert(header_bytes_.end(), cmdline.begin(), cmdline.end());
    encoder_ = std::make_unique<trace::BlockEncoder>();
    if (!encoder_->init(1)) throw std::runtime_error("BlockEncoder::init failed");
}

void TraceBuilder::append(uint16_t type, const void* fixed, size_t fixed_size, std::string_view text) {
    const size_t start = pending_.size();
    pending_.resize(start + fixed_size);
    std::memcpy(pending_.data() + start, fixed, fixed_size);
    pending_.insert(pending_.end(), text.begin(), text.end());
    trace::RecordHeader header{type, static_cast<uint16_t>(fixed_size + text.size())};
    std::memcpy(pending_.data() + start, &header, sizeof(header));
    ++pending_records_;
}

template <typename Record>
static void add(TraceBuilder& builder, trace::RecordType type, const Record& record, std::string_view text = {}) {
    builder.append(static_cast<uint16_t>(type), &record, sizeof(record), text);
}

void TraceBuilder::sample(uint64_t time_ns, trace::SampleReason reason, uint64_t connection, const MemoryState& memory) {
    trace::CounterSample record{};
    record.reason = static_cast<uint16_t>(reason);
    record.time_ns = time_ns;
    record.connection_id = connection;
    record.current.native_live_bytes = memory.native;
    record.current.native_usable_bytes = memory.native;
    record.current.v8_committed_bytes = memory.v8;
    record.current.rss_bytes = memory.rss;
    record.current.native_allocated_total = memory.allocated_total;
    record.native_live_peak_bytes = memory.native_peak < 0 ? memory.native : memory.native_peak;
    record.v8_committed_peak_bytes = memory.v8_peak < 0 ? memory.v8 : memory.v8_peak;
    add(*this, trace::RecordType::CounterSample, record);
}

void TraceBuilder::connection_open(uint64_t connection, uint64_t time_ns) {
    trace::ConnectionOpen record{};
    record.fd = 20;
    record.time_ns = time_ns;
    record.connection_id = connection;
    record.listen_fd = 19;
    add(*this, trace::RecordType::ConnectionOpen, record);
}

void TraceBuilder::request_head(uint64_t connection, uint32_t index, uint64_t time_ns, std::string_view method,
                                std::string_view path, int64_t content_length) {
    trace::RequestHead record{};
    record.first_byte_ns = time_ns;
    record.headers_done_ns = time_ns;
    record.connection_id = connection;
    record.request_index = index;
    record.method_length = static_cast<uint16_t>(method.size());
    record.path_length = static_cast<uint16_t>(path.size());
    record.content_length = content_length;
    record.header_bytes = 100;
    add(*this, trace::RecordType::RequestHead, record, std::string(method) + std::string(path));
}

void TraceBuilder::request_body(uint64_t connection, uint32_t index, uint64_t time_ns, uint64_t bytes, uint64_t total,
                                bool complete) {
    trace::RequestBody record{};
    record.complete = complete ? 1 : 0;
    record.time_ns = time_ns;
    record.connection_id = connection;
    record.request_index = index;
    record.bytes = bytes;
    record.body_total = total;
    add(*this, trace::RecordType::RequestBody, record);
}

void TraceBuilder::response_head(uint64_t connection, uint32_t index, uint64_t time_ns, uint16_t status,
                                 uint32_t flags) {
    trace::ResponseHead record{};
    record.status = status;
    record.first_byte_ns = time_ns;
    record.headers_done_ns = time_ns;
    record.connection_id = connection;
    record.request_index = index;
    record.flags = flags;
    record.content_length = -1;
    record.header_bytes = 120;
    add(*this, trace::RecordType::ResponseHead, record);
}

void TraceBuilder::response_write(uint64_t connection, uint32_t index, uint64_t time_ns, uint64_t requested,
                                  int64_t result, uint64_t body_bytes, uint32_t flags) {
    trace::ResponseWrite record{};
    record.flags = flags;
    record.time_ns = time_ns;
    record.connection_id = connection;
    record.request_index = index;
    record.iov_count = 1;
    record.bytes_requested = requested;
    record.result = result;
    record.body_bytes = body_bytes;
    add(*this, trace::RecordType::ResponseWrite, record);
}

void TraceBuilder::request_end(const trace::RequestEnd& end) { add(*this, trace::RecordType::RequestEnd, end); }

void TraceBuilder::connection_close(uint64_t connection, uint64_t time_ns, trace::CloseReason reason) {
    trace::ConnectionClose record{};
    record.reason = static_cast<uint16_t>(reason);
    record.time_ns = time_ns;
    record.connection_id = connection;
    add(*this, trace::RecordType::ConnectionClose, record);
}

void TraceBuilder::framing_stopped(uint64_t connection, uint64_t time_ns, std::string_view text) {
    trace::FramingStopped record{};
    record.text_length = static_cast<uint16_t>(text.size());
    record.time_ns = time_ns;
    record.connection_id = connection;
    add(*this, trace::RecordType::FramingStopped, record, text);
}

void TraceBuilder::process_fork(uint32_t child, uint64_t time_ns) {
    trace::ProcessFork record{};
    record.child_pid = child;
    record.time_ns = time_ns;
    add(*this, trace::RecordType::ProcessFork, record);
}

void TraceBuilder::process_exec(uint64_t time_ns, std::string_view path) {
    trace::ProcessExec record{};
    record.path_length = static_cast<uint16_t>(path.size());
    record.time_ns = time_ns;
    add(*this, trace::RecordType::ProcessExec, record, path);
}

void TraceBuilder::process_exit(int32_t status, uint64_t time_ns) {
    trace::ProcessExit record{};
    record.status = status;
    record.time_ns = time_ns;
    add(*this, trace::RecordType::ProcessExit, record);
}

void TraceBuilder::agent_log(uint64_t time_ns, std::string_view text, bool disabled) {
    trace::AgentLog record{};
    record.text_length = static_cast<uint16_t>(text.size());
    record.disabled = disabled ? 1 : 0;
    record.time_ns = time_ns;
    add(*this, trace::RecordType::AgentLog, record, text);
}

void TraceBuilder::trace_end(uint64_t time_ns, uint64_t dropped) {
    trace::TraceEnd record{};
    record.time_ns = time_ns;
    record.dropped_records = dropped;
    add(*this, trace::RecordType::TraceEnd, record);
}

void TraceBuilder::sampling_config(uint64_t mean_interval_bytes, uint64_t always_threshold_bytes, uint32_t max_frames) {
    trace::SamplingConfig record{};
    record.max_frames = max_frames;
    record.mean_interval_bytes = mean_interval_bytes;
    record.always_threshold_bytes = always_threshold_bytes;
    add(*this, trace::RecordType::SamplingConfig, record);
}

void TraceBuilder::allocation(uint64_t time_ns, uint64_t address, uint64_t size, uint64_t stack_id, uint16_t flags,
                              trace::AllocationKind kind, uint32_t thread_id) {
    trace::Allocation record{};
    record.kind = static_cast<uint16_t>(kind);
    record.flags = flags;
    record.time_ns = time_ns;
    record.address = address;
    record.size = size;
    record.stack_id = stack_id;
    record.thread_id = thread_id;
    add(*this, trace::RecordType::Allocation, record);
}

void TraceBuilder::free(uint64_t time_ns, uint64_t address, uint64_t size, uint32_t thread_id) {
    trace::Free record{};
    record.thread_id = thread_id;
    record.time_ns = time_ns;
    record.address = address;
    record.size = size;
    add(*this, trace::RecordType::Free, record);
}

void TraceBuilder::stack_definition(uint64_t stack_id, const std::vector<uint64_t>& frames) {
    trace::StackDefinition record{};
    record.frame_count = static_cast<uint32_t>(frames.size());
    record.stack_id = stack_id;
    const std::string_view addresses(reinterpret_cast<const char*>(frames.data()), frames.size() * sizeof(uint64_t));
    add(*this, trace::RecordType::StackDefinition, record, addresses);
}

void TraceBuilder::module_load(uint64_t time_ns, std::string_view path, uint64_t load_bias, uint64_t start,
                               uint64_t end, std::string_view build_id) {
    trace::ModuleLoad record{};
    record.path_length = static_cast<uint16_t>(path.size());
    record.build_id_length = static_cast<uint16_t>(build_id.size());
    record.time_ns = time_ns;
    record.load_bias = load_bias;
    record.start = start;
    record.end = end;
    add(*this, trace::RecordType::ModuleLoad, record, std::string(build_id) + std::string(path));
}

void TraceBuilder::module_unload(uint64_t time_ns, uint64_t load_bias) {
    trace::ModuleUnload record{};
    record.time_ns = time_ns;
    record.load_bias = load_bias;
    add(*this, trace::RecordType::ModuleUnload, record);
}

void TraceBuilder::end_block() {
    if (pending_records_ == 0) return;
    std::vector<uint8_t> out(trace::BlockEncoder::max_encoded_size(pending_.size()));
    const size_t size = encoder_->encode(pending_.data(), static_cast<uint32_t>(pending_.size()), pending_records_,
                                        sequence_++, start_ns_, start_ns_, out.data(), out.size());
    if (size == 0) throw std::runtime_error("BlockEncoder::encode failed");
    block_offsets_.push_back(header_bytes_.size() + blocks_.size());
    blocks_.insert(blocks_.end(), out.begin(), out.begin() + static_cast<std::ptrdiff_t>(size));
    pending_.clear();
    pending_records_ = 0;
}

std::vector<uint8_t> TraceBuilder::bytes() {
    end_block();
    std::vector<uint8_t> all = header_bytes_;
    all.insert(all.end(), blocks_.begin(), blocks_.end());
    return all;
}

std::filesystem::path TraceBuilder::write(const std::filesystem::path& path) {
    const std::vector<uint8_t> data = bytes();
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    if (!out) throw std::runtime_error("cannot write " + path.string());
    return path;
}

std::filesystem::path fresh_folder(const std::string& name) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string unique = name;
    if (info != nullptr) unique += std::string("-") + info->test_suite_name() + "-" + info->name();
    const auto folder = std::filesystem::temp_directory_path() / ("routeheap-analyzer-tests-" + std::to_string(::getpid())) / unique;
    std::filesystem::remove_all(folder);
    std::filesystem::create_directories(folder);
    return folder;
}

}  // namespace routeheap::testing
