// Hooks of process life: fork gives the child its own trace, exec hands the trace
// over to the next image, and the exit paths end the trace.
#include "real_functions.h"
#include "recorder.h"
#include "thread_state.h"

#include <alloca.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace ra = routeheap::agent;

extern "C" char** environ;

namespace {

// Above this many variables the environment is passed on unchanged rather than
// copied onto the stack, so the next image cannot tell that it follows an exec.
constexpr size_t kMaxCopiedVariables = 16384;

size_t count_variables(char* const* environment) {
    size_t count = 0;
    if (environment != nullptr) {
        while (environment[count] != nullptr) ++count;
    }
    return count;
}

// Formats "ROUTEHEAP_EXEC_PID=<pid>" into `out` (at least 64 bytes).
void format_marker(char* out) {
    const size_t name_length = sizeof(ra::kExecMarkerVariable) - 1;
    std::memcpy(out, ra::kExecMarkerVariable, name_length);
    out[name_length] = '=';
    char digits[24];
    size_t count = 0;
    auto pid = static_cast<unsigned long>(getpid());
    do {
        digits[count++] = static_cast<char>('0' + pid % 10);
        pid /= 10;
    } while (pid != 0);
    for (size_t i = 0; i < count; ++i) out[name_length + 1 + i] = digits[count - 1 - i];
    out[name_length + 1 + count] = '\0';
}

bool is_marker(const char* variable) {
    const size_t name_length = sizeof(ra::kExecMarkerVariable) - 1;
    return std::strncmp(variable, ra::kExecMarkerVariable, name_length) == 0 && variable[name_length] == '=';
}

// Copies `environment` into `out` (room for count + 2 pointers) with the marker in
// place of any inherited one.
char** with_marker(char* const* environment, size_t count, char** out, char* marker) {
    size_t used = 0;
    for (size_t i = 0; i < count; ++i) {
        if (!is_marker(environment[i])) out[used++] = environment[i];
    }
    out[used++] = marker;
    out[used] = nullptr;
    return out;
}

// Runs `exec` with the environment it would get, plus the marker when this image
// has a trace. The copy lives on the stack: nothing here may allocate.
#define ROUTEHEAP_EXEC_WITH_MARKER(path, environment, exec_call)                                        \
    do {                                                                                                \
        ra::HookScope scope;                                                                            \
        const bool has_trace = scope.active() && ra::before_exec(path);                                 \
        char* const* exec_environment = (environment);                                                  \
        const size_t count = count_variables(exec_environment);                                         \
        if (has_trace && count <= kMaxCopiedVariables) {                                                \
            char* marker = static_cast<char*>(alloca(64));                                              \
            format_marker(marker);                                                                      \
            char** copy = static_cast<char**>(alloca((count + 2) * sizeof(char*)));                     \
            exec_environment = with_marker(exec_environment, count, copy, marker);                      \
        }                                                                                               \
        return exec_call;                                                                               \
    } while (false)

}  // namespace

ROUTEHEAP_EXPORT pid_t fork() noexcept {
    ra::HookScope scope;
    if (!scope.active()) return ra::real().fork();
    ra::before_fork();
    const pid_t child = ra::real().fork();
    if (child == 0) {
        ra::after_fork_in_child();
    } else {
        ra::after_fork_in_parent(child);
    }
    return child;
}

ROUTEHEAP_EXPORT int execve(const char* path, char* const argv[], char* const envp[]) noexcept {
    ROUTEHEAP_EXEC_WITH_MARKER(path, envp, ra::real().execve(path, argv, exec_environment));
}

ROUTEHEAP_EXPORT int execv(const char* path, char* const argv[]) noexcept {
    ROUTEHEAP_EXEC_WITH_MARKER(path, environ, ra::real().execve(path, argv, exec_environment));
}

ROUTEHEAP_EXPORT int execvp(const char* file, char* const argv[]) noexcept {
    ROUTEHEAP_EXEC_WITH_MARKER(file, environ, ra::real().execvpe(file, argv, exec_environment));
}

ROUTEHEAP_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) noexcept {
    ROUTEHEAP_EXEC_WITH_MARKER(file, envp, ra::real().execvpe(file, argv, exec_environment));
}

ROUTEHEAP_EXPORT void exit(int status) noexcept {
    ra::set_exit_status(status);
    ra::real().exit(status);
    __builtin_unreachable();
}

ROUTEHEAP_EXPORT void _exit(int status) {
    ra::finish_recording(status);
    ra::real()._exit(status);
    __builtin_unreachable();
}

ROUTEHEAP_EXPORT void _Exit(int status) noexcept {
    ra::finish_recording(status);
    ra::real()._Exit(status);
    __builtin_unreachable();
}
