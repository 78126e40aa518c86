/* Closes every descriptor from 3 up with close_range, as some hosts do before they
 * spawn, then opens the file named by argv[1] (which takes the lowest free number,
 * where the agent's trace descriptor was) and allocates 5000 bytes. The agent must
 * notice that its descriptor is gone, reopen its trace, and never write into the
 * host's file. Prints the size of the host's file at the end. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void* volatile g_sink;

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    g_sink = malloc(1000);
    if (close_range(3, ~0U, 0) != 0) return 3;
    const int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return 4;
    g_sink = malloc(5000);
    usleep(200 * 1000); /* several flush intervals of the writer thread */

    struct stat info;
    if (fstat(fd, &info) != 0) return 5;
    /* snprintf and write, because printf would allocate a stdout buffer. */
    char line[64];
    const int length = snprintf(line, sizeof(line), "host file size=%lld\n", (long long)info.st_size);
    return write(STDOUT_FILENO, line, (size_t)length) == length ? 0 : 6;
}
