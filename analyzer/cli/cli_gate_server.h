// The server that `routeheap gate` runs under the agent: started like `record` starts its
// command, with its output captured for the port and for error messages, and stopped with
// SIGTERM, then SIGKILL after a grace period.
#pragma once

#include "child_process.h"

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace routeheap::cli {

// The server could not be started or never became ready. The message names the command,
// what happened and its last output lines.
class GateSetupError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Thread-safety: the output thread appends to the captured lines under `output_mutex_`;
// every other member is used only by the thread that created the object.
class GateServer {
public:
    // Starts `command` with the agent's environment writing into `session`. Throws
    // CommandNotStarted or GateSetupError.
    GateServer(const std::vector<std::string>& command, const std::filesystem::path& agent,
               const std::filesystem::path& session);
    GateServer(const GateServer&) = delete;
    GateServer& operator=(const GateServer&) = delete;
    // Kills a server that is still running and joins the output thread.
    ~GateServer();

    // Waits until 127.0.0.1:PORT accepts a TCP connection, where PORT is `port` or else
    // the first port the server prints ("http://127.0.0.1:3000", "port 3000"). Returns
    // the port. Throws GateSetupError when the server exits first or `timeout` passes.
    uint16_t wait_until_ready(std::optional<uint16_t> port, std::chrono::milliseconds timeout);

    // Returns how the server ended once it has exited; nothing while it runs. Once it has
    // exited, waits up to a second for its last output lines to arrive.
    std::optional<ChildExit> exited();

    // Sends SIGTERM, waits up to `grace` for the exit, then sends SIGKILL. Returns the exit,
    // with `killed` set when SIGKILL was needed.
    ChildExit stop(std::chrono::milliseconds grace, bool& killed);

    // The last `count` lines the server printed, each prefixed with "  | ".
    std::string last_output(size_t count) const;

    // "node server.js": the command as one line for messages.
    std::string command_line() const;

    pid_t pid() const { return pid_; }

private:
    void read_output(int fd);
    std::optional<uint16_t> printed_port() const;
    // After the server exited: waits up to a second for its last output to arrive.
    void await_output_end() const;

    std::vector<std::string> command_;
    pid_t pid_ = 0;
    std::optional<ChildExit> exit_;
    std::thread output_thread_;
    std::atomic<bool> stop_reading_{false};
    std::atomic<bool> output_closed_{false};
    mutable std::mutex output_mutex_;
    std::deque<std::string> lines_;  // the latest lines, bounded
    std::string partial_line_;
    std::string early_output_;  // the first bytes, where servers print their port
};

// Describes an exit for messages: "exited with status 3" or "was killed by SIGKILL".
std::string describe_exit(const ChildExit& exit);

}  // namespace routeheap::cli
