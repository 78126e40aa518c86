// Allocation records: sampling weights and unbiased estimates, frees matched by address
// across blocks and threads, site ranking at the peak, forward stack references and
// truncated traces.
#include "scenarios.h"

#include <routeheap/analysis/analysis.h>
#include <routeheap/analysis/stacks.h>

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

namespace routeheap::testing {
namespace {

using namespace routeheap::analysis;

constexpr uint64_t kRequestStart = 100 * kMs;  // the buffered shape's window is [100 ms, 1100 ms]

// Return addresses inside the code of a perf map written beside the trace, so sites have
// readable names.
constexpr uint64_t kHandlerCode = 0x40010;
constexpr uint64_t kStringifyCode = 0x41010;
constexpr uint64_t kParseCode = 0x42010;
constexpr uint64_t kCollectCode = 0x43010;

void write_perf_map(const std::filesystem::path& folder, uint32_t pid) {
    std::ofstream out(folder / ("perf-" + std::to_string(pid) + ".map"));
    out << "40000 200 JS:*handleBuffered /srv/app/server.js:75:24\n"
        << "41000 200 Builtin:JsonStringify\n"
        << "42000 200 JS:~parseRows /srv/app/server.js:30:3\n"
        << "43000 200 JS:*collect /srv/app/server.js:90:5\n";
}

// A trace with one buffered request and whatever allocations `add` writes into it.
template <typename AddAllocations>
SessionAnalysis analyze_with(const std::string& name, AddAllocations add) {
    const auto folder = fresh_folder(name);
    TraceBuilder builder;
    add_exchange(builder, buffered_response_shape(kRequestStart, 8 * kMiBytes));
    builder.end_block();
    add(builder);
    builder.trace_end(builder.start_ns() + 2000 * kMs);
    builder.write(folder / "4242.rhtrace");
    write_perf_map(folder, 4242);
    return analyze_session(open_session(folder));
}

uint64_t at(uint64_t ms) { return 1'000'000'000 + ms * kMs; }

TEST(SamplingWeights, ExactAndAlwaysWeighOne) {
    SamplingParameters exact;
    exact.mean_interval_bytes = 1;
    EXPECT_EQ(exact.scale(10, 0), 1.0);
    SamplingParameters sampled;
    sampled.mean_interval_bytes = 256 * 1024;
    EXPECT_EQ(sampled.scale(2 * kMiBytes, trace::kAllocationAlways), 1.0);
    EXPECT_NEAR(sampled.scale(256 * 1024, 0), 1.0 / (1.0 - std::exp(-1.0)), 1e-9);
    // A small allocation stands for about one mean interval of bytes.
    EXPECT_NEAR(static_cast<double>(100) * sampled.scale(100, 0), 256.0 * 1024, 100);
}

TEST(StackSites, ExactModeBytesAndShares) {
    const SessionAnalysis analysis = analyze_with("stacks", [](TraceBuilder& builder) {
        builder.sampling_config(1, 1 * kMiBytes);
        builder.stack_definition(1, {kStringifyCode + 0x10, kHandlerCode + 0x20});
        builder.stack_definition(2, {kParseCode + 0x10, kHandlerCode + 0x30});
        builder.allocation(at(200), 0x1000, 6 * kMiBytes, 1);
        builder.allocation(at(210), 0x2000, 1 * kMiBytes, 2);
        builder.allocation(at(220), 0x3000, 1 * kMiBytes, 2);
    });
    ASSERT_EQ(analysis.requests.size(), 1u);
    const AllocationProfile& profile = analysis.requests[0].allocations;
    EXPECT_TRUE(profile.recorded);
    EXPECT_FALSE(profile.estimate);
    EXPECT_EQ(profile.peak_bytes, 8 * kMiBytes);
    ASSERT_EQ(profile.sites.size(), 2u);
    EXPECT_EQ(profile.sites[0].bytes, 6 * kMiBytes);
    EXPECT_DOUBLE_EQ(profile.sites[0].share, 0.75);
    EXPECT_EQ(profile.sites[0].allocations, 1u);
    ASSERT_EQ(profile.sites[0].frames.size(), 2u);
    EXPECT_EQ(profile.sites[0].frames[0].label(), "JSON.stringify");
    EXPECT_EQ(profile.sites[0].frames[1].label(), "handleBuffered /srv/app/server.js:75");
    EXPECT_EQ(profile.sites[1].allocations, 2u);
    EXPECT_EQ(profile.sites[1].frames[0].kind, FrameKind::Js);
}

TEST(StackSites, FreedBeforePeakIsNotASite) {
    const SessionAnalysis analysis = analyze_with("stacks", [](TraceBuilder& builder) {
        builder.sampling_config(1, 1 * kMiBytes);
        builder.stack_definition(1, {kParseCode});
        builder.stack_definition(2, {kStringifyCode});
        builder.allocation(at(200), 0x1000, 4 * kMiBytes, 1);
        builder.free(at(300), 0x1000);
        builder.allocation(at(400), 0x2000, 3 * kMiBytes, 2);
        builder.allocation(at(500), 0x3000, 3 * kMiBytes, 2);
    });
    const AllocationProfile& profile = analysis.requests[0].allocations;
    EXPECT_EQ(profile.peak_bytes, 6 * kMiBytes);
    EXPECT_EQ(profile.peak_ns, at(500));
    ASSERT_EQ(profile.sites.size(), 1u);
    EXPECT_EQ(profile.sites[0].frames[0].function, "JSON.stringify");
    EXPECT_DOUBLE_EQ(profile.sites[0].share, 1.0);
}

TEST(StackSites, PeakBeforeLaterFrees) {
    const SessionAnalysis analysis = analyze_with("stacks", [](TraceBuilder& builder) {
        builder.sampling_config(1, 1 * kMiBytes);
        builder.stack_definition(1, {kParseCode});
        builder.stack_definition(2, {kStringifyCode});
        builder.allocation(at(200), 0x1000, 5 * kMiBytes, 1);
        builder.allocation(at(300), 0x2000, 2 * kMiBytes, 2);
        builder.free(at(400), 0x1000);
        builder.allocation(at(500), 0x3000, 3 * kMiBytes, 2);
    });
    const AllocationProfile& profile = analysis.requests[0].allocations;
    EXPECT_EQ(profile.peak_bytes, 7 * kMiBytes);
    ASSERT_EQ(profile.sites.size(), 2u);
    EXPECT_EQ(profile.sites[0].frames[0].label(), "parseRows /srv/app/server.js:30");
    EXPECT_EQ(profile.sites[0].bytes, 5 * kMiBytes);
}

TEST(StackSites, AllocationsBeforeWindowDoNotCount) {
    const SessionAnalysis analysis = analyze_with("stacks", [](TraceBuilder& builder) {
        builder.sampling_config(1, 1 * kMiBytes);
        builder.stack_definition(1, {kParseCode});
        builder.allocation(at(50), 0x1000, 9 * kMiBytes, 1);
        builder.allocation(at(200), 0x2000, 1 * kMiBytes, 1);
        builder.allocation(at(1500), 0x3000, 9 * kMiBytes, 1);
    });
    EXPECT_EQ(analysis.requests[0].allocations.peak_bytes, 1 * kMiBytes);
}

TEST(StackSites, FreeInLaterBlockAndUnorderedThreads) {
    const SessionAnalysis analysis = analyze_with("stacks", [](TraceBuilder& builder) {
        builder.sampling_config(1, 1 * kMiBytes);
        // Thread 2's records are drained after thread 1's although they are older, and the
        // stacks are defined after their first use.
        builder.allocation(at(400), 0x2000, 2 * kMiBytes, 2, 0, trace::AllocationKind::Malloc, 1);
        builder.allocation(at(200), 0x1000, 4 * kMiBytes, 1, 0, trace::AllocationKind::Malloc, 2);
        builder.end_block();
        builder.free(at(300), 0x1000, 0, 2);
        builder.allocation(at(500), 0x3000, 1 * kMiBytes, 2);
        builder.stack_definition(1, {kParseCode});
        builder.stack_definition(2, {kCollectCode});
    });
    const AllocationProfile& profile = analysis.requests[0].allocations;
    EXPECT_EQ(profile.peak_bytes, 4 * kMiBytes);  // the 4 MiB block alone, before its free
    ASSERT_EQ(profile.sites.size(), 1u);
    EXPECT_EQ(profile.sites[0].frames[0].function, "parseRows");
    EXPECT_EQ(profile.peak_ns, at(200));
}

TEST(StackSites, RunsMergeInTimeThenFileOrder) {
    const SessionAnalysis analysis = analyze_with("stacks-runs", [](TraceBuilder& builder) {
        builder.sampling_config(1, 1 * kMiBytes);
        builder.stack_definition(1, {kParseCode});
        builder.stack_definition(2, {kCollectCode});
        builder.stack_definition(3, {kHandlerCode});
        // Three runs in time order each, older records after newer ones. The free of
        // 0x5000 and its reuse share a nanosecond: file order puts the free first.
        builder.allocation(at(300), 0x1000, 4 * kMiBytes, 1);
        builder.free(at(400), 0x5000);
        builder.allocation(at(250), 0x5000, 8 * kMiBytes, 1);
        builder.allocation(at(400), 0x5000, 1 * kMiBytes, 2);
        builder.free(at(350), 0x1000);
        builder.allocation(at(500), 0x7000, 12 * kMiBytes, 3);
    });
    const AllocationProfile& profile = analysis.requests[0].allocations;
    // 12 MiB plus the reused block of 1 MiB, above the 12 MiB held at 300 ms.
    EXPECT_EQ(profile.peak_bytes, 13 * kMiBytes);
    EXPECT_EQ(profile.peak_ns, at(500));
    ASSERT_EQ(profile.sites.size(), 2u);
    EXPECT_EQ(profile.sites[0].frames[0].function, "handleBuffered");
    EXPECT_EQ(profile.sites[1].frames[0].function, "collect");
    EXPECT_EQ(profile.sites[1].bytes, 1 * kMiBytes);
}

TEST(StackSites, FarOutOfOrderRecordsStillSort) {
    const SessionAnalysis analysis = analyze_with("stacks-disorder", [](TraceBuilder& builder) {
        builder.sampling_config(1, 1 * kMiBytes);
        builder.stack_definition(1, {kParseCode});
        builder.stack_definition(2, {kCollectCode});
        for (uint64_t i = 0; i < 30; ++i) builder.allocation(at(400 + i), 0x100000 + i * 0x1000, 1 * kMiBytes, 1);
        // Each of these is older than every record before it, so merging them one by one
        // would move the whole sorted part each time.
        for (uint64_t i = 0; i < 20; ++i) builder.allocation(at(399 - i), 0x900000 + i * 0x1000, 2 * kMiBytes, 2);
        builder.free(at(450), 0x900000);
    });
    const AllocationProfile& profile = analysis.requests[0].allocations;
    EXPECT_EQ(profile.peak_bytes, 70 * kMiBytes);
    EXPECT_EQ(profile.peak_ns, at(429));
    ASSERT_EQ(profile.sites.size(), 2u);
    EXPECT_EQ(profile.sites[0].bytes, 40 * kMiBytes);
    EXPECT_EQ(profile.sites[1].bytes, 30 * kMiBytes);
}

TEST(StackSites, CommittedRangeReleasedInParts) {
    const SessionAnalysis analysis = analyze_with("stacks", [](TraceBuilder& builder) {
        builder.sampling_config(1, 1 * kMiBytes);
        builder.stack_definition(1, {kCollectCode});
        builder.stack_definition(2, {kStringifyCode});
        builder.allocation(at(200), 0x100000, 4 * kMiBytes, 1, 0, trace::AllocationKind::V8Commit);
        builder.free(at(300), 0x100000 + 1 * kMiBytes, 2 * kMiBytes);  // the middle half
        builder.allocation(at(400), 0x900000, 3 * kMiBytes, 2);
    });
    const AllocationProfile& profile = analysis.requests[0].allocations;
    EXPECT_EQ(profile.peak_bytes, 5 * kMiBytes);
    ASSERT_EQ(profile.sites.size(), 2u);
    EXPECT_EQ(profile.sites[0].bytes, 3 * kMiBytes);
    EXPECT_EQ(profile.sites[1].bytes, 2 * kMiBytes);
}

// Reads a trace written by `add` into a StackModel.
template <typename AddRecords>
HeapTotals heap_totals_of(const std::string& name, AddRecords add) {
    const auto folder = fresh_folder(name);
    TraceBuilder builder;
    add(builder);
    builder.trace_end(at(2000));
    const auto path = builder.write(folder / "4242.rhtrace");
    TraceReader reader(path);
    StackModel model;
    reader.read_available(model, true);
    model.finish();
    return model.heap_totals();
}

TEST(HeapTotals, ExactTraceCountsEveryBlock) {
    const HeapTotals totals = heap_totals_of("totals", [](TraceBuilder& builder) {
        builder.sampling_config(1, 1 * kMiBytes);
        builder.stack_definition(1, {kParseCode});
        builder.allocation(at(100), 0x1000, 1000, 1);
        builder.allocation(at(110), 0x2000, 3000, 1);
        // A realloc that moved the block: the free of the old one, then the new one.
        builder.free(at(120), 0x1000);
        builder.allocation(at(120), 0x3000, 5000, 1, 0, trace::AllocationKind::Realloc);
        builder.free(at(130), 0x2000);
        builder.free(at(140), 0x9000);  // a block allocated before recording started
        builder.allocation(at(150), 0x4000, 100, 1);
    });
    EXPECT_EQ(totals.allocations, 4);
    EXPECT_EQ(totals.allocated_bytes, 9100);
    EXPECT_EQ(totals.peak_live_bytes, 8000);  // 3000 + 5000 right after the realloc
    EXPECT_EQ(totals.peak_ns, at(120));
    EXPECT_FALSE(totals.estimate);
}

TEST(HeapTotals, CommittedRangesAreNotHeap) {
    const HeapTotals totals = heap_totals_of("totals-v8", [](TraceBuilder& builder) {
        builder.sampling_config(1, 1 * kMiBytes);
        builder.stack_definition(1, {kStringifyCode});
        builder.allocation(at(100), 0x100000, 4 * kMiBytes, 1, 0, trace::AllocationKind::V8Commit);
        builder.free(at(110), 0x100000, 1 * kMiBytes);
        builder.allocation(at(120), 0x1000, 2000, 1);
    });
    EXPECT_EQ(totals.allocations, 1);
    EXPECT_EQ(totals.allocated_bytes, 2000);
    EXPECT_EQ(totals.peak_live_bytes, 2000);
}

TEST(HeapTotals, SampledTraceIsAnEstimate) {
    const HeapTotals totals = heap_totals_of("totals-sampled", [](TraceBuilder& builder) {
        builder.sampling_config(256 * 1024, 1 * kMiBytes);
        builder.stack_definition(1, {kParseCode});
        builder.allocation(at(100), 0x1000, 256 * 1024, 1);
        builder.allocation(at(110), 0x200000, 2 * kMiBytes, 1, trace::kAllocationAlways);
    });
    const double weight = 1.0 / (1.0 - std::exp(-1.0));
    EXPECT_NEAR(totals.allocations, weight + 1, 1e-9);
    EXPECT_NEAR(totals.allocated_bytes, 256 * 1024 * weight + 2 * kMiBytes, 1e-6);
    EXPECT_TRUE(totals.estimate);
}

TEST(StackSites, UndefinedStackIsShownAndWarned) {
    const SessionAnalysis analysis = analyze_with("stacks", [](TraceBuilder& builder) {
        builder.sampling_config(1, 1 * kMiBytes);
        builder.allocation(at(200), 0x1000, 1 * kMiBytes, 77);
        builder.stack_definition(1, {0xdead0000});
        builder.allocation(at(210), 0x2000, 512, 1);
    });
    const AllocationProfile& profile = analysis.requests[0].allocations;
    ASSERT_EQ(profile.sites.size(), 2u);
    EXPECT_EQ(profile.sites[0].frames[0].label(), "[stack not recorded]");
    EXPECT_EQ(profile.sites[1].frames[0].label(), "[jit 0xdead0000]");
    bool warned = false;
    for (const auto& warning : analysis.warnings) warned = warned || warning.find("never defined") != std::string::npos;
    EXPECT_TRUE(warned);
}

TEST(StackSites, PoissonSampleEstimatesKnownBytes) {
    // 20000 allocations of 1000 bytes from one site (19.1 MiB), sampled the way the agent
    // does with a mean of 64 KiB, plus one always-recorded 2 MiB block from another site.
    constexpr uint64_t kMean = 64 * 1024;
    constexpr uint64_t kCount = 20000;
    constexpr uint64_t kSize = 1000;
    const SessionAnalysis analysis = analyze_with("stacks", [&](TraceBuilder& builder) {
        builder.sampling_config(kMean, 1 * kMiBytes);
        builder.stack_definition(1, {kParseCode});
        builder.stack_definition(2, {kStringifyCode});
        std::mt19937_64 random(12345);
        std::uniform_real_distribution<double> uniform(0.0, 1.0);
        const double probability = 1.0 - std::exp(-static_cast<double>(kSize) / kMean);
        for (uint64_t i = 0; i < kCount; ++i) {
            if (uniform(random) < probability) builder.allocation(at(200) + i * 1000, 0x100000 + i * 1024, kSize, 1);
        }
        builder.allocation(at(800), 0x10000000, 2 * kMiBytes, 2, trace::kAllocationAlways);
    });
    const AllocationProfile& profile = analysis.requests[0].allocations;
    EXPECT_TRUE(profile.estimate);
    ASSERT_EQ(profile.sites.size(), 2u);
    const double true_bytes = static_cast<double>(kCount * kSize);
    const AllocationSite& rows = profile.sites[0];
    EXPECT_TRUE(rows.estimate);
    // About 300 samples: the estimate's standard error is under 6%.
    EXPECT_NEAR(static_cast<double>(rows.bytes), true_bytes, 0.2 * true_bytes);
    EXPECT_NEAR(static_cast<double>(rows.allocations), static_cast<double>(kCount), 0.2 * kCount);
    const AllocationSite& body = profile.sites[1];
    EXPECT_FALSE(body.estimate);
    EXPECT_EQ(body.bytes, 2 * kMiBytes);
    EXPECT_EQ(body.allocations, 1u);
}

TEST(StackSites, FindingCarriesTopSites) {
    const SessionAnalysis analysis = analyze_with("stacks", [](TraceBuilder& builder) {
        builder.sampling_config(1, 1 * kMiBytes);
        for (uint64_t i = 0; i < 7; ++i) {
            builder.stack_definition(i + 1, {0x900000 + i * 0x100});
            builder.allocation(at(200 + i), 0x1000 * (i + 1), (i + 1) * kMiBytes, i + 1);
        }
    });
    const Request& request = analysis.requests[0];
    ASSERT_FALSE(request.findings.empty());
    EXPECT_EQ(request.allocations.sites.size(), 7u);
    EXPECT_EQ(request.findings[0].sites.size(), kTopSites);
    double shares = 0;
    for (const AllocationSite& site : request.findings[0].sites) shares += site.share;
    EXPECT_LE(shares, 1.0);
    ASSERT_FALSE(analysis.routes.empty());
    ASSERT_FALSE(analysis.routes[0].findings.empty());
    EXPECT_EQ(analysis.routes[0].findings[0].worst.sites.size(), kTopSites);
}

TEST(StackSites, TruncatedTraceKeepsWholeBlocks) {
    const auto folder = fresh_folder("stacks");
    TraceBuilder builder;
    add_exchange(builder, buffered_response_shape(kRequestStart, 8 * kMiBytes));
    builder.sampling_config(1, 1 * kMiBytes);
    builder.stack_definition(1, {kParseCode});
    builder.allocation(at(200), 0x1000, 3 * kMiBytes, 1);
    builder.end_block();
    builder.allocation(at(300), 0x2000, 5 * kMiBytes, 1);
    builder.stack_definition(2, {kStringifyCode});
    builder.end_block();
    std::vector<uint8_t> bytes = builder.bytes();
    bytes.resize(builder.block_offsets().back() + 30);  // the second block is cut short
    std::ofstream(folder / "4242.rhtrace", std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    write_perf_map(folder, 4242);

    const SessionAnalysis analysis = analyze_session(open_session(folder));
    ASSERT_EQ(analysis.requests.size(), 1u);
    const AllocationProfile& profile = analysis.requests[0].allocations;
    EXPECT_EQ(profile.peak_bytes, 3 * kMiBytes);
    ASSERT_EQ(profile.sites.size(), 1u);
    EXPECT_EQ(profile.sites[0].frames[0].function, "parseRows");
}

TEST(StackSites, NativeProgramNeedsNoPerfMap) {
    const auto folder = fresh_folder("stacks-native");
    TraceBuilder builder(4242, 1'000'000'000, trace::kFormatVersion, "/usr/local/bin/csv2json");
    builder.sampling_config(1, 1 * kMiBytes);
    builder.stack_definition(1, {kParseCode});
    builder.allocation(at(200), 0x1000, 3 * kMiBytes, 1);
    builder.trace_end(at(2000));
    builder.write(folder / "4242.rhtrace");

    const SessionAnalysis analysis = analyze_session(open_session(folder));
    for (const auto& warning : analysis.warnings) EXPECT_EQ(warning.find("perf-4242.map"), std::string::npos) << warning;
}

TEST(StackSites, MissingPerfMapIsWarned) {
    const auto folder = fresh_folder("stacks");
    TraceBuilder builder;
    add_exchange(builder, buffered_response_shape(kRequestStart, 8 * kMiBytes));
    builder.sampling_config(1, 1 * kMiBytes);
    builder.stack_definition(1, {kParseCode});
    builder.allocation(at(200), 0x1000, 3 * kMiBytes, 1);
    builder.trace_end(at(2000));
    builder.write(folder / "4242.rhtrace");

    const SessionAnalysis analysis = analyze_session(open_session(folder));
    EXPECT_EQ(analysis.requests[0].allocations.sites[0].frames[0].label(), "[jit 0x42010]");
    bool warned = false;
    for (const auto& warning : analysis.warnings) warned = warned || warning.find("no perf-4242.map") != std::string::npos;
    EXPECT_TRUE(warned);
}

TEST(StackSites, NoAllocationRecordsNoProfile) {
    const auto folder = fresh_folder("stacks");
    TraceBuilder builder;
    add_exchange(builder, buffered_response_shape(kRequestStart, 8 * kMiBytes));
    builder.trace_end(at(2000));
    builder.write(folder / "4242.rhtrace");
    const SessionAnalysis analysis = analyze_session(open_session(folder));
    EXPECT_FALSE(analysis.requests[0].allocations.recorded);
    EXPECT_TRUE(analysis.requests[0].allocations.sites.empty());
}

}  // namespace
}  // namespace routeheap::testing
