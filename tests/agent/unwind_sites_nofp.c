// The frame-pointer-less half of unwind_sites: built with -fomit-frame-pointer, so
// only DWARF unwind information leads from these functions to their callers.
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void* volatile g_nofp_sink;

// rbp is left alone: a frame-pointer walk skips this function's caller.
__attribute__((noinline)) void* allocate_without_frame_pointer(size_t size) {
    void* block = malloc(size);
    if (block != NULL) memset(block, 1, 16);
    g_nofp_sink = block;
    return block;
}

// rbp holds a junk value across the call, as in optimized code that uses it as a
// general register: a frame-pointer walk stops here.
__attribute__((noinline)) void* allocate_with_rbp_as_register(size_t size) {
#if defined(__x86_64__)
    __asm__ volatile("mov $0x5a5a5a5a5a5a, %%rbp" ::: "rbp");
#endif
    void* block = malloc(size);
    if (block != NULL) memset(block, 2, 16);
    g_nofp_sink = block;
    return block;
}

__attribute__((noinline)) void spin_without_frame_pointer(volatile int* stop) {
    for (int i = 0; i < 100000 && !*stop; ++i) {
        *stop = 0;
    }
}
