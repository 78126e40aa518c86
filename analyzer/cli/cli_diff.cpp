// `routeheap diff A B`: compares two sessions, reports, gate verdicts or baselines route
// by route (peak growth, its ratio to the response, findings that appeared or are gone).
#include "cli.h"

#include <routeheap/analysis/diff.h>

namespace routeheap::cli {

namespace {

namespace po = boost::program_options;
using namespace routeheap::analysis;

constexpr const char* kSubcommand = "diff";
constexpr const char* kUsage = "usage: routeheap diff A B [--format text|json|markdown] [--output FILE] (see routeheap diff --help)";

}  // namespace

int run_diff(const std::vector<std::string>& arguments) {
    std::vector<std::string> paths;
    std::string format = "text";
    std::string output;
    po::options_description description("options");
    description.add_options()
        ("help,h", "print this help")
        ("format,f", po::value(&format)->default_value("text")->value_name("FORMAT"),
         "text (a table), json (schema routeheap.diff/1) or markdown")
        ("output,o", po::value(&output)->value_name("FILE"), "write to FILE instead of standard output (replaced if it exists)");
    po::variables_map values;
    try {
        values = parse_with_paths(arguments, description, paths);
    } catch (const po::error& error) {
        return usage_error(kSubcommand, error.what(), kUsage);
    }
    if (values.count("help") != 0) {
        print_help("usage: routeheap diff A B [--format text|json|markdown] [--output FILE]",
                   "Compares two runs route by route: p50 peak heap growth in A and B, the change and\n"
                   "its ratio (B / A), each side's p50 peak growth / largest response body, and the\n"
                   "finding kinds that appeared in B or are gone from it. A route in one side only is\n"
                   "marked new or gone.\n"
                   "\n"
                   "arguments:\n"
                   "  A, B    each a session folder or .rhtrace file (analysed), or a JSON file from\n"
                   "          routeheap report --format json, routeheap gate --json or gate --write-baseline",
                   description, "\nexit status: 0 on success, 1 when A or B cannot be read, 2 for an invalid command line.\n");
        return 0;
    }
    if (paths.size() != 2) {
        return usage_error(kSubcommand, "expected two paths A and B, got " + std::to_string(paths.size()), kUsage);
    }
    if (format != "text" && format != "json" && format != "markdown") {
        return usage_error(kSubcommand, "invalid --format '" + format + "'; use text, json or markdown", kUsage);
    }

    try {
        const DiffSide a = load_diff_side(paths[0]);
        const DiffSide b = load_diff_side(paths[1]);
        const std::vector<RouteDiff> routes = diff_routes(a, b);
        std::string text;
        if (format == "json") text = render_diff_json(a, b, routes).dump(2) + "\n";
        else if (format == "markdown") text = render_diff_markdown(a, b, routes);
        else text = render_diff_text(a, b, routes);
        return write_output(kSubcommand, text, output);
    } catch (const DiffInputError& error) {
        return failure(kSubcommand, error.what());
    }
}

}  // namespace routeheap::cli
