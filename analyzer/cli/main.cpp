// The routeheap command: dispatches to the record, report, export, gate and diff subcommands.
#include "cli.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

namespace routeheap::cli {

namespace {

constexpr const char* kUsage = "usage: routeheap SUBCOMMAND [OPTIONS] (see routeheap --help)";

void print_main_help() {
    std::cout << "routeheap " ROUTEHEAP_VERSION ": memory profiler for Node.js HTTP servers\n"
                 "\n"
                 "usage: routeheap SUBCOMMAND [OPTIONS]\n"
                 "\n"
                 "subcommands:\n"
                 "  record [--output DIR] [--quiet] -- CMD ARGS...\n"
                 "      run CMD under the routeheap agent, print one line per finished request,\n"
                 "      and leave a session folder with one trace per process\n"
                 "  report PATH [--format text|json|markdown] [--stacks N] [--output FILE]\n"
                 "      analyse a session folder (or one .rhtrace file): per-route memory,\n"
                 "      findings with evidence and fixes, allocation sites (--stacks N frames each)\n"
                 "  export --format folded [--route R | --request ID] [--output FILE] PATH\n"
                 "      write the allocation stacks held at each request's peak as collapsed\n"
                 "      stacks for flamegraph.pl, inferno or speedscope\n"
                 "  gate --requests FILE --budget FILE [--baseline FILE] [--repeat N] -- CMD ARGS...\n"
                 "      run CMD under the agent, replay the requests and fail (exit 1) when a route\n"
                 "      breaks its memory budget or regresses against the baseline; for CI\n"
                 "  diff A B [--format text|json|markdown]\n"
                 "      compare two sessions or report/gate JSON files route by route\n"
                 "\n"
                 "options:\n"
                 "  -h [ --help ]   print this help; `routeheap help SUBCOMMAND` or\n"
                 "                  `routeheap SUBCOMMAND --help` for a subcommand\n"
                 "  --version       print the routeheap version\n"
                 "\n"
                 "exit status: 0 on success, 1 when the work failed, 2 for an invalid command\n"
                 "line; record exits with the recorded command's status; gate exits 1 when a\n"
                 "budget is broken and 2 for a setup error.\n";
}

}  // namespace

int usage_error(const std::string& subcommand, const std::string& message, const std::string& usage) {
    std::cerr << "routeheap " << subcommand << ": " << message << "\n" << usage << "\n";
    return kExitUsage;
}

int failure(const std::string& subcommand, const std::string& message) {
    std::cerr << "routeheap " << subcommand << ": " << message << "\n";
    return kExitFailure;
}

boost::program_options::variables_map parse_with_paths(const std::vector<std::string>& arguments,
                                                       const boost::program_options::options_description& options,
                                                       std::vector<std::string>& paths) {
    namespace po = boost::program_options;
    po::options_description hidden;
    hidden.add_options()("path", po::value(&paths));
    po::options_description all;
    all.add(options).add(hidden);
    po::positional_options_description positional;
    positional.add("path", -1);

    po::variables_map values;
    po::store(po::command_line_parser(arguments).options(all).positional(positional).run(), values);
    po::notify(values);
    return values;
}

int write_output(const std::string& subcommand, const std::string& text, const std::string& output) {
    if (output.empty()) {
        std::cout << text;
        return 0;
    }
    std::ofstream file(output, std::ios::binary | std::ios::trunc);
    file << text;
    file.close();
    if (!file) return failure(subcommand, "cannot write " + output + ": " + std::strerror(errno));
    return 0;
}

void print_help(const std::string& usage, const std::string& description,
                const boost::program_options::options_description& options, const std::string& footer) {
    std::cout << usage << "\n\n" << description << "\n\n" << options << footer;
}

}  // namespace routeheap::cli

int main(int argc, char** argv) {
    using namespace routeheap::cli;
    if (argc < 2) {
        std::cerr << "routeheap: missing subcommand\n" << kUsage << "\n";
        return kExitUsage;
    }

    const std::string subcommand = argv[1];
    const std::vector<std::string> arguments(argv + 2, argv + argc);
    if (subcommand == "help" && !arguments.empty()) {
        // `routeheap help record` is `routeheap record --help`.
        const std::string& topic = arguments.front();
        if (topic == "record") return run_record({"--help"});
        if (topic == "report") return run_report({"--help"});
        if (topic == "export") return run_export({"--help"});
        if (topic == "gate") return run_gate({"--help"});
        if (topic == "diff") return run_diff({"--help"});
        std::cerr << "routeheap: unknown subcommand '" << topic << "' after help\n" << kUsage << "\n";
        return kExitUsage;
    }
    if (subcommand == "-h" || subcommand == "--help" || subcommand == "help") {
        print_main_help();
        return 0;
    }
    if (subcommand == "--version") {
        std::cout << "routeheap " ROUTEHEAP_VERSION "\n";
        return 0;
    }
    if (subcommand == "record") return run_record(arguments);
    if (subcommand == "report") return run_report(arguments);
    if (subcommand == "export") return run_export(arguments);
    if (subcommand == "gate") return run_gate(arguments);
    if (subcommand == "diff") return run_diff(arguments);

    const char* problem = subcommand.starts_with("-") ? "unknown option" : "unknown subcommand";
    std::cerr << "routeheap: " << problem << " '" << subcommand << "'\n" << kUsage << "\n";
    return kExitUsage;
}
