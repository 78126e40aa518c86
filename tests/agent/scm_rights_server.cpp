// Test program for the agent's recvmsg hook, shaped like Node's cluster module: a forked
// "primary" accepts a loopback connection and passes it, with a pipe and the listening
// socket, to this process over a Unix socket (SCM_RIGHTS). This process then serves one
// HTTP request on the received socket. Exits 0, or 1-9 naming the step that failed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace {

constexpr int kPassed = 3;  // the connection, the pipe's read end and the listening socket

bool write_all(int fd, const char* text) {
    const size_t length = std::strlen(text);
    return ::write(fd, text, length) == static_cast<ssize_t>(length);
}

// The primary: accepts one connection and sends it with the other descriptors.
int run_primary(int listener, int channel) {
    const int connection = ::accept(listener, nullptr, nullptr);
    int pipe_ends[2];
    if (connection < 0 || ::pipe(pipe_ends) != 0) return 1;
    int descriptors[kPassed] = {connection, pipe_ends[0], listener};

    char payload = 'h';
    struct iovec piece{&payload, 1};
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(descriptors))] = {};
    struct msghdr message{};
    message.msg_iov = &piece;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    struct cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(descriptors));
    std::memcpy(CMSG_DATA(header), descriptors, sizeof(descriptors));
    return ::sendmsg(channel, &message, 0) == 1 ? 0 : 2;
}

}  // namespace

int main() {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::listen(listener, 4) != 0 || ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        return 3;
    }
    int channel[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, channel) != 0) return 3;

    const pid_t primary = ::fork();
    if (primary == 0) {
        ::close(channel[0]);
        ::_exit(run_primary(listener, channel[1]));
    }
    ::close(channel[1]);
    const int client = ::socket(AF_INET, SOCK_STREAM, 0);
    if (client < 0 || ::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return 4;

    char payload = 0;
    struct iovec piece{&payload, 1};
    alignas(struct cmsghdr) char control[CMSG_SPACE(kPassed * sizeof(int))] = {};
    struct msghdr message{};
    message.msg_iov = &piece;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    // The hook must leave errno and the result as the real call left them.
    errno = EDOM;
    const ssize_t received = ::recvmsg(channel[0], &message, 0);
    if (received != 1 || payload != 'h' || errno != EDOM) return 5;
    struct cmsghdr* header = CMSG_FIRSTHDR(&message);
    if (header == nullptr || header->cmsg_type != SCM_RIGHTS) return 6;
    int descriptors[kPassed];
    std::memcpy(descriptors, CMSG_DATA(header), sizeof(descriptors));

    const int connection = descriptors[0];
    char buffer[256];
    if (!write_all(client, "GET /scm HTTP/1.1\r\nHost: test\r\n\r\n") || ::read(connection, buffer, sizeof(buffer)) <= 0) {
        return 7;
    }
    if (!write_all(connection, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") ||
        ::read(client, buffer, sizeof(buffer)) <= 0) {
        return 8;
    }
    int status = 0;
    if (::waitpid(primary, &status, 0) != primary || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 9;
    return 0;
}
