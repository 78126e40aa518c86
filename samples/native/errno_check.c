/* Calls every hooked function once in a way that succeeds and once in a way that
 * fails, with errno set to a marker before each call, and prints the result class
 * and errno afterwards. Run with and without the agent: the output must be equal,
 * because the agent never changes errno or a result. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MARKER 4242

static void report(const char* name, long ok) {
    char line[128];
    const int saved = errno;
    const int length = snprintf(line, sizeof(line), "%s %s errno=%d\n", name, ok ? "ok" : "failed", saved);
    if (write(STDOUT_FILENO, line, (size_t)length) < 0) _exit(2);
}

#define CHECK(name, expression)          \
    do {                                 \
        errno = MARKER;                  \
        const long ok_ = (expression);   \
        report(name, ok_);               \
    } while (0)

int main(void) {
    void* block = NULL;
    CHECK("malloc", (block = malloc(64)) != NULL);
    CHECK("realloc", (block = realloc(block, 128)) != NULL);
    CHECK("malloc_usable_size", malloc_usable_size(block) >= 128);
    CHECK("free", (free(block), 1));
    CHECK("calloc", (block = calloc(4, 16)) != NULL);
    CHECK("free", (free(block), 1));
    CHECK("calloc overflow", calloc(SIZE_MAX, 16) != NULL);
    CHECK("malloc huge", malloc(SIZE_MAX / 2) != NULL);
    CHECK("reallocarray overflow", reallocarray(NULL, SIZE_MAX, 16) != NULL);
    CHECK("posix_memalign", posix_memalign(&block, 64, 100) == 0);
    CHECK("free", (free(block), 1));
    CHECK("posix_memalign invalid", posix_memalign(&block, 3, 100) == 0);
    CHECK("aligned_alloc", (block = aligned_alloc(64, 128)) != NULL);
    CHECK("free", (free(block), 1));
    CHECK("memalign", (block = memalign(64, 100)) != NULL);
    CHECK("free", (free(block), 1));
    CHECK("valloc", (block = valloc(100)) != NULL);
    CHECK("free", (free(block), 1));
    CHECK("pvalloc", (block = pvalloc(100)) != NULL);
    CHECK("free", (free(block), 1));

    char* mapping = NULL;
    CHECK("mmap", (mapping = mmap(NULL, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) != MAP_FAILED);
    CHECK("mmap invalid", mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED);
    CHECK("mmap64", mmap64(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED);
    CHECK("mprotect", mprotect(mapping, 4096, PROT_READ | PROT_WRITE) == 0);
    CHECK("mprotect unaligned", mprotect(mapping + 1, 4096, PROT_READ) == 0);
    CHECK("madvise", madvise(mapping, 4096, MADV_DONTNEED) == 0);
    CHECK("madvise invalid", madvise(mapping + 1, 4096, MADV_DONTNEED) == 0);
    CHECK("mremap", (mapping = mremap(mapping, 1 << 20, 2 << 20, MREMAP_MAYMOVE)) != MAP_FAILED);
    CHECK("mremap invalid", mremap(mapping + 1, 4096, 8192, 0) != MAP_FAILED);
    CHECK("munmap", munmap(mapping, 2 << 20) == 0);
    CHECK("munmap unaligned", munmap(mapping + 1, 4096) == 0);

    int sockets[2];
    char buffer[16];
    struct iovec piece = {buffer, sizeof(buffer)};
    struct msghdr message = {0};
    message.msg_iov = &piece;
    message.msg_iovlen = 1;
    CHECK("socketpair", socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sockets) == 0);
    CHECK("write", write(sockets[0], "hello", 5) == 5);
    CHECK("read", read(sockets[1], buffer, sizeof(buffer)) == 5);
    CHECK("read empty", read(sockets[1], buffer, sizeof(buffer)) >= 0);
    CHECK("writev", writev(sockets[0], &piece, 1) == (ssize_t)sizeof(buffer));
    CHECK("readv", readv(sockets[1], &piece, 1) == (ssize_t)sizeof(buffer));
    CHECK("send", send(sockets[0], "x", 1, 0) == 1);
    CHECK("recv", recv(sockets[1], buffer, sizeof(buffer), 0) == 1);
    CHECK("sendto", sendto(sockets[0], "y", 1, 0, NULL, 0) == 1);
    CHECK("recvfrom", recvfrom(sockets[1], buffer, sizeof(buffer), 0, NULL, NULL) == 1);
    CHECK("sendmsg", sendmsg(sockets[0], &message, 0) == (ssize_t)sizeof(buffer));
    CHECK("recvmsg", recvmsg(sockets[1], &message, 0) == (ssize_t)sizeof(buffer));
    CHECK("recv empty", recv(sockets[1], buffer, sizeof(buffer), 0) >= 0);
    CHECK("accept not listening", accept(sockets[0], NULL, NULL) >= 0);
    CHECK("accept4 bad fd", accept4(-1, NULL, NULL, 0) >= 0);
    CHECK("shutdown", shutdown(sockets[0], SHUT_WR) == 0);
    CHECK("shutdown bad fd", shutdown(-1, SHUT_WR) == 0);
    CHECK("close", close(sockets[0]) == 0);
    CHECK("close", close(sockets[1]) == 0);
    CHECK("close bad fd", close(-1) == 0);
    CHECK("write bad fd", write(-1, "x", 1) >= 0);
    CHECK("read bad fd", read(-1, buffer, 1) >= 0);

    CHECK("execve missing", execve("/nonexistent/program", (char* const[]){"x", NULL}, environ) == 0);
    CHECK("execv missing", execv("/nonexistent/program", (char* const[]){"x", NULL}) == 0);
    CHECK("execvp missing", execvp("routeheap-no-such-program", (char* const[]){"x", NULL}) == 0);
    CHECK("execvpe missing", execvpe("routeheap-no-such-program", (char* const[]){"x", NULL}, environ) == 0);
    return 0;
}
