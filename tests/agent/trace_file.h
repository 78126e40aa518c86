// Test support: reads a whole trace file with the shared codec, and runs programs
// under the agent with a fresh output folder.
#pragma once

#include <routeheap/trace_format.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace routeheap::testing {

struct TraceRecord {
    trace::RecordType type;
    std::vector<uint8_t> bytes;  // the whole record, header included

    template <typename Record>
    Record as() const {
        Record record{};
        std::memcpy(&record, bytes.data(), sizeof(Record) < bytes.size() ? sizeof(Record) : bytes.size());
        return record;
    }
    // The text or path that follows a fixed-size record.
    std::string tail(size_t fixed_size) const {
        return bytes.size() > fixed_size ? std::string(bytes.begin() + fixed_size, bytes.end()) : std::string();
    }
};

struct TraceFile {
    std::string path;
    bool header_ok = false;
    trace::FileHeader header{};
    std::string exe;
    std::string cmdline;
    // Compact records appear as the records they stand for (trace_compact.h).
    std::vector<TraceRecord> records;
    size_t compact_records = 0;
    size_t blocks = 0;
    std::string stop_reason;  // empty when the file ended exactly at a block boundary
    bool sequence_gap = false;

    std::vector<TraceRecord> of_type(trace::RecordType type) const;
    std::vector<trace::CounterSample> samples() const;
    bool has(trace::RecordType type) const { return !of_type(type).empty(); }
};

TraceFile read_trace(const std::string& path);

struct RunResult {
    int exit_status = -1;  // exit code, or 128 + signal
    std::string out;
    std::string err;
};

// Runs `argv` with the given extra environment and waits for it (bounded by
// `timeout_seconds`, then SIGKILL).
RunResult run_program(const std::vector<std::string>& argv, const std::map<std::string, std::string>& environment,
                      int timeout_seconds = 60);

// A temporary folder, removed with its contents when the object goes away.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    // Trace files in the folder, sorted by name.
    std::vector<std::string> traces() const;

private:
    std::string path_;
};

// The environment that runs a program under the agent, writing into `dir`.
std::map<std::string, std::string> agent_environment(const std::string& dir);

}  // namespace routeheap::testing
