/* Reserves, commits and releases anonymous memory the way V8 does. It stops after
 * the step named by argv[1], so a test can read the committed-bytes counter after
 * each step from the trace's last sample. Steps, with the committed total after each:
 *   1: mmap 64 MiB PROT_NONE (reserved, nothing committed)
 *   2: mprotect the first 8 MiB read-write (8 MiB)
 *   3: madvise(MADV_DONTNEED) the first 4 MiB (4 MiB)
 *   4: mmap(MAP_FIXED, PROT_NONE) over the next 1 MiB (3 MiB)
 *   5: mprotect 2 MiB of the rest read-only (still 3 MiB)
 *   6: mmap 2 MiB read-write anonymous elsewhere (5 MiB)
 *   7: mremap that mapping to 3 MiB (6 MiB)
 *   8: munmap the reservation (3 MiB)
 *   9: munmap the remapped mapping (0) */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MIB (1024ul * 1024ul)

int main(int argc, char** argv) {
    const int last_step = argc > 1 ? atoi(argv[1]) : 9;
    char* reservation = NULL;
    char* extra = NULL;

    for (int step = 1; step <= last_step; ++step) {
        switch (step) {
            case 1:
                reservation = mmap(NULL, 64 * MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
                if (reservation == MAP_FAILED) return 1;
                break;
            case 2:
                if (mprotect(reservation, 8 * MIB, PROT_READ | PROT_WRITE) != 0) return 2;
                memset(reservation, 1, 8 * MIB);
                break;
            case 3:
                if (madvise(reservation, 4 * MIB, MADV_DONTNEED) != 0) return 3;
                break;
            case 4:
                if (mmap(reservation + 4 * MIB, MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
                    MAP_FAILED) {
                    return 4;
                }
                break;
            case 5:
                if (mprotect(reservation + 5 * MIB, 2 * MIB, PROT_READ) != 0) return 5;
                break;
            case 6:
                extra = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (extra == MAP_FAILED) return 6;
                break;
            case 7:
                extra = mremap(extra, 2 * MIB, 3 * MIB, MREMAP_MAYMOVE);
                if (extra == MAP_FAILED) return 7;
                break;
            case 8:
                if (munmap(reservation, 64 * MIB) != 0) return 8;
                break;
            case 9:
                if (munmap(extra, 3 * MIB) != 0) return 9;
                break;
            default:
                return 10;
        }
    }
    return 0;
}
