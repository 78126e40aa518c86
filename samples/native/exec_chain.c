/* Allocates 1000 bytes, then replaces itself with execv(argv[0], "again"); the second
 * image allocates 3000 bytes and exits. A test checks that the second image writes
 * <pid>.1.rhtrace after the first image's <pid>.rhtrace ends with ProcessExec. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void* volatile g_sink;

int main(int argc, char** argv) {
    if (argc > 1 && strcmp(argv[1], "again") == 0) {
        g_sink = malloc(3000);
        return 0;
    }
    g_sink = malloc(1000);
    char* const next[] = {argv[0], "again", NULL};
    execv(argv[0], next);
    return 1;
}
