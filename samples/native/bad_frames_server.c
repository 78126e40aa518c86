/* A one-request HTTP server on 127.0.0.1 whose handler allocates 1 MiB through a path
 * that symbolizes badly, so the report tests can check that such frames still come out
 * as addresses. A thread of the same process sends the one request and reads the reply.
 *
 *   bad_frames_server plain            handle_request -> allocate_block -> malloc (the test
 *                                      runs a stripped copy of this program in this mode)
 *   bad_frames_server no-frame-pointer handle_request -> allocate_without_frame_pointer,
 *                                      which keeps no frame pointer, -> malloc
 *   bad_frames_server signal           handle_request raises SIGUSR1, whose handler mallocs
 *   bad_frames_server plugin-unlinked PATH
 *                                      dlopens PATH, deletes the file, then allocates
 *                                      through its plugin_allocate
 *
 * Prints "port=N" once listening and "done" after the reply was read. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BLOCK_BYTES (1u << 20)

static void* volatile g_block;
static void* (*g_plugin_allocate)(size_t);
static int g_port;

__attribute__((noinline)) static void* allocate_block(void) {
    void* block = malloc(BLOCK_BYTES);
    __asm__ volatile("" ::: "memory"); /* keeps the call from becoming a tail call */
    return block;
}

/* Keeps rbp pointing at the caller's frame, so a frame-pointer walk from malloc skips
 * handle_request. */
__attribute__((noinline, optimize("omit-frame-pointer"))) static void* allocate_without_frame_pointer(void) {
    void* block = malloc(BLOCK_BYTES);
    __asm__ volatile("" ::: "memory");
    return block;
}

__attribute__((noinline)) static void signal_handler(int signal_number) {
    (void)signal_number;
    g_block = malloc(BLOCK_BYTES);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void handle_request(const char* mode) {
    if (strcmp(mode, "no-frame-pointer") == 0) {
        g_block = allocate_without_frame_pointer();
    } else if (strcmp(mode, "signal") == 0) {
        struct sigaction action;
        memset(&action, 0, sizeof(action));
        action.sa_handler = signal_handler;
        sigemptyset(&action.sa_mask);
        if (sigaction(SIGUSR1, &action, NULL) != 0 || raise(SIGUSR1) != 0) exit(4);
    } else if (strcmp(mode, "plugin-unlinked") == 0) {
        g_block = g_plugin_allocate(BLOCK_BYTES);
    } else {
        g_block = allocate_block();
    }
    __asm__ volatile("" ::: "memory");
}

static void* send_request(void* argument) {
    const char* mode = argument;
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address;
    memset(&address, 0, sizeof(address));
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)g_port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr*)&address, sizeof(address)) != 0) exit(5);

    char request[256];
    const int length = snprintf(request, sizeof(request),
                                "GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", mode);
    if (write(fd, request, (size_t)length) != length) exit(6);
    char reply[512];
    while (read(fd, reply, sizeof(reply)) > 0) {
    }
    close(fd);
    return NULL;
}

/* Reads the request head, handles it, writes the reply and closes the connection. */
static void serve_one(int connection, const char* mode) {
    char head[1024];
    size_t used = 0;
    while (used < sizeof(head) - 1) {
        const ssize_t got = read(connection, head + used, sizeof(head) - 1 - used);
        if (got <= 0) exit(7);
        used += (size_t)got;
        head[used] = '\0';
        if (strstr(head, "\r\n\r\n") != NULL) break;
    }

    handle_request(mode);

    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    if (write(connection, reply, sizeof(reply) - 1) != (ssize_t)(sizeof(reply) - 1)) exit(8);
    close(connection);
}

static void load_plugin(const char* path) {
    void* library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        fprintf(stderr, "bad_frames_server: dlopen %s failed: %s\n", path, dlerror());
        exit(3);
    }
    g_plugin_allocate = (void* (*)(size_t))dlsym(library, "plugin_allocate");
    if (g_plugin_allocate == NULL || unlink(path) != 0) {
        fprintf(stderr, "bad_frames_server: %s has no plugin_allocate or cannot be deleted\n", path);
        exit(3);
    }
}

int main(int argc, char** argv) {
    if (argc < 2 || (strcmp(argv[1], "plugin-unlinked") == 0 && argc != 3)) {
        fprintf(stderr, "usage: bad_frames_server plain|no-frame-pointer|signal|plugin-unlinked PATH\n");
        return 2;
    }
    const char* mode = argv[1];
    if (argc == 3) load_plugin(argv[2]);

    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address;
    memset(&address, 0, sizeof(address));
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t address_length = sizeof(address);
    if (listener < 0 || bind(listener, (struct sockaddr*)&address, sizeof(address)) != 0 || listen(listener, 1) != 0 ||
        getsockname(listener, (struct sockaddr*)&address, &address_length) != 0) {
        perror("bad_frames_server: listen on 127.0.0.1");
        return 1;
    }
    g_port = ntohs(address.sin_port);
    printf("port=%d\n", g_port);
    fflush(stdout);

    pthread_t client;
    if (pthread_create(&client, NULL, send_request, (void*)mode) != 0) return 1;
    const int connection = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (connection < 0) return 1;
    serve_one(connection, mode);
    pthread_join(client, NULL);
    close(listener);

    free(g_block);
    puts("done");
    return 0;
}
