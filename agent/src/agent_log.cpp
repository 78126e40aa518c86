// Log formatting, log-once bookkeeping and the failure policy.
#include "agent_log.h"

#include "options.h"
#include "real_functions.h"
#include "recorder.h"
#include "thread_state.h"

#include <routeheap/trace_format.h>

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace routeheap::agent {

namespace {

constexpr size_t kMaxSites = 32;
std::atomic<LogSite*> g_sites[kMaxSites];
std::atomic<size_t> g_site_count{0};

void write_stderr(const char* text, size_t length) {
    const auto write_fn = real().write;
    if (write_fn == nullptr) return;
    while (length > 0) {
        const ssize_t written = write_fn(STDERR_FILENO, text, length);
        if (written <= 0) {
            if (written < 0 && errno == EINTR) continue;
            return;
        }
        text += written;
        length -= static_cast<size_t>(written);
    }
}

void print_line(const LogLine& line) {
    LogLine full;
    full.add("routeheap[").add_unsigned(static_cast<uint64_t>(getpid())).add("]: ");
    full.add(line.text(), line.length()).add("\n");
    write_stderr(full.text(), full.length());
}

void register_site(LogSite& site, const LogLine& line) {
    if (site.registered.exchange(true)) return;
    const size_t copy = line.length() < sizeof(site.first_message) - 1 ? line.length()
                                                                        : sizeof(site.first_message) - 1;
    std::memcpy(site.first_message, line.text(), copy);
    const size_t index = g_site_count.fetch_add(1);
    if (index < kMaxSites) g_sites[index].store(&site);
}

void emit_agent_log(const LogLine& line, bool disabled) {
    struct {
        trace::AgentLog record;
        char text[trace::kMaxTextBytes];
    } message{};
    const size_t length = line.length() < trace::kMaxTextBytes ? line.length() : trace::kMaxTextBytes;
    message.record.header.type = static_cast<uint16_t>(trace::RecordType::AgentLog);
    message.record.header.size = static_cast<uint16_t>(sizeof(trace::AgentLog) + length);
    message.record.text_length = static_cast<uint16_t>(length);
    message.record.disabled = disabled ? 1 : 0;
    message.record.time_ns = now_ns();
    std::memcpy(message.text, line.text(), length);
    emit_record(&message, message.record.header.size);
}

// Logs, and returns true when this was the site's first message.
bool log_and_count(LogSite& site, const LogLine& line) {
    ErrnoSaver errno_saver;
    const bool first = site.count.fetch_add(1, std::memory_order_relaxed) == 0;
    if (!first) return false;
    register_site(site, line);
    if (!options().quiet) print_line(line);
    return true;
}

}  // namespace

LogLine& LogLine::add(const char* text) {
    return add(text, text == nullptr ? 0 : std::strlen(text));
}

LogLine& LogLine::add(const char* text, size_t length) {
    const size_t room = sizeof(buffer_) - 1 - length_;
    const size_t copy = length < room ? length : room;
    std::memcpy(buffer_ + length_, text, copy);
    length_ += copy;
    buffer_[length_] = '\0';
    return *this;
}

LogLine& LogLine::add_unsigned(uint64_t value) {
    char digits[24];
    size_t count = 0;
    do {
        digits[sizeof(digits) - 1 - count] = static_cast<char>('0' + value % 10);
        value /= 10;
        ++count;
    } while (value != 0);
    return add(digits + sizeof(digits) - count, count);
}

LogLine& LogLine::add_signed(int64_t value) {
    if (value < 0) {
        add("-");
        return add_unsigned(static_cast<uint64_t>(0) - static_cast<uint64_t>(value));
    }
    return add_unsigned(static_cast<uint64_t>(value));
}

LogLine& LogLine::add_errno(int error) {
    // strerror may allocate for unknown values and is not async-signal-safe, so the
    // common values are named here and the rest printed as numbers.
    switch (error) {
        case ENOENT: return add("no such file or directory");
        case EACCES: return add("permission denied");
        case EEXIST: return add("file exists");
        case ENOSPC: return add("no space left on device");
        case EDQUOT: return add("disk quota exceeded");
        case EIO: return add("input/output error");
        case EBADF: return add("bad file descriptor");
        case ENOMEM: return add("out of memory");
        case EROFS: return add("read-only file system");
        case ELOOP: return add("symbolic link in the path");
        case ENOTDIR: return add("not a directory");
        case EFBIG: return add("file too large");
        case EMFILE: return add("too many open files");
        case EAGAIN: return add("resource temporarily unavailable");
        default: return add("errno ").add_signed(error);
    }
}

void log_once(LogSite& site, const LogLine& line) {
    if (log_and_count(site, line) && recording()) {
        site.in_trace.store(true);
        emit_agent_log(line, false);
    }
}

void fail(LogSite& site, const LogLine& line) {
    site.disabled = true;
    if (log_and_count(site, line) && recording()) {
        site.in_trace.store(true);
        emit_agent_log(line, true);
    }
    request_stop();
}

void emit_pending_log_records() {
    const size_t count = g_site_count.load() < kMaxSites ? g_site_count.load() : kMaxSites;
    for (size_t i = 0; i < count; ++i) {
        LogSite* site = g_sites[i].load();
        if (site == nullptr || site->in_trace.exchange(true)) continue;
        LogLine line;
        line.add(site->first_message);
        emit_agent_log(line, site->disabled);
    }
}

void abort_with(const LogLine& line) {
    print_line(line);
    abort();
}

void report_repeated_messages() {
    if (options().quiet) return;
    const size_t count = g_site_count.load() < kMaxSites ? g_site_count.load() : kMaxSites;
    for (size_t i = 0; i < count; ++i) {
        const LogSite* site = g_sites[i].load();
        if (site == nullptr) continue;
        const uint32_t repeats = site->count.load() - 1;
        if (repeats == 0) continue;
        LogLine line;
        line.add("the message \"").add(site->first_message).add("\" repeated ");
        line.add_unsigned(repeats).add(repeats == 1 ? " more time" : " more times");
        print_line(line);
    }
}

}  // namespace routeheap::agent
