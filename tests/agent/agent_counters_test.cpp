// Exact counter checks: programs with known allocation and mapping figures run under
// the agent, and the last CounterSample of their trace must show those figures.
#include "trace_file.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace routeheap::testing {
namespace {

constexpr int64_t kMiB = 1024 * 1024;

std::string native(const std::string& name) { return std::string(ROUTEHEAP_NATIVE_DIR) + "/" + name; }

// Returns the single trace in `dir`.
TraceFile single_trace(TempDir& dir) {
    const std::vector<std::string> traces = dir.traces();
    EXPECT_EQ(traces.size(), 1u);
    return traces.empty() ? TraceFile{} : read_trace(traces.front());
}

// Runs a program under the agent, which must write nothing to stderr, and returns its
// single trace.
TraceFile run_and_read(const std::vector<std::string>& argv, TempDir& dir, RunResult* run = nullptr) {
    const RunResult result = run_program(argv, agent_environment(dir.path()));
    if (run != nullptr) *run = result;
    EXPECT_EQ(result.err, "");
    return single_trace(dir);
}

trace::CounterSample last_sample(const TraceFile& file) {
    const std::vector<trace::CounterSample> samples = file.samples();
    EXPECT_FALSE(samples.empty());
    return samples.empty() ? trace::CounterSample{} : samples.back();
}

// The figures alloc_totals.cpp produces, in requested bytes. Kept blocks at the end:
// realloc'd 1000, posix_memalign 4096, aligned_alloc 512, valloc 5000, pvalloc 100,
// reallocarray 77.
constexpr int64_t kAllocTotalsLive = 1000 + 4096 + 512 + 5000 + 100 + 77;
// Every successful allocation call: 1 MiB brief block, malloc 100, calloc 300,
// realloc 1000, posix_memalign 4096, aligned_alloc 512, memalign 200, valloc 5000,
// pvalloc 100, reallocarray 77, new 24, new[] 40, aligned new 128, nothrow new 50,
// realloc(NULL, 0).
constexpr uint64_t kAllocTotalsBytes =
    (1 << 20) + 100 + 300 + 1000 + 4096 + 512 + 200 + 5000 + 100 + 77 + 24 + 40 + 128 + 50 + 0;
constexpr uint64_t kAllocTotalsCalls = 15;

TEST(AgentCounters, AllocTotalsExact) {
    TempDir dir;
    RunResult run;
    const TraceFile file = run_and_read({native("alloc_totals")}, dir, &run);
    ASSERT_EQ(run.exit_status, 0);
    ASSERT_TRUE(file.header_ok) << file.stop_reason;
    EXPECT_EQ(file.stop_reason, "");

    const trace::CounterSample last = last_sample(file);
    EXPECT_EQ(last.reason, static_cast<uint16_t>(trace::SampleReason::ProcessEnd));
    EXPECT_EQ(last.current.native_live_bytes, kAllocTotalsLive);
    EXPECT_EQ(last.current.native_allocated_total, kAllocTotalsBytes);
    EXPECT_EQ(last.current.native_allocation_calls, kAllocTotalsCalls);
    EXPECT_EQ("usable=" + std::to_string(last.current.native_usable_bytes) + "\n", run.out);
    EXPECT_GT(last.current.rss_bytes, 0);
}

TEST(AgentCounters, LivePeakSeesBriefBlock) {
    TempDir dir;
    const TraceFile file = run_and_read({native("alloc_totals")}, dir);
    int64_t peak = 0;
    for (const trace::CounterSample& sample : file.samples()) peak = std::max(peak, sample.native_live_peak_bytes);
    // The 1 MiB block freed at once is the largest live figure the program reaches.
    EXPECT_EQ(peak, 1 << 20);
}

// Peaks in exact mode see every byte, even where no single block is large: the agent keeps
// small live-byte changes per thread only when it samples stacks.
TEST(AgentCounters, ExactModePeakSeesSmallBlocks) {
    TempDir dir;
    std::map<std::string, std::string> environment = agent_environment(dir.path());
    environment["ROUTEHEAP_SAMPLE_BYTES"] = "1";
    const RunResult run = run_program({native("heap_workloads"), "small"}, environment);
    ASSERT_EQ(run.exit_status, 0) << run.err;
    const std::vector<trace::CounterSample> samples = single_trace(dir).samples();
    ASSERT_FALSE(samples.empty());
    int64_t peak = 0;
    for (const trace::CounterSample& sample : samples) peak = std::max(peak, sample.native_live_peak_bytes);
    // 64 blocks of 100 bytes, live together before anything else of the program.
    EXPECT_GE(peak - samples.front().current.native_live_bytes, 6400);
}

// A block whose slack the agent cannot keep stays out of the live counters at both ends,
// and the agent logs that once. The idle mode gives what the program itself leaves live
// (its stdout buffer).
TEST(AgentCounters, UntrackableBlockIsLogged) {
    TempDir idle_dir;
    const TraceFile idle = run_and_read({native("heap_workloads"), "idle"}, idle_dir);
    TempDir dir;
    const RunResult run = run_program({native("heap_workloads"), "huge-slack"}, agent_environment(dir.path()));
    ASSERT_EQ(run.exit_status, 0) << run.err;
    EXPECT_NE(run.err.find("bytes of slack cannot be tracked"), std::string::npos) << run.err;
    const trace::CounterSample last = last_sample(single_trace(dir));
    const trace::CounterSample idle_last = last_sample(idle);
    EXPECT_EQ(last.current.native_live_bytes, idle_last.current.native_live_bytes);
    EXPECT_EQ(last.current.native_usable_bytes, idle_last.current.native_usable_bytes);
    // The mode's other blocks are freed too, so only their calls remain.
    int calls = 0;
    ASSERT_EQ(std::sscanf(run.out.c_str(), "calls=%d", &calls), 1) << run.out;
    EXPECT_EQ(last.current.native_allocation_calls, idle_last.current.native_allocation_calls + calls);
}

// The agent reads glibc's chunk size word instead of calling malloc_usable_size, except
// for chunks with their own mapping. Blocks of a second arena (NON_MAIN_ARENA flag) and
// mapped chunks live at exit must add exactly their malloc_usable_size. The freed-blocks
// run makes the same calls, so glibc's own allocations for the thread and stdout cancel.
TEST(AgentCounters, UsableBytesOfArenaAndMappedChunks) {
    TempDir freed_dir;
    RunResult freed_run;
    const TraceFile freed = run_and_read({native("heap_workloads"), "freed-blocks"}, freed_dir, &freed_run);
    ASSERT_EQ(freed_run.exit_status, 0) << freed_run.err;
    TempDir kept_dir;
    RunResult kept_run;
    const TraceFile kept = run_and_read({native("heap_workloads"), "kept-blocks"}, kept_dir, &kept_run);
    ASSERT_EQ(kept_run.exit_status, 0) << kept_run.err;

    long long requested = 0;
    long long usable = 0;
    ASSERT_EQ(std::sscanf(kept_run.out.c_str(), "requested=%lld usable=%lld", &requested, &usable), 2) << kept_run.out;
    const trace::CounterSample kept_last = last_sample(kept);
    const trace::CounterSample freed_last = last_sample(freed);
    EXPECT_EQ(kept_last.current.native_live_bytes - freed_last.current.native_live_bytes, requested);
    EXPECT_EQ(kept_last.current.native_usable_bytes - freed_last.current.native_usable_bytes, usable);
}

TEST(AgentCounters, FirstSampleIsProcessStart) {
    TempDir dir;
    const TraceFile file = run_and_read({native("alloc_totals")}, dir);
    const std::vector<trace::CounterSample> samples = file.samples();
    ASSERT_FALSE(samples.empty());
    EXPECT_EQ(samples.front().reason, static_cast<uint16_t>(trace::SampleReason::ProcessStart));
    EXPECT_EQ(samples.front().current.native_live_bytes, 0);
    EXPECT_EQ(samples.front().current.native_allocation_calls, 0u);
}

TEST(AgentCounters, ExitStatusRecorded) {
    TempDir dir;
    RunResult run;
    const TraceFile file = run_and_read({native("alloc_totals"), "exit", "7"}, dir, &run);
    EXPECT_EQ(run.exit_status, 7);
    const std::vector<TraceRecord> exits = file.of_type(trace::RecordType::ProcessExit);
    ASSERT_EQ(exits.size(), 1u);
    EXPECT_EQ(exits.front().as<trace::ProcessExit>().status, 7);
    EXPECT_TRUE(file.has(trace::RecordType::TraceEnd));
}

TEST(AgentCounters, UnderscoreExitFlushes) {
    TempDir dir;
    RunResult run;
    const TraceFile file = run_and_read({native("alloc_totals"), "_exit", "9"}, dir, &run);
    EXPECT_EQ(run.exit_status, 9);
    const std::vector<TraceRecord> exits = file.of_type(trace::RecordType::ProcessExit);
    ASSERT_EQ(exits.size(), 1u);
    EXPECT_EQ(exits.front().as<trace::ProcessExit>().status, 9);
    EXPECT_EQ(last_sample(file).current.native_live_bytes, kAllocTotalsLive);
    ASSERT_FALSE(file.records.empty());
    EXPECT_EQ(file.records.back().type, trace::RecordType::TraceEnd);
}

TEST(AgentCounters, ReturnFromMainHasUnknownStatus) {
    TempDir dir;
    const TraceFile file = run_and_read({native("alloc_totals")}, dir);
    const std::vector<TraceRecord> exits = file.of_type(trace::RecordType::ProcessExit);
    ASSERT_EQ(exits.size(), 1u);
    EXPECT_EQ(exits.front().as<trace::ProcessExit>().status, -1);
}

struct CommitStep {
    int step;
    int64_t committed;
    int64_t peak;  // the maximum committed figure reached up to this step
};

class MmapCommit : public ::testing::TestWithParam<CommitStep> {};

TEST_P(MmapCommit, CommittedBytesFollowSteps) {
    const CommitStep expected = GetParam();
    TempDir dir;
    RunResult run;
    const TraceFile file = run_and_read({native("mmap_commit"), std::to_string(expected.step)}, dir, &run);
    ASSERT_EQ(run.exit_status, 0);
    EXPECT_EQ(last_sample(file).current.v8_committed_bytes, expected.committed);
    int64_t peak = 0;
    for (const trace::CounterSample& sample : file.samples()) peak = std::max(peak, sample.v8_committed_peak_bytes);
    EXPECT_EQ(peak, expected.peak);
}

INSTANTIATE_TEST_SUITE_P(Steps, MmapCommit,
                         ::testing::Values(CommitStep{1, 0, 0}, CommitStep{2, 8 * kMiB, 8 * kMiB},
                                           CommitStep{3, 4 * kMiB, 8 * kMiB}, CommitStep{4, 3 * kMiB, 8 * kMiB},
                                           CommitStep{5, 3 * kMiB, 8 * kMiB}, CommitStep{6, 5 * kMiB, 8 * kMiB},
                                           CommitStep{7, 6 * kMiB, 8 * kMiB}, CommitStep{8, 3 * kMiB, 8 * kMiB},
                                           CommitStep{9, 0, 8 * kMiB}),
                         [](const ::testing::TestParamInfo<CommitStep>& step_info) {
                             return "Step" + std::to_string(step_info.param.step);
                         });

}  // namespace
}  // namespace routeheap::testing
