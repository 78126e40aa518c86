// Hooks of the socket calls libuv uses for HTTP servers. Each forwards the call
// unchanged and reports tracked descriptors to the connection tracker afterwards
// (connections.h); the tracker turns the bytes into request and response records.
#include "connections.h"
#include "real_functions.h"
#include "record_sink.h"
#include "thread_state.h"

#include <cerrno>

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
