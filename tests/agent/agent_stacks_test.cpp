// Allocation stacks under the agent: sampled Allocation and Free records, their
// stacks resolved against the program's own symbols (nm) and the ModuleLoad records,
// the sampling estimate, module maps across dlopen/dlclose, and junk frame pointers.
#include "trace_file.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <string>

namespace routeheap::testing {
namespace {

std::string native(const std::string& name) { return std::string(ROUTEHEAP_NATIVE_DIR) + "/" + name; }

struct Module {
    std::string path;
    std::string build_id;  // hex
    uint64_t load_bias = 0;
    uint64_t start = 0;
    uint64_t end = 0;
    uint64_t time_ns = 0;
};

// The stack records of one trace, decoded.
struct StackRecords {
    std::vector<trace::SamplingConfig> configs;
    size_t first_config_index = SIZE_MAX;
    size_t first_allocation_index = SIZE_MAX;
    std::map<uint64_t, std::vector<uint64_t>> stacks;
    size_t stack_definitions = 0;
    std::vector<trace::Allocation> allocations;
    std::vector<trace::Free> frees;
    std::vector<Module> loads;
    std::vector<trace::ModuleUnload> unloads;
};

StackRecords decode(const TraceFile& file) {
    StackRecords out;
    for (size_t index = 0; index < file.records.size(); ++index) {
        const TraceRecord& record = file.records[index];
        switch (record.type) {
            case trace::RecordType::SamplingConfig:
                out.configs.push_back(record.as<trace::SamplingConfig>());
                out.first_config_index = std::min(out.first_config_index, index);
                break;
            case trace::RecordType::Allocation:
                out.allocations.push_back(record.as<trace::Allocation>());
                out.first_allocation_index = std::min(out.first_allocation_index, index);
                break;
            case trace::RecordType::Free:
                out.frees.push_back(record.as<trace::Free>());
                break;
            case trace::RecordType::StackDefinition: {
                const auto definition = record.as<trace::StackDefinition>();
                std::vector<uint64_t> frames(definition.frame_count);
                EXPECT_EQ(record.bytes.size(), sizeof(definition) + frames.size() * sizeof(uint64_t));
                std::memcpy(frames.data(), record.bytes.data() + sizeof(definition), frames.size() * sizeof(uint64_t));
                out.stacks[definition.stack_id] = frames;
                ++out.stack_definitions;
                break;
            }
            case trace::RecordType::ModuleLoad: {
                const auto load = record.as<trace::ModuleLoad>();
                Module module;
                char hex[3];
                for (uint16_t i = 0; i < load.build_id_length; ++i) {
                    std::snprintf(hex, sizeof(hex), "%02x", record.bytes[sizeof(load) + i]);
                    module.build_id += hex;
                }
                module.path = record.tail(sizeof(load) + load.build_id_length);
                module.load_bias = load.load_bias;
                module.start = load.start;
                module.end = load.end;
                module.time_ns = load.time_ns;
                EXPECT_EQ(module.path.size(), load.path_length);
                out.loads.push_back(module);
                break;
            }
            case trace::RecordType::ModuleUnload:
                out.unloads.push_back(record.as<trace::ModuleUnload>());
                break;
            default:
                break;
        }
    }
    return out;
}

// Allocation records of the malloc family and operator new, leaving out commits.
size_t heap_allocation_count(const StackRecords& records) {
    return static_cast<size_t>(std::count_if(records.allocations.begin(), records.allocations.end(),
                                             [](const trace::Allocation& allocation) {
                                                 return allocation.kind !=
                                                        static_cast<uint16_t>(trace::AllocationKind::V8Commit);
                                             }));
}

struct Range {
    uint64_t start = 0;
    uint64_t end = 0;
    bool contains(uint64_t address) const { return address >= start && address < end; }
};

// Runtime address ranges of the functions whose demangled names contain `names`,
// from `nm -S -C` on the program and the load bias of its ModuleLoad record.
std::map<std::string, Range> function_ranges(const std::string& program, const StackRecords& records,
                                             const std::vector<std::string>& names) {
    uint64_t bias = 0;
    bool found_module = false;
    for (const Module& module : records.loads) {
        if (module.path == program) {
            bias = module.load_bias;
            found_module = true;
        }
    }
    EXPECT_TRUE(found_module) << "no ModuleLoad for " << program;

    std::map<std::string, Range> ranges;
    FILE* pipe = popen(("nm -S -C --defined-only " + program).c_str(), "r");
    if (pipe == nullptr) return ranges;
    char line[1024];
    while (std::fgets(line, sizeof(line), pipe) != nullptr) {
        std::istringstream fields(line);
        std::string address;
        std::string size;
        std::string type;
        std::string name;
        if (!(fields >> address >> size >> type) || (type != "T" && type != "t")) continue;
        std::getline(fields, name);
        for (const std::string& wanted : names) {
            if (name.find(wanted) == std::string::npos) continue;
            const uint64_t start = std::stoull(address, nullptr, 16) + bias;
            ranges[wanted] = Range{start, start + std::stoull(size, nullptr, 16)};
        }
    }
    pclose(pipe);
    for (const std::string& wanted : names) EXPECT_TRUE(ranges.count(wanted)) << wanted << " not found by nm";
    return ranges;
}

struct SitesRun {
    RunResult result;
    TraceFile file;
    StackRecords records;
};

SitesRun run_program_sites(const std::string& program, const std::vector<std::string>& arguments,
                           const std::map<std::string, std::string>& extra, TempDir& dir) {
    std::map<std::string, std::string> environment = agent_environment(dir.path());
    for (const auto& [name, value] : extra) environment[name] = value;
    std::vector<std::string> argv = {program};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    SitesRun run;
    run.result = run_program(argv, environment);
    const std::vector<std::string> traces = dir.traces();
    EXPECT_EQ(traces.size(), 1u);
    if (traces.empty()) return run;
    run.file = read_trace(traces.front());
    EXPECT_EQ(run.file.stop_reason, "");
    run.records = decode(run.file);
    return run;
}

SitesRun run_sites(const std::vector<std::string>& arguments, const std::map<std::string, std::string>& extra,
                   TempDir& dir) {
    return run_program_sites(native("alloc_sites"), arguments, extra, dir);
}

const std::map<std::string, std::string> kExact = {{"ROUTEHEAP_SAMPLE_BYTES", "1"}};

// The site whose range contains the first frame of the allocation's stack, or "".
std::string site_of(const trace::Allocation& allocation, const StackRecords& records,
                    const std::map<std::string, Range>& sites) {
    const auto stack = records.stacks.find(allocation.stack_id);
    if (stack == records.stacks.end() || stack->second.empty()) return "";
    for (const auto& [name, range] : sites) {
        if (range.contains(stack->second.front())) return name;
    }
    return "";
}

// Live bytes per site after replaying Allocation and Free records in time order.
std::map<std::string, int64_t> live_bytes_by_site(const StackRecords& records,
                                                  const std::map<std::string, Range>& sites) {
    struct Event {
        uint64_t time;
        bool is_free;
        size_t index;
    };
    std::vector<Event> events;
    for (size_t i = 0; i < records.allocations.size(); ++i) events.push_back({records.allocations[i].time_ns, false, i});
    for (size_t i = 0; i < records.frees.size(); ++i) events.push_back({records.frees[i].time_ns, true, i});
    std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.time < b.time; });

    std::map<uint64_t, const trace::Allocation*> live;
    for (const Event& event : events) {
        if (event.is_free) {
            EXPECT_EQ(live.erase(records.frees[event.index].address), 1u) << "Free without a live Allocation";
        } else {
            const trace::Allocation& allocation = records.allocations[event.index];
            EXPECT_TRUE(live.emplace(allocation.address, &allocation).second) << "address allocated twice";
        }
    }
    std::map<std::string, int64_t> bytes;
    for (const auto& [address, allocation] : live) bytes[site_of(*allocation, records, sites)] += allocation->size;
    return bytes;
}

TEST(AgentStacks, ExactModeFramesInSites) {
    TempDir dir;
    const SitesRun run = run_sites({"keep"}, kExact, dir);
    ASSERT_EQ(run.result.exit_status, 0) << run.result.err;
    EXPECT_EQ(run.result.err, "");
    const auto sites = function_ranges(native("alloc_sites"), run.records, {"site_malloc", "site_new_array"});

    std::map<std::string, int> count;
    for (const trace::Allocation& allocation : run.records.allocations) {
        ASSERT_TRUE(run.records.stacks.count(allocation.stack_id)) << "stack " << allocation.stack_id << " undefined";
        const std::string site = site_of(allocation, run.records, sites);
        ++count[site];
        if (site == "site_malloc") {
            EXPECT_EQ(allocation.size, 4096u);
            EXPECT_EQ(allocation.kind, static_cast<uint16_t>(trace::AllocationKind::Malloc));
        } else if (site == "site_new_array") {
            EXPECT_EQ(allocation.size, 1024u);
            EXPECT_EQ(allocation.kind, static_cast<uint16_t>(trace::AllocationKind::OperatorNewArray));
        }
    }
    EXPECT_EQ(count["site_malloc"], 1000);
    EXPECT_EQ(count["site_new_array"], 1000);
    // Every counted allocation call has its record in exact mode.
    EXPECT_EQ(heap_allocation_count(run.records), run.file.samples().back().current.native_allocation_calls);
}

TEST(AgentStacks, StacksReachMain) {
    TempDir dir;
    const SitesRun run = run_sites({"keep"}, kExact, dir);
    const auto sites = function_ranges(native("alloc_sites"), run.records, {"site_malloc", "main"});
    size_t checked = 0;
    for (const trace::Allocation& allocation : run.records.allocations) {
        if (site_of(allocation, run.records, sites) != "site_malloc") continue;
        const std::vector<uint64_t>& frames = run.records.stacks.at(allocation.stack_id);
        ASSERT_GE(frames.size(), 3u);
        // site_malloc <- run_keep <- main: the walk passes the agent's frames and the
        // program's own.
        EXPECT_TRUE(std::any_of(frames.begin(), frames.end(),
                                [&](uint64_t frame) { return sites.at("main").contains(frame); }));
        ++checked;
    }
    EXPECT_EQ(checked, 1000u);
}

TEST(AgentStacks, ExactModeLiveBytesMatchFrees) {
    TempDir dir;
    const SitesRun run = run_sites({"keep"}, kExact, dir);
    ASSERT_EQ(run.result.exit_status, 0);
    const auto sites = function_ranges(native("alloc_sites"), run.records, {"site_malloc", "site_new_array"});
    const auto live = live_bytes_by_site(run.records, sites);
    EXPECT_EQ(live.at("site_malloc"), 500 * 4096);
    EXPECT_EQ(live.at("site_new_array"), 500 * 1024);
}

TEST(AgentStacks, DefaultSamplingEstimateWithinTenPercent) {
    TempDir dir;
    const SitesRun run = run_sites({"churn"}, {}, dir);
    ASSERT_EQ(run.result.exit_status, 0) << run.result.err;
    ASSERT_EQ(run.records.configs.size(), 1u);
    const trace::SamplingConfig config = run.records.configs.front();
    EXPECT_EQ(config.mean_interval_bytes, 262144u);
    EXPECT_EQ(config.always_threshold_bytes, 1u << 20);
    EXPECT_EQ(config.max_frames, 64u);

    const auto sites = function_ranges(native("alloc_sites"), run.records, {"site_malloc", "site_new_array"});
    std::map<std::string, double> estimate;
    std::map<std::string, int> samples;
    const auto mean = static_cast<double>(config.mean_interval_bytes);
    for (const trace::Allocation& allocation : run.records.allocations) {
        const auto size = static_cast<double>(allocation.size);
        const double probability = 1.0 - std::exp(-size / mean);
        const std::string site = site_of(allocation, run.records, sites);
        estimate[site] += size / probability;
        ++samples[site];
    }
    // 100000 x 4 KiB and 400000 x 1 KiB: about 1550 samples each, so the relative
    // standard error is about 2.5% and 10% is four of them.
    EXPECT_NEAR(estimate["site_malloc"], 100000.0 * 4096, 0.10 * 100000 * 4096) << samples["site_malloc"] << " samples";
    EXPECT_NEAR(estimate["site_new_array"], 400000.0 * 1024, 0.10 * 400000 * 1024)
        << samples["site_new_array"] << " samples";
    // Far fewer records than calls: the point of sampling.
    EXPECT_LT(run.records.allocations.size(), 10000u);
}

TEST(AgentStacks, LargeAllocationsAlwaysSampled) {
    TempDir dir;
    const SitesRun run = run_sites({"large"}, {}, dir);
    ASSERT_EQ(run.result.exit_status, 0) << run.result.err;
    const auto sites = function_ranges(native("alloc_sites"), run.records, {"site_large"});
    std::vector<trace::Allocation> large;
    for (const trace::Allocation& allocation : run.records.allocations) {
        if (site_of(allocation, run.records, sites) == "site_large") large.push_back(allocation);
    }
    ASSERT_EQ(large.size(), 3u);
    for (const trace::Allocation& allocation : large) {
        EXPECT_EQ(allocation.size, 2u << 20);
        EXPECT_EQ(allocation.flags, trace::kAllocationAlways);
    }
    size_t large_frees = 0;
    for (const trace::Free& release : run.records.frees) {
        if (release.address == large.front().address) ++large_frees;
    }
    EXPECT_EQ(large_frees, 1u);
    EXPECT_EQ(live_bytes_by_site(run.records, sites).at("site_large"), 2 * (2 << 20));
}

TEST(AgentStacks, ReallocChainFreesEachStep) {
    TempDir dir;
    const SitesRun run = run_sites({"realloc"}, kExact, dir);
    ASSERT_EQ(run.result.exit_status, 0) << run.result.err;
    const auto sites = function_ranges(native("alloc_sites"), run.records, {"site_realloc"});
    std::vector<uint64_t> sizes;
    for (const trace::Allocation& allocation : run.records.allocations) {
        if (site_of(allocation, run.records, sites) != "site_realloc") continue;
        EXPECT_EQ(allocation.kind, static_cast<uint16_t>(trace::AllocationKind::Realloc));
        sizes.push_back(allocation.size);
    }
    ASSERT_EQ(sizes.size(), 13u);  // 16 B to 64 KiB by doubling
    EXPECT_EQ(sizes.front(), 16u);
    EXPECT_EQ(sizes.back(), 65536u);
    EXPECT_EQ(live_bytes_by_site(run.records, sites).at("site_realloc"), 65536);
}

TEST(AgentStacks, JunkFramePointerDoesNotCrash) {
    TempDir dir;
    const SitesRun run = run_sites({"bad-frame-pointer"}, kExact, dir);
    ASSERT_EQ(run.result.exit_status, 0) << run.result.err;
    EXPECT_EQ(run.result.err, "");
    if (run.result.out == "skipped\n") GTEST_SKIP() << "the junk frame pointer program needs x86_64";
    EXPECT_EQ(run.result.out, "done\n");
    const auto sites = function_ranges(native("alloc_sites"), run.records, {"malloc_with_frame_pointer"});
    int found = 0;
    for (const trace::Allocation& allocation : run.records.allocations) {
        if (site_of(allocation, run.records, sites) != "malloc_with_frame_pointer") continue;
        ++found;
        // The walk stops at the junk: the caller's frame is kept, nothing after it.
        EXPECT_EQ(run.records.stacks.at(allocation.stack_id).size(), 1u);
    }
    EXPECT_EQ(found, 12);  // six junk values, on two threads
}

TEST(AgentStacks, DlopenAndDlcloseWriteModuleRecords) {
    TempDir dir;
    const std::string plugin = native("alloc_plugin.so");
    const SitesRun run = run_sites({"plugin", plugin}, {}, dir);
    ASSERT_EQ(run.result.exit_status, 0) << run.result.err;
    EXPECT_EQ(run.result.err, "");

    const Module* load = nullptr;
    for (const Module& module : run.records.loads) {
        if (module.path == plugin) load = &module;
    }
    ASSERT_NE(load, nullptr) << "no ModuleLoad for " << plugin;
    EXPECT_FALSE(load->build_id.empty());
    EXPECT_LT(load->start, load->end);
    size_t unloads = 0;
    for (const trace::ModuleUnload& unload : run.records.unloads) {
        if (unload.load_bias != load->load_bias) continue;
        ++unloads;
        EXPECT_GT(unload.time_ns, load->time_ns);
    }
    EXPECT_EQ(unloads, 1u);

    // The 2 MiB block from plugin_allocate is always sampled; its first frame lies in the plugin.
    size_t in_plugin = 0;
    for (const trace::Allocation& allocation : run.records.allocations) {
        const auto& frames = run.records.stacks.at(allocation.stack_id);
        if (allocation.size == (2u << 20) && !frames.empty() && frames.front() >= load->start &&
            frames.front() < load->end) {
            ++in_plugin;
        }
    }
    EXPECT_EQ(in_plugin, 1u);
}

TEST(AgentStacks, StartupModulesHaveBuildIds) {
    TempDir dir;
    const SitesRun run = run_sites({"keep"}, {}, dir);
    std::set<std::string> paths;
    for (const Module& module : run.records.loads) {
        paths.insert(module.path);
        if (module.path == native("alloc_sites") || module.path.find("libc.so") != std::string::npos) {
            EXPECT_EQ(module.build_id.size(), 40u) << module.path;  // 20-byte SHA-1 build-ids
        }
    }
    EXPECT_TRUE(paths.count(native("alloc_sites")));
    EXPECT_TRUE(paths.count(ROUTEHEAP_AGENT_PATH));
    EXPECT_TRUE(std::any_of(paths.begin(), paths.end(),
                            [](const std::string& path) { return path.find("/libc.so") != std::string::npos; }));
}

TEST(AgentStacks, SamplingConfigPrecedesAllocations) {
    TempDir dir;
    const SitesRun run = run_sites({"keep"}, {{"ROUTEHEAP_SAMPLE_BYTES", "4096"}, {"ROUTEHEAP_MAX_FRAMES", "8"}}, dir);
    ASSERT_EQ(run.records.configs.size(), 1u);
    EXPECT_EQ(run.records.configs.front().mean_interval_bytes, 4096u);
    EXPECT_EQ(run.records.configs.front().max_frames, 8u);
    EXPECT_LT(run.records.first_config_index, run.records.first_allocation_index);
    for (const auto& [id, frames] : run.records.stacks) EXPECT_LE(frames.size(), 8u);
}

TEST(AgentStacks, ForkAndExecImagesWriteSamplingConfig) {
    for (const std::string program : {"fork_child", "exec_chain"}) {
        TempDir dir;
        std::map<std::string, std::string> environment = agent_environment(dir.path());
        environment["ROUTEHEAP_SAMPLE_BYTES"] = "1";
        const RunResult result = run_program({native(program)}, environment);
        ASSERT_EQ(result.exit_status, 0) << program << ": " << result.err;
        ASSERT_GE(dir.traces().size(), 2u) << program;
        for (const std::string& path : dir.traces()) {
            const StackRecords records = decode(read_trace(path));
            EXPECT_EQ(records.configs.size(), 1u) << path;
            EXPECT_LT(records.first_config_index, records.first_allocation_index) << path;
            EXPECT_FALSE(records.loads.empty()) << path;
            for (const trace::Allocation& allocation : records.allocations) {
                EXPECT_TRUE(records.stacks.count(allocation.stack_id)) << path << ": stack of a child not redefined";
            }
        }
    }
}

TEST(AgentStacks, FullStackTableKeepsAllocations) {
    if (access("/usr/bin/node", X_OK) != 0) GTEST_SKIP() << "node is not installed at /usr/bin/node";
    TempDir dir;
    std::map<std::string, std::string> environment = agent_environment(dir.path());
    environment["ROUTEHEAP_SAMPLE_BYTES"] = "1";
    environment["ROUTEHEAP_MAX_STACKS"] = "1024";
    const RunResult result = run_program({"/usr/bin/node", "-e", "0"}, environment);
    ASSERT_EQ(result.exit_status, 0);
    EXPECT_NE(result.err.find("ROUTEHEAP_MAX_STACKS=1024"), std::string::npos) << result.err;
    const TraceFile file = read_trace(dir.traces().front());
    const StackRecords records = decode(file);
    ASSERT_TRUE(records.stacks.count(UINT64_MAX));
    EXPECT_TRUE(records.stacks.at(UINT64_MAX).empty());
    size_t overflow_definitions = 0;
    for (const TraceRecord& record : file.of_type(trace::RecordType::StackDefinition)) {
        if (record.as<trace::StackDefinition>().stack_id == UINT64_MAX) ++overflow_definitions;
    }
    EXPECT_EQ(overflow_definitions, 1u);
    for (const trace::Allocation& allocation : records.allocations) {
        EXPECT_TRUE(records.stacks.count(allocation.stack_id));
    }
    EXPECT_EQ(heap_allocation_count(records), file.samples().back().current.native_allocation_calls);
}

TEST(AgentStacks, NodeExactModeQuiet) {
    if (access("/usr/bin/node", X_OK) != 0) GTEST_SKIP() << "node is not installed at /usr/bin/node";
    TempDir dir;
    std::map<std::string, std::string> environment = agent_environment(dir.path());
    environment["ROUTEHEAP_SAMPLE_BYTES"] = "1";
    const RunResult result = run_program(
        {"/usr/bin/node", "-e", "const a = []; for (let i = 0; i < 2000; i++) a.push(Buffer.alloc(1000));"},
        environment);
    EXPECT_EQ(result.exit_status, 0);
    EXPECT_EQ(result.err, "");
    const TraceFile file = read_trace(dir.traces().front());
    const StackRecords records = decode(file);
    const auto end = file.of_type(trace::RecordType::TraceEnd);
    ASSERT_EQ(end.size(), 1u);
    EXPECT_EQ(end.front().as<trace::TraceEnd>().dropped_records, 0u);
    EXPECT_EQ(heap_allocation_count(records), file.samples().back().current.native_allocation_calls);
    // Each Buffer.alloc(1000) is one calloc whose stack runs through V8 builtins and
    // JS frames down to node::Start, well past 20 frames.
    size_t buffers = 0;
    size_t deep_buffers = 0;
    for (const trace::Allocation& allocation : records.allocations) {
        if (allocation.size != 1000) continue;
        ++buffers;
        if (records.stacks.at(allocation.stack_id).size() >= 20) ++deep_buffers;
    }
    EXPECT_GE(buffers, 2000u);
    EXPECT_GE(deep_buffers, 2000u);
}

}  // namespace

namespace {

// V8Commit records: commit_sites commits eight 256 KiB pages of a reservation one by
// one and maps 1 MiB read-write, then releases both in parts, in exact mode.
const std::string kCommitProgram = ROUTEHEAP_COMMIT_SITES;
constexpr uint64_t kCommitPage = 256 * 1024;

uint64_t printed_address(const std::string& out, const std::string& name) {
    const size_t at = out.find(name + " 0x");
    if (at == std::string::npos) return 0;
    return std::stoull(out.substr(at + name.size() + 3), nullptr, 16);
}

TEST(AgentV8Commits, EveryCommitAndReleaseRecorded) {
    TempDir dir;
    const SitesRun run = run_program_sites(kCommitProgram, {}, {{"ROUTEHEAP_SAMPLE_BYTES", "1"}}, dir);
    ASSERT_EQ(run.result.exit_status, 0) << run.result.err;
    EXPECT_EQ(run.result.err, "");
    const uint64_t base = printed_address(run.result.out, "reserve");
    const uint64_t large = printed_address(run.result.out, "large");
    ASSERT_NE(base, 0u) << run.result.out;
    ASSERT_NE(large, 0u) << run.result.out;
    const auto sites = function_ranges(kCommitProgram, run.records, {"commit_page", "map_committed"});

    std::vector<trace::Allocation> page_commits;
    std::vector<trace::Allocation> large_commits;
    for (const trace::Allocation& allocation : run.records.allocations) {
        if (allocation.kind != static_cast<uint16_t>(trace::AllocationKind::V8Commit)) continue;
        if (allocation.address >= base && allocation.address < base + 8 * kCommitPage) page_commits.push_back(allocation);
        if (allocation.address == large) large_commits.push_back(allocation);
    }
    // The read-execute and read-write flip of page 0 commits nothing new.
    ASSERT_EQ(page_commits.size(), 8u);
    for (size_t i = 0; i < page_commits.size(); ++i) {
        EXPECT_EQ(page_commits[i].address, base + i * kCommitPage);
        EXPECT_EQ(page_commits[i].size, kCommitPage);
        EXPECT_EQ(page_commits[i].flags, 0u);
        EXPECT_EQ(site_of(page_commits[i], run.records, sites), "commit_page");
    }
    ASSERT_EQ(large_commits.size(), 1u);
    EXPECT_EQ(large_commits[0].size, 1024u * 1024);
    EXPECT_EQ(large_commits[0].flags, trace::kAllocationAlways);
    EXPECT_EQ(site_of(large_commits[0], run.records, sites), "map_committed");

    std::set<std::pair<uint64_t, uint64_t>> releases;
    for (const trace::Free& release : run.records.frees) {
        if (release.size > 0) releases.insert({release.address - base, release.size});
    }
    const std::set<std::pair<uint64_t, uint64_t>> expected = {
        {kCommitPage, kCommitPage},                                // madvise(MADV_DONTNEED) of page 1
        {2 * kCommitPage, kCommitPage / 2},                        // mprotect(PROT_NONE) of half of page 2
        {0, kCommitPage},                                          // munmap: page 0
        {2 * kCommitPage + kCommitPage / 2, kCommitPage * 11 / 2},  // munmap: the rest of page 2, pages 3 to 7
        {large - base, 1024 * 1024},                               // munmap of the large mapping
    };
    EXPECT_EQ(releases, expected);
}

}  // namespace

// The libunwind fallback: unwind_sites allocates behind functions built without frame
// pointers and inside signal handlers, in exact mode.
namespace {

const std::string kProgram = ROUTEHEAP_UNWIND_SITES;

SitesRun run_mode(const std::string& mode, TempDir& dir) {
    SitesRun run = run_program_sites(kProgram, {mode}, {{"ROUTEHEAP_SAMPLE_BYTES", "1"}}, dir);
    EXPECT_EQ(run.result.exit_status, 0) << run.result.err;
    EXPECT_EQ(run.result.out, "done\n");
    EXPECT_EQ(run.result.err, "");
    return run;
}

std::vector<std::vector<uint64_t>> stacks_of_size(const StackRecords& records, uint64_t size) {
    std::vector<std::vector<uint64_t>> stacks;
    for (const trace::Allocation& allocation : records.allocations) {
        if (allocation.size != size) continue;
        const auto stack = records.stacks.find(allocation.stack_id);
        EXPECT_NE(stack, records.stacks.end()) << "stack " << allocation.stack_id << " undefined";
        if (stack != records.stacks.end()) stacks.push_back(stack->second);
    }
    return stacks;
}

// Index of the first frame inside `range`, or -1.
int frame_index(const std::vector<uint64_t>& frames, const Range& range) {
    for (size_t i = 0; i < frames.size(); ++i) {
        if (range.contains(frames[i])) return static_cast<int>(i);
    }
    return -1;
}

#if defined(__x86_64__)

TEST(AgentUnwind, CallerOfFramelessFunctionKept) {
    TempDir dir;
    const SitesRun run = run_mode("omit-frame-pointer", dir);
    const auto sites = function_ranges(kProgram, run.records,
                                       {"allocate_without_frame_pointer", "call_through_no_frame_pointer", "main"});
    const auto stacks = stacks_of_size(run.records, 3001);
    ASSERT_EQ(stacks.size(), 100u);
    for (const auto& frames : stacks) {
        ASSERT_GE(frames.size(), 3u);
        EXPECT_EQ(frame_index(frames, sites.at("allocate_without_frame_pointer")), 0);
        // A frame-pointer walk skips this frame, since the frameless function leaves
        // rbp pointing at its caller's caller.
        EXPECT_EQ(frame_index(frames, sites.at("call_through_no_frame_pointer")), 1);
        EXPECT_EQ(frame_index(frames, sites.at("main")), 2);
    }
}

TEST(AgentUnwind, RbpAsRegisterKeepsCallers) {
    TempDir dir;
    const SitesRun run = run_mode("rbp-as-register", dir);
    const auto sites = function_ranges(kProgram, run.records,
                                       {"allocate_with_rbp_as_register", "call_through_rbp_as_register", "main"});
    const auto stacks = stacks_of_size(run.records, 3002);
    ASSERT_EQ(stacks.size(), 100u);
    for (const auto& frames : stacks) {
        ASSERT_GE(frames.size(), 3u);
        EXPECT_EQ(frame_index(frames, sites.at("allocate_with_rbp_as_register")), 0);
        EXPECT_EQ(frame_index(frames, sites.at("call_through_rbp_as_register")), 1);
        EXPECT_EQ(frame_index(frames, sites.at("main")), 2);
    }
}

TEST(AgentUnwind, SignalHandlerReachesSender) {
    TempDir dir;
    const SitesRun run = run_mode("signal", dir);
    const auto sites = function_ranges(kProgram, run.records, {"allocating_handler", "raise_signals", "main"});
    const auto stacks = stacks_of_size(run.records, 3003);
    ASSERT_EQ(stacks.size(), 100u);
    for (const auto& frames : stacks) {
        EXPECT_EQ(frame_index(frames, sites.at("allocating_handler")), 0);
        // Past the signal frame and raise() in libc, to the code that raised it.
        const int sender = frame_index(frames, sites.at("raise_signals"));
        EXPECT_GT(sender, 1);
        EXPECT_GT(frame_index(frames, sites.at("main")), sender);
    }
}

TEST(AgentUnwind, TimerSignalInFramelessCode) {
    TempDir dir;
    const SitesRun run = run_mode("timer", dir);
    const auto sites = function_ranges(kProgram, run.records,
                                       {"allocating_handler", "spin_without_frame_pointer", "spin_under_timer", "main"});
    const auto stacks = stacks_of_size(run.records, 3004);
    ASSERT_GE(stacks.size(), 20u);
    size_t interrupted_frameless = 0;
    for (const auto& frames : stacks) {
        EXPECT_EQ(frame_index(frames, sites.at("allocating_handler")), 0);
        const int spinner = frame_index(frames, sites.at("spin_under_timer"));
        EXPECT_GT(spinner, 0);
        EXPECT_GT(frame_index(frames, sites.at("main")), spinner);
        const int frameless = frame_index(frames, sites.at("spin_without_frame_pointer"));
        if (frameless > 0) {
            ++interrupted_frameless;
            EXPECT_EQ(spinner, frameless + 1);
        }
    }
    // The timer lands in the spinning frameless function nearly every time.
    EXPECT_GT(interrupted_frameless, 0u);
}

#endif

}  // namespace
}  // namespace routeheap::testing
