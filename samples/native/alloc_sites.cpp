// Allocation sites with known figures for the stack tests: each site is a
// noinline function that allocates blocks of one size, so every sampled stack's
// first frame must fall inside one of them.
//
//   alloc_sites keep     site_malloc: 1000 x 4096 B, site_new_array: 1000 x 1024 B;
//                        every other block of each is freed, the rest stay live
//   alloc_sites churn    site_malloc: 100000 x 4096 B, site_new_array: 400000 x 1024 B,
//                        each freed at once (for the sampling estimate)
//   alloc_sites large    site_large: 3 x 2 MiB, the first one freed
//   alloc_sites realloc  site_realloc: one block grown 16 -> 32 -> ... -> 64 KiB
//   alloc_sites bad-frame-pointer
//                        mallocs with junk in the frame pointer, on the main thread
//                        and on a second thread (x86_64 only; prints "skipped" elsewhere)
//   alloc_sites plugin PATH
//                        dlopens PATH, calls its plugin_allocate(), dlcloses it
#include <dlfcn.h>
#include <pthread.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

void* volatile g_sink;

extern "C" __attribute__((noinline)) void site_malloc(void** blocks, int count) {
    for (int i = 0; i < count; ++i) blocks[i] = std::malloc(4096);
}

extern "C" __attribute__((noinline)) void site_new_array(char** blocks, int count) {
    for (int i = 0; i < count; ++i) blocks[i] = new char[1024];
}

extern "C" __attribute__((noinline)) void* site_large() { return std::malloc(2 << 20); }

extern "C" __attribute__((noinline)) void* site_realloc(void* block, size_t size) { return std::realloc(block, size); }

int run_keep() {
    constexpr int kCount = 1000;
    static void* malloc_blocks[kCount];
    static char* array_blocks[kCount];
    site_malloc(malloc_blocks, kCount);
    site_new_array(array_blocks, kCount);
    for (int i = 0; i < kCount; i += 2) {
        std::free(malloc_blocks[i]);
        delete[] array_blocks[i];
    }
    return 0;
}

int run_churn() {
    for (int i = 0; i < 100000; ++i) {
        void* block = nullptr;
        site_malloc(&block, 1);
        g_sink = block;
        std::free(block);
    }
    for (int i = 0; i < 400000; ++i) {
        char* block = nullptr;
        site_new_array(&block, 1);
        g_sink = block;
        delete[] block;
    }
    return 0;
}

int run_large() {
    void* blocks[3];
    for (void*& block : blocks) block = site_large();
    std::free(blocks[0]);
    g_sink = blocks[1];
    g_sink = blocks[2];
    return 0;
}

int run_realloc() {
    void* block = nullptr;
    for (size_t size = 16; size <= 65536; size *= 2) block = site_realloc(block, size);
    g_sink = block;
    return 0;
}

#if defined(__x86_64__)
// Calls malloc(size) with `junk` in rbp, on a 16-byte aligned stack below the red zone.
__attribute__((noinline)) void* malloc_with_frame_pointer(size_t size, uintptr_t junk) {
    void* result;
    asm volatile(
        "mov %%rsp, %%r12\n\t"
        "mov %%rbp, %%r13\n\t"
        "sub $128, %%rsp\n\t"
        "and $-16, %%rsp\n\t"
        "mov %[junk], %%rbp\n\t"
        "mov %[size], %%rdi\n\t"
        "call malloc@PLT\n\t"
        "mov %%r13, %%rbp\n\t"
        "mov %%r12, %%rsp\n\t"
        : "=a"(result)
        : [size] "r"(size), [junk] "r"(junk)
        : "r12", "r13", "rdi", "rsi", "rdx", "rcx", "r8", "r9", "r10", "r11", "memory", "cc");
    return result;
}

void* mallocs_with_bad_frame_pointers(void*) {
    char here = 0;
    const auto stack = reinterpret_cast<uintptr_t>(&here);
    const uintptr_t junk_values[] = {
        0x12345678,            // unmapped
        stack + 3,             // misaligned, on the stack
        stack - 4096,          // below the current frame
        ~uintptr_t{0} - 15,    // the top of the address space
        stack + (64 << 20),    // far above the stack
        0,
    };
    for (uintptr_t junk : junk_values) std::free(malloc_with_frame_pointer(100, junk));
    return nullptr;
}

int run_bad_frame_pointer() {
    mallocs_with_bad_frame_pointers(nullptr);
    pthread_t thread;
    if (pthread_create(&thread, nullptr, mallocs_with_bad_frame_pointers, nullptr) != 0) return 3;
    pthread_join(thread, nullptr);
    std::puts("done");
    return 0;
}
#else
int run_bad_frame_pointer() {
    std::puts("skipped");
    return 0;
}
#endif

int run_plugin(const char* path) {
    void* library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
        std::fprintf(stderr, "dlopen %s failed: %s\n", path, dlerror());
        return 3;
    }
    auto allocate = reinterpret_cast<void* (*)(size_t)>(dlsym(library, "plugin_allocate"));
    if (allocate == nullptr) return 4;
    g_sink = allocate(2 << 20);  // always sampled, kept live
    std::printf("plugin_allocate=%p\n", reinterpret_cast<void*>(allocate));
    return dlclose(library) == 0 ? 0 : 5;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: alloc_sites keep|churn|large|realloc|bad-frame-pointer|plugin PATH\n");
        return 2;
    }
    const char* mode = argv[1];
    if (std::strcmp(mode, "keep") == 0) return run_keep();
    if (std::strcmp(mode, "churn") == 0) return run_churn();
    if (std::strcmp(mode, "large") == 0) return run_large();
    if (std::strcmp(mode, "realloc") == 0) return run_realloc();
    if (std::strcmp(mode, "bad-frame-pointer") == 0) return run_bad_frame_pointer();
    if (std::strcmp(mode, "plugin") == 0 && argc == 3) return run_plugin(argv[2]);
    std::fprintf(stderr, "alloc_sites: unknown mode \"%s\"\n", mode);
    return 2;
}
