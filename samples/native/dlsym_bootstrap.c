/* Looks up a symbol that does not exist with dlsym(RTLD_NEXT), which makes libc
 * allocate its error text, reads the text, and lets the next lookup free it. Under
 * the agent this must behave exactly as without it. Prints the error text. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    for (int round = 0; round < 3; ++round) {
        if (dlsym(RTLD_NEXT, "routeheap_missing_symbol") != NULL) return 1;
        const char* error = dlerror();
        if (error == NULL) return 2;
        char* copy = strdup(error);
        if (copy == NULL) return 3;
        if (round == 0) printf("%s\n", strstr(copy, "routeheap_missing_symbol") != NULL ? "error names the symbol" : copy);
        free(copy);
    }
    if (dlerror() != NULL) return 4;  /* read once: cleared */
    return 0;
}
