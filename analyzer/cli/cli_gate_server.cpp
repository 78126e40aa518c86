// Start, readiness and stop of the server that `routeheap gate` judges.
#include "cli_gate_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <regex>

namespace routeheap::cli {

namespace {

// Lines of server output kept for error messages.
constexpr size_t kKeptLines = 200;
// Bytes of the server's first output searched for its port.
constexpr size_t kEarlyOutputBytes = 64 * 1024;
constexpr std::chrono::milliseconds kPollInterval{50};

bool accepts_connections(uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
    ::close(fd);
    return connected;
}

void sleep_for(std::chrono::milliseconds duration) {
    std::this_thread::sleep_for(duration);
}

}  // namespace

std::string describe_exit(const ChildExit& exit) {
    if (exit.signal_number != 0) return "was killed by " + signal_name(exit.signal_number);
    return "exited with status " + std::to_string(exit.exit_code);
}

GateServer::GateServer(const std::vector<std::string>& command, const std::filesystem::path& agent,
                       const std::filesystem::path& session)
    : command_(command) {
    int output_pipe[2];
    if (::pipe2(output_pipe, O_CLOEXEC) != 0) {
        throw GateSetupError(std::string("cannot create a pipe for the server's output: ") + std::strerror(errno));
    }
    try {
        pid_ = start_child(command, agent_environment(agent, session), output_pipe[1]);
    } catch (...) {
        ::close(output_pipe[0]);
        ::close(output_pipe[1]);
        throw;
    }
    ::close(output_pipe[1]);
    output_thread_ = std::thread([this, fd = output_pipe[0]] { read_output(fd); });
}

GateServer::~GateServer() {
    if (!exit_ && pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ChildExit ignored;
        while (!child_exited(pid_, ignored)) sleep_for(kPollInterval);
    }
    stop_reading_ = true;
    if (output_thread_.joinable()) output_thread_.join();
}

void GateServer::read_output(int fd) {
    // Polls with a timeout so the thread ends even when a grandchild of the server keeps
    // the pipe open after the server exited.
    char buffer[16 * 1024];
    while (!stop_reading_) {
        pollfd ready{fd, POLLIN, 0};
        const int result = ::poll(&ready, 1, 100);
        if (result < 0 && errno == EINTR) continue;
        if (result <= 0) continue;
        const ssize_t got = ::read(fd, buffer, sizeof(buffer));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;  // every writer closed the pipe

        std::lock_guard lock(output_mutex_);
        if (early_output_.size() < kEarlyOutputBytes) {
            early_output_.append(buffer, std::min<size_t>(static_cast<size_t>(got), kEarlyOutputBytes - early_output_.size()));
        }
        partial_line_.append(buffer, static_cast<size_t>(got));
        for (size_t newline; (newline = partial_line_.find('\n')) != std::string::npos;) {
            lines_.push_back(partial_line_.substr(0, newline));
            partial_line_.erase(0, newline + 1);
            if (lines_.size() > kKeptLines) lines_.pop_front();
        }
    }
    ::close(fd);
    output_closed_ = true;
}

void GateServer::await_output_end() const {
    for (int i = 0; i < 20 && !output_closed_; ++i) sleep_for(kPollInterval);
}

std::optional<uint16_t> GateServer::printed_port() const {
    std::string text;
    {
        std::lock_guard lock(output_mutex_);
        text = early_output_;
    }
    // "http://127.0.0.1:3000", "localhost:3000", "[::1]:3000", then "port 3000" / "port: 3000".
    static const std::regex address(R"((?:127\.0\.0\.1|localhost|0\.0\.0\.0|\[::1?\]):(\d{1,5})\b)");
    static const std::regex word(R"(\bport\b[\s:=]*(\d{1,5})\b)", std::regex::icase);
    std::smatch match;
    if (std::regex_search(text, match, address) || std::regex_search(text, match, word)) {
        const int port = std::stoi(match[1].str());
        if (port > 0 && port <= 65535) return static_cast<uint16_t>(port);
    }
    return std::nullopt;
}

uint16_t GateServer::wait_until_ready(std::optional<uint16_t> port, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        if (const auto end = exited()) {
            throw GateSetupError("the server '" + command_line() + "' " + describe_exit(*end) +
                                 " before it accepted connections; its last output:\n" + last_output(20));
        }
        const std::optional<uint16_t> candidate = port ? port : printed_port();
        if (candidate && accepts_connections(*candidate)) return *candidate;
        if (std::chrono::steady_clock::now() >= deadline) {
            const std::string waited_for =
                candidate ? "to accept connections on 127.0.0.1:" + std::to_string(*candidate)
                          : "to print its port (such as \"http://127.0.0.1:3000\" or \"port 3000\"); give it with --port P";
            throw GateSetupError("timed out after " + std::to_string(timeout.count() / 1000) + " s waiting for '" +
                                 command_line() + "' " + waited_for + " (raise --start-timeout for a slow start); its last output:\n" +
                                 last_output(20));
        }
        sleep_for(kPollInterval);
    }
}

std::optional<ChildExit> GateServer::exited() {
    if (!exit_) {
        ChildExit end;
        if (child_exited(pid_, end)) {
            exit_ = end;
            await_output_end();
        }
    }
    return exit_;
}

ChildExit GateServer::stop(std::chrono::milliseconds grace, bool& killed) {
    killed = false;
    if (const auto end = exited()) return *end;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (std::chrono::steady_clock::now() < deadline) {
        if (const auto end = exited()) return *end;
        sleep_for(kPollInterval);
    }
    killed = true;
    ::kill(pid_, SIGKILL);
    while (!exited()) sleep_for(kPollInterval);
    return *exit_;
}

std::string GateServer::last_output(size_t count) const {
    std::lock_guard lock(output_mutex_);
    std::vector<std::string> tail(lines_.end() - static_cast<long>(std::min(count, lines_.size())), lines_.end());
    if (!partial_line_.empty()) tail.push_back(partial_line_);
    if (tail.size() > count) tail.erase(tail.begin());
    if (tail.empty()) return "  | (no output)\n";
    std::string text;
    for (const std::string& line : tail) text += "  | " + line + "\n";
    return text;
}

std::string GateServer::command_line() const {
    std::string line;
    for (const std::string& word : command_) line += (line.empty() ? "" : " ") + word;
    return line;
}

}  // namespace routeheap::cli
