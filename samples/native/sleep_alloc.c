/* Allocates 8 MiB in 1 MiB blocks, prints "ready", then sleeps for the number of
 * seconds in argv[1] (default 30), so a test can kill it with SIGKILL and read the
 * trace it left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void* volatile g_sink;

int main(int argc, char** argv) {
    for (int i = 0; i < 8; ++i) {
        char* block = malloc(1 << 20);
        if (block == NULL) return 1;
        memset(block, 1, 1 << 20);
        g_sink = block;
    }
    if (write(STDOUT_FILENO, "ready\n", 6) != 6) return 2;
    sleep((unsigned)(argc > 1 ? atoi(argv[1]) : 30));
    return 0;
}
