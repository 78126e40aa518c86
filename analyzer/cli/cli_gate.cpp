// `routeheap gate`: runs a server under the agent, replays a request list at it, and
// judges every route's memory against a budget and a baseline, for CI.
#include "agent_locator.h"
#include "child_process.h"
#include "cli.h"
#include "cli_gate_replay.h"
#include "cli_gate_server.h"
#include "session_folder.h"

#include <routeheap/analysis/analysis.h>
#include <routeheap/analysis/gate.h>
#include <routeheap/analysis/reader.h>
#include <routeheap/analysis/report.h>
#include <routeheap/analysis/session.h>

#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <thread>

namespace routeheap::cli {

namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;
using namespace routeheap::analysis;

constexpr const char* kSubcommand = "gate";
constexpr const char* kUsage =
    "usage: routeheap gate --requests FILE --budget FILE [OPTIONS] -- CMD ARGS... (see routeheap gate --help)";
constexpr int kExitBudget = 1;
constexpr int kExitSetup = 2;
// After a failed transfer, wait up to this many 100 ms polls for the server to exit.
constexpr int kCrashWaitPolls = 30;

struct GateCommandOptions {
    std::string requests;
    std::string budget;
    std::string baseline;
    std::string tolerance = "10%";
    std::string tolerance_floor = "1 MiB";
    std::string write_baseline;
    int repeat = 5;
    int warmup = 1;
    int concurrency = 1;
    int port = 0;
    double start_timeout = 30;
    double request_timeout = 120;
    double stop_timeout = 10;
    bool json = false;
    std::string markdown;
    std::string junit;
    std::string output;
};

po::options_description gate_options(GateCommandOptions& options) {
    po::options_description description("options");
    description.add_options()
        ("help,h", "print this help")
        ("requests", po::value(&options.requests)->value_name("FILE"), "request list to replay (JSON; required)")
        ("budget", po::value(&options.budget)->value_name("FILE"), "per-route memory budget (JSON; required)")
        ("baseline", po::value(&options.baseline)->value_name("FILE"),
         "baseline written by --write-baseline: fail when a route's p95 peak growth regresses beyond the tolerance")
        ("tolerance", po::value(&options.tolerance)->default_value("10%")->value_name("PCT"),
         "allowed regression over the baseline's p95 peak growth, in percent")
        ("tolerance-floor", po::value(&options.tolerance_floor)->default_value("1 MiB")->value_name("SIZE"),
         "smallest allowed regression over the baseline, in bytes or with a unit (\"1 MiB\")")
        ("write-baseline", po::value(&options.write_baseline)->value_name("FILE"),
         "store this run's per-route statistics in FILE (replaced if it exists)")
        ("repeat", po::value(&options.repeat)->default_value(5)->value_name("N"), "judged rounds over the request list (1-1000)")
        ("warmup", po::value(&options.warmup)->default_value(1)->value_name("N"),
         "rounds sent before the judged ones and not judged (0-1000)")
        ("concurrency", po::value(&options.concurrency)->default_value(1)->value_name("C"),
         "requests in flight at once (1-256); above 1, overlapping requests share their peak growth")
        ("port", po::value(&options.port)->value_name("P"),
         "port the server listens on at 127.0.0.1 (default: the first port it prints)")
        ("start-timeout", po::value(&options.start_timeout)->default_value(30)->value_name("SEC"),
         "seconds to wait for the server to accept connections")
        ("request-timeout", po::value(&options.request_timeout)->default_value(120)->value_name("SEC"),
         "seconds one request may take")
        ("stop-timeout", po::value(&options.stop_timeout)->default_value(10)->value_name("SEC"),
         "seconds between SIGTERM and SIGKILL when stopping the server")
        ("json", po::bool_switch(&options.json), "print the verdict as JSON (schema routeheap.gate/1) instead of a table")
        ("markdown", po::value(&options.markdown)->value_name("FILE"),
         "also write a Markdown summary to FILE (for $GITHUB_STEP_SUMMARY)")
        ("junit", po::value(&options.junit)->value_name("FILE"), "also write JUnit XML to FILE, one test case per route")
        ("output,o", po::value(&options.output)->value_name("DIR"),
         "keep the recorded session in DIR (new or empty) for routeheap report (default: a temporary folder, removed)");
    return description;
}

void print_gate_help(const po::options_description& description) {
    print_help(
        "usage: routeheap gate --requests FILE --budget FILE [OPTIONS] -- CMD ARGS...",
        "Runs CMD under the routeheap agent like `routeheap record`, waits until it accepts\n"
        "connections on 127.0.0.1, replays the request list (--warmup rounds first, not judged,\n"
        "then --repeat judged rounds), stops CMD with SIGTERM (SIGKILL after --stop-timeout),\n"
        "and judges each route's p50/p95 peak heap growth, retained growth and findings against\n"
        "the budget and an optional baseline. Prints a table (or JSON) to stdout.",
        description,
        "\nexit status: 0 when every route is within budget, 1 when a budget, a baseline, an\n"
        "expected status or a failing finding was broken (or the server crashed during the\n"
        "replay), 2 for an invalid command line or input file, or a server that could not be\n"
        "started or never accepted connections.\n"
        "\nThe request list and budget formats are described in docs/cli.md and docs/ci.md.\n");
}

uint64_t monotonic_now_ns() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(now.tv_nsec);
}

std::chrono::milliseconds seconds_option(double seconds) {
    return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// Checks the numeric options; returns an error message or "".
std::string check_ranges(const GateCommandOptions& options, const po::variables_map& values) {
    if (options.repeat < 1 || options.repeat > 1000) return "invalid --repeat " + std::to_string(options.repeat) + "; use 1 to 1000";
    if (options.warmup < 0 || options.warmup > 1000) return "invalid --warmup " + std::to_string(options.warmup) + "; use 0 to 1000";
    if (options.concurrency < 1 || options.concurrency > 256) {
        return "invalid --concurrency " + std::to_string(options.concurrency) + "; use 1 to 256";
    }
    if (values.count("port") != 0 && (options.port < 1 || options.port > 65535)) {
        return "invalid --port " + std::to_string(options.port) + "; use 1 to 65535";
    }
    for (const auto& [name, value] : {std::pair{"--start-timeout", options.start_timeout},
                                      std::pair{"--request-timeout", options.request_timeout},
                                      std::pair{"--stop-timeout", options.stop_timeout}}) {
        if (!(value > 0) || value > 86400) return std::string("invalid ") + name + " " + std::to_string(value) + "; use seconds from 0.1 to 86400";
    }
    if (!parse_tolerance(options.tolerance)) return "invalid --tolerance '" + options.tolerance + "'; use a percentage such as 10%";
    if (!parse_byte_size(options.tolerance_floor)) {
        return "invalid --tolerance-floor '" + options.tolerance_floor + "'; use bytes or a size such as \"1 MiB\"";
    }
    return "";
}

// The inputs, read before the server starts so a typo costs no server start.
struct GateInputs {
    std::vector<ReplayRequest> requests;
    Budget budget;
    GateOptions judging;
};

GateInputs load_inputs(const GateCommandOptions& options) {
    GateInputs inputs{load_request_list(options.requests), load_budget(options.budget), {}};
    if (!options.baseline.empty()) inputs.judging.baseline = load_baseline(options.baseline);
    inputs.judging.tolerance = *parse_tolerance(options.tolerance);
    inputs.judging.tolerance_floor_bytes = *parse_byte_size(options.tolerance_floor);
    return inputs;
}

// A session folder for the run: --output, or a temporary one removed when the run ends.
class RunFolder {
public:
    explicit RunFolder(const std::string& output) {
        if (!output.empty()) {
            path_ = prepare_session_folder(output);
            return;
        }
        const char* tmpdir = std::getenv("TMPDIR");
        std::string pattern = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") + "/routeheap-gate-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw SessionFolderError("cannot create a temporary session folder " + pattern + ": " + std::strerror(errno));
        }
        path_ = pattern;
        temporary_ = true;
    }
    RunFolder(const RunFolder&) = delete;
    RunFolder& operator=(const RunFolder&) = delete;
    ~RunFolder() {
        std::error_code error;
        if (temporary_) fs::remove_all(path_, error);
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
    bool temporary_ = false;
};

std::vector<ReplayItem> rounds(const std::vector<ReplayRequest>& requests, int count, bool warmup) {
    std::vector<ReplayItem> items;
    for (int round = 0; round < count; ++round) {
        for (const ReplayRequest& request : requests) items.push_back({&request, warmup});
    }
    return items;
}

// The record of the server's run: the client's outcomes, the start of the judged rounds,
// and the failures outside any route.
struct RunRecord {
    std::vector<ReplayOutcome> outcomes;
    uint64_t judged_from_ns = 0;
    uint16_t port = 0;
    std::vector<std::string> errors;
    std::vector<std::string> warnings;
};

void replay(GateServer& server, const GateInputs& inputs, const GateCommandOptions& options, RunRecord& run) {
    const auto alive = [&server] { return !server.exited(); };
    const auto timeout = seconds_option(options.request_timeout);
    const auto concurrency = static_cast<unsigned>(options.concurrency);

    run.outcomes = replay_requests(rounds(inputs.requests, options.warmup, true), run.port, concurrency, timeout, alive);
    for (const ReplayOutcome& outcome : run.outcomes) {
        if (!outcome.error.empty() || outcome.status != outcome.expect_status) {
            run.warnings.push_back("warm-up " + outcome.method + " " + outcome.path + ": " +
                                   (outcome.error.empty() ? "got status " + std::to_string(outcome.status) + ", expected " +
                                                                std::to_string(outcome.expect_status)
                                                          : outcome.error));
        }
    }
    run.judged_from_ns = monotonic_now_ns();
    if (alive()) {
        const auto judged = replay_requests(rounds(inputs.requests, options.repeat, false), run.port, concurrency, timeout, alive);
        run.outcomes.insert(run.outcomes.end(), judged.begin(), judged.end());
    }

    // A transfer error may mean the server is dying: give it time to exit (its agent
    // flushes the trace first) so the crash is reported as such.
    const bool transfer_failed = std::any_of(run.outcomes.begin(), run.outcomes.end(),
                                             [](const ReplayOutcome& outcome) { return !outcome.error.empty(); });
    for (int i = 0; transfer_failed && i < kCrashWaitPolls && alive(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }

    if (const auto end = server.exited()) {
        const size_t planned = inputs.requests.size() * static_cast<size_t>(options.warmup + options.repeat);
        std::string last = run.outcomes.empty() ? "none" : run.outcomes.back().method + " " + run.outcomes.back().path;
        run.errors.push_back("the server '" + server.command_line() + "' " + describe_exit(*end) + " during the replay, after " +
                             std::to_string(run.outcomes.size()) + " of " + std::to_string(planned) +
                             " requests (the last one sent: " + last + "); its last output:\n" + server.last_output(20));
    }
}

void stop_server(GateServer& server, const GateCommandOptions& options, RunRecord& run) {
    if (server.exited()) return;
    bool killed = false;
    server.stop(seconds_option(options.stop_timeout), killed);
    if (killed) {
        run.warnings.push_back("the server did not exit within " + std::to_string(static_cast<int>(options.stop_timeout)) +
                               " s of SIGTERM and was killed with SIGKILL, so its trace may miss the last records");
    }
}

nlohmann::json run_description(const GateCommandOptions& options, const std::vector<std::string>& command, uint16_t port) {
    return {{"command", command},
            {"requests", options.requests},
            {"budget", options.budget},
            {"baseline", options.baseline.empty() ? nlohmann::json(nullptr) : nlohmann::json(options.baseline)},
            {"tolerance", options.tolerance},
            {"repeat", options.repeat},
            {"warmup", options.warmup},
            {"concurrency", options.concurrency},
            {"port", port}};
}

// The pid and start time of each traced process, read from the trace headers, so that
// their perf maps can be copied into the session for symbolizing JS frames.
std::map<uint32_t, uint64_t> traced_process_starts(const std::filesystem::path& folder) {
    std::map<uint32_t, uint64_t> starts;
    for (const std::filesystem::path& trace : find_traces(folder)) {
        try {
            TraceReader reader(trace);
            if (!reader.load_header(true)) continue;
            const TraceHeader& header = *reader.header();
            auto [it, inserted] = starts.try_emplace(header.pid.value, header.start_realtime_ns);
            if (!inserted) it->second = std::min(it->second, header.start_realtime_ns);
        } catch (const TraceError&) {
            // An unreadable trace is reported by the analysis below.
        }
    }
    return starts;
}

// Writes the outputs; returns false after printing why one could not be written.
bool write_outputs(const GateReport& report, const GateCommandOptions& options) {
    const std::string main_output = options.json ? render_gate_json(report).dump(2) + "\n" : render_gate_table(report);
    bool written = write_output(kSubcommand, main_output, "") == 0;
    if (!options.markdown.empty()) written &= write_output(kSubcommand, render_gate_markdown(report), options.markdown) == 0;
    if (!options.junit.empty()) written &= write_output(kSubcommand, render_gate_junit(report), options.junit) == 0;
    if (!options.write_baseline.empty()) {
        written &= write_output(kSubcommand, render_gate_baseline(report).dump(2) + "\n", options.write_baseline) == 0;
    }
    return written;
}

int run_gate_with(const GateCommandOptions& options, const std::vector<std::string>& command) {
    GateInputs inputs;
    try {
        inputs = load_inputs(options);
    } catch (const GateInputError& error) {
        failure(kSubcommand, error.what());
        return kExitSetup;
    }

    RunRecord run;
    std::optional<RunFolder> folder;
    try {
        const fs::path agent = locate_agent();
        folder.emplace(options.output);
        install_signal_forwarding();
        GateServer server(command, agent, folder->path());
        std::optional<uint16_t> port;
        if (options.port != 0) port = static_cast<uint16_t>(options.port);
        run.port = server.wait_until_ready(port, seconds_option(options.start_timeout));
        std::cerr << "routeheap gate: " << server.command_line() << " is ready on 127.0.0.1:" << run.port << "; replaying "
                  << count_of(inputs.requests.size(), "request", "requests") << " x (" << options.warmup << " warm-up + "
                  << options.repeat << " judged)" << std::endl;
        replay(server, inputs, options, run);
        stop_server(server, options, run);
        copy_perf_maps(traced_process_starts(folder->path()), folder->path(), "routeheap gate");
    } catch (const CommandNotStarted& error) {
        failure(kSubcommand, error.what());
        return kExitSetup;
    } catch (const std::exception& error) {
        // AgentNotFound, SessionFolderError, GateSetupError, ReplayError
        failure(kSubcommand, error.what());
        return kExitSetup;
    }

    GateReport report;
    try {
        const SessionAnalysis analysis = analyze_session(open_session(folder->path()));
        report = judge_gate(collect_gate_requests(analysis, run.judged_from_ns), run.outcomes, inputs.budget, inputs.judging);
    } catch (const std::exception& error) {
        // SessionError or TraceError: no trace, so the agent did not load into the server.
        failure(kSubcommand, std::string(error.what()) + "; check that the server loads the agent (ROUTEHEAP_AGENT, " +
                                 "no static linking, ROUTEHEAP_DISABLE unset)");
        return kExitSetup;
    }
    report.run = run_description(options, command, run.port);
    report.errors.insert(report.errors.end(), run.errors.begin(), run.errors.end());
    report.warnings.insert(report.warnings.begin(), run.warnings.begin(), run.warnings.end());
    if (!report.errors.empty()) report.passed = false;

    if (!write_outputs(report, options)) return kExitSetup;
    if (!options.output.empty()) std::cerr << "session: " << folder->path().string() << std::endl;
    return report.passed ? 0 : kExitBudget;
}

}  // namespace

int run_gate(const std::vector<std::string>& arguments) {
    GateCommandOptions options;
    const po::options_description description = gate_options(options);
    const auto separator = std::find(arguments.begin(), arguments.end(), "--");
    const std::vector<std::string> own(arguments.begin(), separator);
    const std::vector<std::string> command(separator == arguments.end() ? separator : separator + 1, arguments.end());

    po::variables_map values;
    try {
        po::store(po::command_line_parser(own).options(description).run(), values);
        po::notify(values);
    } catch (const po::error& error) {
        return usage_error(kSubcommand, error.what(), kUsage);
    }
    if (values.count("help") != 0) {
        print_gate_help(description);
        return 0;
    }
    if (options.requests.empty()) return usage_error(kSubcommand, "missing --requests FILE (the request list)", kUsage);
    if (options.budget.empty()) return usage_error(kSubcommand, "missing --budget FILE (the memory budget)", kUsage);
    if (command.empty()) return usage_error(kSubcommand, "missing the server command after --, such as -- node server.js", kUsage);
    if (const std::string problem = check_ranges(options, values); !problem.empty()) {
        return usage_error(kSubcommand, problem, kUsage);
    }
    return run_gate_with(options, command);
}

}  // namespace routeheap::cli
