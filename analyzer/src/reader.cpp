// Trace file reader: header checks, block decoding in file order, resynchronisation on
// the next valid block magic after a damaged block, and incremental reading.
#include <routeheap/analysis/reader.h>
#include <routeheap/analysis/report.h>
#include <routeheap/trace_compact.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace routeheap::analysis {

namespace {

constexpr size_t kResyncChunkBytes = 1u << 20;
// finish_file_header accepts at most 4096 bytes of exe path and 64 KiB of cmdline.
constexpr size_t kMaxHeaderBytes = sizeof(trace::FileHeader) + 4096 + 65536;

// The progress observer of the calling thread, set by ScopedReadProgress.
thread_local ReadProgress* current_progress = nullptr;

std::string block_label(uint64_t index, uint64_t offset) {
    return "block " + std::to_string(index) + " at byte " + std::to_string(offset);
}

std::vector<std::string> split_arguments(std::string_view cmdline) {
    std::vector<std::string> arguments;
    size_t start = 0;
    while (start < cmdline.size()) {
        size_t end = cmdline.find('\0', start);
        if (end == std::string_view::npos) end = cmdline.size();
        arguments.emplace_back(cmdline.substr(start, end - start));
        start = end + 1;
    }
    return arguments;
}

// Copies a fixed-size record out of the block; false when the record is too short.
template <typename Record>
bool copy_record(const trace::RecordHeader& header, const uint8_t* bytes, Record& record) {
    if (header.size < sizeof(Record)) return false;
    std::memcpy(&record, bytes, sizeof(Record));
    return true;
}

// Reads `length` bytes of text following the fixed part; false when they do not fit.
bool copy_text(const trace::RecordHeader& header, const uint8_t* bytes, size_t offset, size_t length,
               std::string& text) {
    if (offset + length > header.size) return false;
    text.assign(reinterpret_cast<const char*>(bytes) + offset, length);
    return true;
}

// Decodes one record of a known type into an event; returns false when it is malformed.
bool decode_event(const trace::RecordHeader& header, const uint8_t* bytes, TraceEvent& event) {
    using trace::RecordType;
    switch (static_cast<RecordType>(header.type)) {
        case RecordType::CounterSample: return copy_record(header, bytes, event.emplace<trace::CounterSample>());
        case RecordType::ConnectionOpen: return copy_record(header, bytes, event.emplace<trace::ConnectionOpen>());
        case RecordType::RequestBody: return copy_record(header, bytes, event.emplace<trace::RequestBody>());
        case RecordType::ResponseHead: return copy_record(header, bytes, event.emplace<trace::ResponseHead>());
        case RecordType::ResponseWrite: return copy_record(header, bytes, event.emplace<trace::ResponseWrite>());
        case RecordType::RequestEnd: return copy_record(header, bytes, event.emplace<trace::RequestEnd>());
        case RecordType::ConnectionClose: return copy_record(header, bytes, event.emplace<trace::ConnectionClose>());
        case RecordType::ProcessFork: return copy_record(header, bytes, event.emplace<trace::ProcessFork>());
        case RecordType::ProcessExit: return copy_record(header, bytes, event.emplace<trace::ProcessExit>());
        case RecordType::TraceEnd: return copy_record(header, bytes, event.emplace<trace::TraceEnd>());
        case RecordType::SamplingConfig: return copy_record(header, bytes, event.emplace<trace::SamplingConfig>());
        case RecordType::Allocation: return copy_record(header, bytes, event.emplace<trace::Allocation>());
        case RecordType::Free: return copy_record(header, bytes, event.emplace<trace::Free>());
        case RecordType::ModuleUnload: return copy_record(header, bytes, event.emplace<trace::ModuleUnload>());
        case RecordType::StackDefinition: {
            auto& stack = event.emplace<StackDefinitionEvent>();
            if (!copy_record(header, bytes, stack.record)) return false;
            const size_t frames_bytes = size_t{stack.record.frame_count} * sizeof(uint64_t);
            if (sizeof(stack.record) + frames_bytes > header.size) return false;
            stack.frames.resize(stack.record.frame_count);
            std::memcpy(stack.frames.data(), bytes + sizeof(stack.record), frames_bytes);
            return true;
        }
        case RecordType::ModuleLoad: {
            auto& module = event.emplace<ModuleLoadEvent>();
            constexpr size_t fixed = sizeof(trace::ModuleLoad);
            return copy_record(header, bytes, module.record) &&
                   copy_text(header, bytes, fixed, module.record.build_id_length, module.build_id) &&
                   copy_text(header, bytes, fixed + module.record.build_id_length, module.record.path_length,
                             module.path);
        }
        case RecordType::RequestHead: {
            auto& head = event.emplace<RequestHeadEvent>();
            constexpr size_t fixed = sizeof(trace::RequestHead);
            return copy_record(header, bytes, head.head) &&
                   copy_text(header, bytes, fixed, head.head.method_length, head.method) &&
                   copy_text(header, bytes, fixed + head.head.method_length, head.head.path_length, head.path);
        }
        case RecordType::FramingStopped: {
            auto& stopped = event.emplace<FramingStoppedEvent>();
            return copy_record(header, bytes, stopped.record) &&
                   copy_text(header, bytes, sizeof(stopped.record), stopped.record.text_length, stopped.text);
        }
        case RecordType::ProcessExec: {
            auto& exec = event.emplace<ProcessExecEvent>();
            return copy_record(header, bytes, exec.record) &&
                   copy_text(header, bytes, sizeof(exec.record), exec.record.path_length, exec.path);
        }
        case RecordType::AgentLog: {
            auto& log = event.emplace<AgentLogEvent>();
            return copy_record(header, bytes, log.record) &&
                   copy_text(header, bytes, sizeof(log.record), log.record.text_length, log.text);
        }
        default: return false;
    }
}

std::string hex(uint32_t value) {
    char text[16];
    std::snprintf(text, sizeof(text), "0x%08x", value);
    return text;
}

// The file header's crc32: the fixed part with header_crc32 zeroed, then both strings.
uint32_t header_checksum(const std::vector<uint8_t>& bytes) {
    trace::FileHeader copy{};
    std::memcpy(&copy, bytes.data(), sizeof(copy));
    copy.header_crc32 = 0;
    const uint32_t fixed = trace::crc32_of(&copy, sizeof(copy));
    return trace::crc32_of(bytes.data() + sizeof(copy), bytes.size() - sizeof(copy), fixed);
}

// Why a trace's header cannot be used; the message names the failed check and the fix.
[[noreturn]] void throw_damaged_header(const std::string& name, const std::string& check) {
    throw TraceError(name + ": damaged trace header: " + check +
                     "; the file is not usable, record the session again");
}

bool is_known_type(uint16_t type) {
    using trace::RecordType;
    const bool request_records = type >= static_cast<uint16_t>(RecordType::CounterSample) &&
                                 type <= static_cast<uint16_t>(RecordType::CompactResponse);
    const bool stack_records = type >= static_cast<uint16_t>(RecordType::Allocation) &&
                               type <= static_cast<uint16_t>(RecordType::SamplingConfig);
    return request_records || stack_records;
}

}  // namespace

std::string ReadSummary::describe_stop() const {
    const std::string amount = std::to_string(blocks_read) + " blocks (" + std::to_string(bytes_read) + " of " +
                               std::to_string(file_bytes) + " bytes)";
    const uint64_t blocks_met = blocks_read + corrupt_blocks;
    switch (stop) {
        case StopReason::NotStopped: return "read " + amount + " so far";
        case StopReason::TraceEnd:
            if (corrupt_blocks == 0) return "complete: read " + amount + ", ended by TraceEnd";
            return "read " + amount + " and TraceEnd, but skipped " +
                   count_of(corrupt_blocks, "damaged block", "damaged blocks") + " (" + std::to_string(skipped_bytes) +
                   " bytes)";
        case StopReason::EndOfFile:
            return "read " + amount + "; no TraceEnd record, so the process was killed or had not exited";
        case StopReason::Exec: return "replaced by exec of " + exec_path + ": read " + amount;
        case StopReason::Truncated: {
            const std::string where =
                blocks_met == 0 ? "truncated before the first block" : "truncated after block " + std::to_string(blocks_met - 1);
            return where + " at byte " + std::to_string(bytes_read) + ": read " + amount +
                   ", the rest is an incomplete block";
        }
        case StopReason::Corrupt:
            return "stopped at a corrupt block at byte " + std::to_string(bytes_read) + " with no valid block after it: read " +
                   amount;
    }
    return "read " + amount;
}

TraceReader::TraceReader(std::filesystem::path path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
        throw TraceError(path_.string() + ": cannot open trace: " + std::strerror(errno));
    }
}

TraceReader::~TraceReader() {
    if (fd_ >= 0) ::close(fd_);
}

size_t TraceReader::read_at(uint64_t offset, void* buffer, size_t size) const {
    size_t done = 0;
    auto* bytes = static_cast<uint8_t*>(buffer);
    while (done < size) {
        const ssize_t got = ::pread(fd_, bytes + done, size - done, static_cast<off_t>(offset + done));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw TraceError(path_.string() + ": read failed: " + std::strerror(errno));
        if (got == 0) break;
        done += static_cast<size_t>(got);
    }
    return done;
}

void TraceReader::warn(std::string message) {
    summary_.warnings.push_back(path_.filename().string() + ": " + std::move(message));
}

bool TraceReader::load_header(bool file_complete) {
    if (header_) return true;
    const std::string name = path_.string();
    std::vector<uint8_t> bytes(sizeof(trace::FileHeader));
    size_t got = read_at(0, bytes.data(), bytes.size());

    // The magic first: a file that does not start with it (or with part of it, while the
    // agent may still be writing) is not a trace, whatever its length.
    const size_t magic_bytes = std::min(got, sizeof(trace::kFileMagic));
    if (std::memcmp(bytes.data(), trace::kFileMagic, magic_bytes) != 0) {
        throw TraceError(name + ": not a routeheap trace (no " + std::string(trace::kFileMagic, 8) + " magic)");
    }
    if (got < bytes.size()) {
        if (!file_complete) return false;
        throw TraceError(name + ": truncated trace header (" + std::to_string(got) + " of at least " +
                         std::to_string(bytes.size()) + " bytes): the process was killed before the agent wrote it");
    }

    // Sizes and checksum before the version: a damaged header has a random version.
    trace::FileHeader header{};
    std::memcpy(&header, bytes.data(), sizeof(header));
    const uint64_t expected_size = sizeof(trace::FileHeader) + uint64_t{header.exe_length} + header.cmdline_length;
    if (header.header_size != expected_size || header.header_size > kMaxHeaderBytes) {
        throw_damaged_header(name, "its size fields disagree (header_size " + std::to_string(header.header_size) +
                                       ", exe " + std::to_string(header.exe_length) + " and cmdline " +
                                       std::to_string(header.cmdline_length) + " bytes)");
    }
    bytes.resize(header.header_size);
    got = read_at(0, bytes.data(), bytes.size());
    if (got < bytes.size()) {
        if (!file_complete) return false;
        throw TraceError(name + ": truncated trace header (" + std::to_string(got) + " of " +
                         std::to_string(bytes.size()) + " bytes): the process was killed before the agent wrote it");
    }
    const uint32_t computed = header_checksum(bytes);
    if (computed != header.header_crc32) {
        throw_damaged_header(name, "checksum mismatch (stored " + hex(header.header_crc32) + ", computed " +
                                       hex(computed) + ")");
    }
    if (header.version > trace::kFormatVersion) {
        throw TraceError(name + ": trace format version " + std::to_string(header.version) +
                         " is newer than this reader supports (" + std::to_string(trace::kFormatVersion) +
                         "); upgrade routeheap");
    }
    // The codec's own check, which must agree now.
    if (trace::check_file_header(bytes.data(), bytes.size(), header) != trace::HeaderStatus::Ok) {
        throw_damaged_header(name, "rejected by the trace codec");
    }

    TraceHeader parsed;
    parsed.pid = ProcessId{header.pid};
    parsed.ppid = header.ppid;
    parsed.image = header.sequence;
    parsed.flags = header.flags;
    parsed.page_size = header.page_size;
    parsed.start_realtime_ns = header.start_realtime_ns;
    parsed.start_monotonic_ns = header.start_monotonic_ns;
    const auto* strings = reinterpret_cast<const char*>(bytes.data() + sizeof(trace::FileHeader));
    parsed.exe.assign(strings, header.exe_length);
    parsed.arguments = split_arguments(std::string_view(strings + header.exe_length, header.cmdline_length));
    header_ = std::move(parsed);
    offset_ = header.header_size;
    header_bytes_ = header.header_size;
    summary_.bytes_read = offset_;
    return true;
}

uint64_t TraceReader::read_available(TraceSink& sink, bool file_complete) {
    if (finished()) return 0;
    const uint64_t records_before = summary_.records_read;

    struct stat info {};
    if (::fstat(fd_, &info) != 0) throw TraceError(path_.string() + ": stat failed: " + std::strerror(errno));
    const auto file_size = static_cast<uint64_t>(info.st_size);
    summary_.file_bytes = file_size;

    if (!load_header(file_complete)) return 0;
    while (read_block(sink, file_size, file_complete)) {
    }
    return summary_.records_read - records_before;
}

bool TraceReader::read_block(TraceSink& sink, uint64_t file_size, bool file_complete) {
    if (finished()) return false;
    if (offset_ >= file_size) {
        if (file_complete) summary_.stop = last_record_is_exec_ ? StopReason::Exec : StopReason::EndOfFile;
        return false;
    }

    const uint64_t available = file_size - offset_;
    trace::BlockHeader header{};
    uint8_t header_bytes[sizeof(trace::BlockHeader)];
    const size_t got = read_at(offset_, header_bytes, std::min<uint64_t>(available, sizeof(header_bytes)));
    trace::BlockStatus status = trace::BlockDecoder::read_header(header_bytes, got, header);
    const uint64_t block_bytes = sizeof(trace::BlockHeader) + uint64_t{header.compressed_size};
    if (status == trace::BlockStatus::Ok && available < block_bytes) status = trace::BlockStatus::Truncated;

    if (status == trace::BlockStatus::Truncated) {
        // describe_stop() reports it, once.
        if (file_complete) summary_.stop = StopReason::Truncated;
        return false;
    }
    if (status != trace::BlockStatus::Ok) {
        return resynchronise(offset_ + 1, file_size, file_complete, trace::describe(status));
    }

    compressed_.resize(block_bytes);
    read_at(offset_, compressed_.data(), block_bytes);
    raw_.resize(header.raw_size);
    status = decoder_.decode(compressed_.data(), block_bytes, header, raw_.data(), raw_.size());
    if (status != trace::BlockStatus::Ok) {
        return resynchronise(offset_ + 1, file_size, file_complete, trace::describe(status));
    }

    if (header.sequence != next_sequence_) {
        if (header.sequence > next_sequence_) summary_.missing_blocks += header.sequence - next_sequence_;
        warn(block_label(block_index_, offset_) + ": sequence " + std::to_string(header.sequence) + " where " +
             std::to_string(next_sequence_) + " was expected, so blocks were lost");
    }
    next_sequence_ = header.sequence + 1;
    offset_ += block_bytes;
    ++block_index_;
    ++summary_.blocks_read;
    summary_.bytes_read = offset_;
    decode_records(sink, raw_.data(), header.raw_size);
    if (current_progress != nullptr) current_progress->on_progress(path_, offset_, file_size);
    return !finished();
}

// Looks for the next block whose header checksum holds, starting at `from`.
bool TraceReader::resynchronise(uint64_t from, uint64_t file_size, bool file_complete, const std::string& reason) {
    const std::string damaged = "corrupt " + block_label(block_index_, offset_) + ": " + reason;
    std::vector<uint8_t> chunk;
    uint64_t position = from;
    while (position + sizeof(trace::BlockHeader) <= file_size) {
        const uint64_t want = std::min<uint64_t>(kResyncChunkBytes + sizeof(trace::BlockHeader) - 1, file_size - position);
        chunk.resize(want);
        const size_t got = read_at(position, chunk.data(), want);
        for (size_t i = 0; i + sizeof(trace::BlockHeader) <= got; ++i) {
            uint32_t magic = 0;
            std::memcpy(&magic, chunk.data() + i, sizeof(magic));
            trace::BlockHeader candidate{};
            if (!trace::is_block_magic(magic) ||
                trace::BlockDecoder::read_header(chunk.data() + i, got - i, candidate) != trace::BlockStatus::Ok) {
                continue;
            }
            const uint64_t found = position + i;
            warn(damaged + "; skipped " + std::to_string(found - offset_) + " bytes to the next valid block at byte " +
                 std::to_string(found));
            summary_.skipped_bytes += found - offset_;
            ++summary_.corrupt_blocks;
            ++block_index_;
            offset_ = found;
            return true;
        }
        if (got < want) break;
        position += got - (sizeof(trace::BlockHeader) - 1);
    }

    // No valid block follows yet. A growing file may still receive one.
    if (!file_complete) return false;
    warn(damaged + "; no valid block follows, " + std::to_string(file_size - offset_) + " bytes ignored");
    ++summary_.corrupt_blocks;
    summary_.stop = StopReason::Corrupt;
    return false;
}

void TraceReader::decode_records(TraceSink& sink, const uint8_t* raw, size_t size) {
    trace::RecordCursor cursor(raw, size);
    trace::RecordHeader header{};
    const uint8_t* bytes = nullptr;
    TraceEvent event;
    while (cursor.next(header, bytes)) {
        if (!is_known_type(header.type)) {
            ++summary_.unknown_records;
            continue;
        }
        if (trace::is_compact_record(header.type)) {
            // Consumers see the records a compact record stands for, never the record itself.
            const bool expanded = trace::for_each_expanded_record(
                header, bytes, [&](const trace::RecordHeader& inner_header, const uint8_t* inner_bytes) {
                    if (decode_event(inner_header, inner_bytes, event)) sink.on_event(event);
                });
            if (!expanded) {
                ++summary_.malformed_records;
                continue;
            }
            ++summary_.records_read;
            last_record_is_exec_ = false;
            continue;
        }
        if (!decode_event(header, bytes, event)) {
            ++summary_.malformed_records;
            continue;
        }
        ++summary_.records_read;
        if (const auto* exec = std::get_if<ProcessExecEvent>(&event)) {
            last_record_is_exec_ = true;
            summary_.exec_path = exec->path;
        } else {
            last_record_is_exec_ = false;
        }
        sink.on_event(event);
        if (const auto* end = std::get_if<trace::TraceEnd>(&event)) {
            summary_.dropped_records = end->dropped_records;
            summary_.stop = StopReason::TraceEnd;
            return;
        }
    }
    if (cursor.malformed()) {
        warn("block " + std::to_string(block_index_ - 1) +
             ": a record runs past the end of the block, the rest of the block was skipped");
    }
}

ScopedReadProgress::ScopedReadProgress(ReadProgress& progress) : previous_(current_progress) {
    current_progress = &progress;
}

ScopedReadProgress::~ScopedReadProgress() { current_progress = previous_; }

BlockIndex TraceReader::index_blocks() {
    BlockIndex index;
    struct stat info {};
    if (::fstat(fd_, &info) != 0) throw TraceError(path_.string() + ": stat failed: " + std::strerror(errno));
    index.file_bytes = static_cast<uint64_t>(info.st_size);
    if (!load_header(true)) return index;

    uint64_t offset = header_bytes_;
    while (offset < index.file_bytes) {
        uint8_t bytes[sizeof(trace::BlockHeader)];
        const uint64_t available = index.file_bytes - offset;
        const size_t got = read_at(offset, bytes, std::min<uint64_t>(available, sizeof(bytes)));
        BlockLocation block{offset, {}};
        trace::BlockStatus status = trace::BlockDecoder::read_header(bytes, got, block.header);
        const uint64_t block_bytes = sizeof(trace::BlockHeader) + uint64_t{block.header.compressed_size};
        if (status == trace::BlockStatus::Ok && available < block_bytes) status = trace::BlockStatus::Truncated;
        if (status != trace::BlockStatus::Ok) {
            index.stopped = block_label(index.blocks.size(), offset) + ": " + trace::describe(status);
            break;
        }
        index.blocks.push_back(block);
        offset += block_bytes;
    }
    index.indexed_bytes = offset;
    return index;
}

trace::BlockStatus TraceReader::read_block_at(const BlockLocation& block, TraceSink& sink) {
    const uint64_t block_bytes = sizeof(trace::BlockHeader) + uint64_t{block.header.compressed_size};
    std::vector<uint8_t> compressed(block_bytes);
    if (read_at(block.offset, compressed.data(), block_bytes) < block_bytes) return trace::BlockStatus::Truncated;
    std::vector<uint8_t> raw(block.header.raw_size);
    trace::BlockHeader header{};
    const trace::BlockStatus status = decoder_.decode(compressed.data(), block_bytes, header, raw.data(), raw.size());
    if (status != trace::BlockStatus::Ok) return status;

    // Decoding into a scratch summary keeps read_available's counters untouched.
    const ReadSummary saved = summary_;
    const bool saved_exec = last_record_is_exec_;
    decode_records(sink, raw.data(), header.raw_size);
    summary_ = saved;
    last_record_is_exec_ = saved_exec;
    return status;
}

TraceReadResult read_trace(const std::filesystem::path& path, TraceSink& sink) {
    TraceReader reader(path);
    reader.read_available(sink, true);
    return TraceReadResult{*reader.header(), reader.summary()};
}

}  // namespace routeheap::analysis
