// The one list of functions the agent interposes. Each entry generates the type of
// the real function, its pointer in RealFunctions, its dlsym(RTLD_NEXT) lookup and
// the start-up check that every required symbol was found.
//
// How to add a hook:
//   1. Add X(name, return type, (parameter types), kRequired or kOptional) below.
//      kOptional is for symbols a process may lack (the C++ operators when
//      libstdc++ is not loaded).
//   2. Define the wrapper with ROUTEHEAP_EXPORT in the hooks_*.cpp file of its
//      family: a HookScope, the real call through real().name, one recorder call
//      on success (frees and unmaps before the real call), the real result.
//   3. If the function may run while the agent resolves its own symbols (malloc
//      family only), give it a bootstrap path like malloc's.
//   4. Cover it in samples/native/errno_check.c.
#pragma once

#include <dirent.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#define ROUTEHEAP_EXPORT extern "C" __attribute__((visibility("default")))

// X(name, return type, parameter list, requirement)
#define ROUTEHEAP_HOOKS(X)                                                              \
    /* malloc family; malloc and free first, because dlsym may allocate */              \
    X(malloc, void*, (size_t), kRequired)                                               \
    X(free, void, (void*), kRequired)                                                   \
    X(calloc, void*, (size_t, size_t), kRequired)                                       \
    X(realloc, void*, (void*, size_t), kRequired)                                       \
    X(reallocarray, void*, (void*, size_t, size_t), kRequired)                          \
    X(posix_memalign, int, (void**, size_t, size_t), kRequired)                         \
    X(aligned_alloc, void*, (size_t, size_t), kRequired)                                \
    X(memalign, void*, (size_t, size_t), kRequired)                                     \
    X(valloc, void*, (size_t), kRequired)                                               \
    X(pvalloc, void*, (size_t), kRequired)                                              \
    X(malloc_usable_size, size_t, (void*), kRequired)                                   \
    /* C++ operators, only used to report allocation failure the standard way */        \
    X(_Znwm, void*, (size_t), kOptional)                                                \
    X(_Znam, void*, (size_t), kOptional)                                                \
    X(_ZnwmSt11align_val_t, void*, (size_t, size_t), kOptional)                         \
    X(_ZnamSt11align_val_t, void*, (size_t, size_t), kOptional)                         \
    /* mappings (V8 heap pages) */                                                      \
    X(mmap, void*, (void*, size_t, int, int, int, off_t), kRequired)                    \
    X(mmap64, void*, (void*, size_t, int, int, int, off64_t), kRequired)                \
    X(munmap, int, (void*, size_t), kRequired)                                          \
    X(mremap, void*, (void*, size_t, size_t, int, ...), kRequired)                      \
    X(mprotect, int, (void*, size_t, int), kRequired)                                   \
    X(madvise, int, (void*, size_t, int), kRequired)                                    \
    /* sockets (HTTP framing) */                                                        \
    X(accept, int, (int, struct sockaddr*, socklen_t*), kRequired)                      \
    X(accept4, int, (int, struct sockaddr*, socklen_t*, int), kRequired)                \
    X(read, ssize_t, (int, void*, size_t), kRequired)                                   \
    X(readv, ssize_t, (int, const struct iovec*, int), kRequired)                       \
    X(recv, ssize_t, (int, void*, size_t, int), kRequired)                              \
    X(recvfrom, ssize_t, (int, void*, size_t, int, struct sockaddr*, socklen_t*), kRequired) \
    X(recvmsg, ssize_t, (int, struct msghdr*, int), kRequired)                          \
    X(write, ssize_t, (int, const void*, size_t), kRequired)                            \
    X(writev, ssize_t, (int, const struct iovec*, int), kRequired)                      \
    X(send, ssize_t, (int, const void*, size_t, int), kRequired)                        \
    X(sendto, ssize_t, (int, const void*, size_t, int, const struct sockaddr*, socklen_t), kRequired) \
    X(sendmsg, ssize_t, (int, const struct msghdr*, int), kRequired)                    \
    X(shutdown, int, (int, int), kRequired)                                             \
    X(close, int, (int), kRequired)                                                     \
    /* loader (module maps) */                                                          \
    X(dlclose, int, (void*), kRequired)                                                 \
    /* processes */                                                                     \
    X(fork, pid_t, (void), kRequired)                                                   \
    X(execve, int, (const char*, char* const*, char* const*), kRequired)                \
    X(execv, int, (const char*, char* const*), kRequired)                               \
    X(execvp, int, (const char*, char* const*), kRequired)                              \
    X(execvpe, int, (const char*, char* const*, char* const*), kRequired)               \
    X(exit, void, (int), kRequired)                                                     \
    X(_exit, void, (int), kRequired)                                                    \
    X(_Exit, void, (int), kRequired)
