// `routeheap record -- CMD ARGS...`: runs a command under the agent, prints one line
// per finished request while it runs, and leaves a session folder.
#include "agent_locator.h"
#include "child_process.h"
#include "cli.h"
#include "live_tail.h"
#include "session_folder.h"

#include <routeheap/analysis/report.h>
#include <routeheap/analysis/session.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

namespace routeheap::cli {

namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;

constexpr const char* kSubcommand = "record";
constexpr const char* kUsage =
    "usage: routeheap record [--output DIR] [--quiet] -- CMD ARGS... (see routeheap record --help)";
constexpr long kPollIntervalMs = 100;
// After the command exits, wait this long for other traced processes to close their traces.
constexpr int kFinalWaitPolls = 20;

struct RecordOptions {
    std::string output;
    bool quiet = false;
    std::vector<std::string> command;
};

po::options_description record_options(RecordOptions& options) {
    po::options_description description("options");
    description.add_options()
        ("help,h", "print this help")
        ("output,o", po::value(&options.output)->value_name("DIR"),
         "session folder, set to mode 0700: a new folder or an empty one (default: "
         "routeheap-YYYYMMDD-HHMMSS in the current folder, with -2, -3, ... added when that exists)")
        ("quiet,q", po::bool_switch(&options.quiet), "do not print a line per finished request");
    return description;
}

// True when the option `argument` takes the next argument as its value, as in
// "--output DIR", "-o DIR" and grouped "-qo DIR", but not "--output=DIR" or "-oDIR".
bool takes_next_argument(const std::string& argument, const po::options_description& description) {
    if (argument.starts_with("--")) {
        if (argument.find('=') != std::string::npos) return false;
        const auto* option = description.find_nothrow(argument.substr(2), false);
        return option != nullptr && option->semantic()->max_tokens() > 0;
    }
    // Grouped short options ("-qo DIR"): the first one that takes a value takes the rest
    // of the argument, or the next argument when nothing follows it.
    for (size_t i = 1; i < argument.size(); ++i) {
        const auto* option = description.find_nothrow(std::string("-") + argument[i], false);
        if (option == nullptr) return false;
        if (option->semantic()->max_tokens() > 0) return i + 1 == argument.size();
    }
    return false;
}

// Splits the arguments at "--", or else at the first argument that is neither an
// option nor an option's value, so `routeheap record node server.js` works too.
std::pair<std::vector<std::string>, std::vector<std::string>> split_command(
    const std::vector<std::string>& arguments, const po::options_description& description) {
    for (size_t i = 0; i < arguments.size(); ++i) {
        const std::string& argument = arguments[i];
        if (argument == "--") {
            return {{arguments.begin(), arguments.begin() + i}, {arguments.begin() + i + 1, arguments.end()}};
        }
        if (!argument.starts_with("-") || argument == "-") {
            return {{arguments.begin(), arguments.begin() + i}, {arguments.begin() + i, arguments.end()}};
        }
        if (takes_next_argument(argument, description)) ++i;  // skip the option's value
    }
    return {arguments, {}};
}

std::set<std::string> isolate_logs(const fs::path& folder) {
    std::set<std::string> names;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(folder, error)) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with("isolate-") && name.ends_with(".log")) names.insert(name);
    }
    return names;
}

// True when `argument` requests a V8 log file: --prof and its variants, --log, --logfile
// and the other --log flags. The isolate-*.log files are then the user's.
bool requests_v8_log(std::string_view argument) {
    return argument.starts_with("--prof") || argument.starts_with("--log");
}

// True when the command's arguments or the user's own NODE_OPTIONS ask V8 for a log.
bool user_requested_v8_logs(const std::vector<std::string>& command) {
    for (const std::string& argument : command) {
        if (requests_v8_log(argument)) return true;
    }
    const char* node_options = std::getenv("NODE_OPTIONS");
    std::istringstream words(node_options == nullptr ? "" : node_options);
    for (std::string word; words >> word;) {
        if (requests_v8_log(word)) return true;
    }
    return false;
}

// Removes the isolate-*.log files V8 wrote into `folder` during the run, and no others.
void remove_new_isolate_logs(const fs::path& folder, const std::set<std::string>& before) {
    std::error_code error;
    for (const std::string& name : isolate_logs(folder)) {
        if (!before.contains(name)) fs::remove(folder / name, error);
    }
}

// Removes what record wrote into the session folder before the command failed to
// start, and the folder itself when record created it.
void remove_unused_session(const fs::path& session, bool created_folder) {
    std::error_code error;
    fs::remove(session / analysis::kSessionMetadataFile, error);
    if (created_folder) fs::remove(session, error);  // fails, harmlessly, unless the folder is empty
}

// The routeheap command as the user ran it (argv[0]), made absolute when it is a
// path, so the printed report command works from any folder.
std::string invoked_program() {
    const std::string invoked = program_invocation_name;
    if (invoked.find('/') == std::string::npos) return invoked;
    std::error_code error;
    const fs::path absolute = fs::absolute(invoked, error);
    return error ? invoked : absolute.lexically_normal().string();
}

// `text` as one shell word: unchanged when it has only safe characters, else in single quotes.
std::string shell_quote(const std::string& text) {
    const bool safe = !text.empty() && text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                              "0123456789/._+:,=@%-") == std::string::npos;
    if (safe) return text;
    std::string quoted = "'";
    for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

void sleep_poll_interval() {
    timespec interval{0, kPollIntervalMs * 1000 * 1000};
    ::nanosleep(&interval, nullptr);  // a forwarded signal may cut it short; the loop goes on
}

// Runs the child to completion while tailing the traces; returns how it ended.
ChildExit supervise(pid_t child, LiveTail& tail) {
    ChildExit command_exit;
    while (!child_exited(child, command_exit)) {
        tail.poll(false);
        sleep_poll_interval();
    }
    for (int i = 0; i < kFinalWaitPolls && !tail.all_finished(); ++i) {
        tail.poll(false);
        sleep_poll_interval();
    }
    tail.poll(true);
    return command_exit;
}

// Adds how the command ended to session.json: its pid, exit status and the signal that
// ended it, which lets the report say "ended by SIGINT".
void add_command_end(const fs::path& session, nlohmann::json& metadata, pid_t child, const ChildExit& command_exit) {
    try {
        metadata["end_time"] = utc_timestamp();
        metadata["pid"] = child;
        metadata["exit_status"] = command_exit.exit_code;
        if (command_exit.signal_number != 0) metadata["exit_signal"] = signal_name(command_exit.signal_number);
        write_session_metadata(session, metadata);
    } catch (const std::exception& error) {
        std::cerr << "routeheap record: warning: " << error.what() << std::endl;
    }
}

// Prints the session line, then the report command, or a warning when no process
// loaded the agent and there is nothing to report.
void print_summary(const fs::path& session, const LiveTail& tail, const fs::path& agent) {
    std::cerr << "session: " << session.string() << "  ("
              << analysis::count_of(tail.process_count(), "process", "processes") << ", "
              << analysis::count_of(tail.request_count(), "request", "requests") << ")" << std::endl;
    if (tail.process_count() == 0) {
        std::cerr << "routeheap record: warning: no process loaded the agent, so nothing was recorded; check that "
                     "ROUTEHEAP_AGENT ("
                  << agent.string()
                  << ") is a loadable librouteheap.so, that ROUTEHEAP_DISABLE is not set, and that CMD is not "
                     "statically linked"
                  << std::endl;
        return;
    }
    std::cerr << "next: " << shell_quote(invoked_program()) << " report " << shell_quote(session.string())
              << std::endl;
}

void print_help(const po::options_description& description) {
    cli::print_help(
        "usage: routeheap record [--output DIR] [--quiet] -- CMD ARGS...",
        "Runs CMD with the routeheap agent preloaded and writes one trace per process into the\n"
        "session folder. While CMD runs, prints one line per finished request to stderr:\n"
        "method, path, status, request and response body sizes, peak heap growth and the\n"
        "verdict of the detectors. Stop the server with Ctrl-C; routeheap forwards SIGINT,\n"
        "SIGTERM and SIGHUP sent to it alone, copies /tmp/perf-PID.map of each traced process\n"
        "into the folder, removes the isolate-*.log files V8 wrote into the current folder\n"
        "during the run (none when CMD or your NODE_OPTIONS has --prof or a --log flag), and\n"
        "exits with CMD's exit status (128 + signal when a signal ended it).\n"
        "\n"
        "The child's environment gets LD_PRELOAD (the agent first), ROUTEHEAP_OUTPUT_DIR (the\n"
        "session folder) and NODE_OPTIONS with --perf-basic-prof-only-functions\n"
        "--interpreted-frames-native-stack appended to your own options.",
        description,
        "\nenvironment:\n"
        "  ROUTEHEAP_AGENT   path of librouteheap.so to preload (default: ../lib next to the\n"
        "                    routeheap executable, then the install libdir)\n"
        "\n"
        "The agent in CMD reads these variables, which CMD inherits (default in parentheses;\n"
        "ranges and details in docs/configuration.md):\n"
        "  ROUTEHEAP_SAMPLE_MS        counter sample interval while a request is open, ms (10)\n"
        "  ROUTEHEAP_IDLE_SAMPLE_MS   counter sample interval while no request is open, ms (1000)\n"
        "  ROUTEHEAP_FLUSH_MS         interval of writing buffered records to the trace, ms (50)\n"
        "  ROUTEHEAP_BUFFER_KB        record buffer per recording thread, KiB (1024)\n"
        "  ROUTEHEAP_MAX_LIVE_BLOCKS  live malloc blocks with large slack whose size is kept (1048576)\n"
        "  ROUTEHEAP_SAMPLE_BYTES     mean bytes allocated between stack samples (262144)\n"
        "  ROUTEHEAP_ALWAYS_BYTES     smallest allocation that always gets a stack, bytes (1048576)\n"
        "  ROUTEHEAP_MAX_FRAMES       deepest stack kept, frames (64)\n"
        "  ROUTEHEAP_MAX_STACKS       distinct stacks per trace (262144)\n"
        "  ROUTEHEAP_DISABLE          1 turns the agent off (0)\n"
        "  ROUTEHEAP_QUIET            1 stops the agent's messages on stderr (0)\n"
        "record sets ROUTEHEAP_OUTPUT_DIR to the session folder.\n");
}

}  // namespace

int run_record(const std::vector<std::string>& arguments) {
    RecordOptions options;
    const po::options_description description = record_options(options);
    auto [own, command] = split_command(arguments, description);

    po::variables_map values;
    try {
        po::store(po::command_line_parser(own).options(description).run(), values);
        po::notify(values);
    } catch (const po::error& error) {
        return usage_error(kSubcommand, error.what(), kUsage);
    }
    if (values.count("help") != 0) {
        print_help(description);
        return 0;
    }
    if (command.empty()) return usage_error(kSubcommand, "missing the command to record after --", kUsage);

    fs::path agent;
    fs::path session;
    nlohmann::json metadata;
    std::error_code exists_error;
    const bool created_folder = options.output.empty() || !fs::exists(options.output, exists_error);
    try {
        agent = locate_agent();
        session = options.output.empty() ? create_default_session_folder() : prepare_session_folder(options.output);
        metadata = {{"command", command},
                    {"start_time", utc_timestamp()},
                    {"routeheap_version", ROUTEHEAP_VERSION},
                    {"agent", agent.string()},
                    {"working_folder", fs::current_path().string()}};
        write_session_metadata(session, metadata);
    } catch (const std::exception& error) {
        return failure(kSubcommand, error.what());
    }

    const fs::path working_folder = fs::current_path();
    const std::set<std::string> logs_before = isolate_logs(working_folder);
    LiveTail tail(
        session,
        [&](const analysis::Request& request) {
            if (!options.quiet) std::cerr << "  " << analysis::format_request_line(request) << std::endl;
        },
        [](const std::string& warning) { std::cerr << "routeheap record: warning: " << warning << std::endl; });

    install_signal_forwarding();
    pid_t child = 0;
    ChildExit command_exit;
    try {
        child = start_child(command, agent_environment(agent, session));
        // Only now, because a command that cannot start leaves no session folder.
        std::cerr << "routeheap record: recording into " << session.string() << std::endl;
        command_exit = supervise(child, tail);
    } catch (const CommandNotStarted& error) {
        remove_unused_session(session, created_folder);
        failure(kSubcommand, error.what());
        return error.exit_code;
    } catch (const std::exception& error) {
        return failure(kSubcommand, error.what());
    }

    copy_perf_maps(tail.process_starts(), session, "routeheap record");
    if (!user_requested_v8_logs(command)) remove_new_isolate_logs(working_folder, logs_before);
    add_command_end(session, metadata, child, command_exit);
    print_summary(session, tail, agent);
    return command_exit.exit_code;
}

}  // namespace routeheap::cli
