// Hooks of the socket calls libuv uses for HTTP servers. Each forwards the call
// unchanged and reports tracked descriptors to the connection tracker afterwards
// (connections.h); the tracker turns the bytes into request and response records.
#include "connections.h"
#include "real_functions.h"
#include "record_sink.h"
#include "thread_state.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <cerrno>
#include <cstring>

namespace ra = routeheap::agent;
namespace net = routeheap::agent::net;

namespace {

// True when this call's bytes go to the connection tracker.
bool tracked(const ra::HookScope& scope, int fd) {
    return scope.active() && ra::recording() && net::is_tracked(fd);
}

void report_read(const ra::HookScope& scope, int fd, const struct iovec* iov, int iovcnt, ssize_t result) {
    if (!tracked(scope, fd)) return;
    const int saved_errno = errno;
    net::on_read(fd, iov, iovcnt, result, saved_errno);
    errno = saved_errno;
}

void report_write(const ra::HookScope& scope, int fd, const struct iovec* iov, int iovcnt, ssize_t result) {
    if (!tracked(scope, fd)) return;
    const int saved_errno = errno;
    net::on_write(fd, iov, iovcnt, result, saved_errno);
    errno = saved_errno;
}

void report_accept(const ra::HookScope& scope, int listen_fd, int fd) {
    if (fd < 0 || !scope.active() || !ra::recording()) return;
    ra::ErrnoSaver errno_saver;
    net::on_accept(listen_fd, fd);
}

// True for a connected TCP socket: a stream socket that is not listening and has an
// IPv4 or IPv6 peer.
bool is_connected_tcp_socket(int fd) {
    int type = 0;
    socklen_t length = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_STREAM) return false;
    int listening = 0;
    length = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0 || listening != 0) return false;
    struct sockaddr_storage peer {};
    length = sizeof(peer);
    if (getpeername(fd, reinterpret_cast<struct sockaddr*>(&peer), &length) != 0) return false;
    return peer.ss_family == AF_INET || peer.ss_family == AF_INET6;
}

// Frames the connected TCP sockets received as SCM_RIGHTS descriptors like accepted
// ones. Node's cluster module (round-robin policy) accepts in the primary process and
// passes each connection to a worker this way, so the worker never calls accept.
void report_received_sockets(const ra::HookScope& scope, const struct msghdr* message, ssize_t result) {
    if (result < 0 || message == nullptr || message->msg_control == nullptr) return;
    if (!scope.active() || !ra::recording()) return;
    ra::ErrnoSaver errno_saver;
    auto* header = const_cast<struct msghdr*>(message);
    for (struct cmsghdr* control = CMSG_FIRSTHDR(header); control != nullptr;
         control = CMSG_NXTHDR(header, control)) {
        if (control->cmsg_level != SOL_SOCKET || control->cmsg_type != SCM_RIGHTS) continue;
        const size_t count = (control->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char* descriptors = CMSG_DATA(control);
        for (size_t i = 0; i < count; ++i) {
            int fd = -1;
            std::memcpy(&fd, descriptors + i * sizeof(int), sizeof(fd));
            if (fd >= 0 && is_connected_tcp_socket(fd)) net::on_accept(-1, fd);
        }
    }
}

}  // namespace

ROUTEHEAP_EXPORT int accept(int listen_fd, struct sockaddr* address, socklen_t* length) {
    ra::HookScope scope;
    const int fd = ra::real().accept(listen_fd, address, length);
    report_accept(scope, listen_fd, fd);
    return fd;
}

ROUTEHEAP_EXPORT int accept4(int listen_fd, struct sockaddr* address, socklen_t* length, int flags) {
    ra::HookScope scope;
    const int fd = ra::real().accept4(listen_fd, address, length, flags);
    report_accept(scope, listen_fd, fd);
    return fd;
}

ROUTEHEAP_EXPORT ssize_t read(int fd, void* buffer, size_t size) {
    ra::HookScope scope;
    const ssize_t result = ra::real().read(fd, buffer, size);
    const struct iovec piece{buffer, size};
    report_read(scope, fd, &piece, 1, result);
    return result;
}

ROUTEHEAP_EXPORT ssize_t readv(int fd, const struct iovec* iov, int iovcnt) {
    ra::HookScope scope;
    const ssize_t result = ra::real().readv(fd, iov, iovcnt);
    report_read(scope, fd, iov, iovcnt, result);
    return result;
}

ROUTEHEAP_EXPORT ssize_t recv(int fd, void* buffer, size_t size, int flags) {
    ra::HookScope scope;
    const ssize_t result = ra::real().recv(fd, buffer, size, flags);
    // MSG_PEEK leaves the bytes in the socket; they are framed when really read.
    if ((flags & MSG_PEEK) == 0) {
        const struct iovec piece{buffer, size};
        report_read(scope, fd, &piece, 1, result);
    }
    return result;
}

ROUTEHEAP_EXPORT ssize_t recvfrom(int fd, void* buffer, size_t size, int flags, struct sockaddr* address,
                                  socklen_t* length) {
    ra::HookScope scope;
    const ssize_t result = ra::real().recvfrom(fd, buffer, size, flags, address, length);
    if ((flags & MSG_PEEK) == 0) {
        const struct iovec piece{buffer, size};
        report_read(scope, fd, &piece, 1, result);
    }
    return result;
}

ROUTEHEAP_EXPORT ssize_t recvmsg(int fd, struct msghdr* message, int flags) {
    ra::HookScope scope;
    const ssize_t result = ra::real().recvmsg(fd, message, flags);
    if ((flags & MSG_PEEK) == 0 && message != nullptr) {
        report_read(scope, fd, message->msg_iov, static_cast<int>(message->msg_iovlen), result);
        // libuv reads IPC pipes with recvmsg; descriptors passed on them arrive here.
        report_received_sockets(scope, message, result);
    }
    return result;
}

ROUTEHEAP_EXPORT ssize_t write(int fd, const void* buffer, size_t size) {
    ra::HookScope scope;
    const ssize_t result = ra::real().write(fd, buffer, size);
    const struct iovec piece{const_cast<void*>(buffer), size};
    report_write(scope, fd, &piece, 1, result);
    return result;
}

ROUTEHEAP_EXPORT ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
    ra::HookScope scope;
    const ssize_t result = ra::real().writev(fd, iov, iovcnt);
    report_write(scope, fd, iov, iovcnt, result);
    return result;
}

ROUTEHEAP_EXPORT ssize_t send(int fd, const void* buffer, size_t size, int flags) {
    ra::HookScope scope;
    const ssize_t result = ra::real().send(fd, buffer, size, flags);
    const struct iovec piece{const_cast<void*>(buffer), size};
    report_write(scope, fd, &piece, 1, result);
    return result;
}

ROUTEHEAP_EXPORT ssize_t sendto(int fd, const void* buffer, size_t size, int flags, const struct sockaddr* address,
                                socklen_t length) {
    ra::HookScope scope;
    const ssize_t result = ra::real().sendto(fd, buffer, size, flags, address, length);
    const struct iovec piece{const_cast<void*>(buffer), size};
    report_write(scope, fd, &piece, 1, result);
    return result;
}

ROUTEHEAP_EXPORT ssize_t sendmsg(int fd, const struct msghdr* message, int flags) {
    ra::HookScope scope;
    const ssize_t result = ra::real().sendmsg(fd, message, flags);
    if (message != nullptr) {
        report_write(scope, fd, message->msg_iov, static_cast<int>(message->msg_iovlen), result);
    }
    return result;
}

ROUTEHEAP_EXPORT int shutdown(int fd, int how) noexcept {
    ra::HookScope scope;
    if (tracked(scope, fd)) {
        ra::ErrnoSaver errno_saver;
        net::on_shutdown(fd, how);
    }
    return ra::real().shutdown(fd, how);
}

ROUTEHEAP_EXPORT int close(int fd) {
    ra::HookScope scope;
    if (scope.active() && ra::recording()) {
        ra::ErrnoSaver errno_saver;
        net::on_close(fd);
    }
    return ra::real().close(fd);
}
