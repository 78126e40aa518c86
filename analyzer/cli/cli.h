// Entry points of the routeheap subcommands and the conventions they share.
#pragma once

#include <boost/program_options.hpp>

#include <string>
#include <vector>

namespace routeheap::cli {

inline constexpr int kExitFailure = 1;  // the work failed: missing input, unreadable trace
inline constexpr int kExitUsage = 2;    // the command line is invalid

int run_record(const std::vector<std::string>& arguments);
int run_report(const std::vector<std::string>& arguments);
int run_export(const std::vector<std::string>& arguments);
int run_gate(const std::vector<std::string>& arguments);
int run_diff(const std::vector<std::string>& arguments);

// Writes `text` to standard output, or replaces the file `output` when it is not empty.
// Returns 0, or kExitFailure after printing why the file could not be written.
int write_output(const std::string& subcommand, const std::string& text, const std::string& output);

// Prints "routeheap SUBCOMMAND: MESSAGE" and the usage hint to stderr; returns kExitUsage.
int usage_error(const std::string& subcommand, const std::string& message, const std::string& usage);

// Prints "routeheap SUBCOMMAND: MESSAGE" to stderr; returns kExitFailure.
int failure(const std::string& subcommand, const std::string& message);

// Parses `arguments` against `options` plus every positional argument, which go to `paths`.
// Throws boost::program_options::error for an unknown or invalid option.
boost::program_options::variables_map parse_with_paths(const std::vector<std::string>& arguments,
                                                       const boost::program_options::options_description& options,
                                                       std::vector<std::string>& paths);

// Prints the help of a subcommand: its usage line, description and options.
void print_help(const std::string& usage, const std::string& description,
                const boost::program_options::options_description& options, const std::string& footer);

}  // namespace routeheap::cli
