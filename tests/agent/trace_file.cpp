// Test support: trace reading with the shared codec and program runs under the agent.
#include "trace_file.h"

#include <routeheap/trace_block.h>
#include <routeheap/trace_compact.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

extern char** environ;

namespace routeheap::testing {

std::vector<TraceRecord> TraceFile::of_type(trace::RecordType type) const {
    std::vector<TraceRecord> found;
    for (const TraceRecord& record : records) {
        if (record.type == type) found.push_back(record);
    }
    return found;
}

std::vector<trace::CounterSample> TraceFile::samples() const {
    std::vector<trace::CounterSample> found;
    for (const TraceRecord& record : of_type(trace::RecordType::CounterSample)) {
        found.push_back(record.as<trace::CounterSample>());
    }
    return found;
}

TraceFile read_trace(const std::string& path) {
    TraceFile file;
    file.path = path;
    std::ifstream input(path, std::ios::binary);
    const std::vector<uint8_t> data((std::istreambuf_iterator<char>(input)), std::istreambuf_iterator<char>());

    if (trace::check_file_header(data.data(), data.size(), file.header) != trace::HeaderStatus::Ok) {
        file.stop_reason = "bad file header";
        return file;
    }
    file.header_ok = true;
    const char* strings = reinterpret_cast<const char*>(data.data()) + sizeof(trace::FileHeader);
    file.exe.assign(strings, file.header.exe_length);
    file.cmdline.assign(strings + file.header.exe_length, file.header.cmdline_length);

    trace::BlockDecoder decoder;
    std::vector<uint8_t> raw(trace::kMaxBlockRawBytes);
    size_t offset = file.header.header_size;
    uint64_t expected_sequence = 0;
    while (offset < data.size()) {
        trace::BlockHeader block{};
        const trace::BlockStatus status =
            decoder.decode(data.data() + offset, data.size() - offset, block, raw.data(), raw.size());
        if (status != trace::BlockStatus::Ok) {
            file.stop_reason = trace::describe(status);
            break;
        }
        if (block.sequence != expected_sequence) file.sequence_gap = true;
        expected_sequence = block.sequence + 1;
        ++file.blocks;

        trace::RecordCursor cursor(raw.data(), block.raw_size);
        trace::RecordHeader header{};
        const uint8_t* bytes = nullptr;
        const auto keep = [&file](const trace::RecordHeader& record, const uint8_t* record_bytes) {
            file.records.push_back(TraceRecord{static_cast<trace::RecordType>(record.type),
                                               std::vector<uint8_t>(record_bytes, record_bytes + record.size)});
        };
        while (cursor.next(header, bytes)) {
            if (!trace::is_compact_record(header.type)) {
                keep(header, bytes);
            } else if (trace::for_each_expanded_record(header, bytes, keep)) {
                ++file.compact_records;
            } else {
                file.stop_reason = "malformed compact record";
            }
        }
        if (cursor.malformed()) file.stop_reason = "malformed record";
        offset += sizeof(trace::BlockHeader) + block.compressed_size;
    }
    return file;
}

RunResult run_program(const std::vector<std::string>& argv, const std::map<std::string, std::string>& environment,
                      int timeout_seconds) {
    std::map<std::string, std::string> merged;
    for (char** variable = environ; *variable != nullptr; ++variable) {
        const std::string entry(*variable);
        const size_t equals = entry.find('=');
        if (equals != std::string::npos) merged[entry.substr(0, equals)] = entry.substr(equals + 1);
    }
    for (const auto& [name, value] : environment) merged[name] = value;

    std::vector<std::string> entries;
    for (const auto& [name, value] : merged) entries.push_back(name + "=" + value);
    std::vector<char*> env_pointers;
    for (std::string& entry : entries) env_pointers.push_back(entry.data());
    env_pointers.push_back(nullptr);
    std::vector<std::string> arguments = argv;
    std::vector<char*> arg_pointers;
    for (std::string& argument : arguments) arg_pointers.push_back(argument.data());
    arg_pointers.push_back(nullptr);

    int out_pipe[2];
    int err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
    pid_t pid = 0;
    const int spawned = posix_spawn(&pid, arg_pointers[0], &actions, nullptr, arg_pointers.data(), env_pointers.data());
    posix_spawn_file_actions_destroy(&actions);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (spawned != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(spawned));

    // Read both pipes until they close or the time is up.
    RunResult result;
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_pipes = 2;
    const time_t deadline = time(nullptr) + timeout_seconds;
    while (open_pipes > 0 && time(nullptr) < deadline) {
        if (poll(fds, 2, 1000) <= 0) continue;
        for (pollfd& entry : fds) {
            if (entry.fd < 0 || entry.revents == 0) continue;
            char buffer[4096];
            const ssize_t got = read(entry.fd, buffer, sizeof(buffer));
            if (got <= 0) {
                close(entry.fd);
                entry.fd = -1;
                --open_pipes;
                continue;
            }
            (entry.fd == out_pipe[0] ? result.out : result.err).append(buffer, static_cast<size_t>(got));
        }
    }
    if (open_pipes > 0) kill(pid, SIGKILL);
    for (pollfd& entry : fds) {
        if (entry.fd >= 0) close(entry.fd);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

TempDir::TempDir() {
    char pattern[] = "/tmp/routeheap-agent-test-XXXXXX";
    if (mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

std::vector<std::string> TempDir::traces() const {
    std::vector<std::string> found;
    for (const auto& entry : std::filesystem::directory_iterator(path_)) {
        if (entry.path().extension() == ".rhtrace") found.push_back(entry.path().string());
    }
    std::sort(found.begin(), found.end());
    return found;
}

std::map<std::string, std::string> agent_environment(const std::string& dir) {
    return {{"LD_PRELOAD", ROUTEHEAP_AGENT_PATH}, {"ROUTEHEAP_OUTPUT_DIR", dir}};
}

}  // namespace routeheap::testing
