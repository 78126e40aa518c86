// The agent's only log and its failure policy. Messages are formatted into a stack
// buffer and written to stderr with the real write(2), prefixed "routeheap[pid]: ",
// because stdio and printf may allocate or take locks the host holds.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace routeheap::agent {

// A message under construction, in a fixed buffer; text past the end is cut.
class LogLine {
public:
    LogLine& add(const char* text);
    LogLine& add(const char* text, size_t length);
    LogLine& add_unsigned(uint64_t value);
    LogLine& add_signed(int64_t value);
    // Appends strerror-like text for an errno value without calling strerror.
    LogLine& add_errno(int error);

    const char* text() const { return buffer_; }
    size_t length() const { return length_; }

private:
    char buffer_[480] = {};
    size_t length_ = 0;
};

// One place in the code that logs. The first message of a site is printed; later
// ones are only counted and summed up at exit.
struct LogSite {
    std::atomic<uint32_t> count{0};
    std::atomic<bool> registered{false};
    std::atomic<bool> in_trace{false};  // an AgentLog record carries the message
    bool disabled = false;              // the message came with a stop of recording
    char first_message[256] = {};
};

// Prints the message once per site (unless ROUTEHEAP_QUIET is set) and copies it
// into the trace as an AgentLog record when recording.
void log_once(LogSite& site, const LogLine& line);

// The failure policy: logs once, writes an AgentLog record marked `disabled` if the
// trace still accepts records, and stops recording. The host runs on unchanged.
void fail(LogSite& site, const LogLine& line);

// Only for a broken start-up invariant: prints the message and aborts.
[[noreturn]] void abort_with(const LogLine& line);

// Prints how often each logged message repeated; called once at exit.
void report_repeated_messages();

// Copies messages logged before the trace was open (invalid options, say) into it.
void emit_pending_log_records();

}  // namespace routeheap::agent
