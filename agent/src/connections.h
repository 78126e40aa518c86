// HTTP/1.1 framing of accepted sockets: the socket hooks report each call here after
// the real call returned, and the tracker turns the bytes into request and response
// records through record_sink.h. Implemented in connections.cpp.
//
// Thread-safety: libuv performs socket I/O on one thread per event loop, but Worker
// threads have loops too, so every function tolerates concurrent calls on different
// descriptors. Calls on the same descriptor from two threads at once are not expected
// (HTTP servers never do that) and leave that connection's framing undefined, never
// the process. Nothing here blocks, allocates through malloc, locks or does stdio.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>

namespace routeheap::agent::net {

// Cheap check used by read/write hooks before anything else: true when `fd` is an
// accepted socket whose framing is still active.
bool is_tracked(int fd);

// After a successful accept/accept4 returned `fd` on listening socket `listen_fd`, or
// with `listen_fd` -1 after recvmsg received the connected socket `fd` (Node's cluster
// module accepts in the primary and passes each connection to a worker that way).
// A descriptor number seen again ends whatever was known about its old connection,
// because libuv closes sockets with a raw syscall that no hook sees.
void on_accept(int listen_fd, int fd);

// After read/readv/recv/recvfrom/recvmsg on a tracked fd. `result` is the real
// return value (bytes, 0 at EOF, -1 with `saved_errno`); the bytes filled are the
// first `result` bytes across `iov`.
void on_read(int fd, const struct iovec* iov, int iovcnt, ssize_t result, int saved_errno);

// After write/writev/send/sendto/sendmsg on a tracked fd, with the buffers the caller
// passed and the real result.
void on_write(int fd, const struct iovec* iov, int iovcnt, ssize_t result, int saved_errno);

// Before shutdown(fd, how) and close(fd) reach the kernel.
void on_shutdown(int fd, int how);
void on_close(int fd);

// At process exit (atexit, _exit hook): ends every open request with outcome
// ProcessExit so the trace says what was in flight.
void on_process_exit();

// Accepted connections that could not be framed (descriptor number of 2^20 or more,
// or no memory for the table). Each also gets a FramingStopped record.
uint64_t untracked_connection_count();

}  // namespace routeheap::agent::net
