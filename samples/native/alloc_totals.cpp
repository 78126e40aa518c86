// Allocates and frees known amounts through every malloc-family function and C++
// operator the agent hooks, so a test can check the agent's counters exactly.
// Writes "usable=<bytes>" (the malloc_usable_size of the blocks it keeps) to stdout.
// Expected figures (requested bytes): see tests/agent/agent_counters_test.cpp.
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <new>

namespace {

// Keeps the compiler from removing allocation pairs it can see through.
void* volatile g_sink;

void keep(void* block) { g_sink = block; }

void print_number(const char* name, unsigned long long value) {
    char text[64];
    size_t length = strlen(name);
    memcpy(text, name, length);
    text[length++] = '=';
    char digits[24];
    size_t count = 0;
    do {
        digits[count++] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (count > 0) text[length++] = digits[--count];
    text[length++] = '\n';
    if (write(STDOUT_FILENO, text, length) < 0) _exit(3);
}

}  // namespace

int main(int argc, char** argv) {
    // A 1 MiB block that lives briefly: the live peak must show it.
    void* brief = malloc(1 << 20);
    keep(brief);
    free(brief);

    void* a = malloc(100);
    void* b = calloc(10, 30);
    a = realloc(a, 1000);
    void* c = nullptr;
    if (posix_memalign(&c, 64, 4096) != 0) return 1;
    void* d = aligned_alloc(256, 512);
    void* e = memalign(32, 200);
    void* f = valloc(5000);
    void* g = pvalloc(100);
    void* h = reallocarray(nullptr, 7, 11);
    void* i = ::operator new(24);
    void* j = ::operator new[](40);
    void* k = ::operator new(128, std::align_val_t{64});
    void* l = ::operator new(50, std::nothrow);
    void* zero = realloc(nullptr, 0);  // malloc(0): one call, zero bytes requested

    // Calls that fail change nothing.
    void* odd = nullptr;
    if (posix_memalign(&odd, 24, 100) == 0) return 2;      // alignment not a power of two
    keep(malloc(SIZE_MAX / 2));                             // too large: NULL
    if (realloc(a, SIZE_MAX / 2) != nullptr) return 3;     // fails, `a` stays
    free(nullptr);

    free(b);
    if (realloc(e, 0) != nullptr) return 4;  // glibc frees the block and returns NULL
    ::operator delete(i);
    ::operator delete[](j);
    ::operator delete(k, 128, std::align_val_t{64});
    free(zero);
    ::operator delete(l, std::nothrow);

    keep(c);
    keep(d);
    keep(f);
    keep(g);
    keep(h);
    const size_t usable = malloc_usable_size(a) + malloc_usable_size(c) + malloc_usable_size(d) +
                          malloc_usable_size(f) + malloc_usable_size(g) + malloc_usable_size(h);
    print_number("usable", usable);

    // "exit N" ends through exit(N) instead of returning from main.
    if (argc > 2 && strcmp(argv[1], "exit") == 0) exit(atoi(argv[2]));
    if (argc > 2 && strcmp(argv[1], "_exit") == 0) _exit(atoi(argv[2]));
    return 0;
}
