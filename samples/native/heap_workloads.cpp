// Heap workloads with known totals for the accuracy test, which runs each one under
// `routeheap record` (exact mode) and under heaptrack and compares the totals.
//
//   heap_workloads threads   4 threads x 3000 malloc/calloc of 32..4127 B; each keeps
//                            every other block until all threads reached a barrier, so
//                            the peak is all kept blocks whatever the scheduling
//   heap_workloads realloc   8 chains, each grown by realloc from 16 B to 1 MiB and
//                            shrunk back to 4 KiB, then freed
//   heap_workloads new       operator new/new[]/aligned new (plain, nothrow, sized and
//                            aligned deletes), std::vector growth and std::string
//   heap_workloads idle      nothing but the final "done", for the allocations a tool
//                            sees while the program starts
//   heap_workloads fork      the parent allocates before and after a fork; the child
//                            allocates 3 x 1 MiB and leaves with _exit
//   heap_workloads small     64 blocks of 100 B, all live at once, then freed: a peak
//                            of 6400 B made only of small blocks
//   heap_workloads huge-slack  a 4 MiB block aligned to 1 MiB, whose usable size
//                            exceeds the request by more than the agent can keep
//                            (it prints "calls=N", see run_huge_slack)
//   heap_workloads kept-blocks  keeps blocks from a second thread's arena and chunks
//                            with their own mapping live until exit. It prints
//                            "requested=R usable=U": the sums of their sizes and of
//                            their malloc_usable_size
//   heap_workloads freed-blocks  makes the same calls and prints the same sums, then
//                            frees the blocks
//
// Every mode prints "done" last. No mode calls malloc(0) or frees NULL: those calls are
// counted differently by design, and the agent's own tests cover them.
#include <malloc.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace {

// Keeps the compiler from removing allocations it can see through.
void* volatile g_sink;

constexpr int kThreads = 4;
constexpr int kBlocksPerThread = 3000;
pthread_barrier_t g_all_allocated;

void* thread_workload(void* argument) {
    const auto seed = static_cast<unsigned>(reinterpret_cast<uintptr_t>(argument));
    std::vector<void*> kept;
    kept.reserve(kBlocksPerThread / 2);
    for (int i = 0; i < kBlocksPerThread; ++i) {
        const size_t size = 32 + (seed * 7919u + static_cast<unsigned>(i) * 104729u) % 4096;
        void* block = (i % 3 == 0) ? std::calloc(1, size) : std::malloc(size);
        std::memset(block, 1, size);
        if (i % 2 == 0) {
            kept.push_back(block);
        } else {
            std::free(block);
        }
    }
    pthread_barrier_wait(&g_all_allocated);
    for (void* block : kept) std::free(block);
    return nullptr;
}

int run_threads() {
    pthread_t threads[kThreads];
    if (pthread_barrier_init(&g_all_allocated, nullptr, kThreads) != 0) return 1;
    for (int t = 0; t < kThreads; ++t) {
        if (pthread_create(&threads[t], nullptr, thread_workload, reinterpret_cast<void*>(static_cast<uintptr_t>(t + 1))) != 0) {
            return 1;
        }
    }
    for (pthread_t thread : threads) pthread_join(thread, nullptr);
    pthread_barrier_destroy(&g_all_allocated);
    return 0;
}

int run_realloc() {
    constexpr int kChains = 8;
    void* chains[kChains];
    for (int c = 0; c < kChains; ++c) {
        // realloc(NULL, n) starts the chain.
        void* block = std::realloc(nullptr, 16);
        for (size_t size = 32; size <= (1u << 20); size *= 2) {
            block = std::realloc(block, size + static_cast<size_t>(c));
            if (block == nullptr) return 1;
            std::memset(block, 2, 16);
        }
        for (size_t size = (1u << 19); size >= 4096; size /= 2) {
            block = std::realloc(block, size);
            if (block == nullptr) return 1;
        }
        chains[c] = block;
    }
    for (void* block : chains) std::free(block);
    return 0;
}

int run_new() {
    std::vector<void*> blocks;
    for (int i = 0; i < 200; ++i) {
        void* plain = ::operator new(1000 + static_cast<size_t>(i));
        char* array = new char[5000];
        void* aligned = ::operator new(4096, std::align_val_t{256});
        // A multiple of the alignment: libstdc++ rounds other sizes up before it calls
        // aligned_alloc, so a tool that hooks only the malloc family records more bytes.
        void* aligned_array = ::operator new[](768, std::align_val_t{64});
        void* nothrow = ::operator new(300, std::nothrow);
        g_sink = array;

        ::operator delete(plain, 1000 + static_cast<size_t>(i));  // sized delete
        delete[] array;
        ::operator delete(aligned, 4096, std::align_val_t{256});  // sized aligned delete
        blocks.push_back(aligned_array);
        blocks.push_back(nothrow);
    }
    for (size_t i = 0; i < blocks.size(); i += 2) {
        ::operator delete[](blocks[i], std::align_val_t{64});
        ::operator delete(blocks[i + 1], std::nothrow);
    }

    // Library containers: vector growth reallocates through operator new and delete.
    std::vector<uint64_t> numbers;
    for (uint64_t i = 0; i < 200000; ++i) numbers.push_back(i);
    std::string text;
    for (int i = 0; i < 20000; ++i) text += "routeheap ";
    g_sink = numbers.data();
    g_sink = text.data();
    return 0;
}

int run_fork() {
    void* before = std::malloc(2 << 20);
    g_sink = before;

    const pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) {
        for (int i = 0; i < 3; ++i) g_sink = std::malloc(1 << 20);
        _exit(0);
    }
    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 2;

    void* after = std::malloc(3 << 20);
    g_sink = after;
    std::free(after);
    std::free(before);
    return 0;
}

int run_small() {
    constexpr int kBlocks = 64;
    void* blocks[kBlocks];
    for (void*& block : blocks) {
        block = std::malloc(100);
        g_sink = block;
    }
    for (void* block : blocks) std::free(block);
    return 0;
}

// The slack of an aligned block with its own mapping is the part of the alignment that
// glibc did not use up, so it depends on where the mapping lands. The mode therefore
// tries up to 8 blocks, with a 300 KiB block between tries that moves the next mapping,
// until a block has over 600 KiB of slack. It prints "calls=N", the allocation calls it
// made, and frees every block.
int run_huge_slack() {
    constexpr size_t kAlignment = size_t{1} << 20;
    constexpr size_t kSize = size_t{4} << 20;
    constexpr size_t kMinSlack = 600 * 1024;
    constexpr int kTries = 8;
    void* blocks[2 * kTries] = {};
    int count = 0;
    bool found = false;
    for (int attempt = 0; attempt < kTries && !found; ++attempt) {
        void* block = nullptr;
        if (posix_memalign(&block, kAlignment, kSize) != 0) return 2;
        blocks[count++] = block;
        found = malloc_usable_size(block) - kSize > kMinSlack;
        if (!found) {
            blocks[count] = std::malloc(300 * 1024);
            if (blocks[count++] == nullptr) return 2;
        }
    }
    g_sink = blocks[0];
    std::printf("calls=%d\n", count);
    for (int i = 0; i < count; ++i) std::free(blocks[i]);
    return found ? 0 : 3;
}

// The blocks of kept-blocks and freed-blocks, with the sums the modes print.
struct BlockSums {
    std::vector<void*> blocks;
    size_t requested = 0;
    size_t usable = 0;

    void add(void* block, size_t size) {
        blocks.push_back(block);
        requested += size;
        usable += malloc_usable_size(block);
    }
};

// A thread other than main allocates from another arena (unless glibc.malloc.arena_max=1),
// whose chunks carry the NON_MAIN_ARENA flag in their size word.
void* allocate_in_thread_arena(void* argument) {
    auto* sums = static_cast<BlockSums*>(argument);
    sums->add(std::malloc(200), 200);
    sums->add(std::calloc(3, 100), 300);
    void* aligned = nullptr;
    if (posix_memalign(&aligned, 64, 1000) == 0) sums->add(aligned, 1000);
    void* grown = std::malloc(40);
    grown = std::realloc(grown, 5000);
    if (grown != nullptr) sums->add(grown, 5000);
    return nullptr;
}

int run_blocks(bool keep) {
    BlockSums sums;
    // A fixed threshold: glibc would otherwise raise it as mapped chunks are freed.
    if (mallopt(M_MMAP_THRESHOLD, 64 * 1024) != 1) return 1;
    pthread_t thread;
    if (pthread_create(&thread, nullptr, allocate_in_thread_arena, &sums) != 0) return 1;
    if (pthread_join(thread, nullptr) != 0) return 1;
    if (sums.blocks.size() != 4) return 2;

    // Chunks above the threshold get a mapping of their own and carry the IS_MMAPPED flag.
    sums.add(std::malloc(100000), 100000);
    sums.add(std::calloc(1, 70000), 70000);
    void* aligned = nullptr;
    if (posix_memalign(&aligned, 4096, 100000) != 0) return 2;
    sums.add(aligned, 100000);
    for (void* block : sums.blocks) {
        if (block == nullptr) return 2;
    }

    std::printf("requested=%zu usable=%zu\n", sums.requested, sums.usable);
    if (!keep) {
        for (void* block : sums.blocks) std::free(block);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr,
                     "usage: heap_workloads threads|realloc|new|fork|small|huge-slack|kept-blocks|freed-blocks|idle\n");
        return 64;
    }
    int result = 64;
    if (std::strcmp(argv[1], "threads") == 0) {
        result = run_threads();
    } else if (std::strcmp(argv[1], "realloc") == 0) {
        result = run_realloc();
    } else if (std::strcmp(argv[1], "new") == 0) {
        result = run_new();
    } else if (std::strcmp(argv[1], "fork") == 0) {
        result = run_fork();
    } else if (std::strcmp(argv[1], "small") == 0) {
        result = run_small();
    } else if (std::strcmp(argv[1], "huge-slack") == 0) {
        result = run_huge_slack();
    } else if (std::strcmp(argv[1], "kept-blocks") == 0) {
        result = run_blocks(true);
    } else if (std::strcmp(argv[1], "freed-blocks") == 0) {
        result = run_blocks(false);
    } else if (std::strcmp(argv[1], "idle") == 0) {
        result = 0;
    } else {
        std::fprintf(stderr,
                     "heap_workloads: unknown mode '%s'; use threads, realloc, new, fork, small, huge-slack,"
                     " kept-blocks, freed-blocks or idle\n",
                     argv[1]);
        return 64;
    }
    if (result == 0) std::puts("done");
    return result;
}
