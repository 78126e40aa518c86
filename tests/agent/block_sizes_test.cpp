// Unit tests of the block-size store on fabricated addresses: shadow bytes, the
// large-slack table behind them, and concurrent owners.
#include "block_sizes.h"

#include <gtest/gtest.h>

#include <cstdint>
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
    // and blocks in other GiB of the address space.
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

TEST(BlockSizes, UnknownBlocksAreNotFound) {
    BlockSizes blocks;
    ASSERT_TRUE(blocks.init(1024));
    bool table_full = false;
    ASSERT_TRUE(blocks.insert(at(0x20000), 3, false, table_full));
    EXPECT_FALSE(take(blocks, 0x20010).found);       // same shadow piece, other granule
    EXPECT_FALSE(take(blocks, 0x5000000000).found);  // a GiB no block was ever in
    EXPECT_FALSE(take(blocks, 0x20008).found);       // not 16-byte aligned
    EXPECT_TRUE(take(blocks, 0x20000).found);
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
    EXPECT_TRUE(shadowed.found && tabled.found);
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

// Threads own disjoint blocks that share shadow cache lines and table slots; every
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

}  // namespace
}  // namespace routeheap::agent
