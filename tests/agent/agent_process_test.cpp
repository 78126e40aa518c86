// Process-level behaviour of the agent: trace files per process, fork, exec, exits,
// kill -9, errno, bootstrap allocations, options and the passive modes.
#include "trace_file.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <thread>

extern char** environ;

namespace routeheap::testing {
namespace {

std::string native(const std::string& name) { return std::string(ROUTEHEAP_NATIVE_DIR) + "/" + name; }

const TraceFile* find_by_pid(const std::vector<TraceFile>& files, uint32_t pid) {
    for (const TraceFile& file : files) {
        if (file.header.pid == pid) return &file;
    }
    return nullptr;
}

// A node program that serves {"ok":true} on 127.0.0.1 and requests it over one keep-alive
// connection, one request after another. `setup` runs before the first request, and the
// program closes client and server once the JavaScript expression `done` is true.
std::string keep_alive_program(const std::string& setup, const std::string& done) {
    return "const http = require('http');"
           "const server = http.createServer((req, res) => res.end('{\"ok\":true}'));"
           "server.listen(0, '127.0.0.1', () => {"
           "  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });"
           "  " + setup +
           "  const next = () => {"
           "    if (" + done + ") { agent.destroy(); server.close(); return; }"
           "    http.get({ host: '127.0.0.1', port: server.address().port, path: '/', agent }, (res) => {"
           "      res.resume();"
           "      res.on('end', next);"
           "    });"
           "  };"
           "  next();"
           "});";
}

// Runs `script` with node under the agent and reads the one trace it writes into `file`.
// Call it inside ASSERT_NO_FATAL_FAILURE.
void run_node_script(const TempDir& dir, const std::string& script,
                     const std::map<std::string, std::string>& environment, TraceFile& file) {
    const RunResult run = run_program({"/usr/bin/node", "-e", script}, environment);
    ASSERT_EQ(run.exit_status, 0) << run.err;
    ASSERT_EQ(dir.traces().size(), 1u);
    file = read_trace(dir.traces().front());
}

TEST(AgentTraceFile, HeaderAndMode) {
    TempDir dir;
    const RunResult run = run_program({native("alloc_totals")}, agent_environment(dir.path()));
    ASSERT_EQ(run.exit_status, 0);
    const std::vector<std::string> traces = dir.traces();
    ASSERT_EQ(traces.size(), 1u);

    struct stat info {};
    ASSERT_EQ(stat(traces.front().c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 07777, 0600u);

    const TraceFile file = read_trace(traces.front());
    ASSERT_TRUE(file.header_ok);
    EXPECT_EQ(traces.front(), dir.path() + "/" + std::to_string(file.header.pid) + ".rhtrace");
    EXPECT_EQ(file.header.version, trace::kFormatVersion);
    EXPECT_EQ(file.header.flags, 0u);
    EXPECT_EQ(file.header.sequence, 0u);
    EXPECT_EQ(file.header.ppid, static_cast<uint32_t>(getpid()));
    EXPECT_EQ(file.header.page_size, static_cast<uint32_t>(sysconf(_SC_PAGESIZE)));
    EXPECT_GT(file.header.start_realtime_ns, 0u);
    EXPECT_EQ(file.exe, native("alloc_totals"));
    EXPECT_EQ(file.cmdline, native("alloc_totals") + std::string(1, '\0'));
    EXPECT_FALSE(file.sequence_gap);
    EXPECT_EQ(file.stop_reason, "");
}

TEST(AgentTraceFile, BinTrueQuiet) {
    TempDir dir;
    const RunResult run = run_program({"/bin/true"}, agent_environment(dir.path()));
    EXPECT_EQ(run.exit_status, 0);
    EXPECT_EQ(run.err, "");
    ASSERT_EQ(dir.traces().size(), 1u);
    EXPECT_TRUE(read_trace(dir.traces().front()).has(trace::RecordType::TraceEnd));
}

TEST(AgentTraceFile, NodeQuiet) {
    if (access("/usr/bin/node", X_OK) != 0) GTEST_SKIP() << "node is not installed at /usr/bin/node";
    TempDir dir;
    const RunResult run = run_program({"/usr/bin/node", "-e", "0"}, agent_environment(dir.path()));
    EXPECT_EQ(run.exit_status, 0);
    EXPECT_EQ(run.err, "");
    ASSERT_EQ(dir.traces().size(), 1u);
    const TraceFile file = read_trace(dir.traces().front());
    EXPECT_EQ(file.stop_reason, "");
    ASSERT_FALSE(file.samples().empty());
    const trace::CounterSample last = file.samples().back();
    EXPECT_GT(last.current.native_allocation_calls, 1000u);
    // V8 commits its heap pages through mprotect/mmap; a running isolate commits megabytes.
    EXPECT_GT(last.v8_committed_peak_bytes, 1 << 20);
}

TEST(AgentTraceFile, NodeBufferCounted) {
    if (access("/usr/bin/node", X_OK) != 0) GTEST_SKIP() << "node is not installed at /usr/bin/node";
    TempDir dir;
    // A 64 MiB Buffer is one calloc in node; it must show in the native peak.
    const RunResult run = run_program(
        {"/usr/bin/node", "-e", "const b = Buffer.alloc(64 * 1024 * 1024, 1); if (b[5] !== 1) process.exit(3);"},
        agent_environment(dir.path()));
    ASSERT_EQ(run.exit_status, 0) << run.err;
    const TraceFile file = read_trace(dir.traces().front());
    int64_t peak = 0;
    for (const trace::CounterSample& sample : file.samples()) peak = std::max(peak, sample.native_live_peak_bytes);
    EXPECT_GE(peak, 64 << 20);
}

TEST(AgentProcesses, ForkGivesChildItsOwnTrace) {
    TempDir dir;
    const RunResult run = run_program({native("fork_child")}, agent_environment(dir.path()));
    ASSERT_EQ(run.exit_status, 0) << run.err;
    EXPECT_EQ(run.err, "");
    ASSERT_EQ(dir.traces().size(), 2u);

    std::vector<TraceFile> files;
    for (const std::string& path : dir.traces()) files.push_back(read_trace(path));
    const uint32_t child_pid = static_cast<uint32_t>(std::stoul(run.out.substr(run.out.find('=') + 1)));
    const TraceFile* child = find_by_pid(files, child_pid);
    ASSERT_NE(child, nullptr);
    const TraceFile* parent = find_by_pid(files, child->header.ppid);
    ASSERT_NE(parent, nullptr);

    EXPECT_EQ(child->header.flags, trace::kFileForkedChild);
    EXPECT_EQ(parent->header.flags, 0u);
    const std::vector<TraceRecord> forks = parent->of_type(trace::RecordType::ProcessFork);
    ASSERT_EQ(forks.size(), 1u);
    EXPECT_EQ(forks.front().as<trace::ProcessFork>().child_pid, child_pid);

    // Totals restart in the child; live bytes carry the inherited 1 MiB block.
    const trace::CounterSample child_last = child->samples().back();
    EXPECT_EQ(child_last.current.native_allocated_total, 300000u);
    EXPECT_EQ(child_last.current.native_allocation_calls, 3u);
    EXPECT_EQ(child_last.current.native_live_bytes, (1 << 20) + 300000);
    EXPECT_TRUE(child->has(trace::RecordType::TraceEnd));

    const trace::CounterSample parent_last = parent->samples().back();
    EXPECT_EQ(parent_last.current.native_allocated_total, (1u << 20) + 2000u + 0u);
    EXPECT_EQ(parent_last.current.native_live_bytes, (1 << 20) + 2000);
}

TEST(AgentProcesses, ExecContinuesInNumberedTrace) {
    TempDir dir;
    const RunResult run = run_program({native("exec_chain")}, agent_environment(dir.path()));
    ASSERT_EQ(run.exit_status, 0) << run.err;
    EXPECT_EQ(run.err, "");
    const std::vector<std::string> traces = dir.traces();
    ASSERT_EQ(traces.size(), 2u);

    const TraceFile first = read_trace(traces[0]);
    const TraceFile second = read_trace(traces[1]);
    const std::string pid = std::to_string(first.header.pid);
    EXPECT_EQ(traces[0], dir.path() + "/" + pid + ".1.rhtrace");
    EXPECT_EQ(traces[1], dir.path() + "/" + pid + ".rhtrace");

    // Sorted by name, "<pid>.1.rhtrace" comes first: it is the image after exec.
    EXPECT_EQ(first.header.flags, trace::kFileAfterExec);
    EXPECT_EQ(first.header.sequence, 1u);
    EXPECT_EQ(first.samples().back().current.native_allocated_total, 3000u);
    EXPECT_TRUE(first.has(trace::RecordType::TraceEnd));

    EXPECT_EQ(second.header.sequence, 0u);
    const std::vector<TraceRecord> execs = second.of_type(trace::RecordType::ProcessExec);
    ASSERT_EQ(execs.size(), 1u);
    EXPECT_EQ(execs.front().tail(sizeof(trace::ProcessExec)), native("exec_chain"));
    EXPECT_EQ(second.samples().back().current.native_allocated_total, 1000u);
    EXPECT_EQ(second.records.back().type, trace::RecordType::ProcessExec);
}

TEST(AgentProcesses, KillNineLeavesReadableTrace) {
    TempDir dir;
    std::map<std::string, std::string> environment = agent_environment(dir.path());
    environment["ROUTEHEAP_FLUSH_MS"] = "10";
    environment["ROUTEHEAP_IDLE_SAMPLE_MS"] = "5";
    std::vector<std::string> entries;
    for (char** variable = environ; *variable != nullptr; ++variable) entries.emplace_back(*variable);
    for (const auto& [name, value] : environment) entries.push_back(name + "=" + value);
    std::vector<char*> env_pointers;
    for (std::string& entry : entries) env_pointers.push_back(entry.data());
    env_pointers.push_back(nullptr);
    std::string program = native("sleep_alloc");
    std::string seconds = "30";
    char* argv[] = {program.data(), seconds.data(), nullptr};

    int out_pipe[2];
    ASSERT_EQ(pipe(out_pipe), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    pid_t pid = 0;
    ASSERT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv, env_pointers.data()), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(out_pipe[1]);
    char ready[6] = {};
    ASSERT_EQ(read(out_pipe[0], ready, sizeof(ready)), 6);
    close(out_pipe[0]);
    // Let the writer thread flush a few times, then kill without warning.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status));

    ASSERT_EQ(dir.traces().size(), 1u);
    const TraceFile file = read_trace(dir.traces().front());
    ASSERT_TRUE(file.header_ok);
    EXPECT_EQ(file.stop_reason, "");
    EXPECT_FALSE(file.sequence_gap);
    EXPECT_FALSE(file.has(trace::RecordType::TraceEnd));
    EXPECT_FALSE(file.has(trace::RecordType::ProcessExit));
    ASSERT_FALSE(file.samples().empty());
    EXPECT_GE(file.samples().back().current.native_live_bytes, 8 << 20);
    EXPECT_EQ(file.samples().back().reason, static_cast<uint16_t>(trace::SampleReason::Periodic));
}

TEST(AgentProcesses, VforkChildLeavesParentTraceAlone) {
    TempDir dir;
    // dash runs the first command through vfork + execve; the child shares the
    // parent's memory, including the agent's state.
    const RunResult run = run_program({"/bin/sh", "-c", "/bin/true; :"}, agent_environment(dir.path()));
    ASSERT_EQ(run.exit_status, 0);
    EXPECT_EQ(run.err, "");
    const std::vector<std::string> traces = dir.traces();
    ASSERT_EQ(traces.size(), 2u);
    for (const std::string& path : traces) {
        const TraceFile file = read_trace(path);
        EXPECT_EQ(file.header.flags, 0u) << path;
        EXPECT_EQ(file.header.sequence, 0u) << path;
        EXPECT_FALSE(file.has(trace::RecordType::ProcessExec)) << path;
        ASSERT_FALSE(file.records.empty()) << path;
        EXPECT_EQ(file.records.back().type, trace::RecordType::TraceEnd) << path;
        EXPECT_EQ(file.of_type(trace::RecordType::TraceEnd).size(), 1u) << path;
    }
}

TEST(AgentProcesses, NodeSpawnAndWorkers) {
    if (access("/usr/bin/node", X_OK) != 0) GTEST_SKIP() << "node is not installed at /usr/bin/node";
    TempDir dir;
    const char* script =
        "const cp = require('child_process');"
        "for (let i = 0; i < 3; i++) cp.execSync('/bin/true');"
        "const { Worker } = require('worker_threads');"
        "let started = 0;"
        "function next() {"
        "  if (started++ >= 6) return;"
        "  const w = new Worker('const a = []; for (let i = 0; i < 500; i++) a.push(Buffer.alloc(10000));',"
        "                       { eval: true });"
        "  w.on('exit', next);"
        "}"
        "next();";
    const RunResult run = run_program({"/usr/bin/node", "-e", script}, agent_environment(dir.path()));
    ASSERT_EQ(run.exit_status, 0) << run.err;
    EXPECT_EQ(run.err, "");
    // node, and per execSync one /bin/sh and one /bin/true.
    const std::vector<std::string> traces = dir.traces();
    EXPECT_EQ(traces.size(), 7u);
    for (const std::string& path : traces) {
        const TraceFile file = read_trace(path);
        EXPECT_EQ(file.stop_reason, "") << path;
        EXPECT_TRUE(file.has(trace::RecordType::TraceEnd)) << path;
    }
}

// Short keep-alive requests back to back take counter samples of their own, which are points
// of the memory timeline. The writer thread then takes no periodic sample in most intervals of
// ROUTEHEAP_SAMPLE_MS, because it sleeps until its next flush. The server and its client share
// one node process on 127.0.0.1. SampleSchedule's unit tests check the choice of interval
// exactly; this test checks that the writer follows it in a real process.
TEST(AgentProcesses, KeepAliveRequestsSpareWriterWakeUps) {
    if (access("/usr/bin/node", X_OK) != 0) GTEST_SKIP() << "node is not installed at /usr/bin/node";
    TempDir dir;
    const std::string script = keep_alive_program("const until = Date.now() + 600;", "Date.now() >= until");
    std::map<std::string, std::string> environment = agent_environment(dir.path());
    environment["ROUTEHEAP_SAMPLE_MS"] = "10";
    environment["ROUTEHEAP_IDLE_SAMPLE_MS"] = "1000";
    environment["ROUTEHEAP_FLUSH_MS"] = "50";
    TraceFile file;
    ASSERT_NO_FATAL_FAILURE(run_node_script(dir, script, environment, file));

    uint64_t first_start = UINT64_MAX;
    uint64_t last_end = 0;
    size_t requests = 0;
    for (const trace::CounterSample& sample : file.samples()) {
        if (sample.reason == static_cast<uint16_t>(trace::SampleReason::RequestStart)) {
            first_start = std::min(first_start, sample.time_ns);
            ++requests;
        }
        if (sample.reason == static_cast<uint16_t>(trace::SampleReason::RequestEnd)) {
            last_end = std::max(last_end, sample.time_ns);
        }
    }
    ASSERT_GE(requests, 100u);
    ASSERT_GT(last_end, first_start);
    // The 10 ms intervals in which a request started: a loaded machine may stall the whole
    // process, and then no request starts and a periodic sample may be due.
    constexpr uint64_t kInterval = 10'000'000;
    std::set<uint64_t> busy_intervals;
    size_t periodic = 0;
    for (const trace::CounterSample& sample : file.samples()) {
        if (sample.time_ns < first_start || sample.time_ns > last_end) continue;
        if (sample.reason == static_cast<uint16_t>(trace::SampleReason::RequestStart)) {
            busy_intervals.insert((sample.time_ns - first_start) / kInterval);
        }
        if (sample.reason == static_cast<uint16_t>(trace::SampleReason::Periodic)) ++periodic;
    }
    // About one periodic sample per 50 ms flush at most, a fifth of the intervals; half of them
    // leaves room for stalls. A writer that samples every interval takes one in each.
    ASSERT_GE(busy_intervals.size(), 10u);
    EXPECT_LE(periodic * 2, busy_intervals.size())
        << periodic << " periodic samples in " << (last_end - first_start) / 1'000'000 << " ms of " << requests
        << " requests, " << busy_intervals.size() << " intervals of 10 ms with a request start";
}

// A request that computes for 300 ms without socket I/O takes no samples in between, so the
// writer thread samples every ROUTEHEAP_SAMPLE_MS once the last request sample is that old.
TEST(AgentProcesses, LongRequestGetsPeriodicSamples) {
    if (access("/usr/bin/node", X_OK) != 0) GTEST_SKIP() << "node is not installed at /usr/bin/node";
    TempDir dir;
    const char* script =
        "const http = require('http');"
        "const server = http.createServer((req, res) => {"
        "  const until = Date.now() + 300;"
        "  while (Date.now() < until) {}"
        "  res.end('done');"
        "});"
        "server.listen(0, '127.0.0.1', () => {"
        "  http.get({ host: '127.0.0.1', port: server.address().port, path: '/slow' }, (res) => {"
        "    res.resume();"
        "    res.on('end', () => server.close());"
        "  });"
        "});";
    std::map<std::string, std::string> environment = agent_environment(dir.path());
    environment["ROUTEHEAP_SAMPLE_MS"] = "10";
    environment["ROUTEHEAP_FLUSH_MS"] = "50";
    TraceFile file;
    ASSERT_NO_FATAL_FAILURE(run_node_script(dir, script, environment, file));

    uint64_t start = 0;
    uint64_t end = 0;
    for (const trace::CounterSample& sample : file.samples()) {
        if (sample.reason == static_cast<uint16_t>(trace::SampleReason::RequestStart)) start = sample.time_ns;
        if (sample.reason == static_cast<uint16_t>(trace::SampleReason::RequestEnd)) end = sample.time_ns;
    }
    ASSERT_GT(end, start);
    ASSERT_GE(end - start, 300'000'000u);
    size_t periodic = 0;
    for (const trace::CounterSample& sample : file.samples()) {
        if (sample.reason == static_cast<uint16_t>(trace::SampleReason::Periodic) && sample.time_ns > start &&
            sample.time_ns < end) {
            ++periodic;
        }
    }
    // 20 or more at 10 ms after one to two 50 ms flushes. Eight leaves room for a loaded
    // machine that wakes the writer late.
    EXPECT_GE(periodic, 8u) << periodic << " periodic samples in a request of " << (end - start) / 1'000'000 << " ms";
}

// Request records go to the ring without waiting for room, so the writer must drain a ring
// before it fills. With a flush interval of a minute, it drains this one only when a push wakes
// it. 4,000 requests make about 1 MB of records for a 256 KiB ring. The push that passes half
// the ring must wake it, which leaves it about 500 requests, tens of milliseconds, to respond.
// If only a full ring's rejected push woke it, some records would be dropped.
TEST(AgentProcesses, HalfFullRingWakesWriter) {
    if (access("/usr/bin/node", X_OK) != 0) GTEST_SKIP() << "node is not installed at /usr/bin/node";
    TempDir dir;
    const std::string script = keep_alive_program("let left = 4000;", "left-- === 0");
    std::map<std::string, std::string> environment = agent_environment(dir.path());
    environment["ROUTEHEAP_BUFFER_KB"] = "256";
    environment["ROUTEHEAP_FLUSH_MS"] = "60000";
    // No allocation samples, whose pushes would wake the writer too.
    environment["ROUTEHEAP_SAMPLE_BYTES"] = "1099511627776";
    environment["ROUTEHEAP_ALWAYS_BYTES"] = "1099511627776";
    TraceFile file;
    ASSERT_NO_FATAL_FAILURE(run_node_script(dir, script, environment, file));

    const auto end = file.of_type(trace::RecordType::TraceEnd);
    ASSERT_EQ(end.size(), 1u);
    EXPECT_EQ(end.front().as<trace::TraceEnd>().dropped_records, 0u);
    size_t requests = 0;
    for (const trace::CounterSample& sample : file.samples()) {
        if (sample.reason == static_cast<uint16_t>(trace::SampleReason::RequestEnd)) ++requests;
    }
    EXPECT_EQ(requests, 4000u);
}

TEST(AgentTraceFile, SurvivesCloseRange) {
    TempDir dir;
    const std::string host_file = dir.path() + "/host-file.txt";
    const RunResult run = run_program({native("close_fds"), host_file}, agent_environment(dir.path()));
    ASSERT_EQ(run.exit_status, 0) << run.err;
    EXPECT_EQ(run.out, "host file size=0\n");
    ASSERT_EQ(dir.traces().size(), 1u);
    const TraceFile file = read_trace(dir.traces().front());
    EXPECT_EQ(file.stop_reason, "");
    EXPECT_FALSE(file.sequence_gap);
    ASSERT_FALSE(file.records.empty());
    EXPECT_EQ(file.records.back().type, trace::RecordType::TraceEnd);
    EXPECT_EQ(file.samples().back().current.native_live_bytes, 6000);
    EXPECT_GT(file.samples().back().current.rss_bytes, 0);
}

TEST(AgentHooks, ErrnoAndResultsUnchanged) {
    TempDir dir;
    const RunResult plain = run_program({native("errno_check")}, {});
    const RunResult traced = run_program({native("errno_check")}, agent_environment(dir.path()));
    ASSERT_EQ(plain.exit_status, 0);
    EXPECT_EQ(traced.exit_status, 0);
    EXPECT_NE(plain.out.find("malloc ok errno=4242"), std::string::npos);
    EXPECT_EQ(traced.out, plain.out);
    EXPECT_EQ(traced.err, "");
}

TEST(AgentHooks, DlsymBootstrap) {
    TempDir dir;
    const RunResult run = run_program({native("dlsym_bootstrap")}, agent_environment(dir.path()));
    EXPECT_EQ(run.exit_status, 0);
    EXPECT_EQ(run.out, "error names the symbol\n");
    EXPECT_EQ(run.err, "");
}

TEST(AgentModes, DlopenStaysPassive) {
    TempDir dir;
    std::map<std::string, std::string> environment = {{"ROUTEHEAP_OUTPUT_DIR", dir.path()}};
    const RunResult run = run_program({native("dlopen_agent"), ROUTEHEAP_AGENT_PATH}, environment);
    EXPECT_EQ(run.exit_status, 0);
    EXPECT_EQ(run.out, "ran\n");
    EXPECT_NE(run.err.find("loaded with dlopen, not LD_PRELOAD"), std::string::npos) << run.err;
    EXPECT_TRUE(dir.traces().empty());
}

TEST(AgentModes, UnwritableOutputDirLogsOnce) {
    std::map<std::string, std::string> environment = agent_environment("/proc/routeheap-no-such-folder");
    const RunResult run = run_program({native("alloc_totals")}, environment);
    EXPECT_EQ(run.exit_status, 0);
    EXPECT_NE(run.err.find("routeheap["), std::string::npos);
    EXPECT_NE(run.err.find("cannot create the trace file /proc/routeheap-no-such-folder/"), std::string::npos)
        << run.err;
    EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << "expected exactly one line: " << run.err;
}

TEST(AgentModes, MissingOutputDirLogsOnce) {
    const RunResult run = run_program({native("alloc_totals")}, {{"LD_PRELOAD", ROUTEHEAP_AGENT_PATH},
                                                                 {"ROUTEHEAP_OUTPUT_DIR", ""}});
    EXPECT_EQ(run.exit_status, 0);
    EXPECT_NE(run.err.find("ROUTEHEAP_OUTPUT_DIR is not set"), std::string::npos) << run.err;
}

TEST(AgentModes, DisableRecordsNothing) {
    TempDir dir;
    std::map<std::string, std::string> environment = agent_environment(dir.path());
    environment["ROUTEHEAP_DISABLE"] = "1";
    const RunResult run = run_program({native("alloc_totals")}, environment);
    EXPECT_EQ(run.exit_status, 0);
    EXPECT_EQ(run.err, "");
    EXPECT_TRUE(dir.traces().empty());
}

TEST(AgentModes, InvalidOptionNamesValueAndDefault) {
    TempDir dir;
    std::map<std::string, std::string> environment = agent_environment(dir.path());
    environment["ROUTEHEAP_SAMPLE_MS"] = "fast";
    const RunResult run = run_program({native("alloc_totals")}, environment);
    EXPECT_EQ(run.exit_status, 0);
    EXPECT_NE(run.err.find("invalid ROUTEHEAP_SAMPLE_MS=\"fast\""), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("using the default 10"), std::string::npos) << run.err;
    // The agent still records with the default.
    ASSERT_EQ(dir.traces().size(), 1u);
    const TraceFile file = read_trace(dir.traces().front());
    EXPECT_TRUE(file.has(trace::RecordType::AgentLog));
}

TEST(AgentModes, QuietSuppressesStderr) {
    TempDir dir;
    std::map<std::string, std::string> environment = agent_environment(dir.path());
    environment["ROUTEHEAP_SAMPLE_MS"] = "0";
    environment["ROUTEHEAP_QUIET"] = "1";
    const RunResult run = run_program({native("alloc_totals")}, environment);
    EXPECT_EQ(run.exit_status, 0);
    EXPECT_EQ(run.err, "");
}

}  // namespace
}  // namespace routeheap::testing
