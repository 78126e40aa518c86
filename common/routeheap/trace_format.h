// The routeheap trace format: the one definition shared by the agent (writer) and
// the analyzer (reader). docs/trace-format.md describes the same layout in prose.
//
// A trace file is a FileHeader followed by blocks. Each block is a BlockHeader and a
// zstd frame holding a run of records. Blocks are self-contained and checksummed, so
// a reader can stop at the last whole block after the host was killed mid-write.
// All integers are little-endian (the agent supports x86_64 and aarch64 Linux only).
// Structs here are the on-disk layout: plain data, no padding holes, checked below.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace routeheap::trace {

inline constexpr char kFileMagic[8] = {'R', 'H', 'T', 'R', 'A', 'C', 'E', '1'};

// Bumped on any change an older reader cannot skip. New record types need no bump when
// a reader that skips them by their size loses nothing it needs. Version 2 added the
// compact request records (CompactRequestHead, CompactResponse), which carry requests a
// version-1 reader would lose; readers accept every version up to their own. Version 3
// packs each block's records before compressing them (trace_pack.h), in blocks marked
// with kPackedBlockMagic.
inline constexpr uint32_t kFormatVersion = 3;

inline constexpr uint32_t kBlockMagic = 0x4b424852;        // "RHBK" in file byte order
inline constexpr uint32_t kPackedBlockMagic = 0x50424852;  // "RHBP": the records are packed

inline constexpr bool is_block_magic(uint32_t magic) { return magic == kBlockMagic || magic == kPackedBlockMagic; }
inline constexpr uint32_t kMaxBlockRawBytes = 1u << 20;
inline constexpr uint32_t kMaxPathBytes = 1024;    // longer paths are cut and flagged
inline constexpr uint32_t kMaxMethodBytes = 32;
inline constexpr uint32_t kMaxTextBytes = 512;     // AgentLog and FramingStopped text

// File header flags.
inline constexpr uint32_t kFileAfterExec = 1u << 0;   // process image replaced by execve
inline constexpr uint32_t kFileForkedChild = 1u << 1; // written by a child after fork

// Written once at offset 0, followed by `exe_length` bytes of the executable path and
// `cmdline_length` bytes of /proc/self/cmdline (NUL-separated arguments).
// `header_crc32` is zlib's crc32 over the whole header and both strings with the
// field itself set to zero.
struct FileHeader {
    char magic[8];
    uint32_t version;
    uint32_t header_size;  // sizeof(FileHeader) + exe_length + cmdline_length
    uint32_t pid;
    uint32_t ppid;
    uint64_t start_realtime_ns;   // CLOCK_REALTIME when the trace was opened
    uint64_t start_monotonic_ns;  // CLOCK_MONOTONIC at the same instant
    uint32_t page_size;
    uint32_t flags;               // kFileAfterExec | kFileForkedChild
    uint32_t exe_length;
    uint32_t cmdline_length;
    uint32_t sequence;            // 0 for <pid>.rhtrace, N for <pid>.N.rhtrace after exec
    uint32_t header_crc32;
};
static_assert(sizeof(FileHeader) == 64);

// Precedes each zstd frame. `payload_crc32` covers the compressed bytes and
// `header_crc32` the 44 bytes before it, so a torn or corrupted block is detected
// without decompressing. `first_time_ns`/`last_time_ns` bound the records' times
// (CLOCK_MONOTONIC) so a reader can seek by time using only block headers.
struct BlockHeader {
    uint32_t magic;            // kBlockMagic, or kPackedBlockMagic
    uint32_t compressed_size;  // bytes of zstd frame that follow this header
    uint32_t raw_size;         // bytes of records after decompression (and unpacking), <= kMaxBlockRawBytes
    uint32_t record_count;
    uint64_t sequence;         // 0, 1, 2, ... per file; a gap means a block was lost
    uint64_t first_time_ns;
    uint64_t last_time_ns;
    uint32_t payload_crc32;
    uint32_t header_crc32;
};
static_assert(sizeof(BlockHeader) == 48);

// Every record starts with this. `size` counts the whole record including this
// header, so readers skip types they do not know.
struct RecordHeader {
    uint16_t type;
    uint16_t size;
};
static_assert(sizeof(RecordHeader) == 4);

enum class RecordType : uint16_t {
    CounterSample = 1,
    ConnectionOpen = 2,
    RequestHead = 3,
    RequestBody = 4,
    ResponseHead = 5,
    ResponseWrite = 6,
    RequestEnd = 7,
    ConnectionClose = 8,
    FramingStopped = 9,
    ProcessFork = 10,
    ProcessExec = 11,
    ProcessExit = 12,
    AgentLog = 13,
    TraceEnd = 14,
    // Compact forms of a small request's records (version 2). trace_compact.h turns each
    // into the records it stands for.
    CompactRequestHead = 15,
    CompactResponse = 16,
    // Allocation stacks and module maps. Readers that predate them skip them by size.
    Allocation = 32,
    Free = 33,
    StackDefinition = 34,
    ModuleLoad = 35,
    ModuleUnload = 36,
    SamplingConfig = 37,
};

// Memory counters at one instant. Every native figure counts what callers asked
// for (`live`) and what malloc_usable_size reports (`usable`).
struct Counters {
    int64_t native_live_bytes;
    int64_t native_usable_bytes;
    int64_t v8_committed_bytes;      // anonymous read-write mappings (mmap/mprotect)
    int64_t rss_bytes;               // resident set from /proc/self/statm, -1 when not read
    uint64_t native_allocated_total; // bytes ever requested from the malloc family
    uint64_t native_allocation_calls;
};
static_assert(sizeof(Counters) == 48);

enum class SampleReason : uint16_t {
    Periodic = 0,        // timer in the writer thread
    RequestStart = 1,    // first byte of a request was read
    ResponseStart = 2,   // first byte of the final response was written
    RequestEnd = 3,      // last byte of the response was written (or connection ended)
    ProcessStart = 4,
    ProcessEnd = 5,
};

// A point on the memory timeline. The peaks are the maximum the counters reached
// since the previous CounterSample of this process (whatever its reason), so the
// samples partition time and a request's peak is the max over the samples inside
// its window. `connection_id` is 0 for periodic samples.
struct CounterSample {
    RecordHeader header;
    uint16_t reason;  // SampleReason
    uint16_t reserved;
    uint64_t time_ns;
    uint64_t connection_id;
    Counters current;
    int64_t native_live_peak_bytes;
    int64_t v8_committed_peak_bytes;
};
static_assert(sizeof(CounterSample) == 88);

// An accepted socket. Connection ids are unique within one trace file and start at 1.
struct ConnectionOpen {
    RecordHeader header;
    int32_t fd;
    uint64_t time_ns;
    uint64_t connection_id;
    int32_t listen_fd;
    uint32_t reserved;
};
static_assert(sizeof(ConnectionOpen) == 32);

// Request flags.
inline constexpr uint32_t kRequestChunked = 1u << 0;
inline constexpr uint32_t kRequestExpectContinue = 1u << 1;
inline constexpr uint32_t kRequestConnectionClose = 1u << 2;  // client asked to close
inline constexpr uint32_t kRequestHttp10 = 1u << 3;
inline constexpr uint32_t kRequestPathTruncated = 1u << 4;
inline constexpr uint32_t kRequestHadQuery = 1u << 5;         // a query string was removed

// Written when the request line and headers are complete. Followed by
// `method_length` bytes of the method and `path_length` bytes of the path, with the
// query string already removed. `first_byte_ns` is when the first byte of the
// request line was read; the RequestStart CounterSample carries that time too.
struct RequestHead {
    RecordHeader header;
    uint32_t flags;
    uint64_t first_byte_ns;
    uint64_t headers_done_ns;
    uint64_t connection_id;
    uint32_t request_index;   // 0, 1, ... on this connection
    uint16_t method_length;
    uint16_t path_length;
    int64_t content_length;   // -1 when absent (chunked or no body)
    uint64_t header_bytes;    // request line and headers including the blank line
};
static_assert(sizeof(RequestHead) == 56);

// Request body bytes consumed by one read call.
struct RequestBody {
    RecordHeader header;
    uint32_t complete;        // 1 when this read finished the body
    uint64_t time_ns;
    uint64_t connection_id;
    uint32_t request_index;
    uint32_t reserved;
    uint64_t bytes;           // body bytes in this read (chunk framing excluded)
    uint64_t body_total;      // body bytes so far
};
static_assert(sizeof(RequestBody) == 48);

// Response flags.
inline constexpr uint32_t kResponseChunked = 1u << 0;
inline constexpr uint32_t kResponseCloseDelimited = 1u << 1;  // body ends at connection close
inline constexpr uint32_t kResponseConnectionClose = 1u << 2;
inline constexpr uint32_t kResponseInterim = 1u << 3;          // 1xx, e.g. 100 Continue

// The status line and headers of a response were written completely.
// `first_byte_ns` is the time of the write that carried the first byte.
struct ResponseHead {
    RecordHeader header;
    uint16_t status;
    uint16_t reserved;
    uint64_t first_byte_ns;
    uint64_t headers_done_ns;
    uint64_t connection_id;
    uint32_t request_index;
    uint32_t flags;
    int64_t content_length;   // -1 when absent
    uint64_t header_bytes;
};
static_assert(sizeof(ResponseHead) == 56);

// Write flags.
inline constexpr uint32_t kWritePartial = 1u << 0;  // fewer bytes accepted than requested
inline constexpr uint32_t kWriteWouldBlock = 1u << 1; // EAGAIN/EWOULDBLOCK
inline constexpr uint32_t kWriteError = 1u << 2;      // any other error; `result` is -errno

// One write/writev/send/sendmsg call on a framed connection.
struct ResponseWrite {
    RecordHeader header;
    uint32_t flags;
    uint64_t time_ns;
    uint64_t connection_id;
    uint32_t request_index;
    uint32_t iov_count;
    uint64_t bytes_requested;
    int64_t result;           // bytes accepted, or -errno
    uint64_t body_bytes;      // response body bytes among the accepted ones
};
static_assert(sizeof(ResponseWrite) == 56);

enum class RequestOutcome : uint16_t {
    Complete = 0,          // the response body ended per its framing
    ConnectionClosed = 1,  // connection ended first (close, shutdown, EOF, fd reused)
    FramingStopped = 2,    // bytes that are not HTTP/1.1 followed
    ProcessExit = 3,       // still open when the process exited
};

// The end of one request/response exchange, with its totals.
struct RequestEnd {
    RecordHeader header;
    uint16_t status;          // 0 when no response head was written
    uint16_t outcome;         // RequestOutcome
    uint64_t time_ns;
    uint64_t connection_id;
    uint32_t request_index;
    uint32_t write_calls;
    uint64_t request_body_bytes;
    uint64_t response_body_bytes;
    uint64_t response_header_bytes;
    uint64_t largest_write_bytes;
    uint32_t would_block_writes;
    uint32_t partial_writes;
};
static_assert(sizeof(RequestEnd) == 72);

// The RequestStart CounterSample and the RequestHead of a request whose first byte and
// whole head were read in one call, in one record. Followed by the method and path
// bytes, as RequestHead. `time_ns` is the sample's time and both times of the head.
struct CompactRequestHead {
    RecordHeader header;
    uint32_t flags;           // RequestHead flags
    uint64_t time_ns;
    uint64_t connection_id;
    uint32_t request_index;
    uint16_t method_length;
    uint16_t path_length;
    int64_t content_length;
    uint64_t header_bytes;
    Counters current;
    int64_t native_live_peak_bytes;
    int64_t v8_committed_peak_bytes;
};
static_assert(sizeof(CompactRequestHead) == 112);

// A final response written whole by one fully accepted call that began with it and
// completed no other response head: its ResponseHead, the RequestEnd (outcome Complete,
// one write call), the RequestEnd CounterSample and the call's ResponseWrite, in one record.
struct CompactResponse {
    RecordHeader header;
    uint16_t status;
    uint16_t flags;           // ResponseHead flags
    uint64_t time_ns;         // of the write call: every time of the four records
    uint64_t connection_id;
    uint32_t request_index;
    uint32_t iov_count;
    int64_t content_length;   // ResponseHead's
    uint64_t header_bytes;    // ResponseHead's, and RequestEnd's response_header_bytes
    uint64_t body_bytes;      // response body bytes: RequestEnd's and the write's
    uint64_t write_bytes;     // bytes the call asked to write and wrote
    uint64_t request_body_bytes;
    Counters current;
    int64_t native_live_peak_bytes;
    int64_t v8_committed_peak_bytes;
};
static_assert(sizeof(CompactResponse) == 136);

enum class CloseReason : uint16_t {
    Close = 0,       // close() on the descriptor
    Shutdown = 1,    // shutdown(SHUT_WR or SHUT_RDWR)
    PeerEof = 2,     // read returned 0
    FdReused = 3,    // accept returned the same descriptor again (libuv closes with a raw syscall)
    ProcessExit = 4,
};

struct ConnectionClose {
    RecordHeader header;
    uint16_t reason;  // CloseReason
    uint16_t reserved;
    uint64_t time_ns;
    uint64_t connection_id;
};
static_assert(sizeof(ConnectionClose) == 24);

// The agent stopped framing a connection. Followed by `text_length` bytes naming why
// ("TLS handshake", "HTTP/2 preface", "invalid request line", ...).
struct FramingStopped {
    RecordHeader header;
    uint16_t text_length;
    uint16_t reserved;
    uint64_t time_ns;
    uint64_t connection_id;
};
static_assert(sizeof(FramingStopped) == 24);

struct ProcessFork {
    RecordHeader header;
    uint32_t child_pid;
    uint64_t time_ns;
};
static_assert(sizeof(ProcessFork) == 16);

// Written just before execve; the new image continues in <pid>.N.rhtrace.
// Followed by `path_length` bytes of the program path.
struct ProcessExec {
    RecordHeader header;
    uint16_t path_length;
    uint16_t reserved;
    uint64_t time_ns;
};
static_assert(sizeof(ProcessExec) == 16);

struct ProcessExit {
    RecordHeader header;
    int32_t status;
    uint64_t time_ns;
};
static_assert(sizeof(ProcessExit) == 16);

// A message the agent also printed on stderr. Followed by `text_length` bytes.
// `disabled` is 1 when the agent stopped recording after it.
struct AgentLog {
    RecordHeader header;
    uint16_t text_length;
    uint16_t disabled;
    uint64_t time_ns;
};
static_assert(sizeof(AgentLog) == 16);

// The last record of a trace that was closed cleanly; its absence means the host
// was killed or crashed, and the reader says so.
struct TraceEnd {
    RecordHeader header;
    uint32_t reserved;
    uint64_t time_ns;
    uint64_t dropped_records;  // records lost because a buffer was full (a compact record counts once)
};
static_assert(sizeof(TraceEnd) == 24);

// On-disk structs must have no padding, so every byte written is defined.
// How allocations were chosen for stacks; written once at the start of each trace,
// before any Allocation. An allocation of `size` bytes is sampled with probability
// 1 - exp(-size / mean_interval_bytes) (a Poisson process over allocated bytes), so a
// reader weights it by the inverse of that; allocations of at least
// `always_threshold_bytes` are always recorded and weigh 1. A mean of 1 records all.
struct SamplingConfig {
    RecordHeader header;
    uint32_t max_frames;
    uint64_t mean_interval_bytes;
    uint64_t always_threshold_bytes;
};
static_assert(sizeof(SamplingConfig) == 24);

// Allocation kinds.
enum class AllocationKind : uint16_t {
    Malloc = 0,
    Calloc = 1,
    Realloc = 2,
    AlignedAlloc = 3,  // posix_memalign, aligned_alloc, memalign, valloc, pvalloc
    OperatorNew = 4,
    OperatorNewArray = 5,
    V8Commit = 6,      // anonymous range made read-write by mmap or mprotect
};

inline constexpr uint16_t kAllocationAlways = 1u << 0;  // at or above always_threshold_bytes

// One sampled allocation. `stack_id` refers to a StackDefinition of the same trace,
// which may come later in the file (records of different threads are not ordered).
struct Allocation {
    RecordHeader header;
    uint16_t kind;   // AllocationKind
    uint16_t flags;  // kAllocationAlways
    uint64_t time_ns;
    uint64_t address;
    uint64_t size;      // bytes requested
    uint64_t stack_id;
    uint32_t thread_id; // kernel tid
    uint32_t reserved;
};
static_assert(sizeof(Allocation) == 48);

// The release of a block recorded by an Allocation record (frees of unsampled blocks
// are not written). For V8Commit ranges, `size` is the number of bytes released,
// which may be part of the range; for heap blocks it is 0.
struct Free {
    RecordHeader header;
    uint32_t thread_id;
    uint64_t time_ns;
    uint64_t address;
    uint64_t size;
};
static_assert(sizeof(Free) == 32);

// A call stack, written once per distinct stack before or after its first use.
// Followed by `frame_count` uint64_t return addresses, innermost first; frame 0 is
// the code that called the allocation function.
struct StackDefinition {
    RecordHeader header;
    uint32_t frame_count;
    uint64_t stack_id;  // unique within the trace, never 0
};
static_assert(sizeof(StackDefinition) == 16);

// A loaded ELF object: the executable, a shared library at start-up, or one loaded
// later with dlopen. Followed by `build_id_length` bytes of the GNU build-id and
// `path_length` bytes of the path. [start, end) spans its PT_LOAD segments in memory;
// `load_bias` is the difference between runtime and ELF virtual addresses.
struct ModuleLoad {
    RecordHeader header;
    uint16_t path_length;
    uint16_t build_id_length;
    uint64_t time_ns;
    uint64_t load_bias;
    uint64_t start;
    uint64_t end;
};
static_assert(sizeof(ModuleLoad) == 40);

// A module unloaded with dlclose; identifies it by the load bias of its ModuleLoad.
struct ModuleUnload {
    RecordHeader header;
    uint32_t reserved;
    uint64_t time_ns;
    uint64_t load_bias;
};
static_assert(sizeof(ModuleUnload) == 24);

// Fills a record's header: its type, and its size in bytes including any text that
// follows the fixed part.
template <typename Record>
constexpr void set_header(Record& record, RecordType type, size_t size = sizeof(Record)) {
    record.header.type = static_cast<uint16_t>(type);
    record.header.size = static_cast<uint16_t>(size);
}

template <typename Record>
constexpr bool kIsRecord = std::has_unique_object_representations_v<Record> &&
                           std::is_standard_layout_v<Record> && offsetof(Record, header) == 0;

static_assert(kIsRecord<CounterSample> && kIsRecord<ConnectionOpen> && kIsRecord<RequestHead> &&
              kIsRecord<RequestBody> && kIsRecord<ResponseHead> && kIsRecord<ResponseWrite> &&
              kIsRecord<RequestEnd> && kIsRecord<CompactRequestHead> && kIsRecord<CompactResponse> &&
              kIsRecord<ConnectionClose> && kIsRecord<FramingStopped> &&
              kIsRecord<ProcessFork> && kIsRecord<ProcessExec> && kIsRecord<ProcessExit> &&
              kIsRecord<AgentLog> && kIsRecord<TraceEnd> && kIsRecord<SamplingConfig> &&
              kIsRecord<Allocation> && kIsRecord<Free> && kIsRecord<StackDefinition> &&
              kIsRecord<ModuleLoad> && kIsRecord<ModuleUnload>);
static_assert(std::has_unique_object_representations_v<FileHeader> &&
              std::has_unique_object_representations_v<BlockHeader>);

}  // namespace routeheap::trace
