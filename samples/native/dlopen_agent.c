/* Loads the agent named by argv[1] with dlopen instead of LD_PRELOAD. The agent must
 * stay passive (say so once on stderr) and the program must run on. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    void* agent = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
    if (agent == NULL) {
        fprintf(stderr, "dlopen failed: %s\n", dlerror());
        return 1;
    }
    void* block = malloc(100);
    free(block);
    puts("ran");
    return 0;
}
