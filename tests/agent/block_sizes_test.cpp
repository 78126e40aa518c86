// Unit tests of the block-size store on fabricated addresses: shadow bytes, the
// large-slack table behind them, and concurrent owners.
#include "block_sizes.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace routeheap::agent {
namespace {

const void* at(uint64_t address) { return reinterpret_cast<const void*>(address); }

struct Taken {
    bool found = false;
    size_t slack = 0;
    bool sampled = false;
};

Taken take(BlockSizes& blocks, uint64_t address) {
    Taken taken;
    taken.found = blocks.take(at(address), taken.slack, taken.sampled);
    return taken;
}

TEST(BlockSizes, KeepsSlackAndSampledFlagPerBlock) {
    BlockSizes blocks;
    ASSERT_TRUE(blocks.init(1024));
    // Slacks on both sides of what a shadow byte holds, neighbours one granule apart,
    // and blocks in other pieces and directory pages of the address space.
    const struct {
        uint64_t address;
        size_t slack;
        bool sampled;
    } cases[] = {
        {0x10000, 0, false},         {0x10010, 125, true},         {0x10020, 126, false},
        {0x10030, 4096, true},       {0x40000000, 7, true},        {0x7f1234567890, 24, false},
        {0xffffffffff0, 300000, true},
    };
    bool table_full = false;
    for (const auto& block : cases) {
        ASSERT_TRUE(blocks.insert(at(block.address), block.slack, block.sampled, table_full)) << block.address;
    }
    EXPECT_FALSE(table_full);
    for (const auto& block : cases) {
        const Taken taken = take(blocks, block.address);
        EXPECT_TRUE(taken.found) << block.address;
        EXPECT_EQ(taken.slack, block.slack) << block.address;
        EXPECT_EQ(taken.sampled, block.sampled) << block.address;
        EXPECT_FALSE(take(blocks, block.address).found) << "taken twice: " << block.address;
    }
}

// The last granules below 2^47 (the top of x86-64 user space) and below 2^48 (the top
// of a 48-bit AArch64 user space), in shadow bytes and in the table.
TEST(BlockSizes, KeepsBlocksAtTopOfAddressSpace) {
    BlockSizes blocks;
    ASSERT_TRUE(blocks.init(1024));
    const uint64_t top47 = uint64_t{1} << 47;
    const uint64_t top48 = uint64_t{1} << 48;
    const struct {
        uint64_t address;
        size_t slack;
        bool sampled;
    } cases[] = {
        {top47 - 16, 5, true},   {top47 - 32, 4000, false}, {top47, 0, false},
        {top48 - 16, 125, false}, {top48 - 32, 126, true},
    };
    bool table_full = false;
    for (const auto& block : cases) {
        ASSERT_TRUE(blocks.insert(at(block.address), block.slack, block.sampled, table_full)) << block.address;
    }
    for (const auto& block : cases) {
        const Taken taken = take(blocks, block.address);
        EXPECT_TRUE(taken.found) << block.address;
        EXPECT_EQ(taken.slack, block.slack) << block.address;
        EXPECT_EQ(taken.sampled, block.sampled) << block.address;
    }
}

TEST(BlockSizes, UnknownBlocksAreNotFound) {
    BlockSizes blocks;
    ASSERT_TRUE(blocks.init(1024));
    bool table_full = false;
    ASSERT_TRUE(blocks.insert(at(0x20000), 3, false, table_full));
    EXPECT_FALSE(take(blocks, 0x20010).found);       // same shadow piece, other granule
    EXPECT_FALSE(take(blocks, 0x5000000000).found);  // 4 GiB no block was ever in
    EXPECT_FALSE(take(blocks, 0x4000000).found);     // a piece no block was ever in
    EXPECT_FALSE(take(blocks, 0x20008).found);       // not 16-byte aligned
    EXPECT_TRUE(take(blocks, 0x20000).found);
}

// Each thread remembers the piece it used last. A store that takes the memory of an
// earlier one must not see that store's blocks through it.
TEST(BlockSizes, NewStoreAtSameAddressStartsEmpty) {
    alignas(BlockSizes) unsigned char storage[sizeof(BlockSizes)];
    auto* first = new (storage) BlockSizes;
    ASSERT_TRUE(first->init(1024));
    bool table_full = false;
    ASSERT_TRUE(first->insert(at(0x60000), 4, true, table_full));
    first->~BlockSizes();

    auto* second = new (storage) BlockSizes;
    ASSERT_TRUE(second->init(1024));
    size_t slack = 0;
    bool sampled = false;
    EXPECT_FALSE(second->take(at(0x60000), slack, sampled));
    second->~BlockSizes();
}

TEST(BlockSizes, RejectsWhatCannotBeKept) {
    BlockSizes blocks;
    ASSERT_TRUE(blocks.init(1024));
    bool table_full = false;
    EXPECT_FALSE(blocks.insert(at(0x30008), 0, false, table_full));             // misaligned
    EXPECT_FALSE(blocks.insert(at(uint64_t{1} << 48), 0, false, table_full));   // above 2^48
    EXPECT_FALSE(blocks.insert(at(0x30000), size_t{1} << 19, false, table_full)); // slack too large
    EXPECT_FALSE(table_full);
}

TEST(BlockSizes, ClearSampledKeepsTheBlock) {
    BlockSizes blocks;
    ASSERT_TRUE(blocks.init(1024));
    bool table_full = false;
    ASSERT_TRUE(blocks.insert(at(0x40000), 9, true, table_full));
    ASSERT_TRUE(blocks.insert(at(0x40100), 1000, true, table_full));  // in the table
    blocks.clear_sampled(at(0x40000));
    blocks.clear_sampled(at(0x40100));
    const Taken shadowed = take(blocks, 0x40000);
    const Taken tabled = take(blocks, 0x40100);
    EXPECT_TRUE(shadowed.found);
    EXPECT_TRUE(tabled.found);
    EXPECT_FALSE(shadowed.sampled);
    EXPECT_FALSE(tabled.sampled);
    EXPECT_EQ(shadowed.slack, 9u);
    EXPECT_EQ(tabled.slack, 1000u);
}

// Only blocks of large slack take table slots, so a small table fills with them alone.
TEST(BlockSizes, FullTableRefusesOnlyLargeSlack) {
    BlockSizes blocks;
    ASSERT_TRUE(blocks.init(1024));  // 2048 slots
    bool table_full = false;
    size_t inserted = 0;
    for (uint64_t i = 0; i < 4096 && !table_full; ++i) {
        if (blocks.insert(at(0x100000 + i * 0x1000), 4000, false, table_full)) ++inserted;
    }
    EXPECT_TRUE(table_full);
    EXPECT_GE(inserted, 1024u);
    table_full = false;
    EXPECT_TRUE(blocks.insert(at(0x100010), 10, false, table_full));  // fits its shadow byte
    EXPECT_FALSE(table_full);
    for (uint64_t i = 0; i < inserted; ++i) EXPECT_TRUE(take(blocks, 0x100000 + i * 0x1000).found) << i;
}

// Threads own disjoint blocks that share shadow cache lines and table slots. Every
// block must come back with the figures its owner stored, however the stores interleave.
TEST(BlockSizes, ConcurrentOwnersKeepTheirBlocks) {
    BlockSizes blocks;
    ASSERT_TRUE(blocks.init(1 << 16));
    constexpr int kThreads = 4;
    constexpr uint64_t kBlocks = 4096;
    std::vector<int> errors(kThreads, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&blocks, &errors, t] {
            for (int round = 0; round < 20; ++round) {
                for (uint64_t i = 0; i < kBlocks; ++i) {
                    const uint64_t address = 0x80000000 + (i * kThreads + t) * 16;
                    const size_t slack = (i + t + round) % 2 == 0 ? (i % 126) : 126 + i;
                    bool table_full = false;
                    if (!blocks.insert(at(address), slack, (i & 1) != 0, table_full)) ++errors[t];
                }
                for (uint64_t i = 0; i < kBlocks; ++i) {
                    const uint64_t address = 0x80000000 + (i * kThreads + t) * 16;
                    const size_t slack = (i + t + round) % 2 == 0 ? (i % 126) : 126 + i;
                    size_t got = 0;
                    bool sampled = false;
                    if (!blocks.take(at(address), got, sampled) || got != slack || sampled != ((i & 1) != 0)) {
                        ++errors[t];
                    }
                }
            }
        });
    }
    for (std::thread& thread : threads) thread.join();
    for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[t], 0) << "thread " << t;
}

// Threads place their first blocks in a fresh GiB at the same moment, so they race to
// map its shadow piece, and every fourth time its directory page. Every block must then
// be found in the piece that won.
TEST(BlockSizes, RacingFirstBlocksInFreshPieces) {
    BlockSizes blocks;
    ASSERT_TRUE(blocks.init(1 << 12));
    constexpr int kThreads = 2;
    constexpr uint64_t kFreshGibs = 256;
    constexpr uint64_t kFirstGib = 0x200;
    // Blocks of even threads get shadow bytes, blocks of odd threads table entries.
    auto address_of = [](uint64_t gib, int t) { return ((kFirstGib + gib) << 30) + static_cast<uint64_t>(t) * 16; };
    auto slack_of = [](int t) { return t % 2 == 0 ? static_cast<size_t>(t) : 1000 + static_cast<size_t>(t); };
    // The threads spin at the start, because threads woken from a blocking barrier start
    // microseconds apart, after the first one has mapped the piece.
    std::atomic<int> arrived{0};
    std::vector<int> failed_inserts(kThreads, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (uint64_t gib = 0; gib < kFreshGibs; ++gib) {
                arrived.fetch_add(1);
                while (arrived.load() < static_cast<int>(gib + 1) * kThreads) {
                }
                bool table_full = false;
                if (!blocks.insert(at(address_of(gib, t)), slack_of(t), gib % 2 == 0, table_full)) ++failed_inserts[t];
            }
        });
    }
    for (std::thread& thread : threads) thread.join();

    for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failed_inserts[t], 0) << "thread " << t;
    for (uint64_t gib = 0; gib < kFreshGibs; ++gib) {
        for (int t = 0; t < kThreads; ++t) {
            const Taken taken = take(blocks, address_of(gib, t));
            EXPECT_TRUE(taken.found) << "GiB " << gib << " thread " << t;
            EXPECT_EQ(taken.slack, slack_of(t)) << "GiB " << gib << " thread " << t;
            EXPECT_EQ(taken.sampled, gib % 2 == 0) << "GiB " << gib << " thread " << t;
        }
    }
}

// Returns the process's mapped address space in bytes from /proc/self/statm, or 0 when it cannot be read.
uint64_t mapped_bytes() {
    FILE* statm = std::fopen("/proc/self/statm", "r");
    unsigned long long pages = 0;
    if (statm == nullptr) return 0;
    if (std::fscanf(statm, "%llu", &pages) != 1) pages = 0;
    std::fclose(statm);
    return pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// Inserts blocks into a GiB whose shadow piece cannot be mapped, because an
// address-space limit leaves only `free_bytes` free, then lifts the limit and adds one
// more. Below 4 KiB not even the directory page can be mapped. Returns an empty string
// when every block comes back with its figures, or else the first difference.
std::string check_unmappable_piece(size_t free_bytes) {
    BlockSizes blocks;
    if (!blocks.init(1024)) return "init failed";
    rlimit original{};
    if (getrlimit(RLIMIT_AS, &original) != 0) return "getrlimit failed";
    const uint64_t mapped = mapped_bytes();
    if (mapped == 0) return "reading /proc/self/statm failed";
    rlimit tight = original;
    tight.rlim_cur = mapped + free_bytes;
    if (setrlimit(RLIMIT_AS, &tight) != 0) return "setrlimit failed";
    constexpr size_t kProbeBytes = size_t{1} << 20;
    void* probe =
        mmap(nullptr, kProbeBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe != MAP_FAILED) {
        munmap(probe, kProbeBytes);
        return "the address-space limit did not stop a 1 MiB mapping";
    }

    const uint64_t gib = uint64_t{0x300} << 30;
    bool table_full = false;
    const bool small_kept = blocks.insert(at(gib + 0x100), 3, true, table_full);
    const bool large_kept = blocks.insert(at(gib + 0x200), 5000, false, table_full);
    if (setrlimit(RLIMIT_AS, &original) != 0) return "restoring the limit failed";
    if (!small_kept || !large_kept) return "insert failed under the limit";
    // The piece stays on the table, because mapping it now would hide the two blocks above.
    if (!blocks.insert(at(gib + 0x300), 7, false, table_full)) return "insert failed after the limit";
    blocks.clear_sampled(at(gib + 0x100));

    const struct {
        uint64_t address;
        size_t slack;
    } expected[] = {{gib + 0x100, 3}, {gib + 0x200, 5000}, {gib + 0x300, 7}};
    for (const auto& block : expected) {
        const Taken taken = take(blocks, block.address);
        const std::string where = " at offset " + std::to_string(block.address - gib);
        if (!taken.found) return "block not found" + where;
        if (taken.slack != block.slack) {
            return "slack " + std::to_string(taken.slack) + ", expected " + std::to_string(block.slack) + where;
        }
        if (taken.sampled) return "sampled flag still set" + where;
        if (take(blocks, block.address).found) return "block taken twice" + where;
    }
    if (table_full) return "table reported full";
    return "";
}

// Run in a child process, because the address-space limit applies to the whole process.
// 256 KiB is less than a shadow piece (1 MiB) but enough for a directory page.
TEST(BlockSizesDeathTest, UnmappablePieceUsesTable) {
    EXPECT_EXIT(
        {
            const std::string failure = check_unmappable_piece(size_t{256} << 10);
            std::fputs(failure.c_str(), stderr);
            std::exit(failure.empty() ? 0 : 1);
        },
        ::testing::ExitedWithCode(0), "");
}

TEST(BlockSizesDeathTest, UnmappableDirectoryPageUsesTable) {
    EXPECT_EXIT(
        {
            const std::string failure = check_unmappable_piece(0);
            std::fputs(failure.c_str(), stderr);
            std::exit(failure.empty() ? 0 : 1);
        },
        ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace routeheap::agent
