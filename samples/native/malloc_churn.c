// The malloc hooks' benchmark: a request-like churn of 14 allocations of 24 to 1024 bytes
// and their frees, repeated, beside 20000 older live blocks. Prints the nanoseconds per
// allocation and free pair. Usage: malloc_churn [ROUNDS] (default 3000000).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec * 1e9 + (double)now.tv_nsec;
}

int main(int argc, char** argv) {
    static const size_t kSizes[14] = {24, 40, 64, 72, 96, 128, 160, 200, 256, 320, 48, 88, 512, 1024};
    enum { kKept = 20000, kBlocks = 14 };
    const long rounds = argc > 1 ? atol(argv[1]) : 3000000;
    if (rounds <= 0) {
        fprintf(stderr, "malloc_churn: invalid round count '%s'; give a positive number\n", argv[1]);
        return 64;
    }
    static void* kept[kKept];
    for (int i = 0; i < kKept; ++i) kept[i] = malloc(16 + (size_t)(i % 300));

    void* blocks[kBlocks];
    const double start = now_ns();
    for (long round = 0; round < rounds; ++round) {
        for (int i = 0; i < kBlocks; ++i) blocks[i] = malloc(kSizes[i]);
        // Frees in another order than the allocations, as a request's objects die.
        for (int i = kBlocks - 1; i >= 0; --i) free(blocks[(i * 5) % kBlocks]);
    }
    const double elapsed = now_ns() - start;
    printf("%.1f ns per pair\n", elapsed / ((double)rounds * kBlocks));
    for (int i = 0; i < kKept; ++i) free(kept[i]);
    return 0;
}
