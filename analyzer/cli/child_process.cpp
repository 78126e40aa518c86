// Child process start, environment and signal forwarding for `routeheap record`.
#include "child_process.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace routeheap::cli {

namespace {

// Written before the child starts and read from the signal handler.
std::atomic<pid_t> forward_target{0};

constexpr const char* kNodeProfilingFlags = "--perf-basic-prof-only-functions --interpreted-frames-native-stack";

void forward_signal(int signal_number, siginfo_t* info, void*) {
    // The terminal sends Ctrl-C (and hangup) to the whole foreground process group, so
    // the child already has it: forwarding would deliver it twice. Those signals come
    // from the kernel (SI_KERNEL); a kill() aimed at routeheap alone is forwarded.
    if (info != nullptr && info->si_code == SI_KERNEL) return;
    const pid_t child = forward_target.load();
    if (child > 0) ::kill(child, signal_number);
}

void set_variable(std::vector<std::string>& environment, const std::string& name, const std::string& value) {
    const std::string prefix = name + "=";
    for (std::string& entry : environment) {
        if (entry.starts_with(prefix)) {
            entry = prefix + value;
            return;
        }
    }
    environment.push_back(prefix + value);
}

std::string get_variable(const std::vector<std::string>& environment, const std::string& name) {
    const std::string prefix = name + "=";
    for (const std::string& entry : environment) {
        if (entry.starts_with(prefix)) return entry.substr(prefix.size());
    }
    return {};
}

}  // namespace

std::vector<std::string> agent_environment(const std::filesystem::path& agent, const std::filesystem::path& output) {
    std::vector<std::string> environment;
    for (char** entry = environ; *entry != nullptr; ++entry) environment.emplace_back(*entry);

    const std::string preload = get_variable(environment, "LD_PRELOAD");
    set_variable(environment, "LD_PRELOAD", preload.empty() ? agent.string() : agent.string() + ":" + preload);
    set_variable(environment, "ROUTEHEAP_OUTPUT_DIR", output.string());

    std::string node_options = get_variable(environment, "NODE_OPTIONS");
    if (node_options.find("--perf-basic-prof-only-functions") == std::string::npos) {
        node_options += std::string(node_options.empty() ? "" : " ") + kNodeProfilingFlags;
    } else if (node_options.find("--interpreted-frames-native-stack") == std::string::npos) {
        node_options += " --interpreted-frames-native-stack";
    }
    set_variable(environment, "NODE_OPTIONS", node_options);
    return environment;
}

void install_signal_forwarding() {
    struct sigaction action {};
    action.sa_sigaction = forward_signal;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) sigaction(signal_number, &action, nullptr);
}

pid_t start_child(const std::vector<std::string>& command, const std::vector<std::string>& environment,
                  int output_fd) {
    std::vector<char*> arguments;
    for (const std::string& argument : command) arguments.push_back(const_cast<char*>(argument.c_str()));
    arguments.push_back(nullptr);
    std::vector<char*> variables;
    for (const std::string& variable : environment) variables.push_back(const_cast<char*>(variable.c_str()));
    variables.push_back(nullptr);

    // The child writes exec's errno into this pipe; a successful exec closes it empty.
    int exec_error_pipe[2];
    if (::pipe2(exec_error_pipe, O_CLOEXEC) != 0) {
        throw std::runtime_error(std::string("cannot create a pipe: ") + std::strerror(errno));
    }

    const pid_t child = ::fork();
    if (child < 0) {
        const int error = errno;
        ::close(exec_error_pipe[0]);
        ::close(exec_error_pipe[1]);
        throw std::runtime_error(std::string("fork failed: ") + std::strerror(error));
    }
    if (child == 0) {
        // exec resets caught signals to their defaults; the mask is inherited, so clear it.
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        if (output_fd >= 0) {
            ::dup2(output_fd, STDOUT_FILENO);
            ::dup2(output_fd, STDERR_FILENO);
        }
        environ = variables.data();
        ::execvp(arguments[0], arguments.data());
        const int error = errno;
        [[maybe_unused]] const ssize_t written = ::write(exec_error_pipe[1], &error, sizeof(error));
        ::_exit(error == ENOENT ? 127 : 126);
    }

    ::close(exec_error_pipe[1]);
    int exec_error = 0;
    ssize_t got = 0;
    do {
        got = ::read(exec_error_pipe[0], &exec_error, sizeof(exec_error));
    } while (got < 0 && errno == EINTR);
    ::close(exec_error_pipe[0]);
    if (got == static_cast<ssize_t>(sizeof(exec_error))) {
        int status = 0;
        while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
        }
        throw CommandNotStarted("cannot run '" + command[0] + "': " + std::strerror(exec_error) +
                                    (exec_error == ENOENT ? "; check the command name and PATH" : ""),
                                exec_error == ENOENT ? 127 : 126);
    }
    forward_target.store(child);
    return child;
}

bool child_exited(pid_t child, ChildExit& command_exit) {
    int status = 0;
    const pid_t result = ::waitpid(child, &status, WNOHANG);
    if (result != child) return false;
    command_exit.signal_number = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    command_exit.exit_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    forward_target.store(0);
    return true;
}

std::string signal_name(int signal_number) {
    const char* abbreviation = ::sigabbrev_np(signal_number);
    if (abbreviation == nullptr) return "signal " + std::to_string(signal_number);
    return std::string("SIG") + abbreviation;
}

}  // namespace routeheap::cli
