// A library that alloc_sites loads with dlopen, so the tests see its ModuleLoad,
// an allocation whose first frame lies inside it, and its ModuleUnload.
#include <stdlib.h>

__attribute__((noinline, visibility("default"))) void* plugin_allocate(size_t size) {
    void* block = malloc(size);
    __asm__ volatile("" ::: "memory");  // keeps the call from becoming a tail call
    return block;
}
