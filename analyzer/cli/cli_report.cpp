// `routeheap report PATH`: analyses a session folder or trace file and prints the
// report as text, JSON or markdown.
#include "cli.h"

#include <routeheap/analysis/analysis.h>
#include <routeheap/analysis/report.h>

namespace routeheap::cli {

namespace {

namespace po = boost::program_options;
using namespace routeheap::analysis;

constexpr const char* kSubcommand = "report";
constexpr const char* kUsage =
    "usage: routeheap report PATH [--format text|json|markdown] [--stacks N] [--output FILE] (see routeheap report --help)";

struct ReportCommandOptions {
    std::vector<std::string> paths;  // every positional argument; exactly one is valid
    std::string format = "text";
    std::string output;
    int stacks = 5;
};

po::options_description report_options(ReportCommandOptions& options) {
    po::options_description description("options");
    description.add_options()
        ("help,h", "print this help")
        ("format,f", po::value(&options.format)->default_value("text")->value_name("FORMAT"),
         "report format: text (tables for a terminal), json (schema routeheap.report/1) or markdown")
        ("stacks", po::value(&options.stacks)->default_value(5)->value_name("N"),
         "frames printed per allocation site, innermost first (1 or more); applies to text, markdown and JSON")
        ("output,o", po::value(&options.output)->value_name("FILE"),
         "write the report to FILE instead of standard output (replaced if it exists)");
    return description;
}

}  // namespace

int run_report(const std::vector<std::string>& arguments) {
    ReportCommandOptions options;
    po::options_description description = report_options(options);
    po::variables_map values;
    try {
        values = parse_with_paths(arguments, description, options.paths);
    } catch (const po::error& error) {
        return usage_error(kSubcommand, error.what(), kUsage);
    }
    if (values.count("help") != 0) {
        print_help("usage: routeheap report PATH [--format text|json|markdown] [--stacks N] [--output FILE]",
                   "Analyses a session folder written by `routeheap record` (or one .rhtrace file):\n"
                   "per-route memory growth, requests, findings with evidence and fixes, the allocation\n"
                   "sites that held each finding's memory at its peak, and warnings about truncated or\n"
                   "damaged traces. Byte sizes print in IEC units (KiB, MiB, GiB).\n"
                   "\n"
                   "arguments:\n"
                   "  PATH                  a session folder written by routeheap record, or one\n"
                   "                        .rhtrace file",
                   description, "\nexit status: 0 on success, 1 when PATH cannot be read, 2 for an invalid command line.\n");
        return 0;
    }
    if (options.paths.empty()) return usage_error(kSubcommand, "missing PATH (a session folder or .rhtrace file)", kUsage);
    if (options.paths.size() > 1) {
        return usage_error(kSubcommand, "unexpected argument '" + options.paths[1] + "' after PATH '" +
                                            options.paths[0] + "'; report reads one session folder or trace",
                           kUsage);
    }
    const std::string& path = options.paths.front();
    const auto format = parse_report_format(options.format);
    if (!format) {
        return usage_error(kSubcommand, "invalid --format '" + options.format + "'; use text, json or markdown", kUsage);
    }

    if (options.stacks < 1) {
        return usage_error(kSubcommand, "invalid --stacks " + std::to_string(options.stacks) +
                                            "; give the number of frames to print per site, 1 or more", kUsage);
    }
    analysis::ReportOptions report_options;
    report_options.stack_depth = static_cast<size_t>(options.stacks);

    try {
        const Session session = open_session(path);
        const SessionAnalysis analysis = analyze_session(session);
        return write_output(kSubcommand, render_report(analysis, *format, report_options), options.output);
    } catch (const SessionError& error) {
        return failure(kSubcommand, error.what());
    } catch (const TraceError& error) {
        return failure(kSubcommand, error.what());
    }
}

}  // namespace routeheap::cli
