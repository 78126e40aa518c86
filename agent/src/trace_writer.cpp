// Creation of the trace file and the block writer behind the writer thread.
#include "trace_writer.h"

#include "agent_log.h"
#include "real_functions.h"
#include "recorder.h"
#include "thread_buffers.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace routeheap::agent {

namespace {

// Enough for every exec of a shell retrying PATH entries, and a bound on the search.
constexpr uint32_t kMaxExecSequence = 10000;
// With the encoder's table size and no frame checksum, level -1 compressed the agent's
// traces 1.5 to 1.6 times as fast as level 1 with its defaults, at the same ratio (8.8 on
// small requests, 7.5 on exact-mode uploads). Level -3 took the writer thread from 2.5% to
// 2.15% of a small-request server's perf samples for 22% more trace bytes (35.5 instead of
// 29 per request), which still leaves the trace several times smaller than heaptrack's.
// Level -6 was no faster and 70% larger.
constexpr int kZstdLevel = -3;

uint64_t realtime_ns() {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<uint64_t>(now.tv_sec) * 1000000000ull + static_cast<uint64_t>(now.tv_nsec);
}

void format_path(char* out, size_t capacity, const char* dir, pid_t pid, uint32_t sequence) {
    LogLine name;  // a convenient fixed buffer formatter
    name.add(dir).add("/").add_unsigned(static_cast<uint64_t>(pid));
    if (sequence > 0) name.add(".").add_unsigned(sequence);
    name.add(".rhtrace");
    const size_t length = name.length() < capacity - 1 ? name.length() : capacity - 1;
    std::memcpy(out, name.text(), length);
    out[length] = '\0';
}

// Reads a whole small file into `out`; returns the bytes read.
size_t read_small_file(const char* path, uint8_t* out, size_t capacity) {
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    size_t total = 0;
    while (total < capacity) {
        const ssize_t got = real().read(fd, out + total, capacity - total);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        total += static_cast<size_t>(got);
    }
    real().close(fd);
    return total;
}

void report_open_failure(const char* what, const char* path, int error) {
    static LogSite site;
    LogLine line;
    line.add(what).add(" ").add(path).add(": ").add_errno(error);
    line.add("; recording nothing (set ROUTEHEAP_OUTPUT_DIR to a writable folder)");
    log_once(site, line);
}

void report_write_failure(const char* path, int error) {
    static LogSite site;
    LogLine line;
    line.add("writing the trace ").add(path).add(" failed: ").add_errno(error).add("; recording stopped");
    fail(site, line);
}

}  // namespace

bool TraceWriter::map_buffers() {
    if (raw_ != nullptr) return true;
    encoded_capacity_ = trace::BlockEncoder::max_encoded_size(trace::kMaxBlockRawBytes);
    const size_t total = trace::kMaxBlockRawBytes + encoded_capacity_;
    void* memory = real().mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) return false;
    raw_ = static_cast<uint8_t*>(memory);
    encoded_ = raw_ + trace::kMaxBlockRawBytes;
    return true;
}

bool TraceWriter::create_file(const char* dir, bool after_exec, uint32_t& sequence) {
    const pid_t pid = getpid();
    // After exec the earlier images of this pid own <pid>.rhtrace and <pid>.1... ;
    // a fresh image normally gets <pid>.rhtrace, and only a reused pid moves on.
    for (sequence = after_exec ? 1 : 0; sequence < kMaxExecSequence; ++sequence) {
        format_path(path_, sizeof(path_), dir, pid, sequence);
        const int fd = ::open(path_, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            struct stat info {};
            if (fstat(fd, &info) != 0) {
                report_open_failure("cannot inspect the trace file", path_, errno);
                real().close(fd);
                return false;
            }
            fd_ = fd;
            device_ = info.st_dev;
            inode_ = info.st_ino;
            return true;
        }
        if (errno != EEXIST) {
            report_open_failure("cannot create the trace file", path_, errno);
            return false;
        }
    }
    report_open_failure("no free trace file name after", path_, EEXIST);
    return false;
}

bool TraceWriter::write_header(uint32_t flags, uint32_t sequence) {
    trace::FileHeader header{};
    header.pid = static_cast<uint32_t>(getpid());
    header.ppid = static_cast<uint32_t>(getppid());
    header.start_realtime_ns = realtime_ns();
    header.start_monotonic_ns = now_ns();
    header.page_size = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
    header.flags = flags;
    header.sequence = sequence;

    // The raw block buffer is still empty, so it holds the two strings meanwhile.
    char* exe = reinterpret_cast<char*>(raw_);
    const ssize_t exe_length = readlink("/proc/self/exe", exe, 4096);
    const size_t exe_size = exe_length > 0 ? static_cast<size_t>(exe_length) : 0;
    uint8_t* cmdline = raw_ + 4096;
    const size_t cmdline_size = read_small_file("/proc/self/cmdline", cmdline, 65536);

    if (!trace::finish_file_header(header, std::string_view(exe, exe_size),
                                   std::string_view(reinterpret_cast<char*>(cmdline), cmdline_size))) {
        return false;
    }
    return write_all(&header, sizeof(header)) && write_all(exe, exe_size) && write_all(cmdline, cmdline_size);
}

bool TraceWriter::open(const char* dir, uint32_t flags, bool after_exec) {
    if (!map_buffers()) {
        report_open_failure("cannot map the trace buffers for", dir, errno);
        return false;
    }
    if (!encoder_ready_) {
        encoder_ready_ = encoder_.init(kZstdLevel);
        if (!encoder_ready_) {
            report_open_failure("cannot create a zstd context for", dir, ENOMEM);
            return false;
        }
    }
    uint32_t sequence = 0;
    if (!create_file(dir, after_exec, sequence)) return false;
    if (after_exec) flags |= trace::kFileAfterExec;
    block_sequence_ = 0;
    raw_used_ = 0;
    raw_records_ = 0;
    first_time_ns_ = 0;
    last_time_ns_ = 0;
    return write_header(flags, sequence);
}

bool TraceWriter::check_descriptor() {
    // Hosts close or dup2 over descriptors they do not own (close_range, closefrom),
    // so make sure the descriptor still is the trace before writing to it.
    struct stat info {};
    if (fstat(fd_, &info) == 0 && info.st_dev == device_ && info.st_ino == inode_) return true;

    // The old number may belong to the host now: never close it.
    const int fd = ::open(path_, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return false;
    if (fstat(fd, &info) != 0 || info.st_dev != device_ || info.st_ino != inode_) {
        real().close(fd);
        errno = ESTALE;
        return false;
    }
    fd_ = fd;
    return true;
}

bool TraceWriter::write_all(const void* data, size_t size) {
    if (fd_ < 0) return false;
    if (!check_descriptor()) {
        report_write_failure(path_, errno);
        fd_ = -1;
        return false;
    }
    const auto* bytes = static_cast<const uint8_t*>(data);
    while (size > 0) {
        const ssize_t written = real().write(fd_, bytes, size);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) {
            report_write_failure(path_, written < 0 ? errno : EIO);
            fd_ = -1;
            return false;
        }
        bytes += written;
        size -= static_cast<size_t>(written);
    }
    return true;
}

bool TraceWriter::flush() {
    if (raw_used_ == 0) return fd_ >= 0;
    const size_t encoded = encoder_.encode(raw_, static_cast<uint32_t>(raw_used_), raw_records_, block_sequence_,
                                           first_time_ns_, last_time_ns_, encoded_, encoded_capacity_);
    raw_used_ = 0;
    raw_records_ = 0;
    first_time_ns_ = 0;
    last_time_ns_ = 0;
    if (encoded == 0) {
        static LogSite site;
        LogLine line;
        line.add("compressing a trace block failed; recording stopped");
        fail(site, line);
        return false;
    }
    ++block_sequence_;
    return write_all(encoded_, encoded);
}

bool TraceWriter::append(const void* record, size_t size) {
    if (raw_ == nullptr || size > trace::kMaxBlockRawBytes) return false;
    if (raw_used_ + size > trace::kMaxBlockRawBytes && !flush()) return false;
    std::memcpy(raw_ + raw_used_, record, size);
    const uint64_t time = record_time(record, size);
    if (time != 0 && (first_time_ns_ == 0 || time < first_time_ns_)) first_time_ns_ = time;
    if (time > last_time_ns_) last_time_ns_ = time;
    raw_used_ += size;
    ++raw_records_;
    return true;
}

bool TraceWriter::drain(ThreadBuffers& buffers) {
    if (raw_ == nullptr) return false;
    // Each round fills at most one block; a round that finds nothing to move with an
    // empty block buffer means every ring is empty. The bound keeps threads that record
    // without pause from holding the writer here forever.
    constexpr int kMaxRounds = 64;
    for (int round = 0; round < kMaxRounds; ++round) {
        const size_t moved = buffers.drain_into(raw_ + raw_used_, trace::kMaxBlockRawBytes - raw_used_, raw_records_,
                                                first_time_ns_, last_time_ns_);
        raw_used_ += moved;
        if (raw_used_ == 0) return fd_ >= 0;
        if (!flush()) return false;
    }
    return fd_ >= 0;
}

void TraceWriter::forget_after_fork_child() {
    if (fd_ >= 0) real().close(fd_);
    fd_ = -1;
    raw_used_ = 0;
    raw_records_ = 0;
    first_time_ns_ = 0;
    last_time_ns_ = 0;
    block_sequence_ = 0;
}

}  // namespace routeheap::agent
