// Commits and releases of anonymous memory the way V8 manages its heap pages, for
// the tests of the V8Commit allocation records: reserve with mmap(PROT_NONE), commit
// 256 KiB pages with mprotect(PROT_READ|PROT_WRITE), release with madvise, mprotect
// and munmap.
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>

enum { kPage = 256 * 1024, kPages = 8, kLargeBytes = 1024 * 1024 };

__attribute__((noinline)) int commit_page(char* page) {
    return mprotect(page, kPage, PROT_READ | PROT_WRITE);
}

__attribute__((noinline)) void* map_committed(size_t bytes) {
    return mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

int main(void) {
    char* base = mmap(NULL, kPages * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) return 1;
    printf("reserve %#lx\n", (unsigned long)(uintptr_t)base);
    for (int i = 0; i < kPages; ++i) {
        if (commit_page(base + i * kPage) != 0) return 1;
        base[i * kPage] = 1;
    }

    // A code-page style flip: read-execute, then read-write again, commits nothing new.
    if (mprotect(base, kPage, PROT_READ | PROT_EXEC) != 0 || commit_page(base) != 0) return 1;

    // Page 1 is decommitted whole, the first half of page 2 is made inaccessible.
    if (madvise(base + kPage, kPage, MADV_DONTNEED) != 0) return 1;
    if (mprotect(base + 2 * kPage, kPage / 2, PROT_NONE) != 0) return 1;

    char* large = map_committed(kLargeBytes);
    if (large == MAP_FAILED) return 1;
    printf("large %#lx\n", (unsigned long)(uintptr_t)large);
    large[0] = 1;

    if (munmap(base, kPages * kPage) != 0 || munmap(large, kLargeBytes) != 0) return 1;
    puts("done");
    return 0;
}
