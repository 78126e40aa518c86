// `routeheap report PATH`: analyses a session folder or trace file and prints the
// report as text, JSON or markdown.
#include "cli.h"

#include <routeheap/analysis/analysis.h>
#include <routeheap/analysis/report.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

namespace routeheap::cli {

namespace {

namespace po = boost::program_options;
using namespace routeheap::analysis;

constexpr const char* kSubcommand = "report";
constexpr const char* kUsage =
    "usage: routeheap report PATH [--format text|json|markdown] [--output FILE] (see routeheap report --help)";

struct ReportOptions {
    std::string path;
    std::string format = "text";
    std::string output;
};

po::options_description report_options(ReportOptions& options) {
    po::options_description description("options");
    description.add_options()
        ("help,h", "print this help")
        ("format,f", po::value(&options.format)->default_value("text"),
         "report format: text (tables for a terminal), json (schema routeheap.report/1) or markdown")
        ("output,o", po::value(&options.output),
         "write the report to FILE instead of standard output (replaced if it exists)");
    return description;
}

int write_report(const std::string& report, const std::string& output) {
    if (output.empty()) {
        std::cout << report;
        return 0;
    }
    std::ofstream file(output, std::ios::binary | std::ios::trunc);
    file << report;
    file.close();
    if (!file) return failure(kSubcommand, "cannot write " + output + ": " + std::strerror(errno));
    return 0;
}

}  // namespace

int run_report(const std::vector<std::string>& arguments) {
    ReportOptions options;
    po::options_description description = report_options(options);
    po::options_description hidden;
    hidden.add_options()("path", po::value(&options.path));
    po::options_description all;
    all.add(description).add(hidden);
    po::positional_options_description positional;
    positional.add("path", 1);

    po::variables_map values;
    try {
        po::store(po::command_line_parser(arguments).options(all).positional(positional).run(), values);
        po::notify(values);
    } catch (const po::error& error) {
        return usage_error(kSubcommand, error.what(), kUsage);
    }
    if (values.count("help") != 0) {
        print_help("usage: routeheap report PATH [--format text|json|markdown] [--output FILE]",
                   "Analyses a session folder written by `routeheap record` (or one .rhtrace file):\n"
                   "per-route memory growth, requests, findings with evidence and fixes, and warnings\n"
                   "about truncated or damaged traces. Byte sizes print in IEC units (KiB, MiB, GiB).",
                   description, "\nexit status: 0 on success, 1 when PATH cannot be read, 2 for an invalid command line.\n");
        return 0;
    }
    if (options.path.empty()) return usage_error(kSubcommand, "missing PATH (a session folder or .rhtrace file)", kUsage);
    const auto format = parse_report_format(options.format);
    if (!format) {
        return usage_error(kSubcommand, "invalid --format '" + options.format + "'; use text, json or markdown", kUsage);
    }

    try {
        const Session session = open_session(options.path);
        const SessionAnalysis analysis = analyze_session(session);
        return write_report(render_report(analysis, *format), options.output);
    } catch (const SessionError& error) {
        return failure(kSubcommand, error.what());
    } catch (const TraceError& error) {
        return failure(kSubcommand, error.what());
    }
}

}  // namespace routeheap::cli
