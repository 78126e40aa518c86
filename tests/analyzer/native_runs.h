// Helpers for the tests that run samples/native programs under `routeheap record`: a
// shell command with its output, and the paths of the built sample programs.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

namespace routeheap::testing {

struct CommandResult {
    int exit_code = -1;  // -1 when the command did not exit normally
    std::string output;  // stdout and stderr together
};

// Runs `command` through /bin/sh.
inline CommandResult run_command(const std::string& command) {
    CommandResult result;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) return result;
    std::array<char, 4096> buffer{};
    size_t got = 0;
    while ((got = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), got);
    const int status = ::pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

// The program's path in PATH, or an empty path.
inline std::filesystem::path find_program(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::stringstream folders(path != nullptr ? path : "");
    std::string folder;
    while (std::getline(folders, folder, ':')) {
        const std::filesystem::path candidate = std::filesystem::path(folder) / name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return {};
}

// A program or module of samples/native: the build puts them in <build>/samples/native,
// beside <build>/bin where the routeheap binary is. Adds a failure when it is missing.
inline std::filesystem::path native_sample(const std::string& name) {
    const auto path = std::filesystem::path(ROUTEHEAP_BIN).parent_path().parent_path() / "samples/native" / name;
    if (!std::filesystem::exists(path)) {
        ADD_FAILURE() << path << " is missing: build the samples/native targets (cmake --build BUILD)";
    }
    return path;
}

}  // namespace routeheap::testing
