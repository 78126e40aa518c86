// `routeheap export --format folded PATH`: writes the allocation stacks held at each
// request's peak as collapsed stacks for flame graph tools.
#include "cli.h"

#include <routeheap/analysis/export.h>
#include <routeheap/analysis/report.h>

namespace routeheap::cli {

namespace {

namespace po = boost::program_options;
using namespace routeheap::analysis;

constexpr const char* kSubcommand = "export";
constexpr const char* kUsage =
    "usage: routeheap export --format folded [--route R | --request ID] [--output FILE] PATH "
    "(see routeheap export --help)";

struct ExportOptions {
    std::string path;
    std::string format;
    std::string output;
    RequestSelection selection;
};

po::options_description export_options(ExportOptions& options) {
    po::options_description description("options");
    description.add_options()
        ("help,h", "print this help")
        ("format,f", po::value(&options.format),
         "export format (required): folded, one \"outer;...;inner BYTES\" line per distinct stack")
        ("route", po::value(&options.selection.route),
         "only requests of this route, as the report prints it: \"/items/:id\" or \"GET /items/:id\"")
        ("request", po::value(&options.selection.request_id),
         "only this request, by the id the JSON report gives it (\"pid:connection:index\")")
        ("output,o", po::value(&options.output),
         "write to FILE instead of standard output (replaced if it exists)");
    return description;
}

std::string route_list(const SessionAnalysis& analysis) {
    std::string list;
    for (const RouteSummary& route : analysis.routes) list += (list.empty() ? "" : ", ") + route.method + " " + route.route;
    return list.empty() ? "none" : list;
}

// Checks the selection against the session; returns an error message, or empty.
std::string check_selection(const SessionAnalysis& analysis, const ExportOptions& options,
                            const std::vector<const Request*>& selected) {
    if (!options.selection.request_id.empty() && selected.empty()) {
        return "no request with id '" + options.selection.request_id +
               "' in this session; `routeheap report --format json` lists the ids under requests[].id";
    }
    if (!options.selection.route.empty() && selected.empty()) {
        return "no request of route '" + options.selection.route + "' in this session; its routes are: " +
               route_list(analysis);
    }
    bool recorded = false;
    for (const ProcessReport& process : analysis.processes) recorded = recorded || process.sampled_allocations > 0;
    if (!recorded) {
        return "the session holds no allocation stacks: its traces have no Allocation records, so record "
               "it again with an agent that samples stacks";
    }
    return {};
}

}  // namespace

int run_export(const std::vector<std::string>& arguments) {
    ExportOptions options;
    po::options_description description = export_options(options);
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
        print_help("usage: routeheap export --format folded [--route R | --request ID] [--output FILE] PATH",
                   "Writes the allocation stacks that held memory at each request's peak as collapsed\n"
                   "stacks (frames outermost first, weighted by live bytes, summed over the selected\n"
                   "requests), the input of flamegraph.pl, inferno-flamegraph and speedscope.",
                   description, "\nexit status: 0 on success, 1 when PATH cannot be read or selects nothing, 2 for an invalid command line.\n");
        return 0;
    }
    if (options.path.empty()) return usage_error(kSubcommand, "missing PATH (a session folder or .rhtrace file)", kUsage);
    if (options.format.empty()) return usage_error(kSubcommand, "missing --format; the only format is folded", kUsage);
    if (options.format != "folded") {
        return usage_error(kSubcommand, "invalid --format '" + options.format + "'; the only format is folded", kUsage);
    }
    if (!options.selection.route.empty() && !options.selection.request_id.empty()) {
        return usage_error(kSubcommand, "give either --route or --request, not both", kUsage);
    }

    try {
        const SessionAnalysis analysis = analyze_session(open_session(options.path));
        const std::vector<const Request*> selected = select_requests(analysis, options.selection);
        if (const std::string problem = check_selection(analysis, options, selected); !problem.empty()) {
            return failure(kSubcommand, problem);
        }
        return write_output(kSubcommand, render_folded(selected), options.output);
    } catch (const SessionError& error) {
        return failure(kSubcommand, error.what());
    } catch (const TraceError& error) {
        return failure(kSubcommand, error.what());
    }
}

}  // namespace routeheap::cli
