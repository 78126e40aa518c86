// Runs the recorded command as a child process with the agent's environment, and
// forwards termination signals that routeheap itself receives.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace routeheap::cli {

// The environment for the child: the current one with LD_PRELOAD (agent first),
// ROUTEHEAP_OUTPUT_DIR and NODE_OPTIONS (the perf-map flags appended) set.
std::vector<std::string> agent_environment(const std::filesystem::path& agent, const std::filesystem::path& output);

// Installs handlers for SIGINT, SIGTERM and SIGHUP that forward the signal to the
// child once it is known, so routeheap itself outlives the signal.
void install_signal_forwarding();

// A command that could not be executed; `exit_code` is 127 when it was not found and
// 126 otherwise, as shells report it.
class CommandNotStarted : public std::runtime_error {
public:
    CommandNotStarted(const std::string& message, int code) : std::runtime_error(message), exit_code(code) {}
    int exit_code;
};

// Starts `command` (searched in PATH) in the caller's process group so the terminal's
// Ctrl-C reaches it directly, and returns its pid once exec succeeded. With `output_fd`
// set, the child's stdout and stderr go to that descriptor. Throws CommandNotStarted when
// exec fails, and std::runtime_error when fork fails.
pid_t start_child(const std::vector<std::string>& command, const std::vector<std::string>& environment,
                  int output_fd = -1);

// The end of the child: its exit status, or 128 + the signal number when a signal
// killed it, with `signal_number` set then (0 otherwise).
struct ChildExit {
    int exit_code = 0;
    int signal_number = 0;
};

// Polls the child without blocking. Returns true once it exited, with `command_exit` set.
bool child_exited(pid_t child, ChildExit& command_exit);

// "SIGINT" for SIGINT; "signal N" for a number without a name.
std::string signal_name(int signal_number);

}  // namespace routeheap::cli
