// Reads a .rhtrace file: checks the file header, decodes blocks in order, and stops
// cleanly at the last whole block, saying how much was read and why it stopped.
#pragma once

#include <routeheap/analysis/ids.h>
#include <routeheap/trace_block.h>
#include <routeheap/trace_format.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace routeheap::analysis {

// A trace that cannot be read at all: missing, not a routeheap trace, a newer format,
// a damaged header. The message names the file and what to do.
class TraceError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct TraceHeader {
    ProcessId pid;
    uint32_t ppid = 0;
    uint32_t image = 0;  // exec sequence: 0 for <pid>.rhtrace, N for <pid>.N.rhtrace
    uint32_t flags = 0;  // trace::kFileAfterExec | trace::kFileForkedChild
    uint32_t page_size = 0;
    uint64_t start_realtime_ns = 0;
    uint64_t start_monotonic_ns = 0;
    std::string exe;
    std::vector<std::string> arguments;  // /proc/self/cmdline split at NUL
};

// Records with trailing text carry it decoded; the others are the on-disk structs.
struct RequestHeadEvent {
    trace::RequestHead head;
    std::string method;
    std::string path;
};
struct FramingStoppedEvent {
    trace::FramingStopped record;
    std::string text;
};
struct ProcessExecEvent {
    trace::ProcessExec record;
    std::string path;
};
struct AgentLogEvent {
    trace::AgentLog record;
    std::string text;
};
struct StackDefinitionEvent {
    trace::StackDefinition record;
    std::vector<uint64_t> frames;  // return addresses, innermost first
};
struct ModuleLoadEvent {
    trace::ModuleLoad record;
    std::string build_id;  // raw bytes of the GNU build-id, empty when the agent found none
    std::string path;
};

using TraceEvent =
    std::variant<trace::CounterSample, trace::ConnectionOpen, RequestHeadEvent, trace::RequestBody,
                 trace::ResponseHead, trace::ResponseWrite, trace::RequestEnd, trace::ConnectionClose,
                 FramingStoppedEvent, trace::ProcessFork, ProcessExecEvent, trace::ProcessExit,
                 AgentLogEvent, trace::TraceEnd, trace::SamplingConfig, trace::Allocation, trace::Free,
                 StackDefinitionEvent, ModuleLoadEvent, trace::ModuleUnload>;

// Receives decoded records in file order (which is not time order: the agent drains
// per-thread buffers, so consumers sort by time where it matters).
class TraceSink {
public:
    virtual ~TraceSink() = default;
    virtual void on_event(const TraceEvent& event) = 0;
};

enum class StopReason {
    NotStopped,  // incremental reading that may continue
    TraceEnd,    // the agent closed the trace cleanly
    EndOfFile,   // the file ends at a block boundary but without TraceEnd
    Exec,        // the last record is ProcessExec: an exec replaced the process image
    Truncated,   // the file ends inside a block
    Corrupt,     // a damaged block with no valid block after it
};

struct ReadSummary {
    uint64_t blocks_read = 0;
    uint64_t records_read = 0;
    uint64_t bytes_read = 0;           // offset just past the last whole block
    uint64_t file_bytes = 0;           // file size when reading stopped
    uint64_t corrupt_blocks = 0;
    uint64_t skipped_bytes = 0;        // bytes passed over to resynchronise on a block magic
    uint64_t unknown_records = 0;      // record types this reader does not know, skipped
    uint64_t malformed_records = 0;    // known types too short for their layout, skipped
    uint64_t missing_blocks = 0;       // gaps in block sequence numbers
    uint64_t dropped_records = 0;      // reported by the agent in TraceEnd
    StopReason stop = StopReason::NotStopped;
    std::string exec_path;              // the program of the final ProcessExec when stop is Exec
    std::vector<std::string> warnings;  // one line each, naming the block and byte offset

    // True when the whole trace was read: it ended with TraceEnd, or with the exec that
    // continued the process in the next image's trace, and no block was damaged.
    bool complete() const {
        return (stop == StopReason::TraceEnd || stop == StopReason::Exec) && corrupt_blocks == 0;
    }
    // One line saying how much was read and why reading stopped.
    std::string describe_stop() const;
};

// Where one whole block lies in a trace file, from its header alone.
struct BlockLocation {
    uint64_t offset = 0;  // of the BlockHeader
    trace::BlockHeader header{};
};

// The blocks of a trace found by walking block headers without decompressing them.
struct BlockIndex {
    std::vector<BlockLocation> blocks;  // in file order
    uint64_t file_bytes = 0;
    uint64_t indexed_bytes = 0;  // offset just past the last block indexed
    // Empty when every byte was indexed; otherwise why the walk stopped early (a damaged
    // or torn block header). A full read resynchronises past damage; the index does not.
    std::string stopped;
};

// Receives how far reading has come after every block read by any TraceReader on the
// thread that installed it with ScopedReadProgress, so a caller can show the progress of
// code such as analyze_session that creates its readers itself. on_progress may throw
// to cancel the read; the exception leaves the TraceReader that called it.
class ReadProgress {
public:
    virtual ~ReadProgress() = default;
    virtual void on_progress(const std::filesystem::path& trace, uint64_t bytes_read, uint64_t file_bytes) = 0;
};

// Installs a ReadProgress for the calling thread until it goes out of scope.
class ScopedReadProgress {
public:
    explicit ScopedReadProgress(ReadProgress& progress);
    ScopedReadProgress(const ScopedReadProgress&) = delete;
    ScopedReadProgress& operator=(const ScopedReadProgress&) = delete;
    ~ScopedReadProgress();

private:
    ReadProgress* previous_;
};

// Reads one trace file, all at once or incrementally while the agent appends to it.
// Not thread-safe: one reader per thread.
class TraceReader {
public:
    // Opens the file; throws TraceError when it cannot be opened.
    explicit TraceReader(std::filesystem::path path);
    TraceReader(const TraceReader&) = delete;
    TraceReader& operator=(const TraceReader&) = delete;
    ~TraceReader();

    // Decodes the blocks completed since the last call and passes their records to
    // `sink`. With `file_complete` false, an incomplete header or block at the end is
    // awaited (the writer may still be appending); with it true, it is reported as
    // truncation. Throws TraceError for an unreadable header (in incremental mode only
    // once the header's bytes are all present). Returns the number of records passed.
    uint64_t read_available(TraceSink& sink, bool file_complete);

    // Reads the file header if it has not been read yet; returns whether it is
    // available. Throws TraceError like read_available.
    bool load_header(bool file_complete);

    // Walks the block headers after the file header (loading it first) without
    // decompressing any block. Independent of read_available's position.
    BlockIndex index_blocks();

    // Decodes the one block at `block` (from index_blocks) and passes its records to
    // `sink`, without moving read_available's position or changing summary(). Returns the
    // block's status; records are passed only when it is Ok.
    trace::BlockStatus read_block_at(const BlockLocation& block, TraceSink& sink);

    const std::filesystem::path& path() const { return path_; }
    const std::optional<TraceHeader>& header() const { return header_; }
    const ReadSummary& summary() const { return summary_; }
    bool finished() const { return summary_.stop != StopReason::NotStopped; }

private:
    bool read_block(TraceSink& sink, uint64_t file_size, bool file_complete);
    bool resynchronise(uint64_t from, uint64_t file_size, bool file_complete, const std::string& reason);
    void decode_records(TraceSink& sink, const uint8_t* raw, size_t size);
    size_t read_at(uint64_t offset, void* buffer, size_t size) const;
    void warn(std::string message);

    std::filesystem::path path_;
    int fd_ = -1;
    uint64_t offset_ = 0;
    uint64_t header_bytes_ = 0;  // where the first block starts, once the header is loaded
    uint64_t next_sequence_ = 0;
    uint64_t block_index_ = 0;  // blocks met so far, whole or damaged, counting from 0
    std::optional<TraceHeader> header_;
    bool last_record_is_exec_ = false;
    ReadSummary summary_;
    trace::BlockDecoder decoder_;
    std::vector<uint8_t> compressed_;
    std::vector<uint8_t> raw_;
};

// Reads a whole trace file into `sink`; returns the header and summary.
struct TraceReadResult {
    TraceHeader header;
    ReadSummary summary;
};
TraceReadResult read_trace(const std::filesystem::path& path, TraceSink& sink);

}  // namespace routeheap::analysis
