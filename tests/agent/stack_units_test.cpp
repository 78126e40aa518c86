// Unit tests of the agent's stack machinery on fabricated input: the frame-record
// walk's checks, the call frame information reader, the exponential countdown and
// the stack table's deduplication.
#include "frame_rules.h"
#include "sampler.h"
#include "stack_table.h"
#include "stack_walk.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace routeheap::agent {
namespace {

// A fake stack: frame records (caller frame pointer, return address) laid out in an
// array, addressed by word index.
class FakeStack {
public:
    FakeStack() : words_(4096, 0) {}
    uintptr_t address(size_t word) const { return reinterpret_cast<uintptr_t>(&words_[word]); }
    void set_frame(size_t word, uintptr_t caller_frame, uintptr_t return_address) {
        words_[word] = caller_frame;
        words_[word + 1] = return_address;
    }
    WalkLimits limits() const { return {address(0), address(words_.size()), 0x1000, 0x2000, 1 << 20}; }

private:
    std::vector<uintptr_t> words_;
};

TEST(FramePointerWalk, FollowsValidChain) {
    FakeStack stack;
    stack.set_frame(10, stack.address(20), 0x1100);  // an agent frame, skipped
    stack.set_frame(20, stack.address(40), 0x5000);
    stack.set_frame(40, stack.address(100), 0x6000);
    stack.set_frame(100, 0, 0x7000);
    uint64_t frames[8];
    ASSERT_EQ(walk_stack(stack.address(10), stack.limits(), frames, 8), 3u);
    EXPECT_EQ(frames[0], 0x5000u);
    EXPECT_EQ(frames[1], 0x6000u);
    EXPECT_EQ(frames[2], 0x7000u);
}

TEST(FramePointerWalk, KeepsAgentAddressesAfterHostFrames) {
    FakeStack stack;
    stack.set_frame(10, stack.address(20), 0x5000);
    stack.set_frame(20, 0, 0x1100);  // a host frame called back into the agent's range
    uint64_t frames[8];
    ASSERT_EQ(walk_stack(stack.address(10), stack.limits(), frames, 8), 2u);
    EXPECT_EQ(frames[1], 0x1100u);
}

TEST(FramePointerWalk, StopsAtDecreasingFramePointer) {
    FakeStack stack;
    stack.set_frame(40, stack.address(20), 0x5000);
    stack.set_frame(20, stack.address(60), 0x6000);
    uint64_t frames[8];
    EXPECT_EQ(walk_stack(stack.address(40), stack.limits(), frames, 8), 1u);
}

TEST(FramePointerWalk, StopsAtSelfLoop) {
    FakeStack stack;
    stack.set_frame(40, stack.address(40), 0x5000);
    uint64_t frames[8];
    EXPECT_EQ(walk_stack(stack.address(40), stack.limits(), frames, 8), 1u);
}

TEST(FramePointerWalk, StopsAtMisalignedFramePointer) {
    FakeStack stack;
    stack.set_frame(10, stack.address(20) + 3, 0x5000);
    uint64_t frames[8];
    EXPECT_EQ(walk_stack(stack.address(10), stack.limits(), frames, 8), 1u);
}

TEST(FramePointerWalk, StopsOutsideBounds) {
    FakeStack stack;
    stack.set_frame(10, stack.address(4095), 0x5000);  // the record would end past `high`
    uint64_t frames[8];
    EXPECT_EQ(walk_stack(stack.address(10), stack.limits(), frames, 8), 1u);
    EXPECT_EQ(walk_stack(0x10, stack.limits(), frames, 8), 0u);
}

TEST(FramePointerWalk, StopsAtOversizedFrame) {
    FakeStack stack;
    WalkLimits limits = stack.limits();
    limits.max_frame_bytes = 64;
    stack.set_frame(10, stack.address(100), 0x5000);  // 720 bytes up
    stack.set_frame(100, 0, 0x6000);
    uint64_t frames[8];
    EXPECT_EQ(walk_stack(stack.address(10), limits, frames, 8), 1u);
}

TEST(FramePointerWalk, CapsDepth) {
    FakeStack stack;
    for (size_t word = 10; word < 200; word += 2) stack.set_frame(word, stack.address(word + 2), 0x5000 + word);
    uint64_t frames[5];
    EXPECT_EQ(walk_stack(stack.address(10), stack.limits(), frames, 5), 5u);
}

// A CIE and one FDE in .eh_frame form, as GCC emits them for a function with a
// frame pointer: push %rbp at +0, mov %rsp,%rbp at +1, the body from +4, and the
// epilogue at +40.
class CallFrameInformation {
public:
    static constexpr uintptr_t kStart = 0x400000;

    explicit CallFrameInformation(const std::string& augmentation = "zR",
                                  std::vector<uint8_t> body = kFramePointerBody) {
        // CIE: id 0, version 1, code alignment 1, data alignment -8, return address
        // register 16, FDE pointers pcrel|sdata4, CFA = rsp + 8, return address at CFA - 8.
        std::vector<uint8_t> cie = {0, 0, 0, 0, 1};
        cie.insert(cie.end(), augmentation.begin(), augmentation.end());
        cie.insert(cie.end(), {0, 1, 0x78, 16, 1, 0x1b, 0x0c, 7, 8, 0x90, 1});
        append_entry(cie);

        // FDE: CIE pointer, pc_begin and pc_range (sdata4), no augmentation data.
        const auto cie_pointer = static_cast<uint32_t>(bytes_.size() + 4);
        fde_offset_ = bytes_.size();
        std::vector<uint8_t> fde(4);
        std::memcpy(fde.data(), &cie_pointer, 4);
        fde.insert(fde.end(), {0, 0, 0, 0, 64, 0, 0, 0, 0});
        fde.insert(fde.end(), body.begin(), body.end());
        append_entry(fde);
    }

    RuleResult rule_at(uintptr_t offset, FrameRule& rule) const {
        return read_frame_rule(bytes_.data() + fde_offset_, kStart, kStart + offset, rule);
    }

    static inline const std::vector<uint8_t> kFramePointerBody = {
        0x41, 0x0e, 16, 0x86, 2,  // +1: CFA = rsp + 16, rbp saved at CFA - 16
        0x43, 0x0d, 6,            // +4: CFA = rbp + 16
        0x0a,                     // remember state
        0x64, 0x0c, 7, 8,         // +40: CFA = rsp + 8
        0x41, 0x0b,               // +41: restore state (another path continues)
    };

private:
    void append_entry(std::vector<uint8_t> entry) {
        while ((entry.size() + 4) % 8 != 0) entry.push_back(0);  // DW_CFA_nop padding
        const auto length = static_cast<uint32_t>(entry.size());
        const size_t at = bytes_.size();
        bytes_.resize(at + 4);
        std::memcpy(bytes_.data() + at, &length, 4);
        bytes_.insert(bytes_.end(), entry.begin(), entry.end());
    }

    std::vector<uint8_t> bytes_;
    size_t fde_offset_ = 0;
};

TEST(CallFrameRules, EntryUsesStackPointer) {
    FrameRule rule{};
    ASSERT_EQ(CallFrameInformation().rule_at(0, rule), RuleResult::Found);
    EXPECT_FALSE(rule.cfa_is_rbp);
    EXPECT_EQ(rule.cfa_offset, 8);
    EXPECT_FALSE(rule.rbp_saved);
}

TEST(CallFrameRules, AfterPushSavesRbp) {
    FrameRule rule{};
    ASSERT_EQ(CallFrameInformation().rule_at(3, rule), RuleResult::Found);
    EXPECT_FALSE(rule.cfa_is_rbp);
    EXPECT_EQ(rule.cfa_offset, 16);
    EXPECT_TRUE(rule.rbp_saved);
    EXPECT_EQ(rule.rbp_offset, -16);
}

TEST(CallFrameRules, BodyUsesFramePointer) {
    FrameRule rule{};
    for (uintptr_t offset : {4u, 20u, 39u}) {
        ASSERT_EQ(CallFrameInformation().rule_at(offset, rule), RuleResult::Found) << offset;
        EXPECT_TRUE(rule.cfa_is_rbp) << offset;
        EXPECT_EQ(rule.cfa_offset, 16) << offset;
        EXPECT_EQ(rule.rbp_offset, -16) << offset;
    }
}

TEST(CallFrameRules, RememberAndRestoreState) {
    FrameRule rule{};
    ASSERT_EQ(CallFrameInformation().rule_at(40, rule), RuleResult::Found);
    EXPECT_FALSE(rule.cfa_is_rbp);
    EXPECT_EQ(rule.cfa_offset, 8);
    ASSERT_EQ(CallFrameInformation().rule_at(41, rule), RuleResult::Found);
    EXPECT_TRUE(rule.cfa_is_rbp);
    EXPECT_EQ(rule.cfa_offset, 16);
}

TEST(CallFrameRules, SignalFrameAugmentation) {
    FrameRule rule{};
    EXPECT_EQ(CallFrameInformation("zRS").rule_at(0, rule), RuleResult::SignalFrame);
}

TEST(CallFrameRules, ExpressionUnsupported) {
    FrameRule rule{};
    // +1: CFA = DW_OP_breg7 8 (an expression).
    const CallFrameInformation info("zR", {0x41, 0x0f, 2, 0x77, 8});
    EXPECT_EQ(info.rule_at(0, rule), RuleResult::Found);
    EXPECT_EQ(info.rule_at(1, rule), RuleResult::Unsupported);
}

TEST(CallFrameRules, UndefinedReturnAddressIsOutermost) {
    FrameRule rule{};
    const CallFrameInformation info("zR", {0x07, 16});
    EXPECT_EQ(info.rule_at(0, rule), RuleResult::Outermost);
}

TEST(CallFrameRules, TruncatedInstructionsRejected) {
    FrameRule rule{};
    // def_cfa with its operands cut off by the end of the FDE (7 bytes of
    // instructions need no padding).
    const CallFrameInformation info("zR", {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c});
    EXPECT_NE(info.rule_at(8, rule), RuleResult::Found);
}

TEST(CallFrameRules, UnknownOpcodeRejected) {
    FrameRule rule{};
    const CallFrameInformation info("zR", {0x3f});
    EXPECT_EQ(info.rule_at(8, rule), RuleResult::Unsupported);
}

TEST(CallFrameRules, ThisFunctionHasRule) {
    // A real FDE: this test function, found the way the walk finds it.
    FrameRule rule{};
    const auto return_address = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
    EXPECT_EQ(step_method(return_address - 1, rule), StepMethod::Rule);
    EXPECT_EQ(step_method(0x1000, rule), StepMethod::FrameRecord);
}

TEST(StackCapture, FindsOwnStackMapping) {
    int local = 0;
    uintptr_t start = 0;
    uintptr_t end = 0;
    bool is_main_stack = false;
    ASSERT_TRUE(find_mapping(reinterpret_cast<uintptr_t>(&local), start, end, is_main_stack));
    EXPECT_LE(start, reinterpret_cast<uintptr_t>(&local));
    EXPECT_GT(end, reinterpret_cast<uintptr_t>(&local));
    EXPECT_TRUE(is_main_stack);  // GoogleTest runs tests on the main thread
}

TEST(Sampler, ExponentialMeanMatches) {
    uint64_t state = 12345;
    double sum = 0;
    constexpr int kDraws = 200000;
    for (int i = 0; i < kDraws; ++i) sum += static_cast<double>(draw_exponential(state, 262144));
    // The standard error of the mean is 262144 / sqrt(200000), about 0.22%.
    EXPECT_NEAR(sum / kDraws, 262144.0, 262144.0 * 0.01);
}

TEST(Sampler, ProbabilityFollowsSize) {
    set_sampling_parameters({65536, 1 << 20});
    int sampled = 0;
    constexpr int kAllocations = 200000;
    for (int i = 0; i < kAllocations; ++i) {
        uint16_t flags = 0;
        if (should_sample(4096, flags)) ++sampled;
        EXPECT_EQ(flags, 0);
    }
    const double expected = kAllocations * (1.0 - std::exp(-4096.0 / 65536.0));
    EXPECT_NEAR(sampled, expected, expected * 0.05);

    uint16_t flags = 0;
    EXPECT_TRUE(should_sample(1 << 20, flags));
    EXPECT_EQ(flags, 1);
    set_sampling_parameters({1, 1 << 20});
    EXPECT_TRUE(should_sample(1, flags));
    set_sampling_parameters({});
}

TEST(StackTable, DeduplicatesFrames) {
    StackTable table;
    ASSERT_TRUE(table.init(1024, 8));
    const uint64_t a[] = {1, 2, 3};
    const uint64_t b[] = {1, 2, 4};
    bool write = false;
    const uint64_t id_a = table.intern(a, 3, write);
    EXPECT_TRUE(write);
    EXPECT_NE(id_a, 0u);
    EXPECT_EQ(table.intern(a, 3, write), id_a);
    EXPECT_FALSE(write);
    const uint64_t id_b = table.intern(b, 3, write);
    EXPECT_TRUE(write);
    EXPECT_NE(id_b, id_a);
    EXPECT_NE(table.intern(a, 2, write), id_a);  // a prefix is another stack
}

TEST(StackTable, RewritesLostDefinition) {
    StackTable table;
    ASSERT_TRUE(table.init(1024, 8));
    const uint64_t frames[] = {7, 8};
    bool write = false;
    const uint64_t id = table.intern(frames, 2, write);
    table.mark_unwritten(id);
    EXPECT_EQ(table.intern(frames, 2, write), id);
    EXPECT_TRUE(write);
    table.intern(frames, 2, write);
    EXPECT_FALSE(write);
}

TEST(StackTable, OverflowWhenArenaFull) {
    StackTable table;
    ASSERT_TRUE(table.init(1024, 1));  // room for 1024 frames in all
    std::vector<uint64_t> frames(64);
    bool write = false;
    uint64_t overflow = 0;
    for (uint64_t stack = 0; stack < 100; ++stack) {
        for (size_t i = 0; i < frames.size(); ++i) frames[i] = stack * 1000 + i;
        if (table.intern(frames.data(), 64, write) == StackTable::kOverflowStackId) ++overflow;
    }
    EXPECT_EQ(overflow, 84u);  // 16 stacks of 64 frames fit
    EXPECT_TRUE(table.claim_overflow_definition());
    EXPECT_FALSE(table.claim_overflow_definition());
}

TEST(StackTable, ForgetsAfterForkReset) {
    StackTable table;
    ASSERT_TRUE(table.init(1024, 8));
    const uint64_t frames[] = {5};
    bool write = false;
    table.intern(frames, 1, write);
    table.reset_after_fork_child();
    table.intern(frames, 1, write);
    EXPECT_TRUE(write);
}

}  // namespace
}  // namespace routeheap::agent
