// Rows shared by the text and markdown reports, so both show the same columns.
#pragma once

#include <routeheap/analysis/report.h>

#include <string>
#include <vector>

namespace routeheap::analysis::detail {

using Row = std::vector<std::string>;

// Header row first: method, route, requests, peak growth p50/max, bytes in/out, findings.
std::vector<Row> route_rows(const SessionAnalysis& analysis);

// How the process ended, for the processes table: "complete, exit status 0", "replaced by
// exec of /usr/bin/node (continues in 41.1)", "ended by SIGINT" or "incomplete".
std::string process_state(const ProcessReport& process);

// Header row first: pid, exe, requests, state.
std::vector<Row> process_rows(const SessionAnalysis& analysis);

// "buffered-response (high, 2 of 3 requests)"
std::string route_finding_title(const RouteSummary& route, const RouteFinding& finding);

// "peak growth heap 412 MiB" items joined for one line.
std::vector<std::string> evidence_lines(const Finding& finding);

// The header and one line per site under a finding: where the strongest request's
// memory was allocated. Empty when the trace holds no allocation stacks.
std::vector<std::string> site_lines(const Finding& finding, size_t depth);

// "3 processes, 12 requests" and the recorded command when session.json has one.
std::vector<std::string> session_lines(const SessionAnalysis& analysis);

}  // namespace routeheap::analysis::detail
