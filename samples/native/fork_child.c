/* Parent and child allocate different known amounts after a fork, so a test can
 * check that each process's allocations land in its own trace. Writes
 * "child=<pid>" to stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void* volatile g_sink;

int main(void) {
    void* before_fork = malloc(1 << 20);
    g_sink = before_fork;

    const pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) {
        for (int i = 0; i < 3; ++i) g_sink = malloc(100000);
        return 0;
    }

    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 2;
    g_sink = malloc(2000);

    char line[64];
    const int length = snprintf(line, sizeof(line), "child=%d\n", (int)child);
    if (write(STDOUT_FILENO, line, (size_t)length) != length) return 3;
    return 0;
}
